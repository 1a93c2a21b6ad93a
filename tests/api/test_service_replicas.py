"""Two `voicemill serve` replicas on one database behave as one service.

Replica A is the package's service; replica B is a second process on another port with
the same settings, as two replicas behind a load balancer would run. Keys, limits, the
audit trail, the synthesis cache and champion changes live in PostgreSQL, the registry
and the shared state directory, never only in one process's memory.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_kit import VOICE, Service, running_service

SPEECH = {"model": "tts-1", "voice": VOICE, "input": "Replicas share one state."}


@pytest.fixture(scope="module")
def replica(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(tmp_path_factory.mktemp("replica") / "service.log") as second:
        yield second


@pytest.fixture(scope="module")
def admin_key(platform_home: Path) -> str:
    from voicemill.api.keys import create_key
    from voicemill.db.catalog import connect

    with connect() as conn:
        _, key = create_key(conn, "replicas-admin", ["admin"])
    return key


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _voice_version(service: Service, key: str, name: str) -> str:
    response = httpx.post(
        f"{service.url}/v1/synthesize",
        json={"profile": name, "text": "Which version speaks?", "seed": 3},
        headers=_bearer(key),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.headers["x-model-version"]


def test_keys_made_or_revoked_through_one_replica_hold_on_both(
    service: Service, replica: Service, admin_key: str
) -> None:
    created = httpx.post(
        f"{service.url}/v1/keys",
        json={"name": "replica-client", "scopes": ["synthesize"], "rpm": 3},
        headers=_bearer(admin_key),
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    listed = httpx.get(f"{replica.url}/v1/keys", headers=_bearer(admin_key)).json()
    assert "replica-client" in {k["name"] for k in listed["keys"]}
    assert all("key" not in k for k in listed["keys"])  # secrets are never listed
    refused = httpx.get(f"{replica.url}/v1/keys", headers=_bearer(key))
    assert refused.json()["error"]["code"] == "scope_not_allowed"

    # One rate limit across replicas: 3 requests a minute, whichever replica answers. The
    # window is the clock's minute: start early in one so all four requests share it.
    if time.time() % 60 > 40:
        time.sleep(61 - time.time() % 60)
    statuses = [
        httpx.post(f"{target.url}/v1/audio/speech", json=SPEECH, headers=_bearer(key), timeout=60)
        for target in (service, replica, service, replica)
    ]
    assert [r.status_code for r in statuses[:3]] == [200, 200, 200], statuses[0].text
    assert statuses[3].status_code == 429
    assert statuses[3].json()["error"]["code"] == "rate_limited"
    # One cache: the same request through the other replica is a hit.
    assert statuses[0].headers["x-cache"] == "miss" and statuses[1].headers["x-cache"] == "hit"
    # One audit trail: both replicas' request ids are in the shared table.
    from voicemill.api.audit import get_request
    from voicemill.db.catalog import connect

    def audited(response: httpx.Response) -> bool:  # rows are written after the answer
        with connect() as conn:
            record = get_request(conn, response.headers["x-request-id"])
        return record is not None and record.status == response.status_code

    deadline = time.monotonic() + 10
    while not all(audited(r) for r in statuses):
        assert time.monotonic() < deadline, "a request is missing from the shared audit table"
        time.sleep(0.2)

    revoked_at = time.monotonic()
    revoked = httpx.delete(f"{replica.url}/v1/keys/replica-client", headers=_bearer(admin_key))
    assert revoked.status_code == 204
    while True:
        codes = [
            httpx.get(f"{target.url}/v1/voices", headers=_bearer(key)).status_code
            for target in (service, replica)
        ]
        if codes == [401, 401]:
            break
        assert time.monotonic() - revoked_at < 5, f"still {codes} 5 s after the revocation"
        time.sleep(0.2)
    again = httpx.delete(f"{service.url}/v1/keys/replica-client", headers=_bearer(admin_key))
    assert again.json()["error"]["code"] == "unknown_key"


def test_only_admin_keys_submit_urgent_jobs(service: Service, api_key: str) -> None:
    spec = {"campaign_id": "replicas-urgent", "voice_profile": VOICE, "priority": "urgent",
            "templates": [{"id": "hi", "text": "Hello {{ first_name }}."}]}  # fmt: skip
    body = {"spec": spec, "recipients": [{"recipient_id": "r1", "first_name": "Ava"}]}
    refused = httpx.post(f"{service.url}/v1/jobs", json=body, headers=_bearer(api_key))
    assert refused.status_code == 403, refused.text
    assert "urgent" in refused.json()["error"]["message"]


def test_a_promotion_and_a_rollback_are_served_by_both_replicas(
    service: Service, replica: Service, api_key: str, tmp_path: Path
) -> None:
    from voicemill.db.catalog import connect
    from voicemill.orchestration.resources import MlflowResource
    from voicemill.release.registry import rollback
    from voicemill.release.tiny_voice import register_tiny_voice
    from voicemill.synthesis.types import InferencePreset

    before = _voice_version(service, api_key, VOICE)
    assert _voice_version(replica, api_key, VOICE) == before
    presets = {"ivr": InferencePreset(top_k=5, seed=11, max_new_tokens=40),
               "marketing": InferencePreset(top_k=15, seed=12, max_new_tokens=40)}  # fmt: skip

    def served_by_both(expected: str) -> None:
        changed_at = time.monotonic()
        while True:
            versions = [_voice_version(target, api_key, VOICE) for target in (service, replica)]
            if versions == [expected, expected]:
                return
            assert time.monotonic() - changed_at < 10, f"{versions} 10 s after the change"
            time.sleep(0.2)

    version = register_tiny_voice(tmp_path, VOICE, presets, seed=7)  # promoted at once
    served_by_both(f"voice-{VOICE}:{version}")
    with connect() as conn:
        rollback(
            MlflowResource().client(), conn, name=f"voice-{VOICE}", actor="tests", reason="replicas"
        )
    served_by_both(before)
