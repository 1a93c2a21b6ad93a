"""Tiny random GPT/SoVITS models, a fake SSL extractor and a reference clip.

Random weights never emit EOS on purpose, so tests cap ``max_new_tokens``; one intra-op
thread keeps small-tensor steps fast on a shared, loaded CPU box.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest
import torch

from voicemill.model.gpt import GPTConfig, Text2SemanticModel
from voicemill.model.sovits import SoVITSConfig, SynthesizerTrn
from voicemill.synthesis import SynthesisEngine

REF_RATE = 24_000


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Small-tensor model steps run fastest on one thread on a shared box."""


class FakeSSL:
    """A fixed random projection of 20 ms frames: deterministic, 50 Hz, counts its calls."""

    frame_rate = 50

    def __init__(self, dim: int = 768) -> None:
        self.dim = dim
        self.calls = 0
        self._proj = torch.randn(320, dim, generator=torch.Generator().manual_seed(0))

    def extract(self, audio_16k: np.ndarray) -> torch.Tensor:
        self.calls += 1
        wav = torch.as_tensor(np.asarray(audio_16k, dtype=np.float32))
        frames = -(-wav.shape[0] // 320)
        wav = torch.nn.functional.pad(wav, (0, frames * 320 - wav.shape[0]))
        return (wav.view(frames, 320) @ self._proj).T[None].contiguous()  # [1, dim, T50]


def tiny_sovits_config(ssl_dim: int = 768) -> SoVITSConfig:
    # v2's 1024 codes instead of the tiny presets' 64 (see `tiny_gpt_config`).
    return dataclasses.replace(SoVITSConfig.tiny(), codebook_size=1024, ssl_dim=ssl_dim)


def tiny_gpt_config() -> GPTConfig:
    """The tiny s1 with v2's 1024 codes + EOS: random weights then all but never pick EOS
    (1 in 1025), so output lengths are set by ``max_new_tokens``. With the tiny preset's
    65 tokens a random GPT stops early (see ``test_tiny_presets_fit_together``)."""
    return dataclasses.replace(GPTConfig.tiny(), vocab_size=1025, eos=1024)


def tiny_models(
    ssl_dim: int = 768, prepare: bool = True
) -> tuple[Text2SemanticModel, SynthesizerTrn]:
    """Seeded random models; ``prepare=False`` keeps weight norm (for checkpoint writers)."""
    torch.manual_seed(0)
    gpt = Text2SemanticModel(tiny_gpt_config()).eval()
    sovits = SynthesizerTrn(tiny_sovits_config(ssl_dim))
    return gpt, sovits.prepare_for_inference() if prepare else sovits


def reference_clip(seconds: float, rate: int = REF_RATE, seed: int = 0) -> np.ndarray:
    """A voiced-ish tone with noise: loud enough to pass standardization's silence gate."""
    t = np.arange(round(seconds * rate)) / rate
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (0.3 * np.sin(2 * np.pi * 180 * t) + 0.05 * noise).astype(np.float32)


@pytest.fixture(scope="module")
def models() -> tuple[Text2SemanticModel, SynthesizerTrn]:
    return tiny_models()


@pytest.fixture
def ssl() -> FakeSSL:
    return FakeSSL()


@pytest.fixture
def engine(models: tuple[Text2SemanticModel, SynthesizerTrn], ssl: FakeSSL) -> SynthesisEngine:
    gpt, sovits = models
    return SynthesisEngine(gpt, sovits, ssl)


@pytest.fixture
def make_clip() -> Callable[..., np.ndarray]:
    """``make_clip(seconds, rate=24000, seed=0)`` -> float32 mono clip."""
    return reference_clip


@pytest.fixture
def reference() -> tuple[np.ndarray, int]:
    return reference_clip(4.0), REF_RATE


@pytest.fixture
def make_models() -> Callable[..., tuple[Text2SemanticModel, SynthesizerTrn]]:
    """``make_models(ssl_dim=768, prepare=True)`` -> fresh seeded random (gpt, sovits)."""
    return tiny_models


@pytest.fixture
def make_ssl() -> type[FakeSSL]:
    return FakeSSL
