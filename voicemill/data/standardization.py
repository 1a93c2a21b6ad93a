"""Standardization stage: every registered recording to mono 32 kHz + 16 kHz at a
fixed loudness, with its measurements recorded in the catalog.

The audio math is :func:`voicemill.audio.standardize.standardize_file`, the same
function inference uses for reference audio; this module only walks the
catalog, keeps outputs content-addressed and records outcomes.
"""

from __future__ import annotations

import psycopg

from voicemill.audio.errors import AudioError
from voicemill.audio.standardize import StandardizeConfig, standardize_file
from voicemill.data.layout import DatasetLayout, fingerprint
from voicemill.data.stages import ProgressCallback, StageReport, content_key
from voicemill.db import catalog

STAGE = "standardize"
DECODE_REASONS = frozenset(
    {"empty_file", "not_audio", "corrupt_audio", "too_short", "non_finite_samples"}
)


def standardize_recordings(
    conn: psycopg.Connection,
    layout: DatasetLayout,
    config: StandardizeConfig,
    *,
    run_id: str | None = None,
    progress: ProgressCallback | None = None,
) -> StageReport:
    report = StageReport(STAGE)
    config_fp = fingerprint(config)
    todo = [
        rec
        for rec in catalog.recordings(conn, layout.dataset_id)
        if rec["status"] in ("registered", "standardized")
    ]
    for done, rec in enumerate(todo, start=1):
        name = rec["source_name"]
        paths = layout.standardized(config_fp, content_key(rec))
        if rec["stage_fingerprints"].get(STAGE) == config_fp and paths.exist():
            report.skipped.append(name)
        else:
            try:
                measurements = standardize_file(
                    rec["stored_path"], paths.model_audio, paths.ssl_audio, paths.frames, config
                )
            except AudioError as exc:
                stage = "decode" if exc.reason in DECODE_REASONS else STAGE
                catalog.set_recording_status(conn, rec["recording_id"], "quarantined")
                catalog.set_stage_fingerprint(conn, rec["recording_id"], STAGE, None)
                catalog.quarantine(
                    conn,
                    dataset_id=layout.dataset_id,
                    stage=stage,
                    item=name,
                    reason=exc.reason,
                    detail=exc.detail,
                    recording_id=rec["recording_id"],
                    run_id=run_id,
                )
                report.quarantined[name] = exc.reason
            else:
                catalog.set_recording_status(
                    conn, rec["recording_id"], "standardized", measurements.model_dump(mode="json")
                )
                catalog.set_stage_fingerprint(conn, rec["recording_id"], STAGE, config_fp)
                catalog.clear_recording_quarantine(conn, rec["recording_id"], ["decode", STAGE])
                report.processed.append(name)
                report.audio_seconds += measurements.duration_s
            conn.commit()
        if progress:
            progress(done, len(todo), name)
    report.details["config_fingerprint"] = config_fp
    return report
