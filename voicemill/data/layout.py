"""Where a dataset's files live on disk.

Audio is stored content-addressed (by the source file's SHA-256 and, for derived
files, the fingerprint of the config that made them), so re-running a stage
with the same inputs finds its outputs in place and a changed config never
overwrites what an earlier run produced.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel


def fingerprint(*parts: Any) -> str:
    """Short stable hash of configs (pydantic models) and plain values."""
    payload = [p.model_dump(mode="json") if isinstance(p, BaseModel) else p for p in parts]
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


@dataclass(frozen=True)
class DatasetLayout:
    root: Path
    dataset_id: str

    @property
    def base(self) -> Path:
        return self.root / self.dataset_id

    def raw_path(self, content_sha256: str, suffix: str) -> Path:
        return self.base / "raw" / content_sha256[:2] / f"{content_sha256}{suffix.lower()}"

    def standardized_dir(self, config_fp: str) -> Path:
        return self.base / "standardized" / config_fp

    def standardized(self, config_fp: str, content_key: str) -> StandardizedPaths:
        folder = self.standardized_dir(config_fp)
        return StandardizedPaths(
            model_audio=folder / f"{content_key}.model.wav",
            ssl_audio=folder / f"{content_key}.ssl.wav",
            frames=folder / f"{content_key}.frames.npz",
        )

    def utterance_dir(self, config_fp: str) -> Path:
        return self.base / "utterances" / config_fp

    @property
    def manifest_dir(self) -> Path:
        return self.base / "manifest"

    @property
    def manifest_path(self) -> Path:
        return self.manifest_dir / "manifest.parquet"

    @property
    def list_path(self) -> Path:
        return self.manifest_dir / f"{self.dataset_id}.list"


@dataclass(frozen=True)
class StandardizedPaths:
    """The three files standardization writes for one recording."""

    model_audio: Path  # 32 kHz, what SoVITS trains on
    ssl_audio: Path  # 16 kHz, for VAD, ASR, alignment and SSL features
    frames: Path  # per-10 ms clipping and energy, for per-segment measures

    def exist(self) -> bool:
        return self.model_audio.exists() and self.ssl_audio.exists() and self.frames.exists()
