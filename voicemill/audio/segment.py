"""Cut a standardized recording into utterances and score each one.

Pipeline over the per-32 ms Silero probabilities (see ``vad.py``):

1. **Hysteresis** (as silero's ``get_speech_timestamps``): a region starts at
   a window with p >= ``threshold`` and ends where p stayed below
   ``neg_threshold`` for ``min_silence_s``; values in between neither start
   nor end a region.
2. **Split** regions longer than the usable maximum (``max_duration_s`` minus
   both pads, so padded segments never exceed ``max_duration_s``) at the
   lowest-probability window that leaves both parts >= ``min_duration_s``
   (ties broken by the lowest 10 ms-frame energy), repeatedly. A region that
   cannot be split that way is kept and rejected ``too_long``.
3. **Merge** regions shorter than ``min_duration_s`` into the nearer neighbour
   when the gap is <= ``merge_gap_s`` and the result still fits; the rest are
   kept and rejected ``too_short``. (Durations in steps 2-3 are of speech,
   before padding.)
4. **Pad** both sides by ``pad_s``, never past the file ends or the midpoint
   of the gap to a neighbour, so segments never overlap.

Scores come from the frames sidecar of standardization, without decoding audio:

- ``clipping_ratio``: mean clipped fraction of the segment's 10 ms frames.
- ``snr_db``: 10·log10((P_s − P_n) / P_n), with P_s the mean power of the
  segment's speech frames (p >= threshold) and P_n the noise floor: the median
  power of non-speech frames (outside every region, p < neg_threshold) within
  ``noise_context_s`` of the segment, or of the whole recording when fewer than
  0.3 s of such frames are near, or the 10th percentile of all frames when the
  recording has no pauses at all. A local floor follows noise that changes
  during a long recording (a fan switched on halfway); subtracting P_n turns
  (S+N)/N into S/N. Clamped to [-30, 100] dB; digital silence counts as -100 dB.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from voicemill.audio.atomic import write_wav_atomic
from voicemill.audio.config import SegmentationConfig
from voicemill.audio.errors import AudioError
from voicemill.audio.frames import FrameFeatures, load_frames
from voicemill.audio.vad import VAD_RATE, WINDOW_S, speech_probabilities

_SNR_RANGE_DB = (-30.0, 100.0)
_MIN_NOISE_FRAMES = 30  # 0.3 s of pauses for a trustworthy local noise floor


@dataclass
class Segment:
    """One utterance; times in seconds of the recording, padding included."""

    index: int
    start_s: float
    end_s: float
    duration_s: float
    clipping_ratio: float
    snr_db: float
    speech_prob: float
    rejection: str | None  # too_short, too_long, clipped, noisy; None = usable


@dataclass
class _Region:
    start: int  # first window
    end: int  # one past the last window
    rejection: str | None = None

    @property
    def windows(self) -> int:
        return self.end - self.start


def segment_recording(
    ssl_path: str | os.PathLike[str],
    frames_path: str | os.PathLike[str],
    config: SegmentationConfig | None = None,
) -> list[Segment]:
    """Segment a standardized 16 kHz recording; ``[]`` when it has no speech."""
    config = config or SegmentationConfig()
    frames = load_frames(frames_path)
    probs = speech_probabilities(ssl_path)  # raises AudioError for unreadable/wrong-rate files
    duration_s = sf.info(str(ssl_path)).duration
    return segment_probabilities(probs, frames, duration_s, config)


def segment_probabilities(
    probs: np.ndarray,
    frames: FrameFeatures,
    duration_s: float,
    config: SegmentationConfig | None = None,
) -> list[Segment]:
    """The model-free part of :func:`segment_recording`: probabilities to segments."""
    config = config or SegmentationConfig()
    if config.neg_threshold > config.threshold:
        raise ValueError("neg_threshold must not exceed threshold")
    probs = np.asarray(probs, dtype=np.float32)
    regions = _hysteresis_regions(probs, config)
    if not regions:
        return []
    window_energy = _window_energy_db(frames, probs.size)
    usable_max = max(0.0, config.max_duration_s - 2 * config.pad_s)
    max_w = math.floor(usable_max / WINDOW_S + 1e-9)
    min_w = math.ceil(config.min_duration_s / WINDOW_S - 1e-9)
    regions = [part for r in regions for part in _split(r, probs, window_energy, min_w, max_w)]
    regions = _merge_short(regions, min_w, max_w, math.floor(config.merge_gap_s / WINDOW_S + 1e-9))
    for r in regions:
        if r.rejection is None and r.windows < min_w:
            r.rejection = "too_short"

    speech_frames, noise_frames = _frame_classes(probs, regions, frames, config)
    global_noise = _noise_floor(frames.energy_db, noise_frames, slice(0, len(frames)))
    segments = []
    for index, region in enumerate(regions):
        start_s, end_s = _padded_bounds(regions, index, duration_s, config.pad_s)
        span = frames.span(start_s, end_s)
        clipping = float(frames.clip_fraction[span].mean()) if span.stop > span.start else 0.0
        reach = frames.span(start_s - config.noise_context_s, end_s + config.noise_context_s)
        noise = _noise_floor(frames.energy_db, noise_frames, reach, fallback=global_noise)
        snr = _snr_db(frames.energy_db[span], speech_frames[span], noise)
        rejection = region.rejection
        if rejection is None and clipping > config.max_clipping_ratio:
            rejection = "clipped"
        if rejection is None and snr < config.min_snr_db:
            rejection = "noisy"
        segments.append(
            Segment(
                index=index,
                start_s=start_s,
                end_s=end_s,
                duration_s=round(end_s - start_s, 4),
                clipping_ratio=clipping,
                snr_db=snr,
                speech_prob=float(probs[region.start : region.end].mean()),
                rejection=rejection,
            )
        )
    return segments


def _hysteresis_regions(probs: np.ndarray, config: SegmentationConfig) -> list[_Region]:
    """Speech regions as window ranges (silero's start/end state machine)."""
    min_silence_w = max(1, math.ceil(config.min_silence_s / WINDOW_S - 1e-9))
    regions: list[_Region] = []
    start: int | None = None
    silence_from: int | None = None
    for i, p in enumerate(probs.tolist()):
        if p >= config.threshold:
            silence_from = None
            if start is None:
                start = i
        elif start is not None and p < config.neg_threshold:
            if silence_from is None:
                silence_from = i
            if i + 1 - silence_from >= min_silence_w:
                regions.append(_Region(start, silence_from))
                start, silence_from = None, None
    if start is not None:
        regions.append(_Region(start, silence_from if silence_from is not None else probs.size))
    return regions


def _split(
    region: _Region, probs: np.ndarray, energy: np.ndarray, min_w: int, max_w: int
) -> list[_Region]:
    """Split at the quietest admissible window until every part fits (no recursion:
    an hour of continuous 'speech' becomes hundreds of parts)."""
    done: list[_Region] = []
    todo = [region]
    while todo:
        current = todo.pop()
        if current.windows <= max_w:
            done.append(current)
            continue
        lo, hi = current.start + max(min_w, 1), current.end - max(min_w, 1)
        if lo > hi:
            done.append(_Region(current.start, current.end, "too_long"))
            continue
        candidates = np.arange(lo, hi + 1)
        # Lowest probability first (rounded, so near-equal probabilities fall to energy).
        cut = int(candidates[np.lexsort((energy[candidates], np.round(probs[candidates], 2)))[0]])
        todo += [_Region(current.start, cut), _Region(cut, current.end)]
    return sorted(done, key=lambda r: r.start)


def _merge_short(regions: list[_Region], min_w: int, max_w: int, max_gap_w: int) -> list[_Region]:
    """Merge each too-short region into its nearer neighbour when the result fits."""
    regions = list(regions)
    merged = True
    while merged:
        merged = False
        for i, r in enumerate(regions):
            if r.windows >= min_w or r.rejection is not None:
                continue
            options = []
            for j in (i - 1, i + 1):
                if 0 <= j < len(regions) and regions[j].rejection is None:
                    a, b = sorted((r, regions[j]), key=lambda x: x.start)
                    gap = b.start - a.end
                    if gap <= max_gap_w and b.end - a.start <= max_w:
                        options.append((gap, j))
            if options:
                _, j = min(options)
                a, b = sorted((i, j))
                regions[a : b + 1] = [_Region(regions[a].start, regions[b].end)]
                merged = True
                break
    return regions


def _padded_bounds(
    regions: list[_Region], index: int, duration_s: float, pad_s: float
) -> tuple[float, float]:
    region = regions[index]
    start = region.start * WINDOW_S
    end = min(region.end * WINDOW_S, duration_s)
    lower = 0.0 if index == 0 else (regions[index - 1].end * WINDOW_S + start) / 2
    upper = duration_s
    if index < len(regions) - 1:
        upper = (end + regions[index + 1].start * WINDOW_S) / 2
    # Rounded to 0.1 ms: clean numbers in the database, well below a sample at 16 kHz.
    return (
        round(max(start - pad_s, lower, 0.0), 4),
        round(min(end + pad_s, max(upper, end), duration_s), 4),
    )


def _window_energy_db(frames: FrameFeatures, n_windows: int) -> np.ndarray:
    """Mean 10 ms-frame energy (dB) inside each 32 ms window."""
    energy = np.full(n_windows, np.inf, dtype=np.float64)
    if len(frames) == 0 or n_windows == 0:
        return energy
    window_of = np.minimum(
        ((np.arange(len(frames)) + 0.5) * frames.hop_s / WINDOW_S).astype(np.int64), n_windows - 1
    )
    sums = np.bincount(window_of, weights=frames.energy_db, minlength=n_windows)
    counts = np.bincount(window_of, minlength=n_windows)
    np.divide(sums, counts, out=energy, where=counts > 0)
    return energy


def _frame_classes(
    probs: np.ndarray, regions: list[_Region], frames: FrameFeatures, config: SegmentationConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Per 10 ms frame: is it confident speech, is it a pause usable for the noise floor."""
    window_of = np.minimum(
        ((np.arange(len(frames)) + 0.5) * frames.hop_s / WINDOW_S).astype(np.int64),
        max(probs.size - 1, 0),
    )
    p = probs[window_of] if probs.size else np.zeros(len(frames), dtype=np.float32)
    in_region = np.zeros(probs.size + 1, dtype=np.int64)
    for r in regions:
        in_region[r.start] += 1
        in_region[r.end] -= 1
    inside = np.cumsum(in_region)[:-1][window_of] > 0 if probs.size else np.zeros(len(frames), bool)
    return p >= config.threshold, (~inside) & (p < config.neg_threshold)


def _noise_floor(
    energy_db: np.ndarray, noise_frames: np.ndarray, reach: slice, fallback: float | None = None
) -> float:
    """Median power of the pause frames in ``reach``, else ``fallback``, else p10 of all."""
    pauses = energy_db[reach][noise_frames[reach]]
    if pauses.size >= _MIN_NOISE_FRAMES:
        return float(10.0 ** (np.median(pauses) / 10.0))
    if fallback is not None:
        return fallback
    if energy_db.size == 0:
        return 1e-10
    return float(10.0 ** (np.percentile(energy_db, 10.0) / 10.0))


def _snr_db(energy_db: np.ndarray, speech: np.ndarray, noise_power: float) -> float:
    if energy_db.size == 0:
        return _SNR_RANGE_DB[0]
    chosen = energy_db[speech] if speech.any() else energy_db
    speech_power = float(np.mean(10.0 ** (chosen.astype(np.float64) / 10.0)))
    signal = max(speech_power - noise_power, noise_power * 10.0 ** (_SNR_RANGE_DB[0] / 10.0))
    return float(np.clip(10.0 * math.log10(signal / noise_power), *_SNR_RANGE_DB))


# --- slicing audio -------------------------------------------------------------------


def read_segment(
    path: str | os.PathLike[str], segment: Segment, rate: int = VAD_RATE
) -> np.ndarray:
    """The segment's mono float32 samples at ``rate`` (resampled if the file differs)."""
    p = Path(path)
    with sf.SoundFile(str(p)) as fh:
        start = max(0, round(segment.start_s * fh.samplerate))
        stop = min(fh.frames, round(segment.end_s * fh.samplerate))
        if stop <= start:
            raise AudioError("empty_segment", f"{p}: segment {segment.index} has no samples")
        fh.seek(start)
        audio = fh.read(stop - start, dtype="float32", always_2d=True).mean(axis=1)
        file_rate = fh.samplerate
    if file_rate != rate:
        audio = soxr.resample(audio, file_rate, rate, quality="HQ").astype(np.float32)
    return audio


def write_segment(
    model_path: str | os.PathLike[str], segment: Segment, out_path: str | os.PathLike[str]
) -> None:
    """Copy the segment's slice of the model-rate file to a PCM_16 WAV (atomic)."""
    rate = sf.info(str(model_path)).samplerate
    write_wav_atomic(out_path, read_segment(model_path, segment, rate), rate)
