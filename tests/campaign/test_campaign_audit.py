"""The campaign audit trail (campaigns, deliveries, events) on a real PostgreSQL."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from voicemill.campaign.audit import (
    assign_shards,
    campaign_summary,
    deliveries,
    delivery_events,
    get_campaign,
    list_campaigns,
    mark_failed,
    mark_published,
    pin_voice,
    register_deliveries,
    set_campaign_status,
    upsert_campaign,
)
from voicemill.campaign.errors import CampaignError
from voicemill.campaign.records import CampaignRecord, DeliveryRecord
from voicemill.db.catalog import connect

PRESET = {"top_k": 5, "top_p": 0.8, "temperature": 0.7, "seed": 1234}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _campaign(campaign_id: str, **changes) -> CampaignRecord:
    fields = {
        "campaign_id": campaign_id,
        "spec": {"campaign_id": campaign_id, "voice_profile": "en-m3", "preset": "ivr"},
        "spec_sha256": _sha("spec"),
        "recipients_uri": f"file:///in/{campaign_id}.csv",
        "recipients_sha256": _sha("recipients"),
        "voice_profile": "en-m3",
        "use_case": "ivr",
    }
    return CampaignRecord(**{**fields, **changes})


def _row(campaign_id: str, row_number: int, recipient_id: str | None = None, **changes):
    text = f"Hello {row_number}, your order shipped."
    fields = {
        "trace_id": uuid.uuid4().hex,
        "campaign_id": campaign_id,
        "recipient_id": recipient_id or f"r{row_number}",
        "row_number": row_number,
        "template_id": "t1",
        "text": text,
        "text_sha256": _sha(text),
        "request_key": _sha(f"key {text}"),
        "status": "pending",
    }
    if changes.get("status") == "rejected":
        fields.update(text=None, text_sha256=None, request_key=None)
    return DeliveryRecord(**{**fields, **changes})


def _rejected(campaign_id: str, row_number: int, recipient_id: str, reason: str):
    return _row(
        campaign_id,
        row_number,
        recipient_id,
        status="rejected",
        error_reason=reason,
        error_detail=f"row {row_number}: {reason}",
    )


def _publish(conn, trace_id: str, **changes) -> bool:
    fields = {
        "storage_key": f"k/{trace_id}.wav",
        "storage_url": f"file:///out/k/{trace_id}.wav",
        "duration_s": 2.0,
        "sample_rate": 32000,
        "cache_hit": False,
        "attempts": 1,
        "loudness_lufs": -16.1,
        "true_peak_dbtp": -1.2,
        "timings": {"synthesize": 0.5, "publish": 0.1},
        "model_name": "voice-en_m3",
        "model_version": "3",
        "profile_version": 1,
        "preset": PRESET,
        "seed": 1234,
    }
    return mark_published(conn, trace_id, **{**fields, **changes})


@pytest.fixture
def campaign_id(platform_home: Path) -> str:
    cid = f"c-{uuid.uuid4().hex[:10]}"
    with connect() as conn:
        upsert_campaign(conn, _campaign(cid))
    return cid


def test_upsert_is_idempotent_and_refuses_changed_content(platform_home: Path) -> None:
    cid = f"c-{uuid.uuid4().hex[:10]}"
    with connect() as conn:
        first = upsert_campaign(conn, _campaign(cid))
    assert first.status == "submitted" and first.submitted_at is not None
    assert first.profile_version is None and first.model_version is None
    with connect() as conn:
        again = upsert_campaign(conn, _campaign(cid, recipients_uri="s3://moved/copy.csv"))
        assert again == first  # same content: the stored row, unchanged
        for change in ({"spec_sha256": _sha("other")}, {"recipients_sha256": _sha("other")}):
            with pytest.raises(CampaignError) as err:
                upsert_campaign(conn, _campaign(cid, **change))
            assert err.value.reason == "campaign_exists"
        assert get_campaign(conn, cid) == first
        assert cid in {c.campaign_id for c in list_campaigns(conn)}
        with pytest.raises(CampaignError) as err:
            get_campaign(conn, f"missing-{cid}")
        assert err.value.reason == "unknown_campaign"


def test_first_start_pins_the_voice_and_reruns_reuse_it(campaign_id: str) -> None:
    with connect() as conn:
        pinned = pin_voice(
            conn,
            campaign_id,
            profile_version=2,
            model_name="voice-en_m3",
            model_version="7",
            preset=PRESET,
        )
    assert (pinned.profile_version, pinned.model_version, pinned.preset) == (2, "7", PRESET)
    assert pinned.status == "running" and pinned.started_at is not None
    with connect() as conn:
        done = set_campaign_status(conn, campaign_id, "completed")
    assert done.finished_at is not None
    # The champion moved; a re-run still gets the original pin back.
    with connect() as conn:
        rerun = pin_voice(
            conn,
            campaign_id,
            profile_version=3,
            model_name="voice-en_m3",
            model_version="8",
            preset={"top_k": 1},
        )
    assert (rerun.profile_version, rerun.model_version, rerun.preset) == (2, "7", PRESET)
    assert rerun.status == "running" and rerun.finished_at is None
    assert rerun.started_at == pinned.started_at
    with connect() as conn:
        with pytest.raises(CampaignError) as err:
            pin_voice(
                conn,
                "no-such-campaign",
                profile_version=1,
                model_name="m",
                model_version="1",
                preset={},
            )
        assert err.value.reason == "unknown_campaign"
        with pytest.raises(CampaignError):
            set_campaign_status(conn, campaign_id, "exploded")  # type: ignore[arg-type]


def test_concurrent_starts_agree_on_one_pin(campaign_id: str) -> None:
    barrier = threading.Barrier(4)
    results: list[str | None] = []

    def start(version: str) -> None:
        with connect() as conn:
            barrier.wait()
            record = pin_voice(
                conn,
                campaign_id,
                profile_version=1,
                model_name="voice-en_m3",
                model_version=version,
                preset=PRESET,
            )
            results.append(record.model_version)

    threads = [threading.Thread(target=start, args=(str(v),)) for v in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with connect() as conn:
        stored = get_campaign(conn, campaign_id).model_version
    assert len(results) == 4 and set(results) == {stored}


def test_registering_again_never_duplicates_nor_resets(campaign_id: str) -> None:
    rows = [_row(campaign_id, n) for n in range(1, 6)]
    rows.append(_rejected(campaign_id, 6, "r2", "duplicate_recipient"))  # r2 again
    with connect() as conn:
        assert register_deliveries(conn, rows) == 6
        assert _publish(conn, rows[0].trace_id)
    rerun = [_row(campaign_id, n) for n in range(1, 8)]  # new trace ids, one new row
    with connect() as conn:
        assert register_deliveries(conn, rerun) == 1
        stored = deliveries(conn, campaign_id)
    assert [d.row_number for d in stored] == list(range(1, 8))
    assert [d.trace_id for d in stored[:6]] == [r.trace_id for r in rows]
    assert stored[0].status == "published" and stored[0].storage_key is not None
    assert [d.status for d in stored[1:]] == ["pending"] * 4 + ["rejected", "pending"]
    assert stored[5].error_reason == "duplicate_recipient"
    with connect() as conn:
        assert [e["status"] for e in delivery_events(conn, rows[0].trace_id)] == [
            "pending",
            "published",
        ]
        events = delivery_events(conn, rows[5].trace_id)
        assert [(e["status"], e["reason"]) for e in events] == [("rejected", "duplicate_recipient")]
        assert len(deliveries(conn, campaign_id, status="pending")) == 5
        assert register_deliveries(conn, []) == 0
        with pytest.raises(CampaignError) as err:
            register_deliveries(conn, [_row(campaign_id, 9, status="published")])
        assert err.value.reason == "invalid_status"


def test_an_accepted_recipient_exists_once_per_campaign(campaign_id: str) -> None:
    # Rejected repeats may share an id; two accepted rows may not (partial unique index).
    with connect() as conn:
        register_deliveries(
            conn,
            [
                _row(campaign_id, 1, "same"),
                _rejected(campaign_id, 2, "same", "duplicate_recipient"),
                _rejected(campaign_id, 3, "same", "duplicate_recipient"),
            ],
        )
    with pytest.raises(psycopg.errors.UniqueViolation), connect() as conn:
        register_deliveries(conn, [_row(campaign_id, 4, "same")])


def test_shards_are_deterministic_sized_and_kept(platform_home: Path) -> None:
    assignments = []
    for _ in range(2):
        cid = f"c-{uuid.uuid4().hex[:10]}"
        rows = [
            _rejected(cid, n, f"r{n}", "empty_text") if n in (3, 11, 20) else _row(cid, n)
            for n in range(1, 26)
        ]
        with connect() as conn:
            upsert_campaign(conn, _campaign(cid))
            register_deliveries(conn, list(reversed(rows)))  # insertion order is irrelevant
            assert assign_shards(conn, cid, 10) == 3  # 22 accepted rows: 10 + 10 + 2
            assert assign_shards(conn, cid, 5) == 3  # assigned rows keep their shard
            stored = deliveries(conn, cid)
            sizes = [len(deliveries(conn, cid, shard=s)) for s in range(3)]
            assert len(deliveries(conn, cid, status="pending", shard=0)) == 10
        assert sizes == [10, 10, 2]
        assert all(d.shard is None for d in stored if d.status == "rejected")
        accepted = [d for d in stored if d.status != "rejected"]
        assert [d.shard for d in accepted] == sorted(d.shard for d in accepted)
        assignments.append([(d.row_number, d.shard) for d in stored])
    assert assignments[0] == assignments[1]
    with connect() as conn, pytest.raises(CampaignError):
        assign_shards(conn, "anything", 0)


def test_failures_retry_then_fail_then_a_rerun_publishes(campaign_id: str) -> None:
    row = _row(campaign_id, 1)
    with connect() as conn:
        register_deliveries(conn, [row])
        assert mark_failed(
            conn,
            row.trace_id,
            reason="synthesis_timeout",
            detail="60 s",
            attempts=1,
            final=False,
        )
        (retrying,) = deliveries(conn, campaign_id)
        assert (retrying.status, retrying.attempts) == ("pending", 1)
        assert retrying.error_reason == "synthesis_timeout"
        assert mark_failed(
            conn,
            row.trace_id,
            reason="synthesis_oom",
            detail="CUDA OOM",
            attempts=2,
            final=True,
        )
        (failed,) = deliveries(conn, campaign_id)
        assert (failed.status, failed.attempts, failed.error_reason) == (
            "failed",
            2,
            "synthesis_oom",
        )
        assert failed.error_detail == "CUDA OOM"
        # A later run retries the failed row and succeeds.
        assert _publish(conn, row.trace_id, attempts=3, cache_hit=True)
        (published,) = deliveries(conn, campaign_id)
        events = delivery_events(conn, row.trace_id)
    assert published.status == "published" and published.attempts == 3
    assert published.error_reason is None and published.cache_hit is True
    assert published.model_version == "3" and published.preset == PRESET
    assert published.seed == 1234 and published.timings == {"synthesize": 0.5, "publish": 0.1}
    assert published.delivery_url == published.storage_url  # defaulted
    assert published.updated_at >= published.created_at
    assert [(e["status"], e["attempt"], e["reason"]) for e in events] == [
        ("pending", 0, None),
        ("pending", 1, "synthesis_timeout"),
        ("failed", 2, "synthesis_oom"),
        ("published", 3, None),
    ]
    assert events[-1]["detail"] == published.storage_key
    assert all(e["at"] is not None and e["campaign_id"] == campaign_id for e in events)


def test_published_and_rejected_rows_never_move(campaign_id: str) -> None:
    good, bad = _row(campaign_id, 1), _rejected(campaign_id, 2, "x", "empty_text")
    with connect() as conn:
        register_deliveries(conn, [good, bad])
        assert _publish(conn, good.trace_id)
        assert not mark_failed(
            conn, good.trace_id, reason="late", detail="", attempts=9, final=True
        )
        assert not mark_failed(
            conn, good.trace_id, reason="late", detail="", attempts=9, final=False
        )
        assert not _publish(conn, good.trace_id, storage_key="other")
        assert not _publish(conn, bad.trace_id)
        assert not mark_failed(conn, bad.trace_id, reason="x", detail="", attempts=1, final=True)
        stored = {d.trace_id: d for d in deliveries(conn, campaign_id)}
        for call in (
            lambda: _publish(conn, "nope"),
            lambda: mark_failed(conn, "nope", reason="x", detail="", attempts=1, final=True),
        ):
            with pytest.raises(CampaignError) as err:
                call()
            assert err.value.reason == "unknown_delivery"
        assert len(delivery_events(conn, good.trace_id)) == 2  # registered, published
        assert len(delivery_events(conn, bad.trace_id)) == 1
    assert stored[good.trace_id].status == "published"
    assert stored[good.trace_id].storage_key == f"k/{good.trace_id}.wav"
    assert stored[good.trace_id].attempts == 1
    assert stored[bad.trace_id].status == "rejected"


def test_summary_counts_statuses_reasons_durations_and_cache(campaign_id: str) -> None:
    rows = [_row(campaign_id, n) for n in range(1, 7)]
    rows += [
        _rejected(campaign_id, 7, "r1", "duplicate_recipient"),
        _rejected(campaign_id, 8, "r2", "duplicate_recipient"),
        _rejected(campaign_id, 9, "r9", "text_too_long"),
    ]
    with connect() as conn:
        register_deliveries(conn, rows)
        empty = campaign_summary(conn, campaign_id)
        for row, seconds, hit in (
            (rows[0], 1.0, True),
            (rows[1], 2.0, True),
            (rows[2], 4.5, False),
        ):
            _publish(conn, row.trace_id, duration_s=seconds, cache_hit=hit)
        mark_failed(
            conn, rows[3].trace_id, reason="synthesis_oom", detail="", attempts=3, final=True
        )
        mark_failed(
            conn, rows[4].trace_id, reason="synthesis_oom", detail="", attempts=1, final=False
        )
        summary = campaign_summary(conn, campaign_id)
        with pytest.raises(CampaignError):
            campaign_summary(conn, "no-such-campaign")
    assert empty.duration.count == 0 and empty.duration.mean_s is None and empty.pending == 6
    assert summary.status == "submitted"
    assert summary.by_status == {"pending": 2, "published": 3, "failed": 1, "rejected": 3}
    assert summary.total == 9 and summary.accepted == 6 and not summary.done
    assert summary.failure_rate == pytest.approx(1 / 6)
    assert summary.failures_by_reason == {
        "duplicate_recipient": 2,
        "synthesis_oom": 1,
        "text_too_long": 1,
    }
    assert next(iter(summary.failures_by_reason)) == "duplicate_recipient"
    assert summary.duration.count == 3
    assert summary.duration.total_s == pytest.approx(7.5)
    assert summary.duration.mean_s == pytest.approx(2.5)
    assert (summary.duration.min_s, summary.duration.max_s) == (1.0, 4.5)
    assert (summary.cache_hits, summary.cache_misses) == (2, 1)
    assert summary.mean_timings_s == pytest.approx({"publish": 0.1, "synthesize": 0.5})
    assert summary.first_update <= summary.last_update
    assert summary.model_dump(mode="json")["duration"]["count"] == 3


def test_nul_in_content_is_refused_and_escaped_in_diagnostics(campaign_id: str) -> None:
    """PostgreSQL text cannot hold NUL. Ids and texts with NUL are refused before any
    write (the whole batch: nothing is registered); callers pass printable ids such
    as ``RejectedRow.printable_recipient_id`` ("a\\x00b" spelled with a backslash).
    Error details are diagnostics and are stored with NUL escaped."""
    with connect() as conn:
        with pytest.raises(CampaignError) as err:
            register_deliveries(conn, [_row(campaign_id, 1), _row(campaign_id, 2, "a\x00b")])
        assert err.value.reason == "nul_character"
        assert deliveries(conn, campaign_id) == []
        printable = _rejected(campaign_id, 2, "a\\x00b", "invalid_recipient_id")
        ok = _row(campaign_id, 1)
        assert register_deliveries(conn, [ok, printable]) == 2
        assert deliveries(conn, campaign_id)[1].recipient_id == "a\\x00b"
        mark_failed(
            conn, ok.trace_id, reason="engine_error", detail="bad\x00byte", attempts=1, final=True
        )
        assert deliveries(conn, campaign_id)[0].error_detail == "bad\\x00byte"
        assert delivery_events(conn, ok.trace_id)[-1]["detail"] == "bad\\x00byte"
        # What the guard saves the caller from: the driver refuses NUL in text outright.
        with pytest.raises(psycopg.DataError):
            conn.execute("SELECT %s::text", ("a\x00b",))


def test_registering_thousands_of_rows_is_one_fast_statement(campaign_id: str) -> None:
    rows = [_row(campaign_id, n) for n in range(1, 2001)]
    with connect() as conn:
        started = time.perf_counter()
        inserted = register_deliveries(conn, rows)
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = register_deliveries(conn, rows)
        second = time.perf_counter() - started
        events = conn.execute(
            "SELECT count(*) AS n FROM delivery_events WHERE campaign_id = %s", (campaign_id,)
        ).fetchone()["n"]
    assert (inserted, again, events) == (2000, 0, 2000)
    assert first < 1.0 and second < 1.0, (first, second)


def test_a_shard_is_held_by_one_run_at_a_time_and_a_killed_holder_lets_go(
    platform_home: Path,
) -> None:
    import os
    import signal
    import subprocess
    import sys

    from voicemill.campaign.audit import shard_lock

    campaign_id = f"lock-{uuid.uuid4().hex[:8]}"
    order: list[str] = []

    def second() -> None:
        with shard_lock(connect, campaign_id, 0):
            order.append("second")

    with shard_lock(connect, campaign_id, 0):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        order.append("first done")  # the second run is still waiting
    thread.join(10)
    assert order == ["first done", "second"]
    with shard_lock(connect, campaign_id, 1):  # other shards are free meanwhile
        pass

    # A run killed while holding its shard: the lock leaves with its connection.
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from voicemill.campaign.audit import shard_lock\n"
         "from voicemill.db.catalog import connect\n"
         f"with shard_lock(connect, {campaign_id!r}, 2):\n"
         "    print('held', flush=True)\n"
         "    time.sleep(600)\n"],
        stdout=subprocess.PIPE, text=True, env={**os.environ}, start_new_session=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
        started = time.monotonic()
        with shard_lock(connect, campaign_id, 2):
            pass
        assert time.monotonic() - started < 10
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
