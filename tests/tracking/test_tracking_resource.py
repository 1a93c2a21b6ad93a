"""MlflowResource inside real Dagster materializations."""

import json
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import pytest
from mlflow import MlflowClient

from voicemill.orchestration.resources import MlflowResource
from voicemill.tracking import run_tags, store

partitions = dg.StaticPartitionsDefinition(["spk_a", "spk_b"])


@dg.asset(partitions_def=partitions)
def tracked_training(
    context: dg.AssetExecutionContext, mlflow: MlflowResource
) -> dg.MaterializeResult:
    tracker = mlflow.tracker("adaptation")
    tags = {**mlflow.dagster_tags(context), **run_tags(dataset=context.partition_key)}
    with tracker.run(f"gpt-{context.partition_key}", tags=tags) as run:
        run.log_params({"epochs": 2})
        for step in range(2):
            run.log_metrics({"loss": 1.0 / (step + 1)}, step=step)
        run.log_dict({"partition": context.partition_key}, "summary.json")
    return dg.MaterializeResult(metadata={"mlflow_run_id": run.run_id})


def test_resource_logs_a_run_during_materialization(
    platform_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    prefix = f"test-{uuid.uuid4().hex[:8]}/"
    resource = MlflowResource(experiment_prefix=prefix)
    result = dg.materialize(
        [tracked_training], partition_key="spk_b", resources={"mlflow": resource}
    )
    assert result.success
    materialization = result.asset_materializations_for_node("tracked_training")[0]
    run_id = materialization.metadata["mlflow_run_id"].value

    client = MlflowClient(tracking_uri=store.tracking_uri(), registry_uri=store.tracking_uri())
    experiment = client.get_experiment_by_name(f"{prefix}adaptation")
    assert experiment is not None
    runs = client.search_runs(
        [experiment.experiment_id], f"tags.`dagster.run_id` = '{result.run_id}'"
    )
    assert [r.info.run_id for r in runs] == [run_id]
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.tags["dagster.partition"] == "spk_b"
    assert run.data.tags["dagster.asset"] == "tracked_training"
    assert run.data.tags["voicemill.dataset"] == "spk_b"
    assert [m.value for m in client.get_metric_history(run_id, "loss")] == [1.0, 0.5]
    assert [f.path for f in client.list_artifacts(run_id)] == ["summary.json"]
    assert not (tmp_path / "mlruns").exists()


def test_resource_overrides(platform_home: Path, tmp_path: Path) -> None:
    root = tmp_path / "elsewhere"
    resource = MlflowResource(artifact_root=str(root), experiment_prefix="")
    assert resource.resolved_tracking_uri() == store.tracking_uri()
    tracker = resource.tracker(f"override-{uuid.uuid4().hex[:8]}")
    assert tracker.experiment.artifact_location.startswith(root.as_uri())
    with tracker.run("r") as run:
        run.log_text("x", "x.txt")
    assert list(root.rglob("x.txt"))
    assert resource.client().get_run(run.run_id).info.status == "FINISHED"


def test_definitions_wire_the_resource_without_importing_mlflow() -> None:
    code = (
        "import sys, json\n"
        "from voicemill.orchestration.definitions import defs\n"
        "r = defs.resources['mlflow']\n"
        "print(json.dumps([type(r).__name__, 'mlflow' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["MlflowResource", False]
