"""Fixtures for the evaluation tests: real espeak-ng speech from several pseudo-speakers.

No model is mocked: the ASR judge is the bundled Whisper tiny.en, the speaker encoder is
resemblyzer's shipped d-vector model and DNSMOS is speechmos's ONNX model. Each model is
loaded once per test module; torch runs on one thread on the shared box.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache

import numpy as np
import pytest

from voicemill.corpus.espeak import EspeakVoice, synthesize

VOICES: dict[str, EspeakVoice] = {
    "m3": EspeakVoice("en", "en-us", "m3"),
    "f2": EspeakVoice("en", "en-us", "f2"),
    "m1": EspeakVoice("en", "en", "m1"),
    "zh": EspeakVoice("zh", "cmn-latn-pinyin", "m3"),
}

Speak = Callable[[str, str], tuple[np.ndarray, int]]


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Model steps run fastest on one thread on a shared 2-core box."""


@pytest.fixture(scope="module", autouse=True)
def _one_thread_for_module_fixtures() -> Iterator[None]:
    """The same for the module-scoped fixtures that embed or score clips: pytest sets
    them up before any function-scoped fixture, so ``one_torch_thread`` is not active
    yet (two contending threads made the similarity fixture ten times slower)."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@lru_cache(maxsize=64)
def _speech(text: str, voice: str) -> tuple[np.ndarray, int]:
    audio, rate = synthesize(text, VOICES[voice])
    audio.setflags(write=False)
    return audio, rate


@pytest.fixture(scope="session")
def speak() -> Speak:
    """``speak(text, voice)`` -> (float32 audio at espeak's 22.05 kHz, rate); cached."""
    return _speech
