"""Errors of the evaluation layer: one clear ``reason`` per unusable input."""

from __future__ import annotations

from voicemill.errors import RejectedInput


class EvaluationError(RejectedInput, ValueError):
    """An input the evaluation metrics cannot score.

    Reasons used: ``invalid_audio`` (not mono float, NaN, bad rate), ``audio_too_short``
    (below a scorer's minimum), ``silent_audio`` (no signal to embed or rate),
    ``empty_reference`` (nothing left of the reference text after normalization),
    ``invalid_embeddings``, ``unpaired_scores`` / ``missing_metric`` / ``unknown_metric``
    (bootstrap inputs that do not pair up), ``model_not_found``, ``transcription_failed``.
    """


class JudgeLanguageUnsupported(EvaluationError):
    """The ASR judge cannot transcribe this language (e.g. an English-only ``*.en``
    Whisper asked for Mandarin). Reason: ``judge_language_unsupported``."""
