"""Process-wide settings, read from the environment (``VOICEMILL_*``).

Everything VoiceMill writes lives under one state directory (``VOICEMILL_HOME``,
default ``./.voicemill``): the embedded PostgreSQL cluster, Dagster's local
artifacts and compute logs, and the datasets' audio. Settings are resolved to
absolute paths and exported back to the environment by
:func:`voicemill.platform.bootstrap`, so that ``dagster dev``'s code server and
run workers see the same directory.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VOICEMILL_", extra="ignore")

    home: Path = Field(default=Path(".voicemill"), description="State directory.")
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL of an external server; unset starts the embedded one.",
    )
    embedded_database: bool = Field(
        default=True,
        description="Start the embedded PostgreSQL when database_url is unset; false (the "
        "container images) makes database_url required.",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI; unset uses the platform PostgreSQL (`<db>_mlflow`).",
    )
    mlflow_artifact_root: str | None = Field(
        default=None,
        description="Where MLflow stores artifacts; unset uses $VOICEMILL_HOME/mlflow-artifacts.",
    )

    # The real-time service (`voicemill serve`, voicemill/api).
    api_max_text_chars: int = Field(
        default=4096, ge=1, description="Longest text one request may ask to speak."
    )
    api_max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Largest request body (jobs included)."
    )
    api_default_use_case: str = Field(
        default="ivr",
        description="Preset for requests that name none (OpenAI's route never does); a "
        "profile without it uses its first preset.",
    )
    api_store_text: bool = Field(
        default=False, description="Keep request texts in the audit table (else hash and length)."
    )
    api_precision: str = Field(default="fp32", description="fp32 | bf16 | int8 | auto.")
    api_device: str = Field(
        default="auto", description="auto | cpu | cuda:0,cuda:1 (one worker per GPU)."
    )
    api_workers: int = Field(default=1, ge=1, description="CPU inference worker processes.")
    api_threads: int = Field(
        default=0, ge=0, description="Threads per CPU worker (0: the cores split between them)."
    )
    campaign_device: str = Field(
        default="cpu",
        pattern=r"^(cpu|auto|cuda(:[0-9]{1,2})?)$",
        description="Where campaign shards synthesize: cpu, cuda[:N], or auto (the GPU when "
        "there is one, as on a GPU Celery worker).",
    )
    campaign_threads: int = Field(
        default=0,
        ge=0,
        description="Torch threads per campaign run (0: all cores); on a machine shared with "
        "`voicemill serve`, leave the serving workers theirs.",
    )
    # Limits on what campaign operators and inbox drops feed in (README: Security).
    audio_max_file_mb: int = Field(
        default=2048, ge=1, description="Largest audio file read (recordings, references)."
    )
    audio_max_duration_s: float = Field(
        default=4 * 3600.0, gt=0, description="Longest audio file read, by header or decoding."
    )
    audio_probe_timeout_s: float = Field(
        default=30.0, gt=0, description="Wall clock of one ffprobe call."
    )
    audio_decode_timeout_s: float = Field(
        default=3600.0, gt=0, description="Wall clock of one ffmpeg decode (its reader included)."
    )
    campaign_render_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="CPU seconds one recipient's render may take (10x that in wall clock).",
    )
    campaign_render_memory_mb: int = Field(
        default=1024, ge=256, description="Address space of the template-rendering process."
    )
    campaign_spec_max_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest spec.yaml/json accepted."
    )
    campaign_spec_max_nesting: int = Field(
        default=20, ge=4, le=200, description="Deepest nesting of a spec's lists and mappings."
    )
    campaign_recipients_max_mb: int = Field(
        default=256, ge=1, description="Largest recipients file accepted (bytes on disk)."
    )
    campaign_recipients_max_rows: int = Field(
        default=1_000_000, ge=1, description="Most recipient rows one campaign may have."
    )
    campaign_recipients_max_decoded_mb: int = Field(
        default=1024, ge=1, description="Largest recipients data once decoded (Parquet expands)."
    )
    campaign_recipients_max_cell_chars: int = Field(
        default=10_000, ge=16, description="Longest recipient cell; longer rows are rejected."
    )
    campaign_max_runtime_s: int = Field(
        default=24 * 3600, ge=60, description="dagster/max_runtime of one campaign run."
    )
    api_max_batch: int = Field(
        default=8, ge=1, description="Requests a worker decodes together (continuous batching)."
    )
    api_decode_len: int = Field(
        default=1024, ge=64, description="GPT cache slots per row: text + prompt + new tokens."
    )
    api_max_loaded_models: int = Field(default=4, ge=1, description="Engines kept in memory.")
    api_worker_memory_mb: int = Field(
        default=0, ge=0, description="Per worker: engine weights and KV caches (0: no bound)."
    )
    api_champion_poll_s: float = Field(
        default=2.0, gt=0, le=5, description="How often champion changes are looked for."
    )
    api_request_timeout_s: float = Field(
        default=120.0, gt=0, description="Deadline of a request (X-Request-Timeout may lower it)."
    )
    api_max_queue: int = Field(default=32, ge=1, description="Requests waiting per lane.")
    api_max_wait_s: float = Field(
        default=10.0, gt=0, description="Estimated wait past which a request gets 429 at once."
    )
    api_cache_max_mb: int = Field(
        default=2048, ge=0, description="Bound of the shared synthesis cache (0: no cache)."
    )

    # Scale-out (deploy/, README "Deploying"): campaign shards on Dagster's Celery executor.
    executor: Literal["multiprocess", "celery"] = Field(
        default="multiprocess",
        description="deliver_campaign's executor: multiprocess on this machine, or celery "
        "(shards run on `voicemill worker` processes through the broker).",
    )
    celery_broker_url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672//",
        description="Celery broker: RabbitMQ (amqp://) or Redis (redis://).",
    )
    celery_backend_url: str = Field(default="rpc://", description="Celery result backend.")
    celery_queue_prefix: str = Field(
        default="voicemill",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Celery queues: <prefix> (bookkeeping steps) and <prefix>.shards.",
    )

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def pgdata_dir(self) -> Path:
        return self.home_dir / "pgdata"

    @property
    def data_dir(self) -> Path:
        """Root of per-dataset audio and tables."""
        return self.home_dir / "datasets"

    @property
    def inbox_dir(self) -> Path:
        """Folder watched by the recordings sensor: one subfolder per dataset."""
        return self.home_dir / "inbox"

    @property
    def dagster_storage_dir(self) -> Path:
        return self.home_dir / "dagster"

    @property
    def cache_dir(self) -> Path:
        """Synthesis cache (``synthesis/``) and fetched voice releases (``voices/``)."""
        return self.home_dir / "cache"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
