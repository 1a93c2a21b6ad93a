"""A prepared reference voice and the reference-audio checks behind it.

Upstream recomputes prompt features on every request; a ``Voice`` holds them once so
repeated requests with the same reference only pay for the target text.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from voicemill.audio.decode import open_blocks
from voicemill.synthesis.errors import SynthesisError

MIN_REFERENCE_S = 3.0  # upstream: 48000-160000 samples at 16 kHz, else it refuses
MAX_REFERENCE_S = 10.0

ReferenceAudio = str | os.PathLike[str] | tuple[np.ndarray, int]


@dataclass(frozen=True)
class Voice:
    """Everything about a reference that synthesis needs, computed once."""

    key: str  # content hash of (audio, rate, prompt text, language)
    duration_s: float
    refer_spec: torch.Tensor  # [1, spec_channels, Tr] linear spectrogram of the 32 kHz audio
    prompt_semantic: torch.Tensor | None  # [1, Tp] codes; None = reference-free mode
    prompt_phone_ids: tuple[int, ...]  # empty in reference-free mode
    prompt_bert: torch.Tensor  # [bert_dim, len(prompt_phone_ids)]
    prompt_text: str | None

    @property
    def reference_free(self) -> bool:
        return self.prompt_semantic is None


def read_reference(reference: ReferenceAudio) -> tuple[np.ndarray, int]:
    """A path or ``(samples, rate)`` -> ``(samples [n] or [n, ch], rate)``.

    A file's length is checked from its header first, so a long recording is refused
    before it is decoded.
    """
    if isinstance(reference, tuple):
        audio, rate = reference
        return np.asarray(audio), int(rate)
    info, blocks = open_blocks(Path(reference), block_seconds=MAX_REFERENCE_S, min_duration_s=0.0)
    check_reference_duration(info.duration_s)
    return np.concatenate(list(blocks), axis=0), info.sample_rate


def check_reference_duration(duration_s: float) -> None:
    if duration_s < MIN_REFERENCE_S:
        raise SynthesisError(
            "reference_too_short", f"reference is {duration_s:.2f} s; need {MIN_REFERENCE_S}-10 s"
        )
    if duration_s > MAX_REFERENCE_S:
        raise SynthesisError(
            "reference_too_long", f"reference is {duration_s:.2f} s; need 3-{MAX_REFERENCE_S} s"
        )


def voice_key(audio: np.ndarray, rate: int, prompt_text: str | None, language: str) -> str:
    """Content hash: the same samples and prompt give the same voice, whatever the source."""
    digest = hashlib.sha256()
    array = np.ascontiguousarray(audio)
    digest.update(f"{array.dtype.str}|{array.shape}|{rate}|{language}|".encode())
    digest.update((prompt_text or "").encode())
    digest.update(b"\0")
    digest.update(array.tobytes())
    return digest.hexdigest()
