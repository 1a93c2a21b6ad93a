"""Audio made on the spot for the audio-core tests: espeak-ng speech and numpy signals."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicemill.audio.standardize import AudioMeasurements, StandardizeConfig, standardize_file
from voicemill.corpus.espeak import EspeakVoice, synthesize

SPEECH_RATE = 22050
VOICE = EspeakVoice("en", "en-us", "m3")

SENTENCES = (
    "The morning train was late again today.",
    "She packed three books and a small lamp.",
    "Nobody expected the storm to arrive so quickly.",
    "We will meet at the old library after lunch.",
)


@lru_cache(maxsize=64)
def _spoken(text: str) -> np.ndarray:
    audio, rate = synthesize(text, VOICE)
    assert rate == SPEECH_RATE
    loud = np.flatnonzero(np.abs(audio) > 1e-3)
    trimmed = audio[loud[0] : loud[-1] + 1].astype(np.float32)
    trimmed.setflags(write=False)
    return trimmed


@dataclass(frozen=True)
class Composed:
    """A recording at SPEECH_RATE and the true (start, end) seconds of each utterance."""

    audio: np.ndarray
    spans: list[tuple[float, float]]


def _compose(parts: Sequence[str | float]) -> Composed:
    """Concatenate utterances (str) and silences (float seconds) into one recording."""
    chunks: list[np.ndarray] = []
    spans: list[tuple[float, float]] = []
    t = 0
    for part in parts:
        if isinstance(part, str):
            x = _spoken(part)
            spans.append((t / SPEECH_RATE, (t + x.size) / SPEECH_RATE))
        else:
            x = np.zeros(round(part * SPEECH_RATE), dtype=np.float32)
        chunks.append(x)
        t += x.size
    return Composed(np.concatenate(chunks), spans)


@pytest.fixture(scope="session")
def speak() -> Callable[[str], np.ndarray]:
    """Trimmed espeak speech for a text, float32 at SPEECH_RATE (cached)."""
    return _spoken


@pytest.fixture(scope="session")
def speech() -> np.ndarray:
    """About 6 s of speech with a pause: two sentences."""
    return _compose([0.3, SENTENCES[0], 0.4, SENTENCES[1], 0.3]).audio


@pytest.fixture(scope="session")
def compose() -> Callable[[Sequence[str | float]], Composed]:
    """Build a recording from utterances (str) and silences (seconds), with true spans."""
    return _compose


@pytest.fixture(scope="session")
def sentences() -> tuple[str, ...]:
    return SENTENCES


@dataclass(frozen=True)
class Standardized:
    model: Path
    ssl: Path
    frames: Path
    measurements: AudioMeasurements


@pytest.fixture
def standardize(tmp_path: Path) -> Callable[..., Standardized]:
    """Write samples to a WAV, standardize it, and return the three output paths."""
    counter = iter(range(1000))

    def run(
        audio: np.ndarray, rate: int = SPEECH_RATE, config: StandardizeConfig | None = None
    ) -> Standardized:
        n = next(counter)
        src = tmp_path / f"src{n}.wav"
        sf.write(src, audio, rate, subtype="FLOAT")
        model, ssl, frames = tmp_path / f"m{n}.wav", tmp_path / f"s{n}.wav", tmp_path / f"f{n}.npz"
        measurements = standardize_file(src, model, ssl, frames, config)
        return Standardized(model, ssl, frames, measurements)

    return run
