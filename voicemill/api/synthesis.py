"""Running a request's synthesis: the cache first, then a worker through the pool.

The models run in worker processes (:mod:`voicemill.api.pool`); the service process
only resolves, admits, caches and encodes. Identical requests (profile version, use
case, preset, model version, spoken text, seed, language) are answered from the
platform's synthesis cache, the one campaigns fill (:mod:`voicemill.campaign.cache`):
raw float32 audio, encoded per request by a deterministic encoder, so a hit's bytes
equal the miss's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from fastapi.concurrency import run_in_threadpool

from voicemill.api.pool import Lane, WorkerPool
from voicemill.api.voices import ResolvedVoice
from voicemill.api.worker import WorkItem
from voicemill.synthesis.types import InferencePreset, SegmentTiming

if TYPE_CHECKING:
    import psycopg

    from voicemill.campaign.cache import SynthesisCache

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
    request_id: str = ""

    def cache_key(self, chunked: bool = False) -> str:
        """Streamed audio is vocoded in token chunks (``chunked``): cached apart from
        whole renders."""
        from voicemill.campaign.cache import request_key
        from voicemill.campaign.keys import spoken_form

        profile = self.voice.profile
        return request_key(
            profile_id=profile.profile_id,
            profile_version=profile.version,
            use_case=self.use_case,
            preset=self.preset.model_dump(mode="json"),
            model_name=self.voice.model_name,
            model_version=self.voice.model_version,
            normalized_text=spoken_form(self.text, self.language),
            seed=self.preset.seed,
            language=self.language,
            chunked=chunked,
        )

    def work_item(self, handle: int, stream: bool = False) -> WorkItem:
        profile = self.voice.profile
        return WorkItem(
            handle=handle,
            request_id=self.request_id,
            model_name=self.voice.model_name,
            model_version=self.voice.model_version,
            reference_path=str(self.voice.reference_path),
            prompt_text=profile.prompt_text,
            voice_language=profile.language,
            text=self.text,
            language=self.language,
            preset=self.preset.model_dump(mode="json"),
            stream=stream,
        )


@dataclass(frozen=True)
class Rendered:
    audio: np.ndarray  # float32 mono at MODEL_RATE
    segments: list[SegmentTiming] | None  # None when served from the cache
    cache: Literal["hit", "miss"]


class Synthesizer:
    """Runs :class:`SpeechJob`s through the cache and the worker pool."""

    def __init__(
        self,
        *,
        connect: Callable[[], psycopg.Connection],
        cache: SynthesisCache | None,
        pool: WorkerPool,
        cache_max_bytes: int = 0,
    ) -> None:
        self._connect = connect
        self.cache = cache
        self.pool = pool
        self.cache_max_bytes = cache_max_bytes
        self._puts = 0

    async def render(self, job: SpeechJob, lane: Lane, deadline: float) -> Rendered:
        """The whole utterance (from the cache when this exact request was made before)."""
        key = job.cache_key()
        cached = await run_in_threadpool(self._cached, key)
        if cached is not None:
            return Rendered(cached, None, "hit")
        pieces: list[np.ndarray] = []
        timings: list[SegmentTiming] = []
        chunks = self.pool.run(job.work_item(self.pool.new_handle()), lane, deadline)
        try:
            async for chunk, timing in chunks:
                pieces.append(chunk)
                if timing is not None:
                    timings.append(SegmentTiming.model_validate(timing))
        finally:
            await chunks.aclose()
        audio = np.concatenate(pieces).astype(np.float32, copy=False)
        await run_in_threadpool(self._store, key, job, audio)
        return Rendered(audio, timings, "miss")

    async def stream(
        self, job: SpeechJob, lane: Lane, deadline: float
    ) -> AsyncIterator[tuple[np.ndarray, str]]:
        """Chunks as the worker decodes them (token-chunked), each with ``hit``/``miss``.

        A whole render already cached is sent as is; else the streamed render (cached
        under its own key). Closing the iterator early (the client left) cancels the work
        in the worker.
        """
        for key in (job.cache_key(), job.cache_key(chunked=True)):
            cached = await run_in_threadpool(self._cached, key)
            if cached is not None:
                yield cached, "hit"
                return
        pieces: list[np.ndarray] = []
        chunks = self.pool.run(job.work_item(self.pool.new_handle(), stream=True), lane, deadline)
        try:
            async for chunk, _timing in chunks:
                pieces.append(chunk)
                yield chunk, "miss"
        finally:
            await chunks.aclose()
        await run_in_threadpool(
            self._store, job.cache_key(chunked=True), job, np.concatenate(pieces)
        )

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
                conn, key, audio, MODEL_RATE, job.voice.model_name, job.voice.model_version
            )
        self._puts += 1
        if self.cache_max_bytes and self._puts % EVICT_EVERY == 1:
            with self._connect() as conn:
                self.cache.evict(conn, self.cache_max_bytes)
