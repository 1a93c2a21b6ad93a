"""``voicemill dev`` serves the Dagster UI (on the platform's PostgreSQL) and the MLflow UI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _mlflow_experiments(port: int) -> list[str]:
    url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=100"
    with urllib.request.urlopen(url, timeout=10) as response:
        return [e["name"] for e in json.loads(response.read())["experiments"]]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _processes_mentioning(needle: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if needle in cmdline:
            pids.append(int(entry.name))
    return pids


@pytest.mark.slow
def test_dev_serves_the_code_location(platform_home: Path) -> None:
    from voicemill.tracking import Tracker

    port, mlflow_port = _free_port(), _free_port()
    Tracker.open("dev-ui-smoke").start_run("visible-in-the-ui").end()
    voicemill = str(Path(sys.executable).with_name("voicemill"))
    proc = subprocess.Popen(
        [voicemill, "dev", "--port", str(port), "--mlflow-port", str(mlflow_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=os.environ.copy(),
    )
    try:
        deadline = time.monotonic() + 120
        assets = None
        while time.monotonic() < deadline:
            try:
                data = _graphql(port, "{ assetNodes { assetKey { path } } }")
                assets = sorted(n["assetKey"]["path"][0] for n in data["data"]["assetNodes"])
                if assets:
                    break
            except (OSError, KeyError, TypeError):
                pass
            time.sleep(1)
        assert assets is not None and "training_manifest" in assets
        instance = _graphql(port, "{ instance { info } }")["data"]["instance"]["info"]
        assert "PostgresRunStorage" in instance

        experiments = None
        while time.monotonic() < deadline:
            try:
                experiments = _mlflow_experiments(mlflow_port)
                break
            except OSError:
                time.sleep(1)
        assert experiments is not None and "dev-ui-smoke" in experiments
        with urllib.request.urlopen(f"http://127.0.0.1:{mlflow_port}/health", timeout=10) as r:
            assert r.status == 200
        assert _processes_mentioning(f"--port {mlflow_port}")
    finally:
        # SIGTERM to `voicemill dev` alone: it must stop both UIs, which run in
        # process groups of their own.
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        _listening(mlflow_port) or _processes_mentioning(f"--port {mlflow_port}")
    ):
        time.sleep(0.5)
    assert not _listening(mlflow_port)
    assert _processes_mentioning(f"--port {mlflow_port}") == []
    assert not _listening(port)
    assert _processes_mentioning(f"-p {port}") == []
    assert _processes_mentioning(f"--port {port}") == []
