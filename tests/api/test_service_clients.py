"""Real clients against the service: the official openai package, keys and their limits."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
from service_kit import OTHER_VOICE, VOICE, Service

from voicemill.audio.encode import decode_audio


def _key(name: str, **options: object) -> str:
    from voicemill.api.keys import create_key
    from voicemill.db.catalog import connect

    with connect() as conn:
        _, key = create_key(conn, name, **options)
    return key


def test_openai_client_round_trip(service: Service, api_key: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{service.url}/v1", api_key=api_key, max_retries=0)
    speech = client.audio.speech.create(
        model=f"voice-{VOICE}", voice=VOICE, input="Hello from the openai client.",
        response_format="wav",
    )  # fmt: skip
    audio, rate = decode_audio(speech.content, "wav")
    assert rate == 32_000 and audio.shape[0] > 0.2 * rate
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice=VOICE, input="Streaming, please.", response_format="mp3", speed=1.2
    ) as streamed:
        assert streamed.headers["content-type"] == "audio/mpeg"
        data = b"".join(streamed.iter_bytes())
    assert decode_audio(data, "mp3")[0].shape[0] > 0


def test_openai_sse_stream_format(service: Service, api_key: str) -> None:
    body = {"model": "tts-1", "voice": VOICE, "input": "Events.", "stream_format": "sse",
            "response_format": "pcm"}  # fmt: skip
    with httpx.stream(
        "POST", f"{service.url}/v1/audio/speech", json=body,
        headers={"Authorization": f"Bearer {api_key}"}, timeout=60,
    ) as response:  # fmt: skip
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [
            json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")
        ]
    assert events[-1]["type"] == "speech.audio.done"
    deltas = [e for e in events if e["type"] == "speech.audio.delta"]
    pcm = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    assert len(pcm) > 0 and len(pcm) % 2 == 0


def test_openai_errors_keep_the_openai_client_informed(service: Service, api_key: str) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{service.url}/v1", api_key=api_key, max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        client.audio.speech.create(model="tts-1", voice="nobody", input="Hi.")
    assert caught.value.body["code"] == "unknown_voice"  # the client unwraps "error"
    with pytest.raises(openai.BadRequestError):
        client.audio.speech.create(model="tts-1", voice=VOICE, input="Hi.", instructions="sing")


def test_keys_authenticate_and_scope(service: Service) -> None:
    url = f"{service.url}/v1/synthesize"
    body = {"profile": VOICE, "text": "Who are you?"}
    missing = httpx.post(url, json=body)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"
    wrong = httpx.post(url, json=body, headers={"Authorization": "Bearer vm_abcdefgh_nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    jobs_only = _key("jobs-only", scopes=["jobs"])
    scoped = httpx.post(url, json=body, headers={"Authorization": f"Bearer {jobs_only}"})
    assert scoped.status_code == 403 and scoped.json()["error"]["code"] == "scope_not_allowed"
    one_voice = _key("one-voice", scopes=["synthesize"], voices=[OTHER_VOICE])
    headers = {"Authorization": f"Bearer {one_voice}"}
    assert httpx.post(url, json=body, headers=headers, timeout=60).status_code == 403
    other = httpx.post(url, json={**body, "profile": OTHER_VOICE}, headers=headers, timeout=60)
    assert other.status_code == 200
    listed = httpx.get(f"{service.url}/v1/voices", headers=headers).json()["voices"]
    assert [v["name"] for v in listed] == [OTHER_VOICE]
    for response in (missing, wrong, scoped):  # the key never comes back
        assert "nope" not in response.text and jobs_only not in response.text


def test_rate_limit_answers_429_with_retry_after(service: Service) -> None:
    url = f"{service.url}/v1/synthesize"
    for _attempt in range(3):  # a minute boundary between requests resets the window
        key = _key(f"limited-{time.time_ns()}", scopes=["synthesize"], rpm=2)
        headers = {"Authorization": f"Bearer {key}"}
        codes = [
            httpx.post(
                url, json={"profile": VOICE, "text": "Once more."}, headers=headers, timeout=60
            )
            for _ in range(3)
        ]
        if [r.status_code for r in codes] == [200, 200, 429]:
            break
    refused = codes[-1]
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60


def test_revoking_a_key_takes_effect_on_the_next_request(service: Service) -> None:
    from voicemill.api.keys import revoke_key
    from voicemill.db.catalog import connect

    key = _key("soon-revoked", scopes=["synthesize"])
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{service.url}/v1/voices", headers=headers).status_code == 200
    with connect() as conn:
        assert revoke_key(conn, "soon-revoked")
    refused = httpx.get(f"{service.url}/v1/voices", headers=headers)
    assert refused.status_code == 401
    assert key not in service.log_text()  # keys never reach the log
