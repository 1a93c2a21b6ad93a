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

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import psycopg
import soundfile as sf
from pydantic import BaseModel, Field

from voicemill.align.assign import assign_sentences
from voicemill.align.base import Aligner, AlignmentError, Transcriber, WordTiming
from voicemill.align.tools import SpeechTools, SpeechToolsSpec
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


@dataclass(frozen=True)
class RecordingJob:
    """One recording's alignment work, self-contained so a worker process can do it."""

    recording_id: str
    source_name: str
    transcript: str | None
    language: str | None  # None: detect from the transcript
    ssl_audio: str
    utterances: tuple[dict[str, Any], ...]  # utterance_id, start_s, end_s


@dataclass(frozen=True)
class JobResult:
    outcomes: dict[str, _Outcome]
    failure: tuple[str, str] | None = None  # (reason, detail) for the whole recording


def align_recordings(
    conn: psycopg.Connection,
    layout: DatasetLayout,
    speech: SpeechToolsSpec,
    config: AlignmentConfig,
    *,
    workers: int = 1,
    run_id: str | None = None,
    progress: ProgressCallback | None = None,
) -> StageReport:
    """Align every recording whose inputs changed; ``workers`` > 1 uses processes."""
    report = StageReport(STAGE)
    dataset = catalog.get_dataset(conn, layout.dataset_id) or {}
    default_language = dataset.get("language") or config.default_language
    recordings = [
        rec
        for rec in catalog.recordings(conn, layout.dataset_id, status="standardized")
        if rec["stage_fingerprints"].get("segment")
    ]
    jobs: list[tuple[RecordingJob, str]] = []
    for rec in recordings:
        stage_fp = fingerprint(
            config, rec["stage_fingerprints"]["segment"], rec["transcript"], speech.name
        )
        if rec["stage_fingerprints"].get(STAGE) == stage_fp:
            report.skipped.append(rec["source_name"])
            continue
        ssl_audio = layout.standardized(rec["stage_fingerprints"]["standardize"], content_key(rec))
        # Everything segmentation let through, including what an earlier alignment rejected.
        utterances = tuple(
            {"utterance_id": u["utterance_id"], "start_s": u["start_s"], "end_s": u["end_s"]}
            for u in catalog.recording_utterances(conn, rec["recording_id"])
            if u["rejection_stage"] in (None, STAGE)
        )
        job = RecordingJob(
            recording_id=rec["recording_id"],
            source_name=rec["source_name"],
            transcript=rec["transcript"],
            language=None if rec["transcript"] else default_language,
            ssl_audio=str(ssl_audio.ssl_audio),
            utterances=utterances,
        )
        jobs.append((job, stage_fp))

    scores: list[float] = []
    fingerprints = {job.recording_id: fp for job, fp in jobs}
    for done, (job, result) in enumerate(
        _run_jobs([job for job, _ in jobs], speech, config, workers), start=1
    ):
        catalog.clear_recording_quarantine(conn, job.recording_id, [STAGE])
        if result.failure is not None:
            # The transcript cannot be laid over this recording at all (e.g. more
            # sentences than the segments can hold): set the recording aside.
            reason, detail = result.failure
            catalog.quarantine(
                conn,
                dataset_id=layout.dataset_id,
                stage=STAGE,
                item=job.source_name,
                reason=reason,
                detail=detail,
                recording_id=job.recording_id,
                run_id=run_id,
            )
            report.quarantined[job.source_name] = reason
        _record(conn, layout, job, result.outcomes, config, report, run_id)
        scores += [o.score for o in result.outcomes.values() if o.rejection is None and o.score]
        catalog.set_stage_fingerprint(conn, job.recording_id, STAGE, fingerprints[job.recording_id])
        conn.commit()
        if progress:
            progress(done, len(jobs), job.source_name)
    report.details["mean_alignment_score"] = float(np.mean(scores)) if scores else None
    return report


def _run_jobs(
    jobs: list[RecordingJob], speech: SpeechToolsSpec, config: AlignmentConfig, workers: int
) -> Iterator[tuple[RecordingJob, JobResult]]:
    """Yield results as recordings finish, in-process or from a pool of processes.

    Workers are spawned (not forked: torch and CTranslate2 hold threads) and each
    builds its own models from the spec, with the CPU threads shared out.
    """
    workers = min(workers, len(jobs))
    if workers <= 1:
        tools = speech.build()
        for job in jobs:
            yield job, align_job(job, tools, config)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    worker_spec = speech.model_copy(update={"cpu_threads": threads})
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(worker_spec,)
    ) as pool:
        futures = {pool.submit(_align_in_worker, job, config): job for job in jobs}
        for future in as_completed(futures):
            yield futures[future], future.result()


_worker_tools: SpeechTools | None = None


def _start_worker(spec: SpeechToolsSpec) -> None:
    global _worker_tools
    _worker_tools = spec.build()


def _align_in_worker(job: RecordingJob, config: AlignmentConfig) -> JobResult:
    assert _worker_tools is not None, "worker started without its tools"
    return align_job(job, _worker_tools, config)


def align_job(job: RecordingJob, tools: SpeechTools, config: AlignmentConfig) -> JobResult:
    """Text, timings and a verdict for each utterance of one recording (no database)."""
    if not job.utterances:
        return JobResult({})
    try:
        language = job.language or detect_language(job.transcript or "")
        if language not in SUPPORTED_LANGUAGES:
            return JobResult(
                {u["utterance_id"]: _rejected("unsupported_language", language)
                 for u in job.utterances}
            )  # fmt: skip
        if job.transcript:
            utterances = list(job.utterances)
            return JobResult(
                _align_supplied(job.transcript, language, utterances, job.ssl_audio, tools, config)
            )
    except (AlignmentError, TextError) as exc:
        return JobResult({}, (exc.reason, exc.detail))
    return JobResult(
        {
            u["utterance_id"]: _transcribe(_slice(job.ssl_audio, u), language, tools)
            for u in job.utterances
        }
    )


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
    job: RecordingJob,
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
                recording_id=job.recording_id,
                run_id=run_id,
            )
            report.quarantined[uid] = outcome.rejection
    mismatched = sum(o.rejection == "transcript_mismatch" for o in outcomes.values())
    if outcomes and mismatched / len(outcomes) >= config.mismatch_ratio_for_recording:
        catalog.quarantine(
            conn,
            dataset_id=layout.dataset_id,
            stage=STAGE,
            item=job.source_name,
            reason="transcript_mismatch",
            detail=f"{mismatched} of {len(outcomes)} utterances disagree with the transcript",
            recording_id=job.recording_id,
            run_id=run_id,
        )
        report.quarantined[job.source_name] = "transcript_mismatch"
    report.processed.append(job.source_name)
