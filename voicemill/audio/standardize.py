"""Turn any recording into VoiceMill's standard mono audio, and measure it.

One implementation serves ingestion (whole files, possibly hours long) and
inference (a short reference clip in memory): both feed the same two-pass core
with a block iterator, so the math cannot drift apart.

Pass 1 decodes blocks, counts clipped source samples (all channels), downmixes
to mono (mean of channels), resamples to the model rate with a streaming soxr
resampler (HQ, linear phase: soxr is fast, exact-length and streams with
state, unlike scipy's polyphase filters) and stores that signal (a raw float32
temp file for files, a list for arrays), while measuring BS.1770-4 loudness and
true peak. Then gain = target − loudness, reduced if needed so that the output
true peak stays at or below the ceiling (plain gain, never a limiter, so the
waveform shape is untouched; ``peak_limited`` records it). Pass 2 applies the
gain, writes the model-rate output, resamples it to the SSL rate and writes
that too, re-measures loudness/true peak and keeps 10 ms frame energies.

Outputs are 16-bit PCM WAV written under hidden temporary names and renamed
into place once complete; the frames sidecar is written last, so its presence
means all three outputs are whole. Memory is
bounded by the block size (10 s of source audio) plus ~10 floats per second.

Recording-level SNR (``snr_db``): 10·log10 of the 95th over the 10th
percentile of the 10 ms frame powers of the 16 kHz output (frames of digital
silence count as -100 dB; result clamped to [0, 100] dB). Speech recordings
have pauses, so the 10th percentile sits on the noise floor and the 95th on
loud speech; it is a cheap, VAD-free screen. Segmentation computes a per-
segment SNR against a VAD-derived noise floor from the same frame energies.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from voicemill.audio.config import StandardizeConfig
from voicemill.audio.decode import open_blocks
from voicemill.audio.errors import AudioError
from voicemill.audio.frames import ENERGY_FLOOR_DB, FRAME_HOP_S, FrameFeatures
from voicemill.audio.loudness import StreamingLoudnessMeter, TruePeakMeter
from voicemill.audio.streams import (
    ClipCounter,
    FileStore,
    FrameEnergy,
    MemorySink,
    MemoryStore,
    MonoStore,
    Resampler,
    Sink,
    WavSink,
)

_BLOCK_SECONDS = 10.0
# When the gain is cut to respect the ceiling, stay this far below it so that
# float rounding in the resampler can never put the measured peak above it.
_CEILING_GUARD_DB = 0.01
_SNR_MAX_DB = 100.0


class AudioMeasurements(BaseModel):
    """What standardization measured and did; stored with every recording."""

    source_sample_rate: int
    source_channels: int
    source_subtype: str | None
    source_container: str | None = None
    duration_s: float
    model_rate: int
    ssl_rate: int
    input_lufs: float
    output_lufs: float
    gain_db: float
    input_true_peak_dbtp: float
    output_true_peak_dbtp: float
    peak_limited: bool
    clipping_ratio: float
    snr_db: float


@dataclass(frozen=True)
class StandardizedAudio:
    """In-memory result of :func:`standardize_array`."""

    model_audio: np.ndarray  # float32 mono at model_rate
    ssl_audio: np.ndarray  # float32 mono at ssl_rate
    measurements: AudioMeasurements
    frames: FrameFeatures


def standardize_file(
    src: str | os.PathLike[str],
    out_model_path: str | os.PathLike[str],
    out_ssl_path: str | os.PathLike[str],
    frames_path: str | os.PathLike[str],
    config: StandardizeConfig | None = None,
) -> AudioMeasurements:
    """Standardize a file of any length in bounded memory; raises ``AudioError``.

    Writes ``out_model_path`` (model_rate, PCM_16 WAV), ``out_ssl_path``
    (ssl_rate, PCM_16 WAV) and the ``frames_path`` ``.npz`` sidecar atomically.
    """
    config = config or StandardizeConfig()
    info, blocks = open_blocks(src, _BLOCK_SECONDS, min_duration_s=config.min_duration_s)
    model_target, ssl_target = Path(out_model_path), Path(out_ssl_path)
    for target in (model_target, ssl_target, Path(frames_path)):
        target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=model_target.parent, prefix=".standardize-") as raw:
        store = FileStore(raw)
        model_sink = WavSink(model_target, config.model_rate)
        ssl_sink = WavSink(ssl_target, config.ssl_rate)
        try:
            measurements, frames = _standardize(
                blocks,
                info.sample_rate,
                info.channels,
                info.subtype,
                info.container,
                config,
                store,
                model_sink,
                ssl_sink,
            )
            model_sink.commit()
            ssl_sink.commit()
            frames.save(frames_path)  # last: a sidecar on disk means the set is complete
        finally:
            model_sink.discard()
            ssl_sink.discard()
    return measurements


def standardize_array(
    audio: np.ndarray, sample_rate: int, config: StandardizeConfig | None = None
) -> StandardizedAudio:
    """Standardize samples in memory (short clips, e.g. inference reference audio).

    ``audio`` is ``(n,)`` or ``(n, channels)``; float in [-1, 1] or integer PCM.
    """
    config = config or StandardizeConfig()
    samples = _as_float_frames(audio)
    if sample_rate <= 0:
        raise AudioError("bad_sample_rate", f"sample rate {sample_rate} is not positive")
    if not np.isfinite(samples).all():
        raise AudioError("non_finite_samples", "array contains NaN or infinite samples")
    if samples.shape[0] < max(1, round(config.min_duration_s * sample_rate)):
        raise AudioError(
            "too_short",
            f"{samples.shape[0] / sample_rate:.3f} s < minimum {config.min_duration_s} s",
        )
    step = max(1, round(_BLOCK_SECONDS * sample_rate))
    blocks = (samples[i : i + step] for i in range(0, samples.shape[0], step))
    model_sink, ssl_sink = MemorySink(), MemorySink()
    measurements, frames = _standardize(
        blocks,
        sample_rate,
        samples.shape[1],
        None,
        None,
        config,
        MemoryStore(),
        model_sink,
        ssl_sink,
    )
    return StandardizedAudio(model_sink.audio(), ssl_sink.audio(), measurements, frames)


# --- the shared core -----------------------------------------------------------


def _standardize(
    blocks: Iterable[np.ndarray],
    rate: int,
    channels: int,
    subtype: str | None,
    container: str | None,
    config: StandardizeConfig,
    store: MonoStore,
    model_sink: Sink,
    ssl_sink: Sink,
) -> tuple[AudioMeasurements, FrameFeatures]:
    # Pass 1: clipping, downmix, resample to the model rate, input loudness/peak.
    clips = ClipCounter(rate, config.clip_threshold)
    to_model = Resampler(rate, config.model_rate)
    in_loudness = StreamingLoudnessMeter(config.model_rate)
    in_peak = TruePeakMeter(config.model_rate)

    def keep(mono: np.ndarray) -> None:
        if mono.size:
            in_loudness.process(mono)
            in_peak.process(mono)
            store.append(mono)

    for block in blocks:
        clips.process(block)
        mono = block[:, 0] if channels == 1 else block.mean(axis=1, dtype=np.float32)
        keep(to_model.process(mono))
    keep(to_model.flush())

    duration_s = clips.frames / rate
    if duration_s < config.min_duration_s:
        raise AudioError("too_short", f"{duration_s:.3f} s < minimum {config.min_duration_s} s")
    input_lufs = in_loudness.integrated_lufs()
    if not input_lufs >= config.silence_lufs:
        raise AudioError(
            "silent", f"loudness {input_lufs:.1f} LUFS is below {config.silence_lufs} LUFS"
        )
    clipping_ratio = clips.ratio()
    if clipping_ratio > config.max_clipping_ratio:
        raise AudioError(
            "heavy_clipping",
            f"{clipping_ratio:.2%} of samples at |x| >= {config.clip_threshold} "
            f"(max {config.max_clipping_ratio:.2%})",
        )

    input_tp = in_peak.true_peak_dbtp()
    gain_db = config.target_lufs - input_lufs
    peak_limited = input_tp + gain_db > config.true_peak_ceiling_dbtp
    if peak_limited:
        gain_db = config.true_peak_ceiling_dbtp - input_tp - _CEILING_GUARD_DB
    gain = np.float32(10.0 ** (gain_db / 20.0))

    # Pass 2: gain, write both rates, output loudness/peak and frame energies.
    to_ssl = Resampler(config.model_rate, config.ssl_rate)
    out_loudness = StreamingLoudnessMeter(config.model_rate)
    out_peak = TruePeakMeter(config.model_rate)
    energies = FrameEnergy(config.ssl_rate)

    def emit_ssl(ssl: np.ndarray) -> None:
        if ssl.size:
            ssl_sink.write(ssl)
            energies.process(ssl)

    for mono in store.blocks():
        out = mono * gain
        model_sink.write(out)
        out_loudness.process(out)
        out_peak.process(out)
        emit_ssl(to_ssl.process(out))
    emit_ssl(to_ssl.flush())

    clip_fraction = clips.fractions()
    energy_db = _fit_length(energies.energy_db(), clip_fraction.size)
    measurements = AudioMeasurements(
        source_sample_rate=rate,
        source_channels=channels,
        source_subtype=subtype,
        source_container=container,
        duration_s=duration_s,
        model_rate=config.model_rate,
        ssl_rate=config.ssl_rate,
        input_lufs=input_lufs,
        output_lufs=out_loudness.integrated_lufs(),
        gain_db=gain_db,
        input_true_peak_dbtp=input_tp,
        output_true_peak_dbtp=out_peak.true_peak_dbtp(),
        peak_limited=peak_limited,
        clipping_ratio=clipping_ratio,
        snr_db=percentile_snr_db(energy_db),
    )
    return measurements, FrameFeatures(FRAME_HOP_S, clip_fraction, energy_db)


def percentile_snr_db(energy_db: np.ndarray) -> float:
    """Coarse SNR: 95th minus 10th percentile of frame energies (dB), clamped to [0, 100]."""
    if energy_db.size == 0:
        return 0.0
    low, high = np.percentile(energy_db, [10.0, 95.0])
    return float(np.clip(high - low, 0.0, _SNR_MAX_DB))


def _fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Trim or edge-pad so both sidecar arrays index the same frames."""
    if x.size >= n:
        return x[:n]
    fill = x[-1] if x.size else np.float32(ENERGY_FLOOR_DB)
    return np.concatenate([x, np.full(n - x.size, fill, dtype=x.dtype)])


def _as_float_frames(audio: np.ndarray) -> np.ndarray:
    a = np.asarray(audio)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] == 0:
        raise AudioError("bad_shape", f"expected (n,) or (n, channels) samples, got {a.shape}")
    if np.issubdtype(a.dtype, np.integer):
        scale = float(-np.iinfo(a.dtype).min) if np.issubdtype(a.dtype, np.signedinteger) else None
        if scale is None:
            raise AudioError("bad_dtype", f"unsigned integer samples ({a.dtype}) are not supported")
        return (a.astype(np.float32) / np.float32(scale)).astype(np.float32)
    if not np.issubdtype(a.dtype, np.floating):
        raise AudioError("bad_dtype", f"samples of dtype {a.dtype} are not audio")
    return np.ascontiguousarray(a, dtype=np.float32)


__all__ = [
    "AudioMeasurements",
    "StandardizeConfig",
    "StandardizedAudio",
    "percentile_snr_db",
    "standardize_array",
    "standardize_file",
]
