"""Segmentation stage: standardized recordings to utterance clips with a VAD.

Each utterance keeps its provenance (recording, start, end) and its own
clipping and SNR measures; segments that are too short, clipped or noisy are
kept in the catalog as rejected, with the reason, and are never trained on.
"""

from __future__ import annotations

from collections import Counter

import psycopg

from voicemill.audio.segment import (
    Segment,
    SegmentationConfig,
    segment_recording,
    write_segment,
)
from voicemill.data.layout import DatasetLayout, fingerprint
from voicemill.data.stages import ProgressCallback, StageReport, content_key
from voicemill.db import catalog

STAGE = "segment"
DOWNSTREAM_STAGES = ("segment", "align")


def utterance_id(dataset_id: str, key: str, start_s: float, end_s: float) -> str:
    """Stable id from content and position: the same cut always gets the same id."""
    return f"{dataset_id}/{key}_{round(start_s * 1000):08d}_{round(end_s * 1000):08d}"


def segment_recordings(
    conn: psycopg.Connection,
    layout: DatasetLayout,
    config: SegmentationConfig,
    *,
    run_id: str | None = None,
    progress: ProgressCallback | None = None,
) -> StageReport:
    report = StageReport(STAGE)
    todo = catalog.recordings(conn, layout.dataset_id, status="standardized")
    durations: list[float] = []
    for done, rec in enumerate(todo, start=1):
        name = rec["source_name"]
        std_fp = rec["stage_fingerprints"].get("standardize")
        stage_fp = fingerprint(config, std_fp)
        if rec["stage_fingerprints"].get(STAGE) == stage_fp:
            report.skipped.append(name)
        else:
            _segment_one(conn, layout, rec, config, std_fp, stage_fp, report, durations, run_id)
            conn.commit()
        if progress:
            progress(done, len(todo), name)
    report.details["accepted_segment_durations_s"] = durations
    return report


def _segment_one(
    conn: psycopg.Connection,
    layout: DatasetLayout,
    rec: dict,
    config: SegmentationConfig,
    std_fp: str,
    stage_fp: str,
    report: StageReport,
    durations: list[float],
    run_id: str | None,
) -> None:
    key = content_key(rec)
    std = layout.standardized(std_fp, key)
    segments = segment_recording(std.ssl_audio, std.frames, config)
    catalog.clear_recording_quarantine(conn, rec["recording_id"], DOWNSTREAM_STAGES)
    out_dir = layout.utterance_dir(stage_fp)
    rows = []
    for seg in segments:
        uid = utterance_id(layout.dataset_id, key, seg.start_s, seg.end_s)
        audio_path = out_dir / f"{uid.rsplit('/', 1)[1]}.wav"
        if seg.rejection is None:
            write_segment(std.model_audio, seg, audio_path)
            durations.append(seg.duration_s)
        else:
            catalog.quarantine(
                conn,
                dataset_id=layout.dataset_id,
                stage=STAGE,
                item=uid,
                reason=seg.rejection,
                detail=(
                    f"{seg.start_s:.2f}-{seg.end_s:.2f}s of {rec['source_name']}: "
                    f"snr {seg.snr_db:.1f} dB, clipping {seg.clipping_ratio:.4f}"
                ),
                recording_id=rec["recording_id"],
                run_id=run_id,
            )
            report.quarantined[uid] = seg.rejection
        rows.append(
            {
                "utterance_id": uid,
                "dataset_id": layout.dataset_id,
                "recording_id": rec["recording_id"],
                "segment_index": seg.index,
                "start_s": seg.start_s,
                "end_s": seg.end_s,
                "duration_s": seg.duration_s,
                "audio_path": str(audio_path) if seg.rejection is None else None,
                "clipping_ratio": seg.clipping_ratio,
                "snr_db": seg.snr_db,
                "status": "segmented" if seg.rejection is None else "rejected",
                "rejection_reason": seg.rejection,
                "rejection_stage": STAGE if seg.rejection else None,
            }
        )
    catalog.replace_segments(conn, rec["recording_id"], rows)
    recording_problem = _recording_level_problem(segments)
    if recording_problem is not None:
        reason, detail = recording_problem
        catalog.quarantine(
            conn,
            dataset_id=layout.dataset_id,
            stage=STAGE,
            item=rec["source_name"],
            reason=reason,
            detail=detail,
            recording_id=rec["recording_id"],
            run_id=run_id,
        )
        report.quarantined[rec["source_name"]] = reason
    catalog.set_stage_fingerprint(conn, rec["recording_id"], STAGE, stage_fp)
    catalog.set_stage_fingerprint(conn, rec["recording_id"], "align", None)
    report.processed.append(rec["source_name"])
    report.audio_seconds += float((rec["measurements"] or {}).get("duration_s", 0.0))


def _recording_level_problem(segments: list[Segment]) -> tuple[str, str] | None:
    """A recording none of whose segments is usable is quarantined as a whole."""
    if not segments:
        return "no_speech", "the VAD found no speech in the recording"
    if any(seg.rejection is None for seg in segments):
        return None
    reasons = Counter(seg.rejection for seg in segments)
    reason = reasons.most_common(1)[0][0]
    return reason, f"all {len(segments)} segments rejected ({dict(reasons)}); mostly {reason}"
