"""``POST /v1/synthesize``: the native route, with the platform's own notions.

Profile version, use-case preset (frozen; only ``seed`` and ``speed`` may be changed
per request), language, output rate and loudness. The answer is the audio with
``X-Request-ID``, ``X-Voice-Profile-Version``, ``X-Model-Version``,
``X-Audio-Duration`` and ``X-Cache`` headers, streamed when ``stream`` is set, or,
with ``Accept: application/json``, a JSON body with the base64 audio and where each
text segment lies in it.
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from starlette.responses import Response

from voicemill.api.deps import State, require_json, synthesize_key
from voicemill.api.errors import ApiError
from voicemill.api.keys import ApiKey
from voicemill.api.schemas import SegmentTiming, SynthesizeRequest, SynthesizeResponse
from voicemill.api.speak import (
    Output,
    prepare,
    schedule,
    streaming_response,
    whole_response,
)
from voicemill.audio.encode import AudioFormat

router = APIRouter(prefix="/v1", tags=["speech"])


@router.post(
    "/synthesize",
    summary="Speak text with a voice profile's preset (native).",
    response_class=Response,
    responses={
        200: {
            "model": SynthesizeResponse,  # the application/json form
            "description": "The audio, or with Accept: application/json its JSON form.",
            "content": {fmt.content_type: {} for fmt in AudioFormat},
        }
    },
    dependencies=[Depends(require_json)],
)
async def synthesize(
    body: SynthesizeRequest,
    request: Request,
    state: State,
    key: Annotated[ApiKey, Depends(synthesize_key)],
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    wants_json = accept is not None and "application/json" in accept.lower()
    if wants_json and body.stream:
        raise ApiError("stream_not_supported", "a JSON answer cannot be streamed")
    job = await prepare(
        request,
        state,
        key,
        profile_id=body.profile,
        profile_version=body.profile_version,
        model=body.model,
        use_case=body.use_case,
        text=body.text,
        language=body.language,
        overrides={"seed": body.seed, "speed": body.speed},
    )
    output = Output(body.format, body.sample_rate, body.loudness_lufs, body.stream)
    plan = schedule(request, state, body.priority)
    if body.stream:
        return await streaming_response(request, state, job, output, plan)
    response, rendered, data = await whole_response(request, state, job, output, plan)
    if not wants_json:
        return response
    profile = job.voice.profile
    answer = SynthesizeResponse(
        request_id=request.state.audit.request_id,
        profile=profile.profile_id,
        profile_version=profile.version,
        model=job.voice.model_name,
        model_version=job.voice.model_version,
        use_case=job.use_case,
        seed=job.preset.seed,
        format=output.format,
        content_type=output.format.content_type,
        sample_rate=output.rate,
        duration_s=float(response.headers["X-Audio-Duration"]),
        cache=rendered.cache,
        segments=None
        if rendered.segments is None
        else [SegmentTiming.model_validate(s, from_attributes=True) for s in rendered.segments],
        audio_base64=base64.b64encode(data).decode("ascii"),
    )
    return Response(
        answer.model_dump_json(),
        media_type="application/json",
        headers={k: v for k, v in response.headers.items() if k.lower().startswith("x-")},
    )
