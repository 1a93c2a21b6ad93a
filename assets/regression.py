"""Nightly regression of every champion voice, and the schedule that runs it.

``champion_regression`` re-scores a speaker's champion on the benchmark it was released
with (same held-out clips, prompts, seeds, fp32) and compares with its registration
scores; drift beyond tolerance fails the ``champion_holds_its_scores`` check. Every
result goes to PostgreSQL (``regression_results``) and to an MLflow run.
"""

import datetime as dt
import json
import tempfile
from pathlib import Path

import dagster as dg
from pydantic import Field

from voicemill.assets.release import SCORES_ARTIFACT, model_name
from voicemill.assets.voices import GROUP
from voicemill.orchestration.partitions import datasets_partitions
from voicemill.orchestration.resources import DatasetStorage, MlflowResource, PostgresResource

CHECK = "champion_holds_its_scores"


class RegressionConfig(dg.Config):
    primary_error: float = Field(0.02, description="allowed rise of mean WER/CER")
    similarity: float = Field(0.02, description="allowed fall of mean similarity")
    dnsmos_ovrl: float = Field(0.1, description="allowed fall of mean DNSMOS")
    benchmark: str | None = Field(default=None, description="Must be the release benchmark.")
    max_new_tokens: int = Field(500, ge=25, le=1500)


@dg.asset(
    partitions_def=datasets_partitions,
    group_name=GROUP,
    kinds={"mlflow", "postgres"},
    check_specs=[dg.AssetCheckSpec(CHECK, asset="champion_regression")],
    description="The champion re-scored on its release benchmark and compared with its "
    "registration scores; the drift is recorded every night.",
)
def champion_regression(
    context: dg.AssetExecutionContext,
    config: RegressionConfig,
    storage: DatasetStorage,
    postgres: PostgresResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    import pandas as pd
    import yaml

    from voicemill.evaluation import UtteranceScores
    from voicemill.release.audit import record_regression
    from voicemill.release.registry import CHAMPION, alias_version
    from voicemill.release.regression import RegressionTolerance, compare_to_baseline
    from voicemill.release.scoring import manifest_clips, score_checkpoint

    dataset_id = context.partition_key
    name = model_name(dataset_id)
    client = mlflow.client()
    version = alias_version(client, name, CHAMPION)
    if version is None:
        raise dg.Failure(f"{name} has no champion to check", allow_retries=False)
    run_id = client.get_model_version(name, version).run_id
    manifest = pd.read_parquet(storage.layout(dataset_id).manifest_path)
    clips = manifest_clips(manifest)
    with tempfile.TemporaryDirectory() as tmp:
        voice = Path(client.download_artifacts(run_id, "voice", tmp))
        artifacts = yaml.safe_load((voice / "MLmodel").read_text())["flavors"]["python_function"][
            "artifacts"
        ]
        split = json.loads(Path(client.download_artifacts(run_id, "split.json", tmp)).read_text())
        baseline = [
            UtteranceScores.model_validate(s)
            for s in json.loads(
                Path(client.download_artifacts(run_id, SCORES_ARTIFACT, tmp)).read_text()
            )
        ]
        released_on = json.loads(
            Path(client.download_artifacts(run_id, "evaluation/context.json", tmp)).read_text()
        )["benchmark_fingerprint"]
        scored = score_checkpoint(
            voice / artifacts["s1"]["path"],
            voice / artifacts["s2G"]["path"],
            [clips[u] for u in split["validation_ids"] if u in clips],
            prompt_candidates=[clips[u] for u in split["train_ids"] if u in clips],
            benchmark_path=Path(config.benchmark) if config.benchmark else None,
            max_new_tokens=config.max_new_tokens,
        )
    if scored.benchmark_fingerprint != released_on:
        raise dg.Failure(
            f"the benchmark changed since {name} v{version} was released; compare like with "
            "like by passing the release benchmark",
            allow_retries=False,
        )
    tolerance = RegressionTolerance(
        primary_error=config.primary_error,
        similarity=config.similarity,
        dnsmos_ovrl=config.dnsmos_ovrl,
    )
    result = compare_to_baseline(scored.run.scores, baseline, tolerance)
    tracker = mlflow.tracker(f"regression/{dataset_id}")
    night = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    with tracker.run(
        f"{name}-v{version}-{night}",
        tags={
            **mlflow.dagster_tags(context),
            "voicemill.model": name,
            "voicemill.version": version,
        },
    ) as tracked:
        tracked.log_metrics({f"drift/{k}": v for k, v in result.drift.items()})
        tracked.log_metrics({f"score/{k}": v for k, v in result.scores.items()})
        tracked.log_dict(result.model_dump(), "regression.json")
        regression_run = tracked.run_id
    with postgres.connect() as conn:
        record_regression(
            conn,
            model_name=name,
            model_version=version,
            benchmark_fingerprint=released_on,
            scores=result.scores,
            baseline=result.baseline,
            drift=result.drift,
            passed=result.passed,
            run_id=context.run_id,
        )
    drift = ", ".join(f"{k} {v:+.4f}" for k, v in result.drift.items())
    context.log.info(f"{name} v{version}: drift {drift}; regressed: {result.regressed or 'none'}")
    return dg.MaterializeResult(
        metadata={
            "model": name,
            "version": version,
            "drift": dg.MetadataValue.json(result.drift),
            "mlflow_run_id": regression_run,
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=CHECK,
                passed=result.passed,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={
                    "regressed": dg.MetadataValue.json(result.regressed),
                    "drift": dg.MetadataValue.json(result.drift),
                    "baseline": dg.MetadataValue.json(result.baseline),
                },
            )
        ],
    )


nightly_regression_job = dg.define_asset_job(
    name="nightly_regression",
    description="Re-score one speaker's champion on its release benchmark.",
    selection=dg.AssetSelection.assets(champion_regression),
    partitions_def=datasets_partitions,
    tags={"dagster/priority": "-2", "voicemill/lane": "regression"},
)


@dg.schedule(
    job=nightly_regression_job,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every night: one regression run per speaker that has a champion.",
)
def nightly_regression_schedule(
    context: dg.ScheduleEvaluationContext, mlflow: MlflowResource
) -> list[dg.RunRequest] | dg.SkipReason:
    from voicemill.release.registry import CHAMPION, alias_version

    client = mlflow.client()
    night = (context.scheduled_execution_time or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d")
    requests = []
    for dataset_id in sorted(context.instance.get_dynamic_partitions(datasets_partitions.name)):
        version = alias_version(client, model_name(dataset_id), CHAMPION)
        if version is not None:
            requests.append(
                dg.RunRequest(
                    run_key=f"{night}:{dataset_id}:v{version}",
                    partition_key=dataset_id,
                    tags={"voicemill/champion": version},
                )
            )
    return requests or dg.SkipReason("no speaker has a champion yet")
