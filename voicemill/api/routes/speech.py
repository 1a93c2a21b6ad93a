"""``POST /v1/audio/speech``: OpenAI's speech API, for its clients unchanged.

``voice`` is a speaker profile, ``model`` a registered voice model (or OpenAI's generic
names, meaning the voice's own model); the voice's default use-case preset applies,
with ``speed`` from the request. Streamable formats go out chunked as each sentence
is decoded; ``stream_format=sse`` sends ``speech.audio.delta`` events with base64
audio and a final ``speech.audio.done``. ``pcm`` is 32 kHz 16-bit little-endian mono
(OpenAI's is 24 kHz; this service says its own rate).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from voicemill.api.deps import State, require_json, synthesize_key
from voicemill.api.errors import ApiError
from voicemill.api.keys import ApiKey
from voicemill.api.schemas import SpeechRequest
from voicemill.api.speak import (
    Output,
    prepare,
    schedule,
    streaming_response,
    whole_response,
)
from voicemill.audio.encode import AudioFormat

router = APIRouter(prefix="/v1/audio", tags=["speech"])

_AUDIO_RESPONSES = {
    200: {
        "description": "The audio, in the requested format (or SSE events).",
        "content": {
            **{fmt.content_type: {} for fmt in AudioFormat},
            "text/event-stream": {},
        },
    }
}


@router.post(
    "/speech",
    summary="Speak text with a released voice (OpenAI-compatible).",
    response_class=Response,
    responses=_AUDIO_RESPONSES,
    dependencies=[Depends(require_json)],
)
async def speech(
    body: SpeechRequest,
    request: Request,
    state: State,
    key: Annotated[ApiKey, Depends(synthesize_key)],
) -> Response:
    if body.instructions:
        raise ApiError(
            "instructions_not_supported",
            "voices speak with fixed presets; leave instructions empty",
        )
    job = await prepare(
        request,
        state,
        key,
        profile_id=body.voice,
        text=body.input,
        language="auto",
        model=body.model,
        overrides={"speed": body.speed if body.speed != 1.0 else None},
    )
    output = Output(body.response_format)
    plan = schedule(request, state)
    if body.stream_format == "sse":
        return await streaming_response(request, state, job, output, plan, sse=True)
    if output.format.streamable:
        return await streaming_response(request, state, job, output, plan)
    response, _, _ = await whole_response(request, state, job, output, plan)
    return response
