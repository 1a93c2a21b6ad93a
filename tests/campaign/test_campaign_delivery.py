"""One shard's delivery on a real PostgreSQL, cache and local store, with faults injected
at the synthesis and storage boundaries: what is retried, what fails at once, and that
every recipient ends published or failed exactly once."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import numpy as np
import pytest
from speech_testkit import RATE, speak

from voicemill.campaign.audit import (
    deliveries,
    delivery_events,
    register_deliveries,
    upsert_campaign,
)
from voicemill.campaign.cache import SynthesisCache
from voicemill.campaign.delivery import deliver_shard
from voicemill.campaign.keys import spoken_form
from voicemill.campaign.postprocess import PostprocessSettings
from voicemill.campaign.records import CampaignRecord, DeliveryRecord
from voicemill.campaign.storage import open_store
from voicemill.db.catalog import connect
from voicemill.synthesis.errors import SynthesisError
from voicemill.synthesis.types import SynthesisResult

pytestmark = pytest.mark.usefixtures("platform_home")


def _setup(texts: list[str]) -> tuple[CampaignRecord, list[DeliveryRecord]]:
    campaign_id = f"d-{uuid.uuid4().hex[:8]}"
    record = CampaignRecord(
        campaign_id=campaign_id,
        spec={},
        spec_sha256="a" * 64,
        recipients_uri="file:///r.csv",
        recipients_sha256="b" * 64,
        voice_profile="v",
        use_case="ivr",
    )
    rows = [
        DeliveryRecord(
            trace_id=uuid.uuid4().hex,
            campaign_id=campaign_id,
            recipient_id=f"r{i}",
            row_number=i + 1,
            text=text,
            text_sha256=hashlib.sha256(text.encode()).hexdigest(),
            request_key=hashlib.sha256(f"{campaign_id}{spoken_form(text, 'en')}".encode())
            .hexdigest(),
            model_name="voice-v",
            model_version="1",
            seed=0,
            status="pending",
        )
        for i, text in enumerate(texts)
    ]
    with connect() as conn:
        upsert_campaign(conn, record)
        register_deliveries(conn, rows)
        return record, deliveries(conn, campaign_id)


class Voice:
    """espeak speech for each text; the first call crashes, "Unsayable" is refused."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts):
        self.calls.append(list(texts))
        if len(self.calls) == 1:
            raise RuntimeError("CUDA out of memory (injected)")
        out = []
        for text in texts:
            if text.startswith("Unsayable"):
                out.append(SynthesisError("nothing_to_say", f"no speakable text in {text!r}"))
            else:
                audio = np.asarray(speak(text), dtype=np.float32)
                out.append(SynthesisResult(audio=audio, segments=[], seed=0, sample_rate=RATE))
        return out


def _deliver(record, rows, tmp_path: Path, synthesize, store=None):
    return deliver_shard(
        rows,
        campaign=record,
        settings=PostprocessSettings(),
        synthesize=synthesize,
        cache=SynthesisCache(tmp_path / "cache"),
        store=store or open_store((tmp_path / "out").as_uri()),
        connect=connect,
        max_retries=2,
    )


def test_crashes_are_retried_refusals_are_not_and_duplicates_share_one_synthesis(
    tmp_path: Path,
) -> None:
    texts = ["Hello Ann, your order shipped.", "Unsayable text", "Hello Ann, your order shipped."]
    record, rows = _setup(texts)
    voice = Voice()
    report = _deliver(record, rows, tmp_path, voice)
    assert (report.published, report.failed, report.synthesized) == (2, 1, 1)
    assert voice.calls[0] == voice.calls[1]  # the crashed batch was retried whole
    assert len(voice.calls) == 2  # the refusal was not retried
    with connect() as conn:
        final = {r.recipient_id: r for r in deliveries(conn, record.campaign_id)}
        events = {k: delivery_events(conn, r.trace_id) for k, r in final.items()}
    assert final["r0"].status == final["r2"].status == "published"
    assert final["r0"].storage_key != final["r2"].storage_key  # one file per recipient
    assert final["r1"].status == "failed" and final["r1"].error_reason == "nothing_to_say"
    assert [e["reason"] for e in events["r0"]] == [None, "synthesis_crashed", None]
    assert [e["status"] for e in events["r1"]][-1] == "failed"
    assert final["r1"].attempts == 2  # the crash, then the refusal

    # A rerun skips what is done (published, and failed for good) and synthesizes nothing.
    again = _deliver(record, list(final.values()), tmp_path, Voice())
    assert (again.published, again.skipped, again.synthesized) == (0, 3, 0)


class FlakyStore:
    """A real local store whose first ``fail`` puts raise like a dropped connection."""

    def __init__(self, inner, fail: int) -> None:
        self.inner, self.fail = inner, fail

    def put(self, key, data, content_type):
        if self.fail:
            self.fail -= 1
            raise ConnectionResetError("connection reset by peer (injected)")
        return self.inner.put(key, data, content_type)


def test_storage_errors_are_retried_then_recorded(tmp_path: Path) -> None:
    record, rows = _setup(["Good morning Bea.", "Good evening Cal."])
    store = open_store((tmp_path / "out").as_uri())
    synthesize = Voice()
    synthesize.calls.append([])  # skip the injected crash
    report = _deliver(record, rows, tmp_path, synthesize, FlakyStore(store, fail=1))
    assert (report.published, report.failed) == (2, 0)
    report = _deliver(*_setup(["Hello there Dee."]), tmp_path, synthesize, FlakyStore(store, 9))
    assert (report.published, report.failed) == (0, 1)  # 1 + max_retries attempts, then failed
