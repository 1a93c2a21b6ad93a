"""Shared pieces of the feature extractors: the error type and input checks.

Kept free of torch at import time so callers can catch :class:`FeatureError`
without loading model code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from voicemill.errors import RejectedInput

SSL_SAMPLE_RATE = 16_000
SSL_FRAME_RATE = 50
SSL_HOP = SSL_SAMPLE_RATE // SSL_FRAME_RATE  # 320 samples = one 20 ms frame


class FeatureError(RejectedInput):
    """An input a feature extractor cannot use (empty, non-finite, wrong shape, ...)."""


def as_mono_float32(audio: Any, min_samples: int = 1) -> np.ndarray:
    """``audio`` ([T] numpy array or torch tensor) as a contiguous float32 numpy [T].

    Rejects what would silently produce garbage features: non-1-D input, too few
    samples, NaN/inf.
    """
    if hasattr(audio, "detach"):  # torch.Tensor, without importing torch here
        audio = audio.detach().to("cpu").float().numpy()
    array = np.ascontiguousarray(np.asarray(audio, dtype=np.float32))
    if array.ndim != 1:
        raise FeatureError("bad_audio_shape", f"expected mono audio [T], got shape {array.shape}")
    if array.shape[0] < min_samples:
        raise FeatureError(
            "audio_too_short", f"{array.shape[0]} samples; need at least {min_samples}"
        )
    if not np.isfinite(array).all():
        raise FeatureError("non_finite_audio", "audio contains NaN or infinite samples")
    return array


def expected_ssl_frames(n_samples: int) -> int:
    """Frames a 50 Hz extractor should give for ``n_samples`` at 16 kHz: ceil(T / 320)."""
    return -(-n_samples // SSL_HOP)
