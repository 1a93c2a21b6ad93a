"""The Great Expectations suite that guards every training manifest.

Suites are built in code from typed thresholds (GX 1.x, called directly: the
``dagster-ge`` integration pins GX below 1.0). Nothing trains on a manifest that
fails it: the Dagster asset check that runs it is blocking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    import pandas as pd


class ManifestThresholds(BaseModel):
    """What a manifest must satisfy; the defaults match the default pipeline config."""

    min_rows: int = Field(1, ge=0)
    min_duration_s: float = 0.8
    max_duration_s: float = 16.0
    sample_rate: int = 32000
    min_loudness_lufs: float = -32.0
    max_loudness_lufs: float = -12.0
    max_clipping_ratio: float = 0.001
    min_snr_db: float = 15.0
    min_alignment_score: float = 0.2
    supported_languages: list[str] = Field(default_factory=lambda: ["en", "zh"])


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None
    sample: list[Any]


@dataclass(frozen=True)
class ManifestValidation:
    success: bool
    outcomes: list[ExpectationOutcome]

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]


def build_manifest_suite(thresholds: ManifestThresholds):  # -> gx.ExpectationSuite
    import great_expectations as gx
    from great_expectations import expectations as gxe

    t = thresholds
    suite = gx.ExpectationSuite(name="training_manifest")
    for expectation in [
        gxe.ExpectTableRowCountToBeBetween(min_value=t.min_rows),
        gxe.ExpectColumnValuesToBeUnique(column="utterance_id"),
        gxe.ExpectColumnValuesToBeBetween(
            column="duration_s", min_value=t.min_duration_s, max_value=t.max_duration_s
        ),
        gxe.ExpectColumnValuesToBeInSet(column="sample_rate", value_set=[t.sample_rate]),
        gxe.ExpectColumnValuesToBeBetween(
            column="loudness_lufs", min_value=t.min_loudness_lufs, max_value=t.max_loudness_lufs
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="clipping_ratio", min_value=0, max_value=t.max_clipping_ratio
        ),
        gxe.ExpectColumnValuesToBeBetween(column="snr_db", min_value=t.min_snr_db),
        gxe.ExpectColumnValuesToNotBeNull(column="text"),
        gxe.ExpectColumnValueLengthsToBeBetween(column="text", min_value=1),
        gxe.ExpectColumnValuesToBeInSet(column="language", value_set=t.supported_languages),
        gxe.ExpectColumnValuesToBeBetween(
            column="alignment_score", min_value=t.min_alignment_score, max_value=1.0
        ),
        gxe.ExpectColumnValuesToNotBeNull(column="alignment_score"),
        gxe.ExpectColumnValuesToNotBeNull(column="audio_path"),
    ]:
        suite.add_expectation(expectation)
    return suite


def validate_manifest(manifest: pd.DataFrame, thresholds: ManifestThresholds) -> ManifestValidation:
    """Run the suite on a manifest frame in an ephemeral GX context."""
    success, outcomes = run_suite(manifest, "manifest", lambda: build_manifest_suite(thresholds))
    return ManifestValidation(success=success, outcomes=outcomes)


def run_suite(
    frame: pd.DataFrame, name: str, build_suite: Callable[[], Any]
) -> tuple[bool, list[ExpectationOutcome]]:
    """Validate ``frame`` against the suite ``build_suite`` makes (GX needs its context
    to exist first), in an ephemeral context (no files, no telemetry, no progress bars):
    overall success and one outcome per expectation."""
    import os

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch = (
        context.data_sources.add_pandas(name=name)
        .add_dataframe_asset(name=f"{name}_rows")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    result = batch.validate(build_suite())
    outcomes = []
    for r in result.results:
        config = r.expectation_config
        details = r.result or {}
        outcomes.append(
            ExpectationOutcome(
                expectation=config.type,
                column=config.kwargs.get("column"),
                success=bool(r.success),
                unexpected_count=details.get("unexpected_count"),
                sample=list(details.get("partial_unexpected_list") or [])[:5],
            )
        )
    return bool(result.success), outcomes
