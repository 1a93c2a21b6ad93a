"""The service over HTTP: routes, formats, streaming, cache, ids, audit and bad input."""

from __future__ import annotations

import base64
import json

import httpx
import numpy as np
import pytest
from service_kit import OTHER_VOICE, VOICE, Service

from voicemill.audio.encode import AudioFormat, decode_audio, encode_audio

TEXT = "Hello there. This is a test."


def _speak(client: httpx.Client, **changes: object) -> httpx.Response:
    body = {"profile": VOICE, "text": TEXT, "format": "wav", **changes}
    return client.post("/v1/synthesize", json=body)


def test_health_readiness_metrics_and_docs(service: Service) -> None:
    assert httpx.get(f"{service.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{service.url}/readyz").json()
    assert ready["ready"] and ready["database"] and set(ready["voices"]) >= {VOICE, OTHER_VOICE}
    spec = httpx.get(f"{service.url}/openapi.json").json()
    assert {"/v1/audio/speech", "/v1/synthesize", "/v1/voices", "/v1/jobs"} <= set(spec["paths"])
    assert httpx.get(f"{service.url}/docs").status_code == 200
    metrics = httpx.get(f"{service.url}/metrics")
    assert metrics.status_code == 200 and "voicemill_requests_total" in metrics.text


def test_every_format_decodes_back(client: httpx.Client) -> None:
    durations = {}
    for fmt in AudioFormat:
        response = _speak(client, format=fmt.value)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith(fmt.content_type)
        assert response.headers["x-voice-profile-version"] == "1"
        assert response.headers["x-model-version"].startswith(f"voice-{VOICE}:")
        rate = 32_000 if fmt is not AudioFormat.OPUS else 48_000
        audio, decoded_rate = decode_audio(response.content, fmt, rate=32_000)
        assert decoded_rate == rate
        durations[fmt] = audio.shape[0] / decoded_rate
        assert abs(durations[fmt] - float(response.headers["x-audio-duration"])) < 0.1
    assert durations[AudioFormat.WAV] > 0.2


def test_streaming_is_token_chunked_and_equals_the_engine(
    client: httpx.Client, one_torch_thread: None
) -> None:
    body = {"profile": VOICE, "text": "One sentence here. And a second one.", "seed": 77}
    with client.stream("POST", "/v1/synthesize", json={**body, "stream": True}) as streamed:
        assert streamed.status_code == 200
        assert streamed.headers["x-cache"] == "miss"
        chunks = list(streamed.iter_bytes())
    again = client.post("/v1/synthesize", json={**body, "stream": True})
    assert again.headers["x-cache"] == "hit"  # the stream stored what it produced
    assert again.content == b"".join(chunks)
    whole = client.post("/v1/synthesize", json={**body, "format": "wav"})
    assert whole.headers["x-cache"] == "miss"  # a whole render is not the chunked audio
    streamed_audio, _ = decode_audio(b"".join(chunks), "wav")
    whole_audio, _ = decode_audio(whole.content, "wav")
    assert streamed_audio.shape == whole_audio.shape
    # Both are what the released voice says in this process, alone: the stream is the
    # engine's token-chunked render, the whole answer its whole render. Float sums of two
    # processes may differ in the last bit, which can flip the 16-bit rounding of a
    # handful of samples: one LSB, nothing more.
    for audio, chunked in ((streamed_audio, True), (whole_audio, False)):
        expected = _engine_speech(body, chunked)
        engine_audio, _ = decode_audio(encode_audio(expected, 32_000, "wav"), "wav")
        assert audio.shape == engine_audio.shape
        np.testing.assert_allclose(audio, engine_audio, rtol=0, atol=1.5 / 32767)
        assert np.mean(audio != engine_audio) < 1e-3
    assert not np.allclose(streamed_audio, whole_audio, atol=1e-3)


def _engine_speech(body: dict, chunked: bool = False) -> np.ndarray:
    """The same request synthesized in-process from the champion's verified files."""
    from voicemill.db.catalog import connect
    from voicemill.release.profiles import get_profile
    from voicemill.release.registry import alias_version
    from voicemill.release.voice_files import load_engine, open_release
    from voicemill.settings import get_settings
    from voicemill.tracking import open_client

    client = open_client()
    with connect() as conn:
        profile = get_profile(conn, body["profile"])
    version = alias_version(client, profile.model_name, "champion")
    release = open_release(client, profile.model_name, version, get_settings().cache_dir / "t")
    engine, _ = load_engine(release)
    voice = engine.prepare_voice(
        profile.reference_uri.removeprefix("file://"), profile.prompt_text, profile.language
    )
    preset = profile.presets["ivr"].model_copy(update={"seed": body["seed"]})
    if chunked:
        return engine.render_chunked(body["text"], voice, preset, "auto")
    return engine.synthesize(body["text"], voice, preset, "auto").audio


def test_identical_request_is_a_byte_identical_cache_hit(client: httpx.Client) -> None:
    first = _speak(client, format="mp3", seed=5)
    second = _speak(client, format="mp3", seed=5)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert first.content == second.content
    other_seed = _speak(client, format="mp3", seed=6)
    assert other_seed.headers["x-cache"] == "miss"


def test_json_answer_has_audio_and_segment_timings(client: httpx.Client) -> None:
    response = client.post(
        "/v1/synthesize",
        json={"profile": VOICE, "text": "First part. Second part.", "seed": 9, "format": "flac"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cache"] == "miss" and body["seed"] == 9 and body["format"] == "flac"
    assert len(body["segments"]) == 2
    assert body["segments"][0]["start_s"] == 0.0
    assert body["segments"][1]["start_s"] > body["segments"][0]["end_s"]
    audio, rate = decode_audio(base64.b64decode(body["audio_base64"]), "flac")
    assert abs(audio.shape[0] / rate - body["duration_s"]) < 0.01


def test_voices_list_versions_aliases_and_presets(client: httpx.Client) -> None:
    voices = client.get("/v1/voices").json()["voices"]
    ours = next(v for v in voices if v["name"] == VOICE)
    assert ours["model"] == f"voice-{VOICE}" and ours["champion_version"] is not None
    assert set(ours["presets"]) == {"ivr", "marketing"}
    one = client.get(f"/v1/voices/{VOICE}")
    assert one.status_code == 200 and one.json()["name"] == VOICE
    missing = client.get("/v1/voices/nobody")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_voice"


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"text": ""}, 400, "empty_text"),
        ({"text": "   \n "}, 400, "empty_text"),
        ({"text": "x" * 5000}, 422, "text_too_long"),
        ({"text": "😀🎉"}, 422, "nothing_to_say"),
        ({"profile": "nobody"}, 404, "unknown_voice"),
        ({"model": "voice-nobody"}, 400, "model_voice_mismatch"),
        ({"model": f"voice-{VOICE}@nope"}, 404, "unknown_model_version"),
        ({"model": f"voice-{VOICE}:999"}, 404, "unknown_model_version"),
        ({"model": "../../etc/passwd"}, 400, "invalid_model"),
        ({"use_case": "opera"}, 400, "unknown_use_case"),
        ({"format": "ogg"}, 422, "invalid_request"),
        ({"speed": 9.0}, 422, "invalid_request"),
        ({"reference": "/etc/passwd"}, 422, "invalid_request"),
        ({"stream": True, "format": "flac"}, 400, "format_not_streamable"),
    ],
)
def test_bad_input_gets_a_clear_4xx(
    client: httpx.Client, changes: dict, status: int, code: str
) -> None:
    response = _speak(client, **changes)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert error["request_id"] == response.headers["x-request-id"]


def test_malformed_bodies_and_wrong_content_types(client: httpx.Client, service: Service) -> None:
    headers = {"Content-Type": "application/json"}
    malformed = client.post("/v1/synthesize", content=b"{not json", headers=headers)
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "malformed_json"
    text_plain = client.post(
        "/v1/synthesize",
        content=json.dumps({"profile": VOICE}),
        headers={"Content-Type": "text/plain"},
    )
    assert text_plain.status_code == 415
    huge = client.post("/v1/synthesize", content=b"x" * (5 * 1024 * 1024), headers=headers)
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "body_too_large"
    unknown_route = client.get("/v1/nothing-here")
    assert unknown_route.status_code == 404
    assert unknown_route.json()["error"]["code"] == "not_found"


def test_request_id_is_honoured_and_audited(client: httpx.Client, service: Service) -> None:
    from voicemill.api.audit import get_request
    from voicemill.db.catalog import connect

    response = (
        _speak(client, seed=21, headers=None)
        if False
        else client.post(
            "/v1/synthesize",
            json={"profile": VOICE, "text": "Audit me.", "seed": 21},
            headers={"X-Request-ID": "test-audit-0001"},
        )
    )
    assert response.headers["x-request-id"] == "test-audit-0001"
    traced = client.post(
        "/v1/synthesize",
        json={"profile": VOICE, "text": "Trace me.", "seed": 21},
        headers={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
    )
    assert traced.headers["x-request-id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    with connect() as conn:
        row = get_request(conn, "test-audit-0001")
    assert row is not None and row.status == 200 and row.route == "/v1/synthesize"
    assert row.profile_id == VOICE and row.model_name == f"voice-{VOICE}"
    assert row.text is None and row.text_chars == len("Audit me.")
    assert row.audio_seconds and row.audio_seconds > 0 and row.latency_ms > 0
    lines = [json.loads(line) for line in service.log_text().splitlines() if line.startswith("{")]
    assert any(line.get("request_id") == "test-audit-0001" for line in lines)
