"""Shared plumbing of the per-recording pipeline stages.

Each stage walks a dataset's recordings, skips those whose stage fingerprint
(inputs + config) is unchanged, processes the rest one at a time with a commit
after each (a crash loses at most the recording in hand), and quarantines
failures with their reason instead of stopping the batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ProgressCallback = Callable[[int, int, str], None]
"""Called as ``(done, total, item)`` after each recording."""


@dataclass
class StageReport:
    stage: str
    processed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    quarantined: dict[str, str] = field(default_factory=dict)  # item -> reason
    audio_seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def rejections_by_reason(self) -> dict[str, int]:
        return dict(Counter(self.quarantined.values()))

    def summary(self) -> dict[str, Any]:
        return {
            "processed": len(self.processed),
            "skipped_unchanged": len(self.skipped),
            "quarantined": len(self.quarantined),
            "rejections_by_reason": self.rejections_by_reason,
            "audio_hours": round(self.audio_seconds / 3600, 4),
            **self.details,
        }


def content_key(recording: dict[str, Any]) -> str:
    """Short content key used in derived file names (first 16 hex of SHA-256)."""
    return recording["content_sha256"][:16]
