"""One interface for every transcription and forced-alignment backend.

The pipeline picks a backend per language and deployment (offline pocketsphinx for
English, whisperx with wav2vec2 in production) and only ever sees these types. Audio is
always float32 mono at 16 kHz; failures raise :class:`AlignmentError` whose ``reason``
lets the pipeline quarantine one item and carry on with the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from voicemill.errors import RejectedInput
from voicemill.text.normalize import SUPPORTED_LANGUAGES

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class WordTiming:
    """One aligned unit (an English word or a Mandarin character) in seconds."""

    word: str
    start_s: float
    end_s: float
    score: float | None = None  # 0..1 where the backend provides one


@dataclass(frozen=True)
class AlignmentResult:
    text: str  # normalized text that was aligned
    language: str
    words: tuple[WordTiming, ...]
    score: float  # 0..1, higher is better
    method: str  # backend name, recorded in the manifest


@dataclass(frozen=True)
class TranscriptionResult:
    text: str  # the recognizer's text, stripped but not normalized
    language: str
    words: tuple[WordTiming, ...]
    confidence: float  # 0..1


class AlignmentError(RejectedInput):
    """A transcription/alignment failure for one item.

    ``reason`` is a short snake_case code (``alignment_failed``, ``unsupported_language``,
    ``empty_transcript``, ``invalid_audio``, ``model_not_found`` ...); ``detail`` is for
    humans.
    """


def asr_language(requested: str | None, english_only: bool, model: object) -> str | None:
    """The language to ask an ASR model for; English-only models refuse others."""
    if requested is None:
        return "en" if english_only else None
    if requested not in SUPPORTED_LANGUAGES:
        raise AlignmentError(
            "unsupported_language",
            f"language {requested!r} is not one of {sorted(SUPPORTED_LANGUAGES)}",
        )
    if english_only and requested != "en":
        raise AlignmentError(
            "unsupported_language",
            f"ASR model {str(model)!r} is English-only; cannot transcribe {requested!r}",
        )
    return requested


@runtime_checkable
class Aligner(Protocol):
    name: str

    def supports(self, language: str) -> bool: ...

    def align(self, audio_16k: np.ndarray, text: str, language: str) -> AlignmentResult: ...


@runtime_checkable
class Transcriber(Protocol):
    name: str

    def transcribe(
        self, audio_16k: np.ndarray, language: str | None = None
    ) -> TranscriptionResult: ...


def check_audio(audio_16k: np.ndarray, min_seconds: float = 0.05) -> np.ndarray:
    """Return the audio as contiguous float32, or raise ``invalid_audio``.

    Backends fail in obscure ways on stereo, NaNs or empty arrays; catching those here
    gives the pipeline one clear reason instead.
    """
    audio = np.asarray(audio_16k)
    if audio.ndim != 1:
        raise AlignmentError("invalid_audio", f"expected mono 1-D audio, got shape {audio.shape}")
    if not np.issubdtype(audio.dtype, np.floating):
        raise AlignmentError("invalid_audio", f"expected float samples, got dtype {audio.dtype}")
    if audio.size < int(min_seconds * SAMPLE_RATE):
        raise AlignmentError(
            "invalid_audio", f"{audio.size} samples is shorter than {min_seconds} s at 16 kHz"
        )
    if not np.all(np.isfinite(audio)):
        raise AlignmentError("invalid_audio", "audio contains NaN or infinite samples")
    return np.ascontiguousarray(audio, dtype=np.float32)


def interpolate_missing(
    words: list[tuple[str, float | None, float | None, float | None]], duration_s: float
) -> tuple[WordTiming, ...]:
    """Fill words a backend could not time with a zero-length stamp at the previous end.

    Keeping every word (instead of dropping it) keeps the word list equal to the
    transcript; the missing score (``None``) marks the word as untimed.
    """
    out: list[WordTiming] = []
    previous_end = 0.0
    for idx, (word, start, end, score) in enumerate(words):
        if start is None or end is None:
            following = next((w[1] for w in words[idx + 1 :] if w[1] is not None), None)
            anchor = previous_end if following is None else min(previous_end, following)
            start = end = anchor
            score = None
        start = float(min(max(start, 0.0), duration_s))
        end = float(min(max(end, start), duration_s))
        out.append(WordTiming(word, start, end, None if score is None else float(score)))
        previous_end = max(previous_end, end)
    return tuple(out)
