"""An inference worker process: models resident, one device, jobs from the service.

The service process never runs a model: it resolves requests, admits them, and hands
each one to a worker as a :class:`WorkItem` over a pipe. A worker keeps the engines it
has loaded (an LRU bounded by ``max_loaded``), prepares voices once, and answers with
messages that carry the request's handle:

- ``("chunk", handle, audio, timing)``: float32 mono audio at 32 kHz, one per text
  segment, sent as soon as it is decoded (the concatenation is the whole utterance),
  with where that segment lies in it (:class:`SegmentTiming` fields as a dict);
- ``("done", handle)``: nothing more comes for the handle;
- ``("error", handle, reason, detail)``: a refusal (text that cannot be spoken, a voice
  that cannot be loaded), never a crash of the worker.

Control messages: ``("work", item)``, ``("cancel", handle)`` (the client left or its
deadline passed: the item stops before its next segment), ``("warm", items)`` and
``("stop",)``. Between segments the worker reads its pipe, so a cancel or new work is
seen within one segment.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

log = logging.getLogger("voicemill.api.worker")


@dataclass(frozen=True)
class WorkItem:
    """One request's synthesis, with everything a worker needs and nothing it must look up
    beyond the release files (checked against their recorded hashes)."""

    handle: int
    request_id: str
    model_name: str
    model_version: str
    reference_path: str
    prompt_text: str | None
    voice_language: str  # the profile's language, for the prompt text
    text: str
    language: str
    preset: dict[str, Any]  # InferencePreset fields, seed fixed


@dataclass(frozen=True)
class WorkerSpec:
    """How one worker runs: its index, device, threads and limits."""

    index: int
    device: str
    threads: int
    precision: str
    max_loaded: int
    voices_root: str


class _Worker:
    def __init__(self, conn: Connection, spec: WorkerSpec) -> None:
        self.conn = conn
        self.spec = spec
        self.engines: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self.pending: deque[WorkItem] = deque()
        self.cancelled: set[int] = set()
        self.stopping = False
        self._client: Any = None

    # -- messages ------------------------------------------------------------------------

    def handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "work":
            self.pending.append(message[1])
        elif kind == "cancel":
            self.cancelled.add(message[1])
            self.pending = deque(i for i in self.pending if i.handle != message[1])
        elif kind == "warm":
            for item in message[1]:
                self.run(item, reply=False)
            self.conn.send(("warm", self.spec.index))
        elif kind == "stop":
            self.stopping = True

    def drain(self, block: bool) -> None:
        if block:
            self.handle(self.conn.recv())
        while self.conn.poll(0):
            self.handle(self.conn.recv())

    def loop(self) -> None:
        while not self.stopping:
            self.drain(block=not self.pending)
            while self.pending and not self.stopping:
                self.run(self.pending.popleft())
                self.drain(block=False)

    # -- synthesis -----------------------------------------------------------------------

    def engine(self, name: str, version: str) -> Any:
        from voicemill.release.voice_files import load_engine, open_release

        key = (name, version)
        if key in self.engines:
            self.engines.move_to_end(key)
            return self.engines[key]
        if self._client is None:
            from voicemill.tracking import open_client

            self._client = open_client()
        release = open_release(self._client, name, version, Path(self.spec.voices_root))
        engine, _ = load_engine(release, precision=self.spec.precision, device=self.spec.device)
        self.engines[key] = engine
        while len(self.engines) > self.spec.max_loaded:
            self.engines.popitem(last=False)
        return engine

    def run(self, item: WorkItem, *, reply: bool = True) -> None:
        from voicemill.errors import RejectedInput
        from voicemill.synthesis.types import InferencePreset

        try:
            engine = self.engine(item.model_name, item.model_version)
            voice = engine.prepare_voice(
                Path(item.reference_path), item.prompt_text, item.voice_language
            )
            preset = InferencePreset.model_validate(item.preset)
            for chunk, timing in engine.stream_timed(item.text, voice, preset, item.language):
                if reply:
                    self.conn.send(("chunk", item.handle, chunk, timing.model_dump()))
                self.drain(block=False)  # a cancel or new work, seen between segments
                if item.handle in self.cancelled:
                    self.cancelled.discard(item.handle)
                    return
            if reply:
                self.conn.send(("done", item.handle))
        except RejectedInput as exc:
            if reply:
                self.conn.send(("error", item.handle, exc.reason, exc.detail))
        except Exception as exc:  # a bug on one request must not take the worker down
            log.exception("synthesis failed")
            if reply:
                self.conn.send(("error", item.handle, "synthesis_failed", type(exc).__name__))


def worker_main(conn: Connection, spec: WorkerSpec) -> None:
    """Entry point of a worker process (spawned, so it starts with a clean interpreter)."""
    os.environ.setdefault("OMP_NUM_THREADS", str(spec.threads))
    import torch

    torch.set_num_threads(spec.threads)
    from voicemill.api.logs import configure_logging

    configure_logging()
    started = time.perf_counter()
    worker = _Worker(conn, spec)
    conn.send(("up", spec.index, os.getpid(), time.perf_counter() - started))
    with contextlib.suppress(EOFError, KeyboardInterrupt):  # the service went away
        worker.loop()
