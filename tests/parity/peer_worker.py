"""Runs upstream GPT-SoVITS's code (the ``gpt-sovits-cpufast`` fork in ``.venv/peer``)
for the parity tests, in its own process.

The peer's modules are top-level names (``text``, ``module``, ``AR``, ``tools``) that
would clash with ours, and some of them patch third-party state at import (its pinyin
dictionary loader), so they never load into the test process. The tests talk to this
worker over JSON lines: ``{"op": "group.function", "args": {...}}`` in, ``{"ok": true,
"result": ...}`` or ``{"ok": false, "error": "..."}`` out. Tensors travel as ``.npy``
files in folders the tests own. ``op`` names a function in ``peer_side/<group>.py``.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _no_network(*_args: object, **_kwargs: object) -> None:
    raise OSError("the parity peer must not reach the network")


def main() -> None:
    peer = Path(sys.argv[1]).resolve()
    # The peer resolves some data paths relative to the working directory.
    os.chdir(peer)
    sys.path[:0] = [str(peer / "GPT_SoVITS"), str(peer), str(HERE)]
    socket.socket.connect = _no_network  # type: ignore[method-assign]
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8")
    sys.stdout = sys.stderr  # the peer prints progress; keep the reply channel clean
    for line in sys.stdin:
        request = json.loads(line)
        try:
            group, name = request["op"].split(".", 1)
            function = getattr(importlib.import_module(f"peer_side.{group}"), name)
            reply = {"ok": True, "result": function(**request.get("args", {}))}
        except Exception:  # reported to the test, which fails with the peer's traceback
            reply = {"ok": False, "error": traceback.format_exc()}
        replies.write(json.dumps(reply, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
