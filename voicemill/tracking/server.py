"""The MLflow UI (``mlflow server``) as a child process of ``voicemill dev``.

The server reads the same tracking database and artifact root as the clients,
which talk to PostgreSQL directly; it is there for people, not for logging.
It runs one uvicorn worker (the default is four), without MLflow's GenAI job
runner, with telemetry off, in its own process group so that stopping it takes
its uvicorn worker with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

from voicemill.settings import Settings, get_settings
from voicemill.tracking import store

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000

SERVER_ENVIRONMENT = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    # The job runner executes GenAI judge jobs (huey consumers); nothing here uses it.
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
}


def server_command(
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    workers: int = 1,
    settings: Settings | None = None,
) -> list[str]:
    """``mlflow server``'s argv: no secrets in it (any local account can read argv with
    ``ps``); the store URL, which may carry the database password, travels in the
    environment (:func:`server_environment`)."""
    settings = settings or get_settings()
    root = store.artifact_root(settings)
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    return [
        mlflow, "server",
        "--default-artifact-root", root,
        "--artifacts-destination", root,
        "--host", host,
        "--port", str(port),
        "--workers", str(workers),
    ]  # fmt: skip


def server_environment(settings: Settings | None = None) -> dict[str, str]:
    """The server's environment: ours, the fixed settings above and the store URL
    (``MLFLOW_BACKEND_STORE_URI``, which ``mlflow server`` reads for
    ``--backend-store-uri``). A process's environment is readable only by its own
    account and root, unlike its argv."""
    settings = settings or get_settings()
    return {
        **os.environ,
        **SERVER_ENVIRONMENT,
        "MLFLOW_BACKEND_STORE_URI": store.tracking_uri(settings),
    }


def start_server(
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    settings: Settings | None = None,
    log_file: IO[bytes] | None = None,
) -> subprocess.Popen[bytes]:
    """Create MLflow's schema if needed, then start ``mlflow server`` in the background."""
    settings = settings or get_settings()
    store.ensure_schema(settings=settings)
    return subprocess.Popen(
        server_command(host=host, port=port, settings=settings),
        env=server_environment(settings),
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT if log_file is not None else None,
        start_new_session=True,
    )


def stop_server(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM the server's process group, SIGKILL it after ``timeout`` seconds."""
    if proc.poll() is not None:
        _kill_group(proc.pid, signal.SIGKILL)  # a worker may outlive a crashed parent
        return
    _kill_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid, signal.SIGKILL)
        proc.wait()
    # `mlflow server` waits for its uvicorn worker, but make sure nothing stays behind.
    deadline = time.monotonic() + timeout
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    _kill_group(proc.pid, signal.SIGKILL)


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def wait_until_healthy(url: str, timeout: float = 60) -> bool:
    """Poll ``{url}/health`` until it answers OK or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False
