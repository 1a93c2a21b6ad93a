"""Data preparation assets, one dataset (speaker) per partition.

raw_recordings → standardized_recordings → utterance_segments →
aligned_utterances → training_manifest (+ its blocking GX check).

Assets are thin: each resolves its config and resources, calls one stage
function from ``voicemill.data`` and reports metadata. Files and catalog rows
are the hand-off between stages (``deps``), not pickled outputs: audio never
travels through an IO manager.
"""

import dagster as dg
from pydantic import Field

from voicemill.assets.metadata import log_progress, stage_metadata
from voicemill.audio.config import SegmentationConfig, StandardizeConfig
from voicemill.data.transcription import AlignmentConfig
from voicemill.orchestration.partitions import datasets_partitions
from voicemill.orchestration.resources import (
    DatasetStorage,
    PostgresResource,
    SpeechRecognitionResource,
)

GROUP = "data"


class IngestConfig(dg.Config):
    source_uri: str | None = Field(
        default=None,
        description="Folder, fsspec URL or GPT-SoVITS .list; empty = the registered source.",
    )
    speaker: str | None = Field(default=None, description="Speaker name; default = dataset id.")
    language: str | None = Field(default=None, description="Default language (en, zh).")


class StandardizationConfig(dg.Config, StandardizeConfig):
    """Target rates and loudness; see voicemill.audio.standardize.StandardizeConfig."""


class SegmentationRunConfig(dg.Config, SegmentationConfig):
    """VAD thresholds and utterance bounds; see voicemill.audio.segment."""


class AlignmentRunConfig(dg.Config, AlignmentConfig):
    """Verification thresholds; see voicemill.data.transcription.AlignmentConfig."""


@dg.asset(
    partitions_def=datasets_partitions,
    group_name=GROUP,
    kinds={"python", "postgres"},
    description="Raw recordings registered with content hashes; undecodable files quarantined.",
)
def raw_recordings(
    context: dg.AssetExecutionContext,
    config: IngestConfig,
    postgres: PostgresResource,
    storage: DatasetStorage,
) -> dg.MaterializeResult:
    from voicemill.data.ingest import check_source_uri, ingest_source, redact_uri
    from voicemill.db import catalog
    from voicemill.errors import RejectedInput

    dataset_id = context.partition_key
    with postgres.connect() as conn:
        source_uri = config.source_uri
        if source_uri:
            try:
                check_source_uri(source_uri)  # before it is stored or logged anywhere
            except RejectedInput as exc:
                raise dg.Failure(f"{exc.reason}: {exc.detail}", allow_retries=False) from exc
            catalog.upsert_dataset(conn, dataset_id, source_uri, config.speaker, config.language)
            conn.commit()
        dataset = catalog.get_dataset(conn, dataset_id)
        if dataset is None:
            raise dg.Failure(
                f"dataset {dataset_id!r} has no registered source: run "
                f"`voicemill dataset add {dataset_id} SOURCE` or set source_uri in the launchpad"
            )
        try:
            report = ingest_source(
                conn, storage.layout(dataset_id), dataset["source_uri"], run_id=context.run_id
            )
        except RejectedInput as exc:
            raise dg.Failure(f"{exc.reason}: {exc.detail}", allow_retries=False) from exc
        total = len(catalog.recordings(conn, dataset_id))
    shown = redact_uri(dataset["source_uri"])
    context.log.info(
        f"ingested {shown}: {len(report.registered)} new, {len(report.unchanged)} unchanged, "
        f"{len(report.duplicates)} duplicates, {len(report.quarantined)} quarantined"
    )
    metadata = {
        "source_uri": dg.MetadataValue.text(shown),
        "duplicates": dg.MetadataValue.int(len(report.duplicates)),
        "new_recordings": dg.MetadataValue.int(len(report.registered)),
        "unchanged_recordings": dg.MetadataValue.int(len(report.unchanged)),
        "transcripts_updated": dg.MetadataValue.int(len(report.transcript_updated)),
        "recordings_in_catalog": dg.MetadataValue.int(total),
        "bytes_copied": dg.MetadataValue.int(report.bytes_copied),
        "quarantined": dg.MetadataValue.int(len(report.quarantined)),
    }
    if report.quarantined:
        metadata["rejections_by_reason"] = dg.MetadataValue.json(report.rejections_by_reason)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    partitions_def=datasets_partitions,
    group_name=GROUP,
    deps=[raw_recordings],
    kinds={"python", "postgres"},
    description="Mono 32 kHz + 16 kHz audio at the target loudness, with per-file measurements.",
)
def standardized_recordings(
    context: dg.AssetExecutionContext,
    config: StandardizationConfig,
    postgres: PostgresResource,
    storage: DatasetStorage,
) -> dg.MaterializeResult:
    from voicemill.data.standardization import standardize_recordings

    with postgres.connect() as conn:
        report = standardize_recordings(
            conn,
            storage.layout(context.partition_key),
            StandardizeConfig.model_validate(config.model_dump()),
            run_id=context.run_id,
            progress=log_progress(context, "standardize"),
        )
    return dg.MaterializeResult(metadata=stage_metadata(report))


@dg.asset(
    partitions_def=datasets_partitions,
    group_name=GROUP,
    deps=[standardized_recordings],
    kinds={"python", "postgres"},
    description="Utterance clips cut by silero-vad; short, clipped or noisy segments rejected.",
)
def utterance_segments(
    context: dg.AssetExecutionContext,
    config: SegmentationRunConfig,
    postgres: PostgresResource,
    storage: DatasetStorage,
) -> dg.MaterializeResult:
    from voicemill.data.segmentation import segment_recordings

    with postgres.connect() as conn:
        report = segment_recordings(
            conn,
            storage.layout(context.partition_key),
            SegmentationConfig.model_validate(config.model_dump()),
            run_id=context.run_id,
            progress=log_progress(context, "segment"),
        )
    return dg.MaterializeResult(metadata=stage_metadata(report))


@dg.asset(
    partitions_def=datasets_partitions,
    group_name=GROUP,
    deps=[utterance_segments],
    kinds={"python", "postgres"},
    pool="asr",
    description="Text, language, word timings and alignment score per utterance; "
    "utterances whose text and audio disagree are rejected.",
)
def aligned_utterances(
    context: dg.AssetExecutionContext,
    config: AlignmentRunConfig,
    postgres: PostgresResource,
    storage: DatasetStorage,
    speech: SpeechRecognitionResource,
) -> dg.MaterializeResult:
    from voicemill.data.transcription import align_recordings

    with postgres.connect() as conn:
        report = align_recordings(
            conn,
            storage.layout(context.partition_key),
            speech.spec(),
            AlignmentConfig.model_validate(config.model_dump()),
            workers=speech.worker_count,
            run_id=context.run_id,
            progress=log_progress(context, "align"),
        )
    metadata = stage_metadata(report)
    metadata["speech_backend"] = dg.MetadataValue.text(speech.spec().name)
    if report.details.get("mean_alignment_score") is not None:
        metadata["mean_alignment_score"] = dg.MetadataValue.float(
            report.details["mean_alignment_score"]
        )
    return dg.MaterializeResult(metadata=metadata)
