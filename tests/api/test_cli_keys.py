"""``voicemill keys`` and ``voicemill requests`` through click's runner."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from click.testing import CliRunner

from voicemill.api.audit import RequestRecord, record_request
from voicemill.api.keys import verify_key
from voicemill.cli import main
from voicemill.db.catalog import connect


def test_keys_create_list_revoke(platform_home: Path) -> None:
    runner = CliRunner()
    name = f"cli-{uuid.uuid4().hex[:8]}"
    args = ["keys", "create", "--name", name, "--scopes", "synthesize,jobs"]
    created = runner.invoke(main, [*args, "--voices", "en-m3", "--rpm", "10"])
    assert created.exit_code == 0, created.output
    lines = created.stdout.splitlines()
    assert len(lines) == 1 and created.stdout == lines[0] + "\n"  # only the key on stdout
    key = lines[0]
    assert name in created.stderr
    with connect() as conn:
        verified = verify_key(conn, key)
    assert verified is not None and verified.name == name and verified.rpm == 10

    listed = runner.invoke(main, ["keys", "list"])
    assert listed.exit_code == 0
    row = next(line for line in listed.stdout.splitlines() if line.startswith(name + " "))
    assert verified.key_id in row and "synthesize,jobs" in row and "en-m3" in row
    assert key.split("_", 2)[2] not in listed.stdout

    duplicate = runner.invoke(main, args)
    assert duplicate.exit_code == 1 and "key_name_taken" in duplicate.stderr
    assert duplicate.stdout == ""
    bad = runner.invoke(main, ["keys", "create", "--name", "x", "--scopes", "root"])
    assert bad.exit_code == 1 and "invalid_scopes" in bad.stderr

    revoked = runner.invoke(main, ["keys", "revoke", name])
    assert revoked.exit_code == 0 and name in revoked.stdout
    with connect() as conn:
        assert verify_key(conn, key) is None
    assert runner.invoke(main, ["keys", "revoke", name]).exit_code == 1


def test_requests_tail_and_show(platform_home: Path) -> None:
    runner = CliRunner()
    record = RequestRecord(
        request_id=f"req-{uuid.uuid4().hex[:12]}",
        key_id="abcd1234",
        route="/v1/synthesize",
        method="POST",
        status=200,
        profile_id="en-m3",
        profile_version=1,
        text="Hello.",
        latency_ms=12.5,
        cache="hit",
    )
    with connect() as conn:
        record_request(conn, record)
    tail = runner.invoke(main, ["requests", "tail", "-n", "500"])
    assert tail.exit_code == 0 and record.request_id in tail.stdout
    show = runner.invoke(main, ["requests", "show", record.request_id])
    assert show.exit_code == 0, show.output
    shown = json.loads(show.stdout)
    assert shown["request_id"] == record.request_id and shown["cache"] == "hit"
    assert shown["text"] is None and shown["text_sha256"] == record.text_sha256
    assert set(shown) == set(RequestRecord.model_fields)
    missing = runner.invoke(main, ["requests", "show", "nope"])
    assert missing.exit_code == 1 and "unknown_request" in missing.stderr
