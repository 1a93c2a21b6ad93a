"""Turn a synthesized clip into a delivery-ready file: trim, level, limit, fade, encode.

Each campaign recipient gets a short clip from the synthesizer (32 kHz float mono)
with uneven silence around it and a level that varies with the text. Delivery wants
every clip to sound equally loud (podcast/voice-message practice: -16 LUFS, true peak
at or below -1 dBTP so lossy codecs do not clip) and to start and end cleanly.

Steps, in order:

1. **Trim** leading/trailing silence: 10 ms frame energies, everything more than
   ``trim_db`` below the loudest frame at either end is cut, keeping ``keep_pad_ms``.
   A few lines of numpy; ``librosa.effects.trim`` does the same (RMS frames, ``top_db``)
   but importing librosa costs ~3 s of numba start-up in every worker process.
2. **Resample** to the output rate with **soxr** (HQ, linear phase; the project's
   resampler), e.g. 32 kHz to the 48 kHz that Ogg/Opus needs.
3. **Level**: static gain to the loudness target, measured with the project's
   streaming BS.1770-4 meter (:mod:`voicemill.audio.loudness`, pyloudnorm's filters).
4. **Limit** to the true-peak ceiling. Speech has a peak-to-loudness ratio of 15-20 dB,
   so -16 LUFS with -1 dBTP usually needs a few dB of peak reduction: plain gain would
   leave most clips 2-5 LU quiet. No maintained dependency-free limiter exists for numpy
   (pedalboard's would add a C++ wheel), so this is a small *offline look-ahead
   limiter*: the gain each sample needs comes from its 4x-oversampled (soxr) peak, and
   the gain curve is the lower envelope of those needs with linear-in-dB ramps (5 ms
   attack ahead of each peak, 80 ms release after it). Because the whole clip is in
   memory, look-ahead is exact and the curve is never above what any sample needs.
   At most ``limiter_max_db`` is taken off by the limiter; whatever a clip needs
   beyond that comes off the static gain instead (heavy limiting audibly squashes
   speech), so such clips end up quieter than the target and the achieved loudness
   is reported. ``limiter_max_db=0`` gives the plain-gain behaviour of
   :mod:`voicemill.audio.standardize` (which never limits: training data must keep
   its waveform; delivery audio must be loud and consistent).
   The limiter's small loudness loss is made up by re-running with more gain (at
   most a few passes).
5. **Fade** in and out with short raised-cosine ramps so the first and last samples
   are zero (no click when a player starts or stops).
6. A final **true-peak guard** re-measures and scales the clip down by the overshoot
   (if any) so the reported true peak is always at or below the ceiling.

Encoding is the project's one encoder, :func:`voicemill.audio.encode.encode_audio`
(soundfile for WAV/FLAC 16-bit, PyAV for MP3 at 64 kbit/s and Ogg/Opus at 48 kbit/s),
the same one the real-time speech service streams through. Here the clip is already at
a rate its format carries, so the encoder never resamples what was measured.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import soxr
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from voicemill.audio.encode import AudioFormat, encode_audio, supported_rates
from voicemill.audio.loudness import StreamingLoudnessMeter, TruePeakMeter
from voicemill.errors import RejectedInput

OutputFormat = Literal["wav", "flac", "mp3", "opus"]
_OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("wav", "flac", "mp3", "opus")

EXTENSIONS: dict[str, str] = {f: AudioFormat(f).extension for f in _OUTPUT_FORMATS}
CONTENT_TYPES: dict[str, str] = {f: AudioFormat(f).content_type for f in _OUTPUT_FORMATS}
# Sample rates a format can carry (None: any): MPEG-1/2/2.5 rates, the Opus rates.
_ALLOWED_RATES: dict[str, tuple[int, ...] | None] = {f: supported_rates(f) for f in _OUTPUT_FORMATS}

_FRAME_S = 0.01  # trim analysis frame
_OVERSAMPLE = 4  # true peak, as in voicemill.audio.loudness
_ATTACK_S = 0.005
_RELEASE_S = 0.08
_MAKEUP_PASSES = 4
_MAKEUP_TOLERANCE_LU = 0.05
_CEILING_GUARD_DB = 0.01  # scale below the ceiling by this much when the guard acts


class PostprocessError(RejectedInput):
    """A synthesized clip cannot be delivered (``silent_audio``, ``too_short``, ...)."""


class PostprocessSettings(BaseModel):
    """How a clip is finished for delivery (one campaign uses one of these)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    loudness_lufs: float = Field(-16.0, ge=-40.0, le=-5.0)
    true_peak_dbtp: float = Field(-1.0, ge=-20.0, le=0.0)
    limiter_max_db: float = Field(
        8.0, ge=0.0, le=20.0, description="Most peak reduction the limiter may apply."
    )
    trim_db: float = Field(
        40.0, gt=0.0, le=100.0, description="Trim edges quieter than this below the peak."
    )
    keep_pad_ms: float = Field(50.0, ge=0.0, le=2000.0)
    fade_ms: float = Field(10.0, ge=0.0, le=1000.0)
    min_duration_s: float = Field(0.1, ge=0.0, description="Shortest sound left after trim.")
    output_format: OutputFormat = "wav"
    sample_rate: int | None = Field(
        None,
        ge=8000,
        le=192000,
        description="Output rate; None keeps the input rate (Opus: always 48 kHz).",
    )

    @field_validator("output_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _rate_fits_format(self) -> PostprocessSettings:
        allowed = _ALLOWED_RATES[self.output_format]
        if self.sample_rate is not None and allowed is not None and self.sample_rate not in allowed:
            rates = ", ".join(str(r) for r in allowed)
            raise ValueError(
                f"{self.output_format} cannot carry {self.sample_rate} Hz; use one of {rates}"
            )
        return self

    def output_rate(self, input_rate: int) -> int:
        """The rate of the delivered file for audio arriving at ``input_rate``."""
        if self.sample_rate is not None:
            return self.sample_rate
        return _fitting_rate(self.output_format, input_rate)


class ProcessedAudio(BaseModel):
    """A finished clip (float32 mono, read-only) and what was measured on it."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    audio: np.ndarray
    rate: int
    format: OutputFormat
    duration_s: float
    loudness_lufs: float  # measured on the output (BS.1770-4 integrated)
    true_peak_dbtp: float  # measured on the output (4x oversampled)
    gain_db: float  # static gain applied (after any limiter overflow was taken off it)
    limiter_db: float  # deepest gain reduction of the limiter (0 when it did nothing)


def postprocess(
    audio: np.ndarray, rate: int, settings: PostprocessSettings | None = None
) -> ProcessedAudio:
    """Trim, resample, normalize, limit and fade a mono clip for delivery.

    Raises :class:`PostprocessError` with ``reason`` ``silent_audio`` (no sound, or
    nothing above the -70 LUFS gate), ``too_short`` (less than ``min_duration_s`` of
    sound), ``not_mono`` or ``non_finite_audio``.
    """
    settings = settings or PostprocessSettings()
    if rate <= 0:
        raise ValueError("rate must be positive")
    x = _as_mono(audio)
    start, end, sound_samples = _trim_bounds(x, rate, settings)
    if sound_samples / rate < settings.min_duration_s:
        raise PostprocessError(
            "too_short",
            f"only {sound_samples / rate:.3f} s of sound after trimming silence "
            f"(minimum {settings.min_duration_s:g} s)",
        )
    x = x[start:end]
    out_rate = settings.output_rate(rate)
    if out_rate != rate:
        x = soxr.resample(x, rate, out_rate, quality="HQ").astype(np.float32)

    measured = _loudness(x, out_rate)
    if not math.isfinite(measured):
        raise PostprocessError(
            "silent_audio", "the clip has no sound above the -70 LUFS loudness gate"
        )
    fade = _fade_ramp(out_rate, settings.fade_ms, x.size)
    target = settings.loudness_lufs
    gain_db = target - measured
    for _ in range(_MAKEUP_PASSES):
        y, applied_db, limiter_db, overflow = _level(x, out_rate, gain_db, settings)
        _apply_fades(y, fade)
        y, guard_db = _true_peak_guard(y, out_rate, settings.true_peak_dbtp)
        applied_db -= guard_db
        loudness = _loudness(y, out_rate)
        if overflow or abs(loudness - target) <= _MAKEUP_TOLERANCE_LU:
            break
        gain_db += target - loudness
    y.setflags(write=False)
    return ProcessedAudio(
        audio=y,
        rate=out_rate,
        format=settings.output_format,
        duration_s=y.size / out_rate,
        loudness_lufs=loudness,
        true_peak_dbtp=_true_peak(y, out_rate),
        gain_db=applied_db,
        limiter_db=limiter_db,
    )


def encode(processed: ProcessedAudio, fmt: OutputFormat | None = None) -> bytes:
    """The clip as file bytes: WAV/FLAC 16-bit PCM, MP3, or Opus in Ogg.

    ``fmt`` defaults to the format the clip was processed for; a format that cannot
    carry ``processed.rate`` (Opus at 32 kHz, say) raises ``ValueError``: process with
    that ``output_format`` instead, so that the measurements describe the file.
    """
    fmt = fmt or processed.format
    if fmt not in _ALLOWED_RATES:
        raise ValueError(f"unknown output format {fmt!r}")
    allowed = _ALLOWED_RATES[fmt]
    if allowed is not None and processed.rate not in allowed:
        # encode_audio would resample; refuse instead, the measurements are at this rate.
        raise ValueError(
            f"{fmt} cannot carry {processed.rate} Hz; postprocess with output_format={fmt!r}"
        )
    return encode_audio(processed.audio, processed.rate, fmt)


def _fitting_rate(fmt: str, rate: int) -> int:
    allowed = _ALLOWED_RATES[fmt]
    if fmt == "opus":
        return 48000  # Opus codes at 48 kHz internally; players expect it
    if allowed is None or rate in allowed:
        return rate
    return next((r for r in allowed if r >= rate), allowed[-1])


def _as_mono(audio: np.ndarray) -> np.ndarray:
    x = np.asarray(audio)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise PostprocessError("not_mono", f"expected mono samples, got shape {x.shape}")
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise PostprocessError("non_finite_audio", "the clip contains NaN or infinite samples")
    return x


def _trim_bounds(x: np.ndarray, rate: int, settings: PostprocessSettings) -> tuple[int, int, int]:
    """(start, end) sample bounds after trimming with padding, and the sound length."""
    if x.size == 0 or not np.any(x):
        raise PostprocessError("silent_audio", "the clip is empty or digital silence")
    hop = max(1, round(_FRAME_S * rate))
    frames = -(-x.size // hop)
    padded = np.zeros(frames * hop, dtype=np.float64)
    padded[: x.size] = x
    energy = np.mean(np.square(padded.reshape(frames, hop)), axis=1)
    loud = np.flatnonzero(energy > energy.max() * 10.0 ** (-settings.trim_db / 10.0))
    first, last = int(loud[0]), int(loud[-1])
    pad = round(settings.keep_pad_ms / 1000.0 * rate)
    start = max(0, first * hop - pad)
    end = min(x.size, (last + 1) * hop + pad)
    sound = min(x.size, (last + 1) * hop) - first * hop
    return start, end, sound


def _level(
    x: np.ndarray, rate: int, gain_db: float, settings: PostprocessSettings
) -> tuple[np.ndarray, float, float, bool]:
    """Gain plus look-ahead limiting: (audio, static gain, limiter depth, overflowed)."""
    y = x.astype(np.float64) * 10.0 ** (gain_db / 20.0)
    need_db = np.minimum(0.0, settings.true_peak_dbtp - _peak_envelope_db(y, rate))
    depth = -float(need_db.min())
    overflow = depth - settings.limiter_max_db
    if overflow > 0:  # the limiter may not take it all: lower the static gain instead
        gain_db -= overflow
        y *= 10.0 ** (-overflow / 20.0)
        need_db = np.minimum(0.0, need_db + overflow)
        depth = settings.limiter_max_db
    if depth > 0:
        curve_db = _gain_curve_db(need_db, rate, depth)
        y *= 10.0 ** (curve_db / 20.0)
        depth = min(-float(curve_db.min()), depth)  # equal up to float rounding
    return y.astype(np.float32), gain_db, max(0.0, depth), overflow > 0


def _peak_envelope_db(y: np.ndarray, rate: int) -> np.ndarray:
    """Per-sample peak in dB over the sample and its 4x-oversampled neighbours."""
    over = soxr.resample(y, rate, rate * _OVERSAMPLE, quality="HQ")
    peaks = np.zeros(y.size * _OVERSAMPLE)
    n = min(over.size, peaks.size)
    peaks[:n] = np.abs(over[:n])
    env = np.maximum(peaks.reshape(y.size, _OVERSAMPLE).max(axis=1), np.abs(y))
    with np.errstate(divide="ignore"):
        return 20.0 * np.log10(env)


def _gain_curve_db(need_db: np.ndarray, rate: int, depth_db: float) -> np.ndarray:
    """The highest curve under ``need_db`` that falls at most depth/attack dB per second
    towards a peak and rises at most depth/release dB per second after it."""
    idx = np.arange(need_db.size, dtype=np.float64)
    attack = depth_db / (_ATTACK_S * rate)  # dB per sample
    release = depth_db / (_RELEASE_S * rate)
    # a[t] = min over s >= t of need[s] + attack·(s - t): ramps down ahead of each peak.
    ahead = np.minimum.accumulate((need_db + attack * idx)[::-1])[::-1] - attack * idx
    # r[t] = min over s <= t of a[s] + release·(t - s): recovers slowly after it.
    return np.minimum.accumulate(ahead - release * idx) + release * idx


def _fade_ramp(rate: int, fade_ms: float, size: int) -> np.ndarray:
    """Raised-cosine ramp from 0 (first sample) towards 1; at most half the clip."""
    n = min(round(fade_ms / 1000.0 * rate), size // 2)
    if n <= 0:
        return np.zeros(0, dtype=np.float32)
    return (0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)).astype(np.float32)


def _apply_fades(y: np.ndarray, ramp: np.ndarray) -> None:
    if ramp.size:
        y[: ramp.size] *= ramp
        y[-ramp.size :] *= ramp[::-1]


def _true_peak_guard(y: np.ndarray, rate: int, ceiling_db: float) -> tuple[np.ndarray, float]:
    """Scale down by any overshoot of the ceiling; returns (audio, dB taken off)."""
    peak = _true_peak(y, rate)
    if peak <= ceiling_db:
        return y, 0.0
    cut = peak - ceiling_db + _CEILING_GUARD_DB
    return (y * np.float32(10.0 ** (-cut / 20.0))).astype(np.float32), cut


def _loudness(y: np.ndarray, rate: int) -> float:
    meter = StreamingLoudnessMeter(rate)
    meter.process(y)
    return meter.integrated_lufs()


def _true_peak(y: np.ndarray, rate: int) -> float:
    meter = TruePeakMeter(rate)
    meter.process(y)
    return meter.true_peak_dbtp()
