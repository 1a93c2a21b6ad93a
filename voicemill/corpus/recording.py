"""Long recordings assembled from espeak sentences, with exact ground-truth timing.

Each sentence clip is trimmed of espeak's own leading and trailing silence, so the
place where a clip is pasted *is* the true start and end of its speech. Pauses and
edge silence are drawn from a seeded generator so every file is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicemill.corpus.espeak import EspeakVoice, synthesize, to_pinyin

TRIM_THRESHOLD_DB = -40.0  # frame RMS relative to the loudest frame of the clip
TRIM_FRAME_S = 0.005


@dataclass(frozen=True)
class SpokenSentence:
    """One sentence with the exact sample span of its speech inside a recording."""

    text: str  # as written in the transcript
    spoken: str  # as given to espeak (numbered pinyin for Mandarin)
    start: int  # first sample of speech
    end: int  # one past the last sample of speech


@dataclass(frozen=True)
class Recording:
    """Mono float32 audio at ``sample_rate`` and where each sentence is spoken in it."""

    audio: np.ndarray
    sample_rate: int
    sentences: tuple[SpokenSentence, ...]

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate

    def speech_mask(self) -> np.ndarray:
        mask = np.zeros(len(self.audio), dtype=bool)
        for s in self.sentences:
            mask[s.start : s.end] = True
        return mask


def trim_silence(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Cut leading/trailing frames quieter than ``TRIM_THRESHOLD_DB`` below the peak frame."""
    frame = max(1, round(TRIM_FRAME_S * sample_rate))
    n_frames = len(audio) // frame
    if n_frames == 0:
        return audio[:0]
    frames = audio[: n_frames * frame].astype(np.float64).reshape(n_frames, frame)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    if rms.max() <= 0.0:
        return audio[:0]
    loud = np.flatnonzero(rms >= rms.max() * 10 ** (TRIM_THRESHOLD_DB / 20))
    return audio[loud[0] * frame : (loud[-1] + 1) * frame]


def speak(text: str, voice: EspeakVoice) -> tuple[np.ndarray, int]:
    """espeak ``text`` and trim its edge silence; returns (clip, sample_rate)."""
    audio, sample_rate = synthesize(text, voice)
    return trim_silence(audio, sample_rate), sample_rate


def spoken_form(text: str, voice: EspeakVoice) -> str:
    """What espeak was actually given for ``text`` (aligners may want it)."""
    return to_pinyin(text).strip() if voice.language == "zh" else text


def compose_recording(
    sentences: Sequence[str],
    voice: EspeakVoice,
    rng: np.random.Generator,
    *,
    edge_s: tuple[float, float] = (0.45, 0.55),
    pause_s: tuple[float, float] = (0.8, 2.0),
    peak_dbfs: tuple[float, float] = (-9.0, -2.0),
) -> Recording:
    """Speak ``sentences`` in order with random pauses between them and silence at the edges.

    The level is set to a random peak in ``peak_dbfs`` so that loudness normalization
    downstream has real work to do.
    """
    clips: list[np.ndarray] = []
    sample_rate = 0
    for text in sentences:
        clip, sample_rate = speak(text, voice)
        clips.append(clip)
    if not clips:
        raise ValueError("a recording needs at least one sentence")

    def silence(bounds: tuple[float, float]) -> int:
        return round(rng.uniform(*bounds) * sample_rate)

    gaps = [silence(edge_s)] + [silence(pause_s) for _ in clips[1:]] + [silence(edge_s)]
    audio = np.zeros(sum(gaps) + sum(len(c) for c in clips), dtype=np.float32)
    spans: list[SpokenSentence] = []
    cursor = 0
    for text, clip, gap in zip(sentences, clips, gaps, strict=False):
        cursor += gap
        audio[cursor : cursor + len(clip)] = clip
        spans.append(SpokenSentence(text, spoken_form(text, voice), cursor, cursor + len(clip)))
        cursor += len(clip)
    audio = set_peak(audio, rng.uniform(*peak_dbfs))
    return Recording(audio, sample_rate, tuple(spans))


def set_peak(audio: np.ndarray, peak_dbfs: float) -> np.ndarray:
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak == 0.0:
        return audio
    return (audio * (10 ** (peak_dbfs / 20) / peak)).astype(np.float32)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS 1/f noise: closer to room and hum noise than white noise is."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.arange(len(spectrum), dtype=np.float64)
    freqs[0] = 1.0
    noise = np.fft.irfft(spectrum / np.sqrt(freqs), n)
    return noise / np.sqrt(np.mean(noise**2))


def add_noise(recording: Recording, snr_db: float, rng: np.random.Generator) -> Recording:
    """Mix pink noise over the whole recording at ``snr_db``.

    SNR is mean speech power over the true speech spans divided by mean noise power,
    the definition an SNR estimator working on VAD segments approximates.
    """
    speech = recording.audio[recording.speech_mask()].astype(np.float64)
    speech_power = float(np.mean(speech**2))
    noise = pink_noise(len(recording.audio), rng) * np.sqrt(speech_power / 10 ** (snr_db / 10))
    mixed = (recording.audio + noise).astype(np.float32)
    peak_dbfs = 20 * np.log10(float(np.max(np.abs(recording.audio))))
    return Recording(set_peak(mixed, peak_dbfs), recording.sample_rate, recording.sentences)


def write_transcript(path: Path, sentences: Sequence[str]) -> None:
    """The transcript convention of VoiceMill uploads: UTF-8, one sentence per line."""
    path.write_text("".join(f"{s}\n" for s in sentences), encoding="utf-8")
