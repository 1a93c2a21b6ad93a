"""The API service's request audit trail on a real PostgreSQL."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from voicemill.api.audit import (
    AuditError,
    RequestRecord,
    get_request,
    recent_requests,
    record_request,
)
from voicemill.db.catalog import connect

TEXT = "Your parcel arrives tomorrow between nine and noon."


def _record(**changes) -> RequestRecord:
    fields = {
        "request_id": uuid.uuid4().hex,
        "key_id": "abcd1234",
        "route": "/v1/synthesize",
        "method": "POST",
        "status": 200,
        "profile_id": "en-m3",
        "profile_version": 2,
        "model_name": "voice-en_m3",
        "model_version": "7",
        "preset": {"top_k": 5, "temperature": 0.7, "seed": 1234},
        "text": TEXT,
        "audio_seconds": 2.5,
        "time_to_first_audio_ms": 180.0,
        "latency_ms": 950.5,
        "cache": "miss",
        "client": "curl/8.5.0",
    }
    return RequestRecord(**{**fields, **changes})


def test_round_trip_without_text(platform_home: Path) -> None:
    record = _record()
    assert record.text_sha256 == hashlib.sha256(TEXT.encode()).hexdigest()
    assert record.text_chars == len(TEXT)
    with connect() as conn:
        assert record_request(conn, record) is True
        assert record_request(conn, record) is True  # a reused request id: a row each
        count = conn.execute(
            "SELECT count(*) AS n FROM api_requests WHERE request_id = %s", (record.request_id,)
        ).fetchone()["n"]
        stored = get_request(conn, record.request_id)
        raw = conn.execute(
            "SELECT t::text AS s FROM api_requests t WHERE request_id = %s LIMIT 1",
            (record.request_id,),
        ).fetchone()["s"]
    assert count == 2
    assert stored is not None and stored.received_at is not None
    assert stored.text is None and TEXT not in raw  # only the hash and length
    expected = record.model_dump(exclude={"received_at", "text"})
    assert stored.model_dump(exclude={"received_at", "text"}) == expected


def test_text_only_with_the_flag_and_errors_recorded(platform_home: Path) -> None:
    kept = _record(text="Hello\x00there")
    failed = _record(
        key_id=None,
        status=401,
        error_code="invalid_api_key",
        text=None,
        profile_id=None,
        profile_version=None,
        model_name=None,
        model_version=None,
        preset=None,
        audio_seconds=None,
        time_to_first_audio_ms=None,
        cache=None,
        client="bot vm_abcd1234_SECRETsecretSECRETsecret",
        received_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    with connect() as conn:
        record_request(conn, kept, store_text=True)
        record_request(conn, failed)
        got = get_request(conn, kept.request_id)
        bad = get_request(conn, failed.request_id)
        assert get_request(conn, "no-such-request") is None
    assert got.text == "Hello\\x00there"  # NUL escaped; the hash is of the original
    assert got.text_sha256 == hashlib.sha256(b"Hello\x00there").hexdigest()
    assert bad.key_id is None and bad.status == 401 and bad.error_code == "invalid_api_key"
    assert bad.text_sha256 is None and bad.text_chars is None
    assert "SECRET" not in bad.client and "vm_abcd1234" in bad.client


def test_recent_requests_newest_first(platform_home: Path) -> None:
    now = datetime.now(UTC) + timedelta(days=1)  # later than every other test's rows
    records = [_record(received_at=now + timedelta(seconds=i)) for i in range(3)]
    with connect() as conn:
        for r in records:
            record_request(conn, r)
        recent = recent_requests(conn, 2)
    assert [r.request_id for r in recent] == [records[2].request_id, records[1].request_id]


def test_invalid_records(platform_home: Path) -> None:
    with pytest.raises(ValueError):
        _record(cache="stale")
    with pytest.raises(AuditError) as err, connect() as conn:
        record_request(conn, _record(request_id="a\x00b"))
    assert err.value.reason == "invalid_request_id"
