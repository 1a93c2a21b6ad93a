"""The service next to the rest of the platform: champion changes, the batch lane, files."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import httpx
import pytest
from service_kit import OTHER_VOICE, Service

SPEC = {
    "voice_profile": OTHER_VOICE,
    "preset": "ivr",
    "language": "en",
    "output_format": "wav",
    "templates": [{"id": "hi", "text": "Hello {{ first_name }}, thanks for calling."}],
    "shard_size": 4,
    "max_failure_rate": 0.5,
    "loudness_lufs": -20.0,
}
ROWS = [{"recipient_id": f"r{i}", "template_id": "hi", "first_name": n} for i, n in
        enumerate(["Ava", "Ben", "Cleo"])]  # fmt: skip


def test_a_promoted_champion_is_served_within_seconds(
    service: Service, client: httpx.Client, tmp_path: Path
) -> None:
    from voicemill.release.tiny_voice import register_tiny_voice
    from voicemill.synthesis.types import InferencePreset

    body = {"profile": OTHER_VOICE, "text": "Which version speaks?", "seed": 3}
    before = client.post("/v1/synthesize", json=body).headers["x-model-version"]
    presets = {"ivr": InferencePreset(top_k=5, seed=11, max_new_tokens=40),
               "marketing": InferencePreset(top_k=15, seed=12, max_new_tokens=40)}  # fmt: skip
    version = register_tiny_voice(tmp_path, OTHER_VOICE, presets, seed=5)  # promoted at once
    promoted_at = time.monotonic()
    expected = f"voice-{OTHER_VOICE}:{version}"
    assert before != expected
    while time.monotonic() - promoted_at < 5:
        response = client.post("/v1/synthesize", json=body)
        assert response.status_code == 200  # never a failed request while switching
        if response.headers["x-model-version"] == expected:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"still {response.headers['x-model-version']} 5 s after the promotion")
    pinned = client.post("/v1/synthesize", json={**body, "model": before})
    assert pinned.headers["x-model-version"] == before  # older versions stay addressable


def test_a_job_is_submitted_delivered_by_dagster_and_readable(
    service: Service, client: httpx.Client, api_key: str
) -> None:
    import dagster as dg

    from voicemill.orchestration.definitions import defs
    from voicemill.orchestration.resources import CampaignResource, PostgresResource
    from voicemill.orchestration.sensors import campaign_inbox_sensor
    from voicemill.orchestration.workflows import deliver_campaign

    response = client.post(
        "/v1/jobs", json={"spec": {**SPEC, "campaign_id": "api-job"}, "recipients": ROWS}
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["id"] == "api-job" and job["status"] == "submitted"
    assert job["counts"]["total"] == 0 and job["run_id"] is None
    again = client.post(
        "/v1/jobs", json={"spec": {**SPEC, "campaign_id": "api-job"}, "recipients": ROWS[:1]}
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "campaign_exists"

    # What Dagster's daemon does with it: the campaign sensor asks for its run ...
    instance = dg.DagsterInstance.get()
    context = dg.build_sensor_context(instance=instance, definitions=defs)
    result = campaign_inbox_sensor(
        context, campaigns=CampaignResource(), postgres=PostgresResource()
    )
    assert "api-job" in [r.partition_key for r in result.run_requests]
    # ... and a run of deliver_campaign delivers the partition.
    assert deliver_campaign("api-job", instance)

    done = client.get("/v1/jobs/api-job").json()
    assert done["status"] == "completed" and done["counts"]["published"] == 3
    assert done["run_id"] and done["deliveries_url"].endswith("/api-job/")
    report = client.get(done["report_url"])
    assert report.status_code == 200 and "api-job" in report.text
    assert client.get("/v1/jobs/nothing").status_code == 404


def test_a_job_can_come_as_a_form_with_a_csv_file(client: httpx.Client) -> None:
    csv_text = "recipient_id,template_id,first_name\nf1,hi,Zoe\n"
    response = client.post(
        "/v1/jobs",
        data={"spec": json.dumps({**SPEC, "campaign_id": "api-form-job"})},
        files={"recipients": ("recipients.csv", io.BytesIO(csv_text.encode()), "text/csv")},
    )
    assert response.status_code == 202, response.text
    assert response.json()["id"] == "api-form-job"
    bad = client.post("/v1/jobs", json={"spec": {"campaign_id": "x"}, "recipients": ROWS})
    assert bad.status_code == 400 and bad.json()["error"]["code"]  # the spec's own reason


def test_a_key_without_the_jobs_scope_cannot_submit(service: Service) -> None:
    from voicemill.api.keys import create_key
    from voicemill.db.catalog import connect

    with connect() as conn:
        _, key = create_key(conn, "speech-only", ["synthesize"])
    response = httpx.post(
        f"{service.url}/v1/jobs",
        json={"spec": {**SPEC, "campaign_id": "nope"}, "recipients": ROWS},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 403
