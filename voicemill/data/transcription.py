"""Transcription and alignment stage: text, language and word timings per utterance.

Where a transcript was supplied with the recording, its sentences are
distributed over the VAD segments (duration-matching dynamic programming), each
utterance's text is force-aligned to its audio, and an ASR judge verifies that
text and audio agree; utterances that disagree are rejected as
``transcript_mismatch``, and a recording where most do is quarantined. Where no
transcript exists, the utterance is transcribed and the ASR text aligned.

The backends sit behind :class:`~voicemill.align.base.Transcriber` and
:class:`~voicemill.align.base.Aligner`: whisperx in production, faster-whisper
with the bundled tiny.en plus the pocketsphinx aligner offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import psycopg
import soundfile as sf
from pydantic import BaseModel, Field

from voicemill.align.assign import assign_sentences
from voicemill.align.base import Aligner, AlignmentError, Transcriber, WordTiming
from voicemill.align.verify import transcript_agreement
from voicemill.data.layout import DatasetLayout, fingerprint
from voicemill.data.stages import ProgressCallback, StageReport, content_key
from voicemill.db import catalog
from voicemill.text.normalize import (
    SUPPORTED_LANGUAGES,
    TextError,
    detect_language,
    normalize_text,
    split_sentences,
)

STAGE = "align"
SEGMENT_METHOD = "segment"
"""Alignment method of utterances placed by sentence-to-segment fit alone (no aligner)."""


class AlignmentConfig(BaseModel):
    """Thresholds of transcript verification.

    The offline ASR judge (whisper tiny.en) has ~30 % WER on espeak speech, so a
    correct transcript scores 0.5-0.9 agreement and occasionally 0.25, while a
    transcript of other sentences scores below 0.1: 0.2 separates the two. Use a
    stronger judge (whisperx with a larger model) and raise it in production. The
    pocketsphinx aligner scores right texts ~0.9 and fails or scores < 0.4 on wrong
    ones, so a fit above ``trusted_alignment_score`` also vouches for the text.
    """

    verify_transcripts: bool = Field(
        True, description="Check supplied text with an ASR judge where one knows the language."
    )
    min_agreement: float = Field(
        0.2, ge=0, le=1, description="Below this ASR/transcript agreement: transcript_mismatch."
    )
    trusted_alignment_score: float = Field(
        0.75, ge=0, le=1, description="A forced-alignment fit this good vouches for the text."
    )
    min_duration_fit: float = Field(
        0.3, ge=0, le=1, description="Below this text/duration fit: implausible_duration."
    )
    mismatch_ratio_for_recording: float = Field(
        0.5, gt=0, le=1, description="Share of mismatched utterances that quarantines a recording."
    )
    default_language: str = Field("en", description="Language when nothing else tells.")


@dataclass(frozen=True)
class SpeechTools:
    """The ASR and aligners a run uses; built by the orchestration layer."""

    transcriber: Transcriber | None
    aligners: Sequence[Aligner]

    @property
    def name(self) -> str:
        parts = [getattr(self.transcriber, "name", "none")]
        parts += [a.name for a in self.aligners]
        return "+".join(parts)

    def aligner_for(self, language: str) -> Aligner | None:
        return next((a for a in self.aligners if a.supports(language)), None)


@dataclass
class _Outcome:
    text: str | None
    normalized_text: str | None
    language: str | None
    words: list[dict[str, Any]] | None
    score: float | None
    method: str | None
    rejection: str | None

    @property
    def status(self) -> str:
        return "accepted" if self.rejection is None else "rejected"


def align_recordings(
    conn: psycopg.Connection,
    layout: DatasetLayout,
    tools: SpeechTools,
    config: AlignmentConfig,
    *,
    run_id: str | None = None,
    progress: ProgressCallback | None = None,
) -> StageReport:
    report = StageReport(STAGE)
    dataset = catalog.get_dataset(conn, layout.dataset_id) or {}
    todo = [
        rec
        for rec in catalog.recordings(conn, layout.dataset_id, status="standardized")
        if rec["stage_fingerprints"].get("segment")
    ]
    scores: list[float] = []
    for done, rec in enumerate(todo, start=1):
        stage_fp = fingerprint(
            config, rec["stage_fingerprints"]["segment"], rec["transcript"], tools.name
        )
        if rec["stage_fingerprints"].get(STAGE) == stage_fp:
            report.skipped.append(rec["source_name"])
        else:
            catalog.clear_recording_quarantine(conn, rec["recording_id"], [STAGE])
            ssl_audio = layout.standardized(
                rec["stage_fingerprints"]["standardize"], content_key(rec)
            ).ssl_audio
            try:
                language = (
                    detect_language(rec["transcript"])
                    if rec["transcript"]
                    else dataset.get("language") or config.default_language
                )
                outcomes = _align_one(conn, rec, str(ssl_audio), language, tools, config)
            except (AlignmentError, TextError) as exc:
                # The transcript cannot be laid over this recording at all (e.g. more
                # sentences than the segments can hold): set the recording aside.
                outcomes = {}
                catalog.quarantine(
                    conn,
                    dataset_id=layout.dataset_id,
                    stage=STAGE,
                    item=rec["source_name"],
                    reason=exc.reason,
                    detail=exc.detail,
                    recording_id=rec["recording_id"],
                    run_id=run_id,
                )
                report.quarantined[rec["source_name"]] = exc.reason
            _record(conn, layout, rec, outcomes, config, report, run_id)
            scores += [o.score for o in outcomes.values() if o.rejection is None and o.score]
            catalog.set_stage_fingerprint(conn, rec["recording_id"], STAGE, stage_fp)
            conn.commit()
        if progress:
            progress(done, len(todo), rec["source_name"])
    report.details["mean_alignment_score"] = float(np.mean(scores)) if scores else None
    return report


def _align_one(
    conn: psycopg.Connection,
    rec: dict[str, Any],
    ssl_audio: str,
    language: str,
    tools: SpeechTools,
    config: AlignmentConfig,
) -> dict[str, _Outcome]:
    # Everything segmentation let through, including what an earlier alignment rejected.
    utterances = [
        u
        for u in catalog.recording_utterances(conn, rec["recording_id"])
        if u["rejection_stage"] in (None, STAGE)
    ]
    if not utterances:
        return {}
    if language not in SUPPORTED_LANGUAGES:
        return {
            u["utterance_id"]: _rejected("unsupported_language", language) for u in utterances
        }
    if rec["transcript"]:
        return _align_supplied(rec["transcript"], language, utterances, ssl_audio, tools, config)
    return {
        u["utterance_id"]: _transcribe(_slice(ssl_audio, u), language, tools)
        for u in utterances
    }


def _rejected(reason: str, language: str | None = None, text: str | None = None) -> _Outcome:
    return _Outcome(text, None, language, None, None, None, reason)


def _slice(ssl_path: str, utterance: dict[str, Any]) -> np.ndarray:
    rate = sf.info(ssl_path).samplerate
    start = round(utterance["start_s"] * rate)
    stop = round(utterance["end_s"] * rate)
    audio, _ = sf.read(ssl_path, start=start, stop=stop, dtype="float32", always_2d=False)
    return audio


def _align_supplied(
    transcript: str,
    language: str,
    utterances: list[dict[str, Any]],
    ssl_audio: str,
    tools: SpeechTools,
    config: AlignmentConfig,
) -> dict[str, _Outcome]:
    sentences = split_sentences(transcript, language)
    assignments = assign_sentences(
        sentences, language, [(u["start_s"], u["end_s"]) for u in utterances]
    )
    aligner = tools.aligner_for(language)
    outcomes: dict[str, _Outcome] = {}
    for assignment in assignments:
        group = [utterances[i] for i in assignment.segment_indices]
        if not assignment.sentence_indices:
            for u in group:
                outcomes[u["utterance_id"]] = _rejected("no_transcript_text", language)
            continue
        if len(group) > 1:
            outcomes.update(
                _align_split_sentence(assignment.text, language, group, ssl_audio, aligner)
            )
            continue
        (u,) = group
        audio = _slice(ssl_audio, u)
        outcome = _align_text(assignment.text, language, audio, aligner, assignment.duration_fit)
        # Verify even when alignment failed: "the text is not what was said" is the
        # more useful reason, and it is what the ASR judge can tell.
        outcome = _verify(outcome, audio, tools.transcriber, config)
        if outcome.rejection is None and assignment.duration_fit < config.min_duration_fit:
            outcome.rejection = "implausible_duration"
        outcomes[u["utterance_id"]] = outcome
    return outcomes


def _align_text(
    text: str, language: str, audio: np.ndarray, aligner: Aligner | None, duration_fit: float
) -> _Outcome:
    normalized = normalize_text(text, language)
    if aligner is None:
        # No word aligner for this language offline: the sentence-to-segment fit is the
        # only evidence, recorded as such (method "segment", no word timings).
        return _Outcome(text, normalized, language, [], duration_fit, SEGMENT_METHOD, None)
    try:
        result = aligner.align(audio, text, language)
    except AlignmentError as exc:
        return _rejected(exc.reason, language, text)
    return _Outcome(
        text, normalized, language, _words(result.words), result.score, result.method, None
    )


def _align_split_sentence(
    text: str,
    language: str,
    group: list[dict[str, Any]],
    ssl_audio: str,
    aligner: Aligner | None,
) -> dict[str, _Outcome]:
    """One sentence over several VAD segments: align it across them, split by time."""
    if aligner is None:
        return {u["utterance_id"]: _rejected("ambiguous_text_split", language) for u in group}
    start, end = group[0]["start_s"], group[-1]["end_s"]
    span = {"start_s": start, "end_s": end}
    try:
        result = aligner.align(_slice(ssl_audio, span), text, language)
    except AlignmentError as exc:
        return {u["utterance_id"]: _rejected(exc.reason, language) for u in group}
    outcomes = {}
    for u in group:
        offset = u["start_s"] - start
        words = [
            WordTiming(w.word, w.start_s - offset, w.end_s - offset, w.score)
            for w in result.words
            if u["start_s"] <= start + (w.start_s + w.end_s) / 2 < u["end_s"]
        ]
        if not words:
            outcomes[u["utterance_id"]] = _rejected("no_transcript_text", language)
            continue
        piece = " ".join(w.word for w in words)
        outcomes[u["utterance_id"]] = _Outcome(
            piece,
            normalize_text(piece, language),
            language,
            _words(words),
            result.score,
            result.method,
            None,
        )
    return outcomes


def _verify(
    outcome: _Outcome,
    audio: np.ndarray,
    transcriber: Transcriber | None,
    config: AlignmentConfig,
) -> _Outcome:
    if not config.verify_transcripts or transcriber is None or outcome.text is None:
        return outcome
    try:
        heard = transcriber.transcribe(audio, outcome.language)
    except AlignmentError as exc:
        if exc.reason == "unsupported_language":
            return outcome  # no judge for this language; the aligner's score stands
        raise
    agreement = transcript_agreement(outcome.text, heard.text, outcome.language or "en")
    aligned = outcome.rejection is None and outcome.method not in (None, SEGMENT_METHOD)
    fit = outcome.score if aligned and outcome.score is not None else 0.0
    # Two detectors that rarely accept a wrong text but often doubt a right one (a
    # weak ASR mishears, the aligner misses a word): either one vouching is enough.
    if agreement >= config.min_agreement or fit >= config.trusted_alignment_score:
        outcome.score = max(agreement, fit)
    else:
        outcome.rejection = "transcript_mismatch"
    return outcome


def _transcribe(audio: np.ndarray, language: str, tools: SpeechTools) -> _Outcome:
    if tools.transcriber is None:
        return _rejected("no_transcriber", language)
    try:
        heard = tools.transcriber.transcribe(audio, language)
    except AlignmentError as exc:
        return _rejected(exc.reason, language)
    if not heard.text.strip():
        return _rejected("no_speech_recognized", heard.language)
    aligner = tools.aligner_for(heard.language)
    words = heard.words
    method = f"asr:{tools.transcriber.name}"
    if aligner is not None:
        try:
            aligned = aligner.align(audio, heard.text, heard.language)
            words, method = aligned.words, f"{method}+{aligned.method}"
        except AlignmentError:
            pass  # keep the ASR's own (coarser) word times
    return _Outcome(
        heard.text,
        normalize_text(heard.text, heard.language),
        heard.language,
        _words(words),
        heard.confidence,
        method,
        None,
    )


def _words(words: Sequence[WordTiming]) -> list[dict[str, Any]]:
    return [asdict(w) for w in words]


def _record(
    conn: psycopg.Connection,
    layout: DatasetLayout,
    rec: dict[str, Any],
    outcomes: dict[str, _Outcome],
    config: AlignmentConfig,
    report: StageReport,
    run_id: str | None,
) -> None:
    for uid, outcome in outcomes.items():
        catalog.set_alignment(
            conn,
            uid,
            text=outcome.text,
            normalized_text=outcome.normalized_text,
            language=outcome.language,
            words=outcome.words,
            alignment_score=outcome.score,
            alignment_method=outcome.method,
            status=outcome.status,
            rejection_reason=outcome.rejection,
        )
        if outcome.rejection:
            catalog.quarantine(
                conn,
                dataset_id=layout.dataset_id,
                stage=STAGE,
                item=uid,
                reason=outcome.rejection,
                detail=f"text: {outcome.text!r}" if outcome.text else "",
                recording_id=rec["recording_id"],
                run_id=run_id,
            )
            report.quarantined[uid] = outcome.rejection
    mismatched = sum(o.rejection == "transcript_mismatch" for o in outcomes.values())
    if outcomes and mismatched / len(outcomes) >= config.mismatch_ratio_for_recording:
        catalog.quarantine(
            conn,
            dataset_id=layout.dataset_id,
            stage=STAGE,
            item=rec["source_name"],
            reason="transcript_mismatch",
            detail=f"{mismatched} of {len(outcomes)} utterances disagree with the transcript",
            recording_id=rec["recording_id"],
            run_id=run_id,
        )
        report.quarantined[rec["source_name"]] = "transcript_mismatch"
    report.processed.append(rec["source_name"])
