"""MLflow's store on the platform PostgreSQL: URIs, schema, experiments, runs, artifacts."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from voicemill.settings import PROJECT_ROOT, Settings
from voicemill.tracking import Tracker, ensure_experiment, open_client, run_tags, store


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def no_mlruns_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run each test from an empty directory; MLflow must not write ./mlruns there."""
    project_mlruns = (PROJECT_ROOT / "mlruns").exists()
    monkeypatch.chdir(tmp_path)
    yield
    assert not (tmp_path / "mlruns").exists()
    assert not (tmp_path / "mlartifacts").exists()
    assert (PROJECT_ROOT / "mlruns").exists() == project_mlruns


def test_uris_default_to_the_platform_and_accept_overrides(platform_home: Path) -> None:
    settings = Settings(home=platform_home)
    uri = store.tracking_uri(settings)
    assert uri.startswith("postgresql+psycopg2://")
    assert "_mlflow" in uri
    assert store.artifact_root(settings) == (platform_home / "mlflow-artifacts").as_uri()

    overridden = Settings(
        home=platform_home,
        mlflow_tracking_uri="http://127.0.0.1:5999",
        mlflow_artifact_root="relative/artifacts",
    )
    assert store.tracking_uri(overridden) == "http://127.0.0.1:5999"
    assert store.artifact_root(overridden) == (Path.cwd() / "relative/artifacts").as_uri()
    assert store.as_uri("s3://bucket/mlflow/") == "s3://bucket/mlflow"
    assert store.is_database_uri(uri) and not store.is_database_uri("http://localhost:5000")


def test_schema_is_current_and_the_check_is_cheap(platform_home: Path) -> None:
    from mlflow.store.db.utils import _get_latest_schema_revision

    assert store.schema_head() == _get_latest_schema_revision()
    store.ensure_schema()
    assert store.schema_revision(store.tracking_uri()) == store.schema_head()
    assert store.ensure_schema() is False
    # The Default experiment was created with our artifact root, not ./mlruns.
    default = open_client().get_experiment("0")
    assert default.artifact_location.startswith(store.artifact_root())


ENSURE = """
import sys
from voicemill.tracking import store
print("CHANGED" if store.ensure_schema(sys.argv[1], root=sys.argv[2]) else "UNCHANGED")
"""


def test_first_use_from_two_processes_migrates_once(platform_home: Path) -> None:
    """Two processes make the first use of an empty database at the same time."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    from voicemill.db.server import Database, libpq_dsn

    name = f"vm_mlflow_race_{uuid.uuid4().hex[:8]}"
    admin = psycopg.conninfo.conninfo_to_dict(libpq_dsn(Database.APP))
    admin["dbname"] = "postgres"
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        uri = make_url(store.tracking_uri()).set(database=name).render_as_string(False)
        root = (platform_home / "race-artifacts").as_uri()
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", ENSURE, uri, root],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=os.environ.copy(),
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
        verdicts = sorted(out.strip().splitlines()[-1] for out, _ in outputs)
        assert verdicts == ["CHANGED", "UNCHANGED"]
        assert store.schema_revision(uri) == store.schema_head()
        client = open_client(uri=uri, root=root)
        assert [e.name for e in client.search_experiments()] == ["Default"]
    finally:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        # MLflow keeps one pooled engine per URI; close it before dropping the database.
        engine = SqlAlchemyStore._engine_map.pop(uri, None)
        if engine is not None:
            engine.dispose()
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_ensure_experiment_is_idempotent_under_concurrency(platform_home: Path) -> None:
    name = _unique("concurrent")
    root = store.artifact_root()
    barrier = threading.Barrier(4)
    ids: list[str] = []
    errors: list[BaseException] = []

    def create() -> None:
        client = open_client()
        barrier.wait()
        try:
            ids.append(ensure_experiment(client, name, root=root).experiment_id)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(ids) == 4 and len(set(ids)) == 1

    client = open_client()
    again = ensure_experiment(client, name, root=root)
    assert again.experiment_id == ids[0]
    assert again.artifact_location == f"{root}/{name}"
    client.delete_experiment(again.experiment_id)
    restored = ensure_experiment(client, name, root=root)
    assert restored.experiment_id == ids[0] and restored.lifecycle_stage == "active"


def test_a_run_round_trips_through_a_fresh_client(platform_home: Path, tmp_path: Path) -> None:
    from matplotlib.figure import Figure
    from mlflow import MlflowClient

    experiment = _unique("roundtrip")
    tracker = Tracker.open(experiment)
    config = {"lr": 0.001, "batch_size": 4, "stage": "gpt"}
    tags = run_tags(dataset="spk_a", code_version="abc123", config=config, stage="gpt")
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "weights.bin").write_bytes(b"\0" * 64)
    (tmp_path / "ckpt" / "sub").mkdir()
    (tmp_path / "ckpt" / "sub" / "notes.txt").write_text("hello")
    sample = tmp_path / "sample.wav"
    sample.write_bytes(b"RIFF....WAVE")
    figure = Figure()
    figure.add_subplot().plot([0, 1, 2], [3.0, 2.0, 1.5])

    with tracker.run("gpt-spk_a", tags=tags) as run:
        run.log_params(config)
        for step, loss in enumerate([3.0, 2.0, 1.5]):
            run.log_metrics({"train/loss": loss, "val/loss": loss + 0.5}, step=step)
        run.log_metric("score/speaker_sim", 0.91, step=2)
        run.log_dict(config, "config.json")
        run.log_dir(tmp_path / "ckpt", "checkpoints/step-2")
        run.log_file(sample, "samples")
        run.log_figure(figure, "plots/loss.png")
        run.log_text("the text", "samples/prompt.txt")
        run_id = run.run_id

    fresh = MlflowClient(tracking_uri=store.tracking_uri(), registry_uri=store.tracking_uri())
    stored = fresh.get_run(run_id)
    assert stored.info.status == "FINISHED"
    assert stored.info.run_name == "gpt-spk_a"
    assert stored.data.params == {"lr": "0.001", "batch_size": "4", "stage": "gpt"}
    assert stored.data.tags["voicemill.dataset"] == "spk_a"
    assert stored.data.tags["mlflow.source.git.commit"] == "abc123"
    assert (
        stored.data.tags["voicemill.config_hash"]
        == run_tags(config=config)["voicemill.config_hash"]
    )
    history = fresh.get_metric_history(run_id, "train/loss")
    assert [(m.step, m.value) for m in history] == [(0, 3.0), (1, 2.0), (2, 1.5)]
    assert stored.data.metrics["score/speaker_sim"] == pytest.approx(0.91)

    listed = {f.path for f in fresh.list_artifacts(run_id)}
    assert listed == {"config.json", "checkpoints", "samples", "plots"}
    nested = {f.path for f in fresh.list_artifacts(run_id, "checkpoints/step-2")}
    assert nested == {"checkpoints/step-2/weights.bin", "checkpoints/step-2/sub"}
    local = Path(fresh.download_artifacts(run_id, "config.json", str(tmp_path / "dl")))
    assert local.read_text().count('"lr"') == 1

    # Artifacts sit under the platform's artifact root on disk.
    assert stored.info.artifact_uri.startswith(store.artifact_root())
    on_disk = platform_home / "mlflow-artifacts" / experiment / run_id / "artifacts"
    assert (on_disk / "plots" / "loss.png").stat().st_size > 0
    assert (on_disk / "checkpoints/step-2/sub/notes.txt").read_text() == "hello"
    assert (on_disk / "samples" / "sample.wav").exists()

    found = Tracker.open(experiment).search_runs("tags.`voicemill.dataset` = 'spk_a'")
    assert [r.info.run_id for r in found] == [run_id]


def test_resuming_a_run_appends_metrics(platform_home: Path) -> None:
    tracker = Tracker.open(_unique("resume"))
    run = tracker.start_run("sovits-spk_b", tags={"stage": "sovits"})
    run.log_metric("loss", 1.0, step=0)
    run.log_metric("loss", 0.8, step=1)
    run.end("KILLED")  # e.g. the worker was preempted
    assert run.get().info.status == "KILLED"

    other = Tracker.open(tracker.experiment_name)  # a new process would do exactly this
    with other.run(run_id=run.run_id, tags={"resumed": "1"}) as resumed:
        assert resumed.get().info.status == "RUNNING"
        resumed.log_metric("loss", 0.6, step=2)
        resumed.log_metric("loss", 0.5, step=3)
    history = run.metric_history("loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.8), (2, 0.6), (3, 0.5)]
    stored = run.get()
    assert stored.info.status == "FINISHED"
    assert stored.data.tags["stage"] == "sovits" and stored.data.tags["resumed"] == "1"

    by_name = other.start_run("sovits-spk_b", resume=True)
    assert by_name.run_id == run.run_id
    by_name.end()
    assert other.start_run("sovits-spk_b").run_id != run.run_id
    assert other.find_run("no such run") is None


def test_a_failing_block_marks_the_run_failed(platform_home: Path) -> None:
    tracker = Tracker.open(_unique("failing"))
    with pytest.raises(RuntimeError), tracker.run("doomed") as run:
        raise RuntimeError("boom")
    assert run.get().info.status == "FAILED"


def test_a_run_of_another_experiment_is_not_resumed(platform_home: Path) -> None:
    first = Tracker.open(_unique("one"))
    second = Tracker.open(_unique("two"))
    run = first.start_run("x")
    with pytest.raises(ValueError, match="belongs to experiment"):
        second.resume_run(run.run_id)


def test_run_tags_and_config_hash() -> None:
    from voicemill.tracking import code_version, config_hash

    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    tags = run_tags(dataset="d", code_version="abc", config={"a": 1}, stage="gpt", seed=None)
    assert tags == {
        "voicemill.dataset": "d",
        "mlflow.source.git.commit": "abc",
        "voicemill.config_hash": config_hash({"a": 1}),
        "stage": "gpt",
    }
    version = code_version()
    assert version is None or len(version.removesuffix("-dirty")) == 40
