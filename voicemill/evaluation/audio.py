"""Input checks and resampling shared by the scorers: every model here wants 16 kHz."""

from __future__ import annotations

import numpy as np

from voicemill.evaluation.errors import EvaluationError

RATE = 16_000
# Peak amplitude below which a clip counts as silence (-60 dBFS).
SILENCE_PEAK = 1e-3


def to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    """Mono float audio at ``rate`` as contiguous float32 at 16 kHz, clipped to [-1, 1].

    Resampling uses soxr (fast, high quality, already the project's resampler). Clipping
    matches what writing the clip to a WAV file would do, and DNSMOS refuses values
    outside [-1, 1].
    """
    array = np.asarray(audio)
    if array.ndim != 1:
        raise EvaluationError("invalid_audio", f"expected mono 1-D audio, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise EvaluationError("invalid_audio", f"expected float samples, got dtype {array.dtype}")
    if not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise EvaluationError("invalid_audio", f"sample rate must be a positive int, got {rate!r}")
    if not np.all(np.isfinite(array)):
        raise EvaluationError("invalid_audio", "audio contains NaN or infinite samples")
    array = array.astype(np.float32, copy=False)
    if rate != RATE and array.size:
        import soxr

        array = soxr.resample(array, int(rate), RATE, quality="HQ")
    return np.ascontiguousarray(np.clip(array, -1.0, 1.0), dtype=np.float32)


def is_silent(audio_16k: np.ndarray) -> bool:
    """Whether the clip's peak is below -60 dBFS (or it has no samples)."""
    return audio_16k.size == 0 or float(np.max(np.abs(audio_16k))) < SILENCE_PEAK


def require_signal(audio_16k: np.ndarray, min_seconds: float, what: str) -> None:
    """Raise ``audio_too_short`` / ``silent_audio`` for clips ``what`` cannot score."""
    seconds = audio_16k.size / RATE
    if seconds < min_seconds:
        raise EvaluationError(
            "audio_too_short",
            f"{what} needs at least {min_seconds:g} s of audio, got {seconds:.3f} s",
        )
    if is_silent(audio_16k):
        raise EvaluationError("silent_audio", f"{what}: the clip is silent (peak below -60 dBFS)")
