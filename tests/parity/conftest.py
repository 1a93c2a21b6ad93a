"""The parity peer: upstream GPT-SoVITS's code running beside ours in a subprocess.

``scripts/setup.sh`` installs the peer into ``.venv/peer`` (see
``peer-requirements.txt``); these tests fail, not skip, when it is missing, since
parity is a claim the README makes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PEER_DIR = REPO / ".venv" / "peer"
WORKER = Path(__file__).resolve().parent / "peer_worker.py"


class PeerError(RuntimeError):
    """The peer raised; the message carries its traceback."""


class Peer:
    """A running peer worker; ``call("text.phones", text=...)`` runs one function there."""

    def __init__(self, peer_dir: Path) -> None:
        self._process = subprocess.Popen(
            [sys.executable, str(WORKER), str(peer_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
        )

    def call(self, op: str, **args: Any) -> Any:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise PeerError(f"the peer worker exited (code {self._process.poll()})")
        reply = json.loads(line)
        if not reply["ok"]:
            raise PeerError(reply["error"])
        return reply["result"]

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()


@pytest.fixture(scope="session")
def peer() -> Iterator[Peer]:
    if not (PEER_DIR / "GPT_SoVITS").is_dir():
        pytest.fail(f"the parity peer is not installed in {PEER_DIR}: run scripts/setup.sh")
    worker = Peer(PEER_DIR)
    yield worker
    worker.close()
