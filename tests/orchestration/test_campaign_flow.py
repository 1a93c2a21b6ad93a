"""Campaign partitions as real Dagster runs: a real PostgreSQL, MLflow registry and audio.

The champion voice is a tiny, randomly initialized model packaged and registered the
way ``voice_release`` does it (training one is the voice flow test's job); its profile
caps the token count so every request is short. Everything else is the production
path: submission, the sensor, recipients validation, sharded synthesis with the
persistent cache, post-processing, local and S3-protocol (moto on loopback) publishing,
the audit trail and the checks.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("platform_home")

TEMPLATES = [
    {"id": "welcome", "text": "Hello {{ first_name }}, welcome to Northwind."},
    {"id": "reminder", "text": "Hi {{ first_name }}, your payment is due on {{ due_date }}."},
]


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Tiny models run fastest on one thread on the shared box."""


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A registered, champion-aliased tiny voice and its speaker profile; the profile id."""
    from voicemill.release.tiny_voice import register_tiny_voice
    from voicemill.synthesis.types import InferencePreset

    presets = {"ivr": InferencePreset(top_k=5, seed=3, max_new_tokens=30)}
    register_tiny_voice(tmp_path_factory.mktemp("voice"), "campaign_voice", presets)
    return "campaign_voice"


def _write_campaign(
    folder: Path, campaign_id: str, profile: str, rows: list[dict], **spec_fields
) -> tuple[Path, Path]:
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "campaign_id": campaign_id,
        "voice_profile": profile,
        "preset": "ivr",
        "language": "en",
        "output_format": "wav",
        "templates": TEMPLATES,
        "shard_size": 4,
        "max_failure_rate": 0.2,
        # A random tiny voice is quiet and peaky: -16 LUFS under a -1 dBTP ceiling would
        # need more than the limiter's 8 dB, so the loudness check would rightly fail.
        "loudness_lufs": -20.0,
        **spec_fields,
    }
    spec_path = folder / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    recipients = folder / "recipients.csv"
    with recipients.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["recipient_id", "template_id", "first_name", "due_date"])
        writer.writeheader()
        writer.writerows(rows)
    return spec_path, recipients


def _rows(n: int, distinct: int | None = None) -> list[dict]:
    names = ["Ava", "Ben", "Cleo", "Dan", "Eve", "Finn", "Gus", "Hana", "Ivo", "Jo", "Kim"]
    distinct = distinct or n
    return [
        {
            "recipient_id": f"r-{i:03d}",
            "template_id": "welcome",
            "first_name": names[i % distinct % len(names)],
            "due_date": "",
        }
        for i in range(n)
    ]


def _reminder_rows(prefix: str, n: int) -> list[dict]:
    names = ["Ava", "Ben", "Cleo", "Dan", "Eve", "Finn"]
    return [
        {"recipient_id": f"{prefix}-{i:03d}", "template_id": "reminder",
         "first_name": names[i % len(names)], "due_date": f"May {i % 28 + 1}"}
        for i in range(n)
    ]  # fmt: skip


def _start_worker(campaign_id: str, log: Path) -> subprocess.Popen:
    """`voicemill campaign run` in its own process group (so a test can kill it all)."""
    return subprocess.Popen(
        [sys.executable, "-m", "voicemill.cli", "campaign", "run", campaign_id],
        env={**os.environ},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _each_published_once(campaign_id: str, expected: int) -> list:
    """Every delivery published, each with exactly one ``published`` event."""
    from voicemill.campaign.audit import delivery_events
    from voicemill.db.catalog import connect

    final = _deliveries(campaign_id)
    assert len(final) == expected and all(r.status == "published" for r in final)
    with connect() as conn:
        for row in final:
            statuses = [e["status"] for e in delivery_events(conn, row.trace_id)]
            assert statuses.count("published") == 1, (row.recipient_id, statuses)
    return final


def _submit(spec: Path, recipients: Path) -> str:
    import dagster as dg

    from voicemill.orchestration.workflows import submit_campaign_files

    return submit_campaign_files(spec, recipients, dg.DagsterInstance.get()).campaign_id


def _deliver(campaign_id: str):
    import dagster as dg

    from voicemill.orchestration.definitions import defs

    return defs.resolve_job_def("deliver_campaign").execute_in_process(
        partition_key=campaign_id, instance=dg.DagsterInstance.get(), raise_on_error=False
    )


def _deliveries(campaign_id: str):
    from voicemill.campaign.audit import deliveries
    from voicemill.db.catalog import connect

    with connect() as conn:
        return deliveries(conn, campaign_id)


def _failure(result) -> str:
    return " ".join(
        e.event_specific_data.error.message for e in result.all_events if e.is_step_failure
    )


def test_campaign_delivers_each_text_once_and_rerunning_changes_nothing(
    champion: str, tmp_path: Path
) -> None:
    from voicemill.campaign.audit import delivery_events
    from voicemill.db.catalog import connect
    from voicemill.settings import get_settings

    campaign_id = f"c-{uuid.uuid4().hex[:8]}"
    rows = _rows(10, distinct=4)  # 10 recipients, 4 distinct texts
    rows += [
        {"recipient_id": "../../etc/passwd", "template_id": "reminder",
         "first_name": "Ava", "due_date": "May 1"},
        {"recipient_id": "r-000", "template_id": "welcome", "first_name": "Dup", "due_date": ""},
        {"recipient_id": "r-bad", "template_id": "reminder", "first_name": "Zed", "due_date": ""},
        {"recipient_id": "r-emoji", "template_id": "welcome", "first_name": "🎉",
         "due_date": ""},
    ]  # fmt: skip
    # 3 of 14 rows are rejected on purpose (21%): rejected rows count against the rate.
    spec, recipients = _write_campaign(
        tmp_path, campaign_id, champion, rows, max_failure_rate=0.3
    )
    assert _submit(spec, recipients) == campaign_id

    first = _deliver(campaign_id)
    assert first.success, _failure(first)
    evaluations = {c.check_name: c for c in first.get_asset_check_evaluations()}
    assert set(evaluations) == {
        "recipients_meet_expectations",
        "campaign_failure_rate",
        "campaign_durations_fit_texts",
        "campaign_loudness_compliance",
    }
    assert all(
        evaluations[name].passed
        for name in ("recipients_meet_expectations", "campaign_failure_rate",
                     "campaign_loudness_compliance")
    )  # fmt: skip
    # The random tiny voice may babble past plausible rates; the check judged every file.
    durations = evaluations["campaign_durations_fit_texts"]
    assert durations.metadata["checked"].value == 11
    assert durations.passed == (durations.metadata["implausible"].value == 0)
    audio = first.output_for_node("campaign_audio.collect_campaign_shards")
    assert audio["published"] == 11
    collect = next(
        e for e in first.all_events
        if e.is_successful_output and e.step_key.endswith("collect_campaign_shards")
    )  # fmt: skip
    meta = collect.event_specific_data.metadata
    assert meta["synthesized_this_run"].value == 5  # 4 welcome texts + 1 reminder
    delivered = _deliveries(campaign_id)
    by_status: dict[str, list] = {}
    for row in delivered:
        by_status.setdefault(row.status, []).append(row)
    assert len(by_status["published"]) == 11
    assert sorted(r.error_reason for r in by_status["rejected"]) == [
        "duplicate_recipient_id", "missing_variable", "unsupported_characters",
    ]  # fmt: skip
    root = get_settings().home_dir / "deliveries"
    files = sorted((root / campaign_id).iterdir())
    assert len(files) == 11  # one file per recipient, all inside the campaign's prefix
    assert {r.storage_url for r in by_status["published"]} == {f.as_uri() for f in files}
    passwd = next(r for r in delivered if r.recipient_id == "../../etc/passwd")
    assert passwd.storage_key.startswith(f"{campaign_id}/") and ".." not in passwd.storage_key
    for row in by_status["published"]:
        assert row.model_version == "1" and row.seed == 3 and row.duration_s > 0
        assert abs(row.loudness_lufs + 20.0) < 1.0 and row.true_peak_dbtp <= -0.95
    with connect() as conn:
        events = delivery_events(conn, by_status["published"][0].trace_id)
    assert [e["status"] for e in events] == ["pending", "published"]
    from voicemill.orchestration.resources import CampaignResource

    html = CampaignResource().campaign_dir(campaign_id) / "report" / "report.html"
    assert html.is_file() and "duplicate_recipient_id" in html.read_text()

    stamps = {f.name: f.stat().st_mtime_ns for f in files}
    again = _deliver(campaign_id)
    assert again.success, _failure(again)
    assert [r.model_dump() for r in _deliveries(campaign_id)] == [
        r.model_dump() for r in delivered
    ]
    assert {f.name: f.stat().st_mtime_ns for f in (root / campaign_id).iterdir()} == stamps
    with connect() as conn:
        assert len(delivery_events(conn, by_status["published"][0].trace_id)) == 2

    # Another campaign with the same voice and texts: everything comes from the cache.
    other_id = f"c-{uuid.uuid4().hex[:8]}"
    spec2, recipients2 = _write_campaign(tmp_path / "other", other_id, champion, _rows(4, 4))
    _submit(spec2, recipients2)
    other = _deliver(other_id)
    assert other.success, _failure(other)
    published = [r for r in _deliveries(other_id) if r.status == "published"]
    assert len(published) == 4 and all(r.cache_hit for r in published)


def test_a_killed_campaign_resumes_with_every_recipient_delivered_once(
    champion: str, tmp_path: Path
) -> None:
    from voicemill.settings import get_settings

    campaign_id = f"kill-{uuid.uuid4().hex[:8]}"
    rows = _reminder_rows("k", 36)
    spec, recipients = _write_campaign(tmp_path, campaign_id, champion, rows)
    _submit(spec, recipients)
    log = tmp_path / "worker.log"
    worker = _start_worker(campaign_id, log)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            done = [r for r in _deliveries(campaign_id) if r.status == "published"]
            if done or worker.poll() is not None:
                break
            time.sleep(0.05)
        os.killpg(worker.pid, signal.SIGKILL)  # a real kill, mid-campaign
        worker.wait(30)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    partial = [r for r in _deliveries(campaign_id) if r.status == "published"]
    tail = log.read_text(errors="replace")[-3000:]
    assert 0 < len(partial) < len(rows), f"the kill should land mid-campaign:\n{tail}"

    resumed = _deliver(campaign_id)
    assert resumed.success, _failure(resumed)
    final = _each_published_once(campaign_id, len(rows))
    files = list((get_settings().home_dir / "deliveries" / campaign_id).iterdir())
    assert sorted(f.as_uri() for f in files) == sorted(r.storage_url for r in final)
    before = {r.trace_id: r.updated_at for r in partial}
    assert all(r.updated_at == before[r.trace_id] for r in final if r.trace_id in before)


def test_two_concurrent_runs_of_one_campaign_deliver_each_recipient_once(
    champion: str, tmp_path: Path
) -> None:
    """A second launch while the first still runs (a re-submitted run key, an operator's
    manual run): shards are held one run at a time, so nothing is published twice."""

    campaign_id = f"twice-{uuid.uuid4().hex[:8]}"
    rows = _reminder_rows("t", 12)
    spec, recipients = _write_campaign(tmp_path, campaign_id, champion, rows)
    _submit(spec, recipients)
    log = tmp_path / "worker.log"
    worker = _start_worker(campaign_id, log)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and worker.poll() is None:
            if _deliveries(campaign_id):  # the first run registered its rows: go
                break
            time.sleep(0.05)
        second = _deliver(campaign_id)
        assert worker.wait(300) == 0, log.read_text(errors="replace")[-3000:]
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    assert second.success, _failure(second)
    _each_published_once(campaign_id, len(rows))


def test_publishes_to_an_s3_protocol_store(champion: str, tmp_path: Path, s3_server) -> None:
    import urllib.request

    import boto3
    import dagster as dg

    from voicemill.assets.campaigns import campaign_audio, campaign_recipients, campaign_report
    from voicemill.orchestration.definitions import defs
    from voicemill.orchestration.resources import CampaignResource

    endpoint, bucket = s3_server
    campaign_id = f"s3-{uuid.uuid4().hex[:8]}"
    spec, recipients = _write_campaign(
        tmp_path, campaign_id, champion, _rows(3), storage_url=f"s3://{bucket}/out",
        output_format="opus",
    )  # fmt: skip
    _submit(spec, recipients)
    campaigns = CampaignResource(
        endpoint_url=endpoint,
        presign_seconds=600,
        access_key="test",
        secret_key="test",
        storage_roots=[f"s3://{bucket}/out"],  # the spec's sub-prefix must lie under it
    )
    resources = {**defs.resources, "campaigns": campaigns}
    result = dg.materialize(
        [campaign_recipients, campaign_audio, campaign_report],
        partition_key=campaign_id,
        resources=resources,
        instance=dg.DagsterInstance.get(),
        raise_on_error=False,
    )
    assert result.success, _failure(result)
    published = [r for r in _deliveries(campaign_id) if r.status == "published"]
    assert len(published) == 3
    s3 = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
        region_name="us-east-1",
    )  # fmt: skip
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert {f"out/{r.storage_key}" for r in published} <= keys
    row = published[0]
    assert row.storage_url == f"s3://{bucket}/out/{row.storage_key}"
    assert row.delivery_url.startswith(endpoint)  # presigned HTTP URL on the endpoint
    with urllib.request.urlopen(row.delivery_url, timeout=10) as response:
        body = response.read()
    assert body[:4] == b"OggS"


@pytest.fixture(scope="module")
def s3_server():
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
        region_name="us-east-1",
    ).create_bucket(Bucket="deliveries")  # fmt: skip
    yield endpoint, "deliveries"
    server.stop()


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unknown_profile", "unknown_voice_profile"),
        ("no_champion", "no_champion"),
        ("unreachable_storage", "storage_unreachable"),
        ("storage_not_allowed", "storage_url_not_allowed"),
        ("recipients_changed", "recipients_changed"),
    ],
)
def test_campaign_level_problems_stop_before_any_synthesis(
    champion: str, tmp_path: Path, case: str, reason: str
) -> None:
    from voicemill.campaign.audit import get_campaign
    from voicemill.db.catalog import connect
    from voicemill.release.profiles import SpeakerProfile, get_profile, save_profile
    from voicemill.settings import get_settings

    campaign_id = f"bad-{uuid.uuid4().hex[:8]}"
    profile, extra = champion, {}
    if case == "unknown_profile":
        profile = "nobody_here"
    elif case == "no_champion":
        with connect() as conn:
            voice = get_profile(conn, champion)
            fields = voice.model_dump(include=set(SpeakerProfile.model_fields))
            fields.update(profile_id="unreleased", model_name="voice-unreleased")
            save_profile(conn, SpeakerProfile(**fields))
        profile = "unreleased"
    elif case == "unreachable_storage":  # (S3 endpoints that refuse: test_campaign_storage)
        deliveries = get_settings().home_dir / "deliveries"  # the allowed default root
        deliveries.mkdir(parents=True, exist_ok=True)
        (deliveries / f"a_file_{campaign_id}").write_text("not a directory")
        extra = {"storage_url": (deliveries / f"a_file_{campaign_id}" / "out").as_uri()}
    elif case == "storage_not_allowed":  # a spec naming a folder nobody allowed
        extra = {"storage_url": (tmp_path / "elsewhere").as_uri()}
    spec, recipients = _write_campaign(tmp_path / "c", campaign_id, profile, _rows(2), **extra)
    _submit(spec, recipients)
    if case == "recipients_changed":  # the submitted copy altered behind the platform's back
        with connect() as conn:
            stored = Path(get_campaign(conn, campaign_id).recipients_uri.removeprefix("file://"))
        stored.write_text(stored.read_text() + "r-999,welcome,Mallory,\n")
    result = _deliver(campaign_id)
    assert not result.success
    assert reason in _failure(result)
    assert not _deliveries(campaign_id)  # nothing was registered, nothing synthesized
    with connect() as conn:
        record = get_campaign(conn, campaign_id)
    assert record.status == "failed"  # never left "running"
    assert record.failure_reason == reason and record.failure_detail


def test_hostile_rows_are_rejected_one_by_one_and_the_campaign_completes(
    champion: str, tmp_path: Path
) -> None:
    """A NUL in a rejected row's template id once failed the insert of every row, and a
    huge number the normalizer; each is now its own row's problem."""
    from voicemill.campaign.audit import get_campaign
    from voicemill.db.catalog import connect

    campaign_id = f"rows-{uuid.uuid4().hex[:8]}"
    hostile = [
        {"recipient_id": "r-nul", "template_id": "wel\x00come", "first_name": "Ann",
         "due_date": ""},
        {"recipient_id": "r-big", "template_id": "reminder", "first_name": "Ben",
         "due_date": "9" * 400},
        {"recipient_id": "=HYPERLINK(\"x\")", "template_id": "@SUM(1)", "first_name": "Cleo",
         "due_date": ""},
    ]  # fmt: skip
    spec, recipients = _write_campaign(tmp_path, campaign_id, champion, _rows(3) + hostile,
                                       max_failure_rate=0.5)  # fmt: skip
    _submit(spec, recipients)
    result = _deliver(campaign_id)
    assert result.success, _failure(result)
    by_id = {r.recipient_id: r for r in _deliveries(campaign_id)}
    assert by_id["r-nul"].status == "rejected"
    assert by_id["r-nul"].error_reason == "unknown_template"
    assert by_id["r-nul"].template_id == "wel\\x00come"  # stored printable
    assert by_id['=HYPERLINK("x")'].error_reason == "unknown_template"
    assert by_id["r-big"].status in ("published", "rejected")  # spoken, or a row's reason
    assert all(by_id[f"r-{i:03d}"].status == "published" for i in range(3))
    with connect() as conn:
        assert get_campaign(conn, campaign_id).status == "completed"
    # Recipient ids are personal data: none reaches Dagster's event log.
    logged = " ".join(
        str(value.value)
        for event in result.all_events
        if event.is_step_materialization or event.event_type_value == "ASSET_CHECK_EVALUATION"
        for value in (
            event.event_specific_data.materialization.metadata
            if event.is_step_materialization
            else event.event_specific_data.metadata
        ).values()
    )
    assert "HYPERLINK" not in logged and "r-nul" not in logged and "r-001" not in logged


def test_a_campaign_with_too_many_bad_rows_fails_its_rate_check_and_is_not_completed(
    champion: str, tmp_path: Path
) -> None:
    """A genuinely bad recipients file (half its rows have no first name) against the
    spec's 20%: rejected rows count, the blocking check fails, the campaign is failed
    with the reason and the report does not call it complete."""
    from voicemill.campaign.audit import get_campaign
    from voicemill.db.catalog import connect

    campaign_id = f"badrows-{uuid.uuid4().hex[:8]}"
    rows = _rows(4)
    for row in rows[:2]:
        row["first_name"] = ""  # missing_variable
    spec, recipients = _write_campaign(tmp_path, campaign_id, champion, rows)
    _submit(spec, recipients)
    result = _deliver(campaign_id)
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    rate = checks["campaign_failure_rate"]
    assert not rate.passed
    assert rate.metadata["undelivered_rate"].value == 0.5
    assert rate.metadata["rejected"].value == 2
    materialized = {
        e.asset_key.to_user_string() for e in result.all_events if e.is_step_materialization
    }
    assert "campaign_report" not in materialized  # blocked by the check
    with connect() as conn:
        record = get_campaign(conn, campaign_id)
    assert record.status == "failed" and record.failure_reason == "failure_rate_exceeded"
    assert "2 of 4 recipients" in (record.failure_detail or "")


def test_a_voice_that_stops_at_once_fails_the_durations_check(tmp_path: Path) -> None:
    """A genuinely bad voice (its preset lets the GPT emit four tokens) delivers
    files far too short for their texts: the durations check must say so."""
    from voicemill.release.tiny_voice import register_tiny_voice
    from voicemill.synthesis.types import InferencePreset

    profile = f"mute_{uuid.uuid4().hex[:6]}"
    presets = {"ivr": InferencePreset(top_k=5, seed=3, max_new_tokens=4)}  # ~0.16 s
    register_tiny_voice(tmp_path / "voice", profile, presets)
    campaign_id = f"short-{uuid.uuid4().hex[:8]}"
    spec, recipients = _write_campaign(tmp_path / "c", campaign_id, profile, _rows(3))
    _submit(spec, recipients)
    result = _deliver(campaign_id)
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    durations = checks["campaign_durations_fit_texts"]
    assert not durations.passed
    assert durations.metadata["implausible"].value == durations.metadata["checked"].value > 0


def test_a_loudness_target_the_voice_cannot_reach_fails_compliance(
    champion: str, tmp_path: Path
) -> None:
    """The random tiny voice is quiet and peaky: -16 LUFS under a -1 dBTP ceiling needs
    more gain than the limiter may take, so its files come out off target for real."""
    campaign_id = f"loud-{uuid.uuid4().hex[:8]}"
    spec, recipients = _write_campaign(
        tmp_path, campaign_id, champion, _rows(3), loudness_lufs=-16.0, true_peak_dbtp=-1.0
    )
    _submit(spec, recipients)
    result = _deliver(campaign_id)
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    loudness = checks["campaign_loudness_compliance"]
    assert not loudness.passed
    assert loudness.metadata["out_of_spec"].value == loudness.metadata["checked"].value == 3


def test_failure_rate_check_fails_past_the_campaign_threshold(
    champion: str, tmp_path: Path
) -> None:
    from voicemill.campaign.audit import mark_failed
    from voicemill.db.catalog import connect

    campaign_id = f"rate-{uuid.uuid4().hex[:8]}"
    spec, recipients = _write_campaign(tmp_path, campaign_id, champion, _rows(4, 1))
    _submit(spec, recipients)
    first = _deliver(campaign_id)
    assert first.success, _failure(first)
    # Two of four recipients failing (50%) is past the spec's 20%: the check must say so.
    rows = _deliveries(campaign_id)
    with connect() as conn:
        conn.execute(
            "UPDATE deliveries SET status = 'pending' WHERE trace_id = ANY(%s)",
            ([r.trace_id for r in rows[:2]],),
        )
        for row in rows[:2]:
            mark_failed(conn, row.trace_id, reason="synthesis_crashed", detail="test",
                        attempts=3, final=True)  # fmt: skip
    again = _deliver(campaign_id)
    checks = {c.check_name: c for c in again.get_asset_check_evaluations()}
    rate = checks["campaign_failure_rate"]
    assert not rate.passed
    assert rate.metadata["failure_rate"].value == 0.5


def test_the_sensor_submits_inbox_drops_and_keys_runs_by_content(
    champion: str, tmp_path: Path
) -> None:
    import dagster as dg

    from voicemill.orchestration.resources import CampaignResource, PostgresResource
    from voicemill.orchestration.sensors import campaign_inbox_sensor

    campaigns = CampaignResource(root=str(tmp_path / "campaigns"))
    campaign_id = f"inbox-{uuid.uuid4().hex[:8]}"
    drop = campaigns.inbox_path / "drop-1"
    spec, recipients = _write_campaign(drop, campaign_id, champion, _rows(2))
    past = time.time() - 60  # settled files
    for path in (spec, recipients):
        os.utime(path, (past, past))
    instance = dg.DagsterInstance.get()
    resources = {"campaigns": campaigns, "postgres": PostgresResource()}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = campaign_inbox_sensor(context)
    requests = [r for r in result.run_requests if r.partition_key == campaign_id]
    assert len(requests) == 1
    (request,) = requests
    from voicemill.campaign.audit import get_campaign
    from voicemill.db.catalog import connect

    with connect() as conn:
        record = get_campaign(conn, campaign_id)
    assert request.run_key == (
        f"{campaign_id}:{record.spec_sha256[:12]}:{record.recipients_sha256[:12]}"
    )
    added = [p for r in result.dynamic_partitions_requests for p in r.partition_keys]
    assert campaign_id in added
    # The next tick: same files, same key (Dagster launches a run key once).
    with dg.build_sensor_context(
        instance=instance, resources=resources, cursor=result.cursor
    ) as context:
        again = campaign_inbox_sensor(context)
    keys = [r.run_key for r in again.run_requests if r.partition_key == campaign_id]
    assert keys == [request.run_key]
    # Other content under the same id is refused and changes nothing.
    spec.write_text(spec.read_text().replace("Northwind", "Southwind"))
    os.utime(spec, (past + 1, past + 1))
    with dg.build_sensor_context(
        instance=instance, resources=resources, cursor=again.cursor
    ) as context:
        campaign_inbox_sensor(context)
    with connect() as conn:
        assert get_campaign(conn, campaign_id).spec_sha256 == record.spec_sha256
    assert json.loads(again.cursor)  # the cursor remembers the drop

    # A campaign whose schedule window opens tomorrow is submitted but not launched yet.
    later_id = f"later-{uuid.uuid4().hex[:8]}"
    tomorrow = time.time() + 86_400
    window = {
        "start": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(tomorrow)),
        "end": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(tomorrow + 3600)),
    }
    drop = campaigns.inbox_path / "drop-2"
    for path in _write_campaign(drop, later_id, champion, _rows(2), schedule_window=window):
        os.utime(path, (past, past))
    with dg.build_sensor_context(
        instance=instance, resources=resources, cursor=again.cursor
    ) as context:
        later = campaign_inbox_sensor(context)
    with connect() as conn:
        assert get_campaign(conn, later_id).status == "submitted"
    assert later_id not in [r.partition_key for r in later.run_requests]
