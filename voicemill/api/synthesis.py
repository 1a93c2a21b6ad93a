"""Running a synthesis for a request: cache first, then the engine, off the event loop.

The engine is CPU-bound and not re-entrant, so each request runs in a worker thread
under its model's lock, while the event loop keeps answering health checks and
accepting requests. Streaming hands chunks from the worker thread to the loop as the
engine yields them (one per text segment); a client that goes away stops the work
before the next segment.

Identical requests (profile version, use case, preset, model version, spoken text,
seed, language) are answered from the platform's synthesis cache, the one campaigns
fill (:mod:`voicemill.campaign.cache`): raw float32 audio, encoded per request by a
deterministic encoder, so a hit's bytes equal the miss's.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from voicemill.api.voices import ResolvedVoice
from voicemill.synthesis.types import InferencePreset

if TYPE_CHECKING:
    import psycopg

    from voicemill.campaign.cache import SynthesisCache
    from voicemill.synthesis.types import SegmentTiming

MODEL_RATE = 32_000
EVICT_EVERY = 20  # puts between checks of the cache's size bound (the first put checks)


@dataclass(frozen=True)
class SpeechJob:
    """One request's synthesis, fully resolved."""

    voice: ResolvedVoice
    use_case: str
    preset: InferencePreset  # seed fixed (>= 0): the request's or the profile's
    text: str
    language: str

    @property
    def cache_key(self) -> str:
        from voicemill.campaign.cache import request_key
        from voicemill.campaign.delivery import spoken_form

        profile = self.voice.profile
        return request_key(
            profile_id=profile.profile_id,
            profile_version=profile.version,
            use_case=self.use_case,
            preset=self.preset.model_dump(mode="json"),
            model_name=self.voice.model.name,
            model_version=self.voice.model.version,
            normalized_text=spoken_form(self.text, self.language),
            seed=self.preset.seed,
            language=self.language,
        )


@dataclass(frozen=True)
class Rendered:
    audio: np.ndarray  # float32 mono at MODEL_RATE
    segments: list[SegmentTiming] | None  # None when served from the cache
    cache: Literal["hit", "miss"]


class Cancelled(Exception):
    """The client went away; the synthesis stopped between segments."""


class Synthesizer:
    """Runs :class:`SpeechJob`s in worker threads, through the shared cache."""

    def __init__(
        self,
        *,
        connect: Callable[[], psycopg.Connection],
        cache: SynthesisCache | None,
        cache_max_bytes: int = 0,
        workers: int = 1,
    ) -> None:
        self._connect = connect
        self.cache = cache
        self.cache_max_bytes = cache_max_bytes
        self._puts = 0
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="synthesis")
        self.in_flight = 0

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self, function: Callable[..., object], *args: object) -> object:
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()  # the request id follows into the thread
        return await loop.run_in_executor(self._executor, lambda: context.run(function, *args))

    async def render(self, job: SpeechJob) -> Rendered:
        """The whole utterance (from the cache when this exact request was made before)."""
        self.in_flight += 1
        try:
            return await self._run(self._render, job)  # type: ignore[return-value]
        finally:
            self.in_flight -= 1

    def _render(self, job: SpeechJob) -> Rendered:
        key = job.cache_key
        cached = self._cached(key)
        if cached is not None:
            return Rendered(cached, None, "hit")
        model = job.voice.model
        with model.lock:
            result = model.engine.synthesize(job.text, job.voice.voice, job.preset, job.language)
        self._store(key, job, result.audio)
        return Rendered(result.audio, list(result.segments), "miss")

    async def stream(self, job: SpeechJob) -> AsyncIterator[tuple[np.ndarray, str]]:
        """Chunks as the engine decodes them, each with ``hit``/``miss``.

        Their concatenation equals :meth:`render`'s audio for the same job. Closing the
        iterator early (the client left) stops the engine before its next segment.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        stop = threading.Event()

        def put(kind: str, value: object) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

        def work() -> None:
            try:
                for item in self._chunks(job, stop):
                    put("chunk", item)
                put("done", None)
            except BaseException as exc:  # delivered to the request's task, raised there
                put("error", exc)

        self.in_flight += 1
        context = contextvars.copy_context()
        loop.run_in_executor(self._executor, lambda: context.run(work))
        try:
            while True:
                kind, value = await queue.get()
                if kind == "chunk":
                    yield value  # type: ignore[misc]
                elif kind == "error":
                    raise value  # type: ignore[misc]
                else:
                    break
        finally:
            stop.set()  # the worker ends before its next segment and frees the engine
            self.in_flight -= 1

    def _chunks(self, job: SpeechJob, stop: threading.Event) -> Iterator[tuple[np.ndarray, str]]:
        key = job.cache_key
        cached = self._cached(key)
        if cached is not None:
            yield cached, "hit"
            return
        model = job.voice.model
        pieces: list[np.ndarray] = []
        with model.lock:
            chunks = model.engine.stream(job.text, job.voice.voice, job.preset, job.language)
            for chunk in chunks:
                if stop.is_set():
                    raise Cancelled("the client went away")
                pieces.append(chunk)
                yield chunk, "miss"
        if pieces and not stop.is_set():
            self._store(key, job, np.concatenate(pieces))

    def _cached(self, key: str) -> np.ndarray | None:
        if self.cache is None:
            return None
        with self._connect() as conn:
            hit = self.cache.get(conn, key)
        return None if hit is None or hit.sample_rate != MODEL_RATE else hit.audio

    def _store(self, key: str, job: SpeechJob, audio: np.ndarray) -> None:
        if self.cache is None or audio.size == 0:
            return
        with self._connect() as conn:
            self.cache.put(
                conn, key, audio, MODEL_RATE, job.voice.model.name, job.voice.model.version
            )
