"""Production transcription and forced alignment through whisperx.

whisperx pairs batched faster-whisper ASR (with a VAD front end) with wav2vec2 CTC
forced alignment, for any language that has a wav2vec2 character model. It is the
backend for Mandarin and for GPU workers; :mod:`.pocketsphinx_aligner` is the offline
English fallback.

Offline operation (what we checked with whisperx 3.8.6):

* ASR accepts a local CTranslate2 model dir (e.g. the bundled ``tiny.en``).
* VAD: ``pyannote`` (the default) loads weights bundled inside the whisperx wheel and
  works offline; ``silero`` fetches its model through ``torch.hub`` from GitHub, so it
  only works with a warm torch hub cache.
* Alignment accepts a local wav2vec2 dir as ``model_name`` (loaded with
  ``local_files_only``); ``None`` means whisperx's default model for the language,
  which is downloaded on first use.
* ``whisperx.align`` splits text into sentences with NLTK Punkt and calls
  ``nltk.download`` when the ``punkt_tab`` data is missing. We feed it normalized text
  without punctuation (one sentence), so when ``punkt_tab`` is absent we install an
  empty, untrained Punkt model under ``nltk_data_dir`` instead of downloading.

Word mapping: whisperx returns word dicts (``word``, ``start``, ``end``, ``score``);
Mandarin comes back per character. They are regrouped onto our alignment units
(:func:`voicemill.text.normalize.words_for_alignment`). Words whisperx could not time
(no alignable characters) are kept with a zero-length stamp at the previous word's end
and ``score=None`` (see :func:`.base.interpolate_missing`), so the word list always
equals the transcript. The alignment score is the mean word score.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from voicemill.align.base import (
    SAMPLE_RATE,
    AlignmentError,
    AlignmentResult,
    TranscriptionResult,
    WordTiming,
    asr_language,
    check_audio,
    interpolate_missing,
)
from voicemill.align.whisper_transcriber import is_english_only_model
from voicemill.text.normalize import (
    SUPPORTED_LANGUAGES,
    TextError,
    normalize_text,
    words_for_alignment,
)

_PUNKT_FILES = ("collocations.tab", "sent_starters.txt", "abbrev_types.txt", "ortho_context.tab")


def default_nltk_data_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "voicemill" / "nltk_data"


class WhisperxBackend:
    """whisperx ASR + wav2vec2 alignment; models load lazily, once per instance."""

    name = "whisperx"

    def __init__(
        self,
        asr_model: str | Path,
        align_model: str | Path | None = None,
        device: str = "cpu",
        compute_type: str = "int8",
        language: str | None = None,
        *,
        batch_size: int = 8,
        cpu_threads: int = 2,
        vad_method: str = "pyannote",
        word_timestamps: bool | None = None,
        nltk_data_dir: Path | None = None,
    ) -> None:
        """``align_model`` is the wav2vec2 model for ``language`` (a local dir or hub
        name); with ``language=None`` it is used for whatever language is asked.
        ``word_timestamps``: whether :meth:`transcribe` aligns its words; the default
        does so only when ``align_model`` is given, so an ASR-only backend never tries
        to download whisperx's default alignment model."""
        if language is not None and language not in SUPPORTED_LANGUAGES:
            raise AlignmentError(
                "unsupported_language",
                f"language {language!r} is not one of {sorted(SUPPORTED_LANGUAGES)}",
            )
        self._asr_ref = str(asr_model)
        self._align_ref = None if align_model is None else str(align_model)
        self._device = device
        self._compute_type = compute_type
        self._language = language
        self._batch_size = batch_size
        self._cpu_threads = cpu_threads
        self._vad_method = vad_method
        self._word_timestamps = (
            align_model is not None if word_timestamps is None else word_timestamps
        )
        self._nltk_data_dir = nltk_data_dir or default_nltk_data_dir()
        self._english_only = is_english_only_model(asr_model)
        self._asr: Any = None
        self._aligners: dict[str, tuple[Any, dict[str, Any]]] = {}
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ Aligner

    def supports(self, language: str) -> bool:
        return language in SUPPORTED_LANGUAGES and (
            self._language is None or language == self._language
        )

    def align(self, audio_16k: np.ndarray, text: str, language: str) -> AlignmentResult:
        """Force-align ``text`` over the whole clip as one whisperx segment."""
        if not self.supports(language):
            raise AlignmentError(
                "unsupported_language", f"{self.name} is not set up for {language!r}"
            )
        audio = check_audio(audio_16k)
        try:
            normalized = normalize_text(text, language)
        except TextError as exc:
            raise AlignmentError(exc.reason, exc.detail) from exc
        units = words_for_alignment(normalized, language)
        if not units:
            raise AlignmentError("empty_transcript", f"nothing to align in {text!r}")
        duration = audio.size / SAMPLE_RATE
        segment = {"text": normalized, "start": 0.0, "end": duration}
        words = self._align_segments([segment], audio, language)
        timed = _regroup(words, units)
        if not any(start is not None for _, start, _, _ in timed):
            raise AlignmentError("alignment_failed", "whisperx timed none of the words")
        timings = interpolate_missing(timed, duration)
        scores = [w.score for w in timings if w.score is not None]
        return AlignmentResult(
            text=normalized,
            language=language,
            words=timings,
            score=float(min(max(np.mean(scores), 0.0), 1.0)) if scores else 0.0,
            method=self.name,
        )

    # -------------------------------------------------------------- Transcriber

    def transcribe(self, audio_16k: np.ndarray, language: str | None = None) -> TranscriptionResult:
        """Run VAD + batched Whisper, then (optionally) align the recognized words.

        Confidence is exp of the duration-weighted mean segment ``avg_logprob``.
        """
        audio = check_audio(audio_16k)
        language = self._resolve_asr_language(language)
        with self._lock:
            pipeline = self._ensure_asr()
            try:
                result = pipeline.transcribe(audio, batch_size=self._batch_size, language=language)
            except (RuntimeError, ValueError) as exc:
                raise AlignmentError("transcription_failed", f"whisperx: {exc}") from exc
        segments = [s for s in result["segments"] if s["text"].strip()]
        detected = result.get("language") or language or "en"
        text = " ".join(s["text"].strip() for s in segments)
        words: tuple[WordTiming, ...] = ()
        if self._word_timestamps and segments and detected in SUPPORTED_LANGUAGES:
            raw = self._align_segments(segments, audio, detected)
            duration = audio.size / SAMPLE_RATE
            words = interpolate_missing(
                [
                    (w["word"].strip(), w.get("start"), w.get("end"), w.get("score"))
                    for w in raw
                    if w["word"].strip()
                ],
                duration,
            )
        return TranscriptionResult(
            text=text, language=detected, words=words, confidence=_confidence(segments)
        )

    # ------------------------------------------------------------------ helpers

    def _resolve_asr_language(self, language: str | None) -> str | None:
        return asr_language(language or self._language, self._english_only, self._asr_ref)

    def _align_segments(
        self, segments: list[dict[str, Any]], audio: np.ndarray, language: str
    ) -> list[dict[str, Any]]:
        with self._lock:
            model, metadata = self._ensure_aligner(language)
            whisperx = _import_whisperx()

            try:
                with _preserved_torch_threads():
                    result = whisperx.align(
                        [dict(s) for s in segments], model, metadata, audio, self._device
                    )
            except (RuntimeError, ValueError, IndexError, KeyError) as exc:
                raise AlignmentError("alignment_failed", f"whisperx.align: {exc}") from exc
        return list(result.get("word_segments") or [])

    def _ensure_asr(self) -> Any:
        if self._asr is None:
            whisperx = _import_whisperx()
            language = "en" if self._english_only else self._language
            try:
                with _preserved_torch_threads():
                    self._asr = whisperx.load_model(
                        self._asr_ref,
                        self._device,
                        compute_type=self._compute_type,
                        language=language,
                        vad_method=self._vad_method,
                        threads=self._cpu_threads,
                    )
            except (RuntimeError, ValueError, OSError) as exc:
                raise AlignmentError(
                    "model_not_found", f"cannot load whisperx ASR {self._asr_ref!r}: {exc}"
                ) from exc
        return self._asr

    def _ensure_aligner(self, language: str) -> tuple[Any, dict[str, Any]]:
        if language not in self._aligners:
            whisperx = _import_whisperx()
            _ensure_punkt(language, self._nltk_data_dir)
            local = self._align_ref is not None and Path(self._align_ref).is_dir()
            try:
                with _preserved_torch_threads():
                    self._aligners[language] = whisperx.load_align_model(
                        language,
                        self._device,
                        model_name=self._align_ref,
                        model_cache_only=local,
                    )
            except (RuntimeError, ValueError, OSError) as exc:
                raise AlignmentError(
                    "model_not_found",
                    f"cannot load alignment model {self._align_ref!r} for {language!r}: {exc}",
                ) from exc
        return self._aligners[language]


def _import_whisperx() -> Any:
    # pyannote (imported by whisperx's VAD) phones home for metrics unless told not to.
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
    with _preserved_torch_threads():
        import whisperx
    return whisperx


@contextlib.contextmanager
def _preserved_torch_threads() -> Iterator[None]:
    """Undo any ``torch.set_num_threads`` a dependency does on import or load
    (``import silero_vad`` sets 1 thread for the whole process)."""
    import torch

    threads = torch.get_num_threads()
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def _ensure_punkt(language: str, data_dir: Path) -> None:
    """Make ``punkt_tab`` for whisperx's sentence splitter loadable without a download."""
    import nltk
    from whisperx.utils import PUNKT_LANGUAGES

    name = PUNKT_LANGUAGES.get(language, "english")
    try:
        nltk.data.find(f"tokenizers/punkt_tab/{name}/")
        return
    except LookupError:
        pass
    model_dir = data_dir / "tokenizers" / "punkt_tab" / name
    model_dir.mkdir(parents=True, exist_ok=True)
    for file_name in _PUNKT_FILES:
        (model_dir / file_name).touch()
    if str(data_dir) not in nltk.data.path:
        nltk.data.path.append(str(data_dir))


def _regroup(
    words: list[dict[str, Any]], units: list[str]
) -> list[tuple[str, float | None, float | None, float | None]]:
    """Map whisperx's words (per character for Mandarin) onto our alignment units."""
    pieces = [w for w in words if str(w.get("word", "")).strip()]
    out: list[tuple[str, float | None, float | None, float | None]] = []
    i = 0
    for unit in units:
        got = ""
        parts: list[dict[str, Any]] = []
        while len(got) < len(unit) and i < len(pieces):
            parts.append(pieces[i])
            got += str(pieces[i]["word"]).strip()
            i += 1
        if got != unit:
            raise AlignmentError(
                "alignment_failed", f"whisperx words do not match the transcript at {unit!r}"
            )
        starts = [_finite(p.get("start")) for p in parts]
        ends = [_finite(p.get("end")) for p in parts]
        scores = [_finite(p.get("score")) for p in parts]
        valid_starts = [s for s in starts if s is not None]
        valid_ends = [e for e in ends if e is not None]
        valid_scores = [s for s in scores if s is not None]
        out.append(
            (
                unit,
                min(valid_starts) if valid_starts else None,
                max(valid_ends) if valid_ends else None,
                float(np.mean(valid_scores)) if valid_scores else None,
            )
        )
    return out


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _confidence(segments: list[dict[str, Any]]) -> float:
    scored = [s for s in segments if s.get("avg_logprob") is not None]
    if not scored:
        return 0.0
    weights = [max(float(s["end"]) - float(s["start"]), 1e-3) for s in scored]
    mean = sum(w * float(s["avg_logprob"]) for w, s in zip(weights, scored, strict=True))
    return float(min(max(math.exp(mean / sum(weights)), 0.0), 1.0))
