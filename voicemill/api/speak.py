"""Turning a validated request into audio bytes: checks, admission, synthesis, encoding.

Both speech routes (OpenAI's and the native one) come through here, so they refuse
the same things the same way: empty or over-long text, a voice the key may not use,
a key over its limits, an unknown voice or model, a preset override the profile
does not allow. Streaming answers wait for the first chunk before sending headers,
so a text that cannot be spoken is still a clean 4xx, and the time to first audio
is the time to the first chunk.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from voicemill.api.deps import admit
from voicemill.api.errors import ApiError
from voicemill.api.keys import ApiKey
from voicemill.api.pool import Lane
from voicemill.api.state import ServiceState
from voicemill.api.synthesis import MODEL_RATE, Rendered, SpeechJob
from voicemill.audio.encode import AudioFormat, StreamEncoder, encode_audio, output_rate

# The preset fields a request may override; the rest are the profile's frozen choice.
OVERRIDABLE = ("seed", "speed")


@dataclass(frozen=True)
class Schedule:
    """Where a request queues and how long it may take."""

    lane: Lane = "realtime"
    deadline: float = 0.0  # time.monotonic() by which it must be done


def schedule(request: Request, state: ServiceState, lane: Lane = "realtime") -> Schedule:
    """The lane and the deadline (``X-Request-Timeout`` seconds, capped by the setting)."""
    limit = state.settings.api_request_timeout_s
    header = request.headers.get("x-request-timeout")
    timeout = limit
    if header is not None:
        try:
            timeout = float(header)
        except ValueError:
            raise ApiError("invalid_timeout", "X-Request-Timeout is a number of seconds") from None
        if not 0 < timeout <= limit:
            raise ApiError("invalid_timeout", f"X-Request-Timeout must be in (0, {limit:g}] s")
    return Schedule(lane, time.monotonic() + timeout)


@dataclass(frozen=True)
class Output:
    """How the audio leaves: format, rate, loudness, streamed or whole."""

    format: AudioFormat
    sample_rate: int | None = None  # None: the model's (or the codec's nearest)
    loudness_lufs: float | None = None
    stream: bool = False

    @property
    def rate(self) -> int:
        return output_rate(self.format, self.sample_rate or MODEL_RATE)


async def prepare(
    request: Request,
    state: ServiceState,
    key: ApiKey,
    *,
    profile_id: str,
    text: str,
    language: str,
    profile_version: int | None = None,
    model: str | None = None,
    use_case: str | None = None,
    overrides: dict[str, float | int | None] | None = None,
) -> SpeechJob:
    """A resolved, admitted job; every refusal is an :class:`ApiError`."""
    audit = request.state.audit
    audit.note(profile_id=profile_id, text=text)  # stored as a hash unless configured
    limit = state.settings.api_max_text_chars
    if not text.strip():
        raise ApiError("empty_text", "the text is empty")
    if len(text) > limit:
        raise ApiError(
            "text_too_long", f"the text has {len(text)} characters; the limit is {limit}"
        )
    await run_in_threadpool(admit, state, key, profile_id, len(text))
    resolved = await run_in_threadpool(state.catalog.resolve, profile_id, profile_version, model)
    profile = resolved.profile
    name = use_case or state.settings.api_default_use_case
    if use_case is None and name not in profile.presets:
        name = next(iter(profile.presets))
    if name not in profile.presets:
        raise ApiError(
            "unknown_use_case",
            f"voice {profile_id!r} has presets {sorted(profile.presets)}, not {name!r}",
        )
    changes = {k: v for k, v in (overrides or {}).items() if v is not None}
    refused = sorted(set(changes) - set(OVERRIDABLE))
    if refused:
        raise ApiError(
            "override_not_allowed", f"presets are frozen except {OVERRIDABLE}: {refused}"
        )
    preset = profile.presets[name].model_copy(update=changes)
    audit.note(
        profile_version=profile.version,
        model_name=resolved.model_name,
        model_version=resolved.model_version,
        preset={"use_case": name, **preset.model_dump(mode="json")},
    )
    return SpeechJob(resolved, name, preset, text, language, audit.request_id)


def voice_headers(job: SpeechJob) -> dict[str, str]:
    return {
        "X-Voice-Profile-Version": str(job.voice.profile.version),
        "X-Model-Version": f"{job.voice.model_name}:{job.voice.model_version}",
    }


async def render(request: Request, state: ServiceState, job: SpeechJob, plan: Schedule) -> Rendered:
    """The whole utterance; counts the cache result and the audio produced."""
    rendered = await state.synthesizer.render(job, plan.lane, plan.deadline)
    audit = request.state.audit
    audit.note(cache=rendered.cache, audio_seconds=rendered.audio.shape[0] / MODEL_RATE)
    state.metrics.cache.labels(rendered.cache).inc()
    return rendered


def finish_audio(audio: np.ndarray, output: Output) -> tuple[np.ndarray, int]:
    """Resample and (when asked) normalize loudness; returns the audio and its rate."""
    if output.loudness_lufs is not None:
        from voicemill.campaign.postprocess import PostprocessSettings, postprocess

        settings = PostprocessSettings(loudness_lufs=output.loudness_lufs, output_format="wav")
        processed = postprocess(audio, MODEL_RATE, settings)
        audio = np.asarray(processed.audio)
    rate = output.sample_rate or MODEL_RATE
    if rate != MODEL_RATE:
        import soxr

        audio = soxr.resample(audio, MODEL_RATE, rate, quality="HQ").astype(np.float32)
    return audio, rate


async def whole_response(
    request: Request, state: ServiceState, job: SpeechJob, output: Output, plan: Schedule
) -> tuple[Response, Rendered, bytes]:
    rendered = await render(request, state, job, plan)
    audio, rate = finish_audio(rendered.audio, output)
    data = await run_in_threadpool(encode_audio, audio, rate, output.format)
    request.state.audit.mark_first_audio()
    headers = {
        **voice_headers(job),
        "X-Audio-Duration": f"{audio.shape[0] / rate:.3f}",
        "X-Cache": rendered.cache,
    }
    response = Response(data, media_type=output.format.content_type, headers=headers)
    return response, rendered, data


async def streaming_response(
    request: Request,
    state: ServiceState,
    job: SpeechJob,
    output: Output,
    plan: Schedule,
    *,
    sse: bool = False,
) -> StreamingResponse:
    """Audio (or OpenAI's SSE events) sent as each segment is decoded."""
    if output.loudness_lufs is not None:
        raise ApiError("stream_not_supported", "loudness normalization needs the whole clip")
    if not output.format.streamable:
        raise ApiError(
            "format_not_streamable", f"{output.format} cannot be streamed; ask for it whole"
        )
    chunks = state.synthesizer.stream(job, plan.lane, plan.deadline)
    try:
        first, cache = await anext(chunks)  # text errors surface here, before any header
    except StopAsyncIteration:
        raise ApiError("nothing_to_say", "no audio was produced") from None
    audit = request.state.audit
    audit.note(cache=cache)
    state.metrics.cache.labels(cache).inc()
    resampler = None
    if output.sample_rate and output.sample_rate != MODEL_RATE:
        import soxr

        resampler = soxr.ResampleStream(MODEL_RATE, output.sample_rate, 1, "float32", quality="HQ")
    encoder = StreamEncoder(output.format, output.sample_rate or MODEL_RATE)

    def convert(chunk: np.ndarray, last: bool = False) -> np.ndarray:
        return resampler.resample_chunk(chunk, last=last) if resampler is not None else chunk

    async def body() -> AsyncIterator[bytes]:
        produced = 0
        try:
            pending = [first]
            while True:
                for chunk in pending:
                    produced += chunk.shape[0]
                    data = encoder.push(convert(chunk))
                    if data:
                        audit.mark_first_audio()
                        yield _sse_delta(data) if sse else data
                try:
                    chunk, _ = await anext(chunks)
                except StopAsyncIteration:
                    break
                pending = [chunk]
            tail = encoder.push(convert(np.zeros(0, np.float32), last=True)) if resampler else b""
            tail += encoder.finish()
            audit.mark_first_audio()
            audit.note(audio_seconds=produced / MODEL_RATE)
            if sse:
                yield _sse_delta(tail) if tail else b""
                yield _sse_done(produced / MODEL_RATE)
            else:
                yield tail
        finally:
            encoder.close()
            await chunks.aclose()  # a client that left stops the engine at its next segment

    media_type = "text/event-stream" if sse else output.format.content_type
    headers = {**voice_headers(job), "X-Cache": cache}
    return StreamingResponse(body(), media_type=media_type, headers=headers)


def _sse_delta(data: bytes) -> bytes:
    event = {"type": "speech.audio.delta", "audio": base64.b64encode(data).decode("ascii")}
    return f"data: {json.dumps(event)}\n\n".encode()


def _sse_done(seconds: float) -> bytes:
    event = {
        "type": "speech.audio.done",
        "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0},
        "audio_seconds": round(seconds, 3),
    }
    return f"data: {json.dumps(event)}\n\n".encode()
