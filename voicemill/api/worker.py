"""An inference worker process: models resident, one device, jobs from the service.

The service process never runs a model: it resolves requests, admits them, and hands
each one to a worker as a :class:`WorkItem` over a pipe. A worker keeps the engines it
has loaded (an LRU bounded by ``max_loaded`` engines and ``memory_mb`` of weights and
KV caches), prepares voices once, and answers with
messages that carry the request's handle:

- ``("chunk", handle, audio, timing)``: float32 mono audio at 32 kHz, sent as soon as it
  is decoded (the concatenation is the whole utterance): one per text segment, or for a
  streamed item (``WorkItem.stream``) one per token chunk
  (:mod:`voicemill.synthesis.chunked`); ``timing`` (:class:`SegmentTiming` fields as a
  dict) comes with a segment's last chunk, else None;
- ``("done", handle)``: nothing more comes for the handle;
- ``("error", handle, reason, detail)``: a refusal (text that cannot be spoken, a voice
  that cannot be loaded), never a crash of the worker.

Control messages: ``("work", item)``, ``("cancel", handle)`` (the client left or its
deadline passed: its rows leave the decoder at once), ``("warm", items)`` (answered
with ``("warm", index)`` once they ran) and ``("stop",)``. The worker reads its pipe
between decoding steps, so a cancel or new work is seen within one step.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
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
    stream: bool = False  # token-chunked audio (low first-audio latency), else per segment


@dataclass(frozen=True)
class WorkerSpec:
    """How one worker runs: its index, device, threads and limits."""

    index: int
    device: str
    threads: int
    precision: str
    max_loaded: int
    voices_root: str
    max_batch: int = 8  # GPT rows decoded together (segments of any requests)
    decode_len: int = 1024  # KV-cache slots per row: text + prompt + new tokens
    memory_mb: int = 0  # budget for resident engines and their decoders' caches (0: none)


@dataclass
class _Utterance:
    """A work item being spoken: its segments' tokens as they arrive, emitted in order."""

    item: WorkItem
    engine: Any
    voice: Any
    preset: Any
    seed: int
    segments: list[Any]
    reply: bool
    admitted: int = 0  # segments handed to the decoder so far
    emitted: int = 0  # segments whose audio was sent
    offset: int = 0  # samples sent
    tokens: dict[int, list[int]] = field(default_factory=dict)  # segment -> tokens so far
    finished: set[int] = field(default_factory=set)  # segments whose tokens are complete
    rows: dict[int, int] = field(default_factory=dict)  # decoder handle -> segment
    vocoder: Any = None  # the emitting segment's ChunkedVocoder (streamed items)
    opened: bool = False  # the emitting segment's leading silence was sent
    segment_start: int = 0  # sample where the emitting segment's audio starts


class _Worker:
    """Continuous batching across requests: every segment of every request in flight
    is a row of its model's :class:`ContinuousDecoder`; rows join as soon as one is free
    and leave when done. Each segment's audio is decoded when its tokens are complete
    and sent in order, so a request's chunks are what the engine alone would give."""

    def __init__(self, conn: Connection, spec: WorkerSpec) -> None:
        self.conn = conn
        self.spec = spec
        self.engines: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self.decoders: dict[tuple[str, str], Any] = {}
        self.pending: deque[tuple[WorkItem, bool]] = deque()
        self.active: dict[int, _Utterance] = {}  # item handle -> utterance
        self.warming: set[int] = set()
        self.stopping = False
        self._client: Any = None

    # -- messages ------------------------------------------------------------------------

    def handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "work":
            self.pending.append((message[1], True))
        elif kind == "cancel":
            self.cancel(message[1])
        elif kind == "warm":
            for item in message[1]:
                self.pending.append((item, False))
                self.warming.add(item.handle)
            if not message[1]:
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
            self.drain(block=not (self.pending or self.active))
            self.start_pending()
            self.admit()
            for key, decoder in list(self.decoders.items()):
                if decoder.active:
                    self.collect(key, decoder.step())
            self.emit()

    # -- engines -------------------------------------------------------------------------

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
        self.evict()
        return engine

    def evict(self) -> None:
        """Least recently used engines out while over the count or the memory budget; the
        newest stays. Requests in flight keep theirs (and its decoder) until they end."""
        budget = self.spec.memory_mb * 2**20
        while len(self.engines) > 1 and (
            len(self.engines) > self.spec.max_loaded or (budget and self.resident_bytes() > budget)
        ):
            old, _ = self.engines.popitem(last=False)
            log.info("unloaded %s:%s (least recently used)", *old)
            if not any(u.item.model_name == old[0] and u.item.model_version == old[1]
                       for u in self.active.values()):  # fmt: skip
                self.decoders.pop(old, None)

    def resident_bytes(self) -> int:
        """Weights of the loaded engines plus the KV caches of the decoders."""
        tensors = [
            t
            for engine in self.engines.values()
            for module in (engine.gpt, engine.sovits)
            for t in (*module.parameters(), *module.buffers())
        ]
        return sum(t.numel() * t.element_size() for t in tensors) + sum(
            d.nbytes for d in self.decoders.values()
        )

    def decoder(self, key: tuple[str, str], engine: Any) -> Any:
        from voicemill.model.gpt import ContinuousDecoder

        if key not in self.decoders:
            self.decoders[key] = ContinuousDecoder(
                engine.gpt, max_batch=self.spec.max_batch, max_len=self.spec.decode_len
            )
        return self.decoders[key]

    # -- the schedule --------------------------------------------------------------------

    def start_pending(self) -> None:
        from voicemill.errors import RejectedInput
        from voicemill.synthesis.types import InferencePreset

        while self.pending:
            item, reply = self.pending.popleft()
            try:
                engine = self.engine(item.model_name, item.model_version)
                voice = engine.prepare_voice(
                    Path(item.reference_path), item.prompt_text, item.voice_language
                )
                preset = InferencePreset.model_validate(item.preset)
                segments = engine.segments(item.text, item.language)
            except RejectedInput as exc:
                self.fail(item, reply, exc.reason, exc.detail)
                continue
            except Exception as exc:  # a bug on one request must not take the worker down
                log.exception("preparing a request failed")
                self.fail(item, reply, "synthesis_failed", type(exc).__name__)
                continue
            self.active[item.handle] = _Utterance(
                item, engine, voice, preset, preset.seed, segments, reply
            )

    def admit(self) -> None:
        """Hand segments to their decoders while rows are free: every request's first
        segment before anyone's later ones (time to first audio), oldest request first.
        A streamed request's later segments wait for its first audio: they are not
        needed before it, and their prefill would only delay it."""
        for utterance in list(self.active.values()):
            if utterance.admitted == 0:
                self.admit_segments(utterance, 1)
        for utterance in list(self.active.values()):
            if utterance.offset or utterance.emitted or not utterance.item.stream:
                self.admit_segments(utterance, len(utterance.segments))

    def admit_segments(self, utterance: _Utterance, upto: int) -> None:
        from voicemill.errors import RejectedInput

        if utterance.item.handle not in self.active:
            return  # dropped in this round
        key = (utterance.item.model_name, utterance.item.model_version)
        decoder = self.decoder(key, utterance.engine)
        while utterance.admitted < upto and decoder.free_rows:
            index = utterance.admitted
            segment = utterance.segments[index]
            request = utterance.engine.decode_request(
                segment, utterance.voice, utterance.preset, utterance.seed
            )
            room = (
                self.spec.decode_len
                - request.phone_ids.numel()
                - (0 if request.prompt_semantic is None else request.prompt_semantic.numel())
            )
            if room < request.max_new_tokens:  # a runaway row gets the room there is
                request = replace(request, max_new_tokens=max(1, room))
            try:
                handle = decoder.add(request)
            except RejectedInput as exc:
                self.drop(utterance, exc.reason, exc.detail)
                break
            utterance.rows[handle] = index
            utterance.tokens[index] = []
            utterance.admitted += 1

    def collect(self, key: tuple[str, str], events: list[Any]) -> None:
        # Handles are per decoder: only this decoder's (this model version's) requests.
        owners = {
            h: u
            for u in self.active.values()
            if (u.item.model_name, u.item.model_version) == key
            for h in u.rows
        }
        for event in events:
            utterance = owners.get(event.handle)
            if utterance is None:
                continue
            index = utterance.rows[event.handle]
            if event.token is not None:
                utterance.tokens[index].append(event.token)
            if event.finished:
                utterance.finished.add(index)
                del utterance.rows[event.handle]

    def emit(self) -> None:
        """Send the audio whose turn has come, in order per request: a segment's whole
        audio once its tokens are complete, or (streamed items) each token chunk as soon
        as its tokens exist."""
        for handle, utterance in list(self.active.items()):
            while utterance.emitted < len(utterance.segments):
                index = utterance.emitted
                finished = index in utterance.finished
                if index not in utterance.tokens or not (finished or utterance.item.stream):
                    break
                try:
                    pieces = self.audio(utterance, index, finished)
                except Exception as exc:
                    log.exception("decoding audio failed")
                    self.drop(utterance, "synthesis_failed", type(exc).__name__)
                    break
                self.send(utterance, index, pieces, finished)
                self.drain(block=False)  # a cancel or new work, seen between decodes
                if handle not in self.active or not finished:
                    break
                del utterance.tokens[index]
                utterance.emitted += 1
                utterance.vocoder, utterance.opened = None, False
            else:
                del self.active[handle]
                self.done(utterance)

    def audio(self, utterance: _Utterance, index: int, finished: bool) -> list[Any]:
        """The segment's audio that can be decoded now (float32 arrays, maybe none)."""
        import torch

        u = utterance
        segment, tokens = u.segments[index], u.tokens[index]
        if not u.item.stream:
            ids = torch.tensor(tokens, dtype=torch.long)
            return [u.engine.decode_tokens(segment, ids, u.voice, u.preset, u.seed)]
        if u.vocoder is None:
            u.vocoder = u.engine.chunked_vocoder(segment, u.voice, u.preset, u.seed)
        return u.vocoder.push(tokens, finished)

    def send(self, u: _Utterance, index: int, pieces: list[Any], finished: bool) -> None:
        """Send ``pieces``; the segment's first piece leads with the inter-segment silence,
        its last carries the segment's timing."""
        import numpy as np

        from voicemill.synthesis.engine import MODEL_SAMPLE_RATE
        from voicemill.synthesis.types import SegmentTiming

        if not u.opened and (pieces or finished):
            silence_s = u.preset.fragment_interval_s if index else 0.0
            gap = np.zeros(round(silence_s * MODEL_SAMPLE_RATE), np.float32)
            pieces = [np.concatenate([gap, *pieces[:1]]), *pieces[1:]]
            u.opened, u.segment_start = True, u.offset + gap.shape[0]
        if finished and not pieces:  # the segment ends with nothing new: say so
            pieces = [np.zeros(0, np.float32)]
        for i, piece in enumerate(pieces):
            u.offset += piece.shape[0]
            timing = None
            if finished and i == len(pieces) - 1:
                timing = SegmentTiming(
                    text=u.segments[index].text,
                    start_s=u.segment_start / MODEL_SAMPLE_RATE,
                    end_s=u.offset / MODEL_SAMPLE_RATE,
                    tokens=len(u.tokens[index]),
                ).model_dump()
            if u.reply:
                self.conn.send(("chunk", u.item.handle, piece, timing))

    # -- endings -------------------------------------------------------------------------

    def done(self, utterance: _Utterance) -> None:
        if utterance.reply:
            self.conn.send(("done", utterance.item.handle))
        self.warmed(utterance.item.handle)

    def fail(self, item: WorkItem, reply: bool, reason: str, detail: str) -> None:
        if reply:
            self.conn.send(("error", item.handle, reason, detail))
        self.warmed(item.handle)

    def drop(self, utterance: _Utterance, reason: str, detail: str) -> None:
        self.release(utterance)
        self.active.pop(utterance.item.handle, None)
        self.fail(utterance.item, utterance.reply, reason, detail)

    def cancel(self, handle: int) -> None:
        self.pending = deque((i, r) for i, r in self.pending if i.handle != handle)
        utterance = self.active.pop(handle, None)
        if utterance is not None:
            self.release(utterance)

    def release(self, utterance: _Utterance) -> None:
        decoder = self.decoders.get((utterance.item.model_name, utterance.item.model_version))
        for row in list(utterance.rows):
            if decoder is not None:
                decoder.cancel(row)
        utterance.rows.clear()

    def warmed(self, handle: int) -> None:
        if handle in self.warming:
            self.warming.discard(handle)
            if not self.warming:
                self.conn.send(("warm", self.spec.index))


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
