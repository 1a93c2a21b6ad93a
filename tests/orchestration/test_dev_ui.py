"""``voicemill dev`` serves the Dagster UI on the platform's PostgreSQL instance."""

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


@pytest.mark.slow
def test_dev_serves_the_code_location(platform_home: Path) -> None:
    port = _free_port()
    voicemill = str(Path(sys.executable).with_name("voicemill"))
    proc = subprocess.Popen(
        [voicemill, "dev", "--port", str(port)],
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
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
