"""The training manifest asset and the Great Expectations check that guards it."""

import warnings

import dagster as dg

from voicemill.assets.datasets import aligned_utterances
from voicemill.assets.metadata import duration_histogram, md_table
from voicemill.orchestration.partitions import datasets_partitions
from voicemill.orchestration.resources import DatasetStorage, PostgresResource
from voicemill.quality.manifest_suite import ManifestThresholds

GROUP = "data"


@dg.asset(
    partitions_def=datasets_partitions,
    group_name=GROUP,
    deps=[aligned_utterances],
    kinds={"python", "parquet"},
    description="Accepted utterances with all measurements (Parquet) and a GPT-SoVITS .list.",
)
def training_manifest(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    storage: DatasetStorage,
) -> dg.MaterializeResult:
    from collections import Counter

    from voicemill.data.manifest import build_manifest, manifest_hash, write_manifest
    from voicemill.db import catalog

    dataset_id = context.partition_key
    layout = storage.layout(dataset_id)
    with postgres.connect() as conn:
        manifest = build_manifest(conn, dataset_id)
        quarantine = catalog.quarantined(conn, dataset_id)
        recording_count = len(catalog.recordings(conn, dataset_id))
    parquet_path, list_path = write_manifest(manifest, layout)
    rejections = Counter(row["reason"] for row in quarantine)
    hours = float(manifest["duration_s"].sum()) / 3600
    context.log.info(
        f"manifest for {dataset_id}: {len(manifest)} utterances, {hours:.3f} h, "
        f"{sum(rejections.values())} quarantined items"
    )
    return dg.MaterializeResult(
        metadata={
            "utterances": dg.MetadataValue.int(len(manifest)),
            "audio_hours": dg.MetadataValue.float(round(hours, 4)),
            "recordings": dg.MetadataValue.int(recording_count),
            "languages": dg.MetadataValue.json(
                {k: int(v) for k, v in manifest["language"].value_counts().items()}
            ),
            "rejections_by_reason": dg.MetadataValue.json(dict(rejections)),
            "duration_histogram": dg.MetadataValue.md(
                duration_histogram(manifest["duration_s"].tolist())
            ),
            "manifest_sha256": dg.MetadataValue.text(manifest_hash(manifest)),
            "parquet": dg.MetadataValue.path(str(parquet_path)),
            "gpt_sovits_list": dg.MetadataValue.path(str(list_path)),
            "preview": dg.MetadataValue.md(
                md_table(
                    ["utterance_id", "duration_s", "language", "text"],
                    manifest[["utterance_id", "duration_s", "language", "text"]]
                    .head(10)
                    .itertuples(index=False, name=None),
                )
            ),
        }
    )


class ManifestCheckConfig(dg.Config, ManifestThresholds):
    """Thresholds of the manifest's expectation suite; see quality/manifest_suite.py."""


with warnings.catch_warnings():
    # Per-partition asset checks are a preview feature in Dagster 1.13.
    warnings.simplefilter("ignore", category=dg.PreviewWarning)

    @dg.asset_check(
        asset=training_manifest,
        partitions_def=datasets_partitions,
        blocking=True,
        description="Great Expectations suite: durations, sample rate, loudness window, "
        "clipping, SNR floor, non-empty text, supported language, alignment score, unique ids.",
    )
    def manifest_meets_expectations(
        context: dg.AssetCheckExecutionContext,
        config: ManifestCheckConfig,
        storage: DatasetStorage,
    ) -> dg.AssetCheckResult:
        import pandas as pd

        from voicemill.quality.manifest_suite import validate_manifest

        layout = storage.layout(context.partition_key)
        manifest = pd.read_parquet(layout.manifest_path)
        validation = validate_manifest(
            manifest, ManifestThresholds.model_validate(config.model_dump())
        )
        failures = {
            f"{o.expectation}({o.column or 'table'})": {
                "unexpected_count": o.unexpected_count,
                "sample": [str(v) for v in o.sample],
            }
            for o in validation.failed
        }
        return dg.AssetCheckResult(
            passed=validation.success,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "expectations": dg.MetadataValue.int(len(validation.outcomes)),
                "failed": dg.MetadataValue.int(len(validation.failed)),
                "failures": dg.MetadataValue.json(failures),
                "rows": dg.MetadataValue.int(len(manifest)),
            },
        )
