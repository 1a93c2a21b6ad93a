"""Names and helpers shared by the API tests and their fixtures (tests/api/conftest.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

VOICE = "svc_voice"
OTHER_VOICE = "svc_other"


@dataclass(frozen=True)
class Service:
    """A running ``voicemill serve``: its base URL, log file and process."""

    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_service(log: Path, **env: str) -> Iterator[Service]:
    """``voicemill serve`` on a free loopback port until ready; stopped (process group) after."""
    port = _free_port()
    environment = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "VOICEMILL_API_CHAMPION_POLL_S": "1",
        **env,
    }
    voicemill = str(Path(sys.executable).with_name("voicemill"))
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [voicemill, "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
        )
    service = Service(f"http://127.0.0.1:{port}", log, process)
    deadline = time.monotonic() + 240
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"voicemill serve exited ({process.returncode}):\n{service.log_text()}")
            try:
                if httpx.get(f"{service.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the service never became ready:\n{service.log_text()[-3000:]}")
            time.sleep(0.3)
        yield service
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
