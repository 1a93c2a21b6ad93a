"""A campaign on Dagster's Celery executor: real RabbitMQ, two `voicemill worker` processes.

The run is coordinated by `voicemill campaign run` under ``VOICEMILL_EXECUTOR=celery``
and every step runs on a worker. Once one worker has finished a shard and started
another, it is killed with SIGKILL: the broker hands its unacknowledged task to the
other worker, and the campaign still ends with every recipient published exactly once
(asserted on the ``deliveries`` and ``delivery_events`` rows). Each test run uses its own
queue names, so nothing else on the broker can take its tasks.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from test_campaign_flow import _each_published_once, _rows, _submit, _write_campaign

pytestmark = pytest.mark.usefixtures("platform_home")

BROKER = ("127.0.0.1", 5672)  # RabbitMQ, as on these machines and in CI
SHARD_STEP = "campaign_audio.deliver_campaign_shard"
RECIPIENTS = 20  # one shard each


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny champion voice of its own (the flow tests count their voice's versions)."""
    from voicemill.release.tiny_voice import register_tiny_voice
    from voicemill.synthesis.types import InferencePreset

    presets = {"ivr": InferencePreset(top_k=5, seed=3, max_new_tokens=30)}
    register_tiny_voice(tmp_path_factory.mktemp("voice"), "celery_voice", presets)
    return "celery_voice"


def _broker_up() -> bool:
    try:
        with socket.create_connection(BROKER, timeout=2):
            return True
    except OSError:
        return False


def _voicemill(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(
            [str(Path(sys.executable).with_name("voicemill")), *args],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _shard_steps(instance, campaign_id: str) -> tuple[dict[str, set[str]], set[str]]:
    """Per worker, the shard steps it started; and the shard steps that succeeded."""
    import dagster as dg

    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": campaign_id}))
    started: dict[str, set[str]] = {}
    succeeded: set[str] = set()
    for run in runs:
        for record in instance.all_logs(run.run_id):
            event = record.dagster_event
            if event is None or not (record.step_key or "").startswith(SHARD_STEP):
                continue
            if event.is_step_success:
                succeeded.add(record.step_key)
            elif event.event_type_value == "ENGINE_EVENT" and "in celery worker" in record.message:
                worker = event.event_specific_data.metadata["Celery worker"].value
                started.setdefault(worker.split("@")[0], set()).add(record.step_key)
    return started, succeeded


def test_shards_run_on_two_celery_workers_and_a_killed_worker_loses_no_recipient(
    champion: str, tmp_path: Path
) -> None:
    import dagster as dg

    if not _broker_up():
        pytest.fail(f"RabbitMQ is not listening on {BROKER}: the Celery path needs a broker")
    env = {
        **os.environ,
        "VOICEMILL_EXECUTOR": "celery",
        "VOICEMILL_CELERY_QUEUE_PREFIX": f"vmtest-{uuid.uuid4().hex[:8]}",
        "OMP_NUM_THREADS": "1",
    }
    workers = {
        name: _voicemill(["worker", "--name", f"{name}@test"], env, tmp_path / f"{name}.log")
        for name in ("w1", "w2")
    }
    coordinator = None
    try:
        deadline = time.monotonic() + 180
        while not all("ready." in (tmp_path / f"{n}.log").read_text() for n in workers):
            exited = [n for n, w in workers.items() if w.poll() is not None]
            assert not exited, (tmp_path / f"{exited[0]}.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the workers never became ready"
            time.sleep(0.5)

        campaign_id = f"c-{uuid.uuid4().hex[:8]}"
        spec, recipients = _write_campaign(
            tmp_path, campaign_id, champion, _rows(RECIPIENTS), shard_size=1
        )
        _submit(spec, recipients)
        coordinator = _voicemill(["campaign", "run", campaign_id], env, tmp_path / "run.log")

        instance = dg.DagsterInstance.get()
        killed_step = None
        deadline = time.monotonic() + 300
        while killed_step is None:
            started, succeeded = _shard_steps(instance, campaign_id)
            assert coordinator.poll() is None, f"the run ended before w1 was killed: {started}"
            assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()[-3000:]
            w1 = started.get("w1", set())
            running = w1 - succeeded
            if w1 & succeeded and running:  # w1 rendered a shard and is mid-way through another
                os.killpg(workers["w1"].pid, signal.SIGKILL)
                workers["w1"].wait()
                killed_step = running.pop()
            time.sleep(0.2)

        assert coordinator.wait(timeout=300) == 0, (tmp_path / "run.log").read_text()[-3000:]
        _each_published_once(campaign_id, expected=RECIPIENTS)
        started, succeeded = _shard_steps(instance, campaign_id)
        assert started.get("w1") and started.get("w2"), started  # both rendered shards
        assert killed_step in started["w2"] and killed_step in succeeded  # taken over by w2
        assert len(succeeded) == RECIPIENTS
    finally:
        for process in [*workers.values(), coordinator]:
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
