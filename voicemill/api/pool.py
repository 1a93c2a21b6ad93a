"""The inference workers and the queues in front of them: admission, lanes, deadlines.

``WorkerPool`` starts ``workers`` processes (:mod:`voicemill.api.worker`), each with its
own models and a share of the cores (or one GPU), and feeds them from two lanes:
``realtime`` (interactive requests) always goes before ``batch`` (requests marked
``priority: batch``). Each worker runs ``slots`` items at a time.

- **Admission**: a request that would wait longer than ``max_wait_s`` (estimated from
  the work ahead of it and the recent service time) or find its lane's queue full is
  refused at once with 429 and a ``Retry-After``, before any model work.
- **Deadlines**: a request not finished by its deadline ends in 504; its item is
  cancelled in the worker, which frees the slot for the next one.
- **Disconnects**: closing the result iterator cancels the item the same way.
- **Worker deaths**: a worker that exits is replaced; the requests it was running fail
  with 503 ``worker_restarted`` and a ``Retry-After`` (safe to retry), never hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import multiprocessing as mp
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from voicemill.api.errors import ApiError
from voicemill.api.worker import WorkerSpec, WorkItem, worker_main

log = logging.getLogger("voicemill.api.pool")

Lane = Literal["realtime", "batch"]
LANES: tuple[Lane, ...] = ("realtime", "batch")


@dataclass
class _Job:
    item: WorkItem
    lane: Lane
    queue: asyncio.Queue[tuple[Any, ...]]
    enqueued: float
    worker: int | None = None
    finished: bool = False


@dataclass
class _WorkerHandle:
    spec: WorkerSpec
    process: Any = None  # multiprocessing Process
    conn: Any = None
    up: bool = False
    jobs: dict[int, _Job] = field(default_factory=dict)
    send_lock: threading.Lock = field(default_factory=threading.Lock)


class WorkerPool:
    def __init__(
        self,
        specs: list[WorkerSpec],
        *,
        slots: int = 1,
        max_queue: int = 32,
        max_wait_s: float = 10.0,
        metrics: Any = None,
    ) -> None:
        self.workers = [_WorkerHandle(spec) for spec in specs]
        self.slots = slots
        self.max_queue = max_queue
        self.max_wait_s = max_wait_s
        self.metrics = metrics
        self.queues: dict[Lane, deque[_Job]] = {lane: deque() for lane in LANES}
        self.service_s = 2.0  # moving mean of an item's run time, for wait estimates
        self._handles = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._ctx = mp.get_context("spawn")
        self._warm_waiters: tuple[set[int], threading.Event] = (set(), threading.Event())

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        for index in range(len(self.workers)):
            self._spawn(index)

    def _spawn(self, index: int) -> None:
        handle = self.workers[index]
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=worker_main, args=(child, handle.spec), name=f"voicemill-worker-{index}"
        )
        process.daemon = True
        process.start()
        child.close()
        handle.process, handle.conn, handle.up = process, parent, False
        threading.Thread(
            target=self._read, args=(index, parent), name=f"worker-{index}-reader", daemon=True
        ).start()

    def close(self) -> None:
        self._closing = True
        for handle in self.workers:
            try:
                with handle.send_lock:
                    handle.conn.send(("stop",))
            except (OSError, ValueError, AttributeError):
                pass
        for handle in self.workers:
            if handle.process is not None:
                handle.process.join(timeout=10)
                if handle.process.is_alive():
                    handle.process.kill()

    @property
    def ready(self) -> bool:
        return all(h.up for h in self.workers)

    def warm(self, items: list[WorkItem], timeout_s: float = 600) -> bool:
        """Load and run ``items`` in every worker (blocking; from a thread)."""
        done = threading.Event()
        waiting = {h.spec.index for h in self.workers}
        self._warm_waiters = (waiting, done)
        for handle in self.workers:
            self._send(handle, ("warm", items))
        return done.wait(timeout_s)

    # -- the worker side ----------------------------------------------------------------

    def _read(self, index: int, conn: Any) -> None:
        """Messages of one worker, handed to the event loop; its exit ends the thread."""
        assert self._loop is not None
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                if not self._closing:
                    self._loop.call_soon_threadsafe(self._on_death, index, conn)
                return
            if message[0] == "warm":
                waiting, done = self._warm_waiters
                waiting.discard(message[1])
                if not waiting:
                    done.set()
                continue
            self._loop.call_soon_threadsafe(self._on_message, index, message)

    def _on_message(self, index: int, message: tuple[Any, ...]) -> None:
        handle = self.workers[index]
        kind = message[0]
        if kind == "up":
            handle.up = True
            log.info("worker up", extra={"worker": index, "pid": message[2]})
            self._dispatch()
            return
        job = handle.jobs.get(message[1])
        if job is None:
            return  # a cancelled job's late message
        job.queue.put_nowait(message)
        if kind in ("done", "error"):
            self._finish(handle, job)

    def _on_death(self, index: int, conn: Any) -> None:
        handle = self.workers[index]
        if handle.conn is not conn:
            return  # an older process of this slot
        code = handle.process.exitcode if handle.process is not None else None
        log.error("worker died; restarting it", extra={"worker": index, "exitcode": code})
        for job in list(handle.jobs.values()):
            job.queue.put_nowait(("died", job.item.handle))
            self._finish(handle, job)
        self._spawn(index)

    def _send(self, handle: _WorkerHandle, message: tuple[Any, ...]) -> None:
        with handle.send_lock:
            handle.conn.send(message)

    # -- queues -------------------------------------------------------------------------

    def estimate_wait_s(self, lane: Lane) -> float:
        """Seconds a request entering ``lane`` now would wait before a slot is free."""
        free = sum(self.slots - len(h.jobs) for h in self.workers if h.up)
        ahead = len(self.queues["realtime"])
        if lane == "batch":
            ahead += len(self.queues["batch"])
        total = max(1, self.slots * len(self.workers))
        if free > ahead:
            return 0.0
        return (ahead - free + 1) / total * self.service_s

    def depth(self, lane: Lane) -> int:
        return len(self.queues[lane])

    @property
    def in_flight(self) -> int:
        return sum(len(h.jobs) for h in self.workers)

    def _dispatch(self) -> None:
        for lane in LANES:  # realtime first, always
            queue = self.queues[lane]
            while queue:
                handle = min(
                    (h for h in self.workers if h.up and len(h.jobs) < self.slots),
                    key=lambda h: len(h.jobs),
                    default=None,
                )
                if handle is None:
                    return
                job = queue.popleft()
                if self.metrics is not None:
                    self.metrics.queue_wait.labels(lane).observe(time.perf_counter() - job.enqueued)
                job.worker = handle.spec.index
                handle.jobs[job.item.handle] = job
                job.enqueued = time.perf_counter()  # from now: the service time
                with contextlib.suppress(OSError, ValueError):  # the reader sees a death
                    self._send(handle, ("work", job.item))

    def _finish(self, handle: _WorkerHandle, job: _Job) -> None:
        if job.finished:
            return
        job.finished = True
        handle.jobs.pop(job.item.handle, None)
        elapsed = time.perf_counter() - job.enqueued
        self.service_s = 0.8 * self.service_s + 0.2 * elapsed
        self._dispatch()

    def _cancel(self, job: _Job) -> None:
        if job.finished:
            return
        if job.worker is None:
            queue = self.queues[job.lane]
            if job in queue:
                queue.remove(job)
            job.finished = True
            return
        handle = self.workers[job.worker]
        with contextlib.suppress(OSError, ValueError):
            self._send(handle, ("cancel", job.item.handle))
        self._finish(handle, job)

    # -- requests -----------------------------------------------------------------------

    def new_handle(self) -> int:
        return next(self._handles)

    async def run(
        self, item: WorkItem, lane: Lane, deadline: float
    ) -> AsyncIterator[tuple[Any, dict[str, Any] | None]]:
        """(audio chunk, its segment's timing on the segment's last chunk) as decoded.

        Raises :class:`ApiError`: ``overloaded`` (429) at once when the wait would be too
        long, ``deadline_exceeded`` (504), ``worker_restarted`` (503), or the worker's
        refusal (e.g. ``nothing_to_say``).
        """
        wait = self.estimate_wait_s(lane)
        if len(self.queues[lane]) >= self.max_queue or wait > self.max_wait_s:
            retry = max(1, math.ceil(wait))
            raise ApiError(
                "overloaded",
                f"the {lane} lane is full (about {wait:.0f} s of work ahead); retry later",
                status=429,
                headers={"Retry-After": str(retry)},
            )
        job = _Job(item, lane, asyncio.Queue(), time.perf_counter())
        self.queues[lane].append(job)
        self._dispatch()
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                message = await asyncio.wait_for(job.queue.get(), remaining)
                kind = message[0]
                if kind == "chunk":
                    yield message[2], message[3]
                elif kind == "done":
                    return
                elif kind == "error":
                    raise ApiError(message[2], message[3])
                else:  # died
                    raise ApiError(
                        "worker_restarted",
                        "the worker running this request stopped; retry it",
                        status=503,
                        headers={"Retry-After": "1"},
                    )
        except TimeoutError:
            raise ApiError(
                "deadline_exceeded", "the request did not finish before its deadline", status=504
            ) from None
        finally:
            self._cancel(job)  # a no-op when it finished; else frees its slot at once
