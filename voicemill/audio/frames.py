"""Per-10 ms frame features of a standardized recording (the ``.npz`` sidecar).

Standardization already touches every sample, so it leaves behind what later
steps need per short frame — the fraction of clipped source samples and the
energy of the 16 kHz output — and segmentation can score any span for clipping
and SNR without decoding the audio again. An ``.npz`` (numpy's own zip of
arrays) is small (two float32 per 10 ms: ~3 MB per hour) and needs no extra dependency.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicemill.audio.atomic import move_into_place, temporary_sibling
from voicemill.audio.errors import AudioError

FRAME_HOP_S = 0.01
ENERGY_FLOOR_DB = -100.0  # digital silence is reported as this, not -inf


@dataclass(frozen=True)
class FrameFeatures:
    """Frame ``i`` covers ``[i * hop_s, (i + 1) * hop_s)`` seconds of the recording."""

    hop_s: float
    clip_fraction: np.ndarray  # float32, fraction of source samples (all channels) clipped
    energy_db: np.ndarray  # float32, mean-square power of the 16 kHz output in dB

    def __len__(self) -> int:
        return int(self.clip_fraction.size)

    def span(self, start_s: float, end_s: float) -> slice:
        """Frame indices overlapping ``[start_s, end_s)``, clamped to the recording."""
        first = max(0, int(np.floor(start_s / self.hop_s + 1e-9)))
        last = min(len(self), max(first + 1, int(np.ceil(end_s / self.hop_s - 1e-9))))
        return slice(min(first, len(self)), last)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically: a crash never leaves a half-written sidecar under ``path``."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_sibling(target)
        try:
            with tmp.open("xb") as fh:
                np.savez(
                    fh,
                    hop_s=np.float64(self.hop_s),
                    clip_fraction=self.clip_fraction.astype(np.float32),
                    energy_db=self.energy_db.astype(np.float32),
                )
            move_into_place(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def load_frames(path: str | os.PathLike[str]) -> FrameFeatures:
    """Read a sidecar written by :meth:`FrameFeatures.save`."""
    try:
        with np.load(Path(path)) as data:
            features = FrameFeatures(
                hop_s=float(data["hop_s"]),
                clip_fraction=np.asarray(data["clip_fraction"], dtype=np.float32),
                energy_db=np.asarray(data["energy_db"], dtype=np.float32),
            )
    except Exception as exc:  # missing file, not a zip, missing key, bad pickle, ...
        raise AudioError(
            "bad_frames_sidecar", f"{path}: cannot read frame features ({exc})"
        ) from exc
    if features.clip_fraction.shape != features.energy_db.shape or features.hop_s <= 0:
        raise AudioError("bad_frames_sidecar", f"{path}: inconsistent frame arrays")
    return features
