"""The per-campaign report: totals arithmetic, the deliveries table files and the HTML page."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pandas as pd
import pytest

from voicemill.campaign.records import CampaignRecord, DeliveryRecord
from voicemill.campaign.report import (
    DELIVERY_COLUMNS,
    campaign_totals,
    deliveries_frame,
    format_summary,
    write_report,
)

EVIL = "<script>alert(1)</script>"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _row(n: int, status: str, **kw: object) -> DeliveryRecord:
    fields: dict[str, object] = {
        "trace_id": f"{n:032x}",
        "campaign_id": "camp-1",
        "recipient_id": f"r{n}",
        "row_number": n,
        "template_id": "greeting",
        "status": status,
    }
    if status != "rejected":
        fields |= {"text": f"Hello r{n}", "text_sha256": f"sha-{n}"}
    if status == "published":
        fields |= {
            "storage_url": f"file:///srv/audio/r{n}.wav",
            "delivery_url": f"file:///srv/audio/r{n}.wav",
            "model_version": "7",
            "loudness_lufs": -16.0,
            "cache_hit": False,
        }
    fields.update(kw)
    return DeliveryRecord.model_validate(fields)


@pytest.fixture
def campaign() -> CampaignRecord:
    return CampaignRecord(
        campaign_id="camp-1",
        spec={"name": "spring", "voice_profile": "alice"},
        spec_sha256="f" * 64,
        recipients_uri="file:///data/recipients.csv",
        recipients_sha256="e" * 64,
        voice_profile="alice",
        use_case="ads",
        profile_version=3,
        model_name="alice-gpt-sovits",
        model_version="7",
        preset={"temperature": 0.6, "top_k": 15, "speed": 1.0},
        status="completed",
    )


@pytest.fixture
def rows() -> list[DeliveryRecord]:
    # Deliberately out of row order; row 4 reuses row 1's text (same text_sha256).
    return [
        _row(5, "failed", error_reason="synthesis_timeout", error_detail="took 60 s"),
        _row(1, "published", duration_s=2.0, cache_hit=True),
        _row(2, "published", duration_s=4.0, recipient_id=EVIL, text=f"Hi {EVIL}"),
        _row(3, "published", duration_s=6.0, cache_hit=True),
        _row(4, "published", duration_s=8.0, text_sha256="sha-1"),
        _row(6, "failed", error_reason="synthesis_timeout"),
        _row(7, "failed", error_reason="clipping"),
        _row(8, "rejected", error_reason="missing_field", error_detail="no first_name"),
        _row(9, "rejected", error_reason=None),
        _row(10, "pending"),
    ]


def test_totals_arithmetic(rows: list[DeliveryRecord]) -> None:
    t = campaign_totals(rows)
    assert (t.total, t.published, t.failed, t.rejected, t.pending) == (10, 4, 3, 2, 1)
    assert t.failure_rate == pytest.approx(3 / 7)
    assert t.rejection_rate == pytest.approx(2 / 10)
    assert t.undelivered_rate == pytest.approx((3 + 2) / 10)  # failed and rejected alike
    # Most frequent first, ties by name; a row without a reason counts as "unknown".
    assert list(t.failures_by_reason.items()) == [
        ("synthesis_timeout", 2),
        ("clipping", 1),
        ("missing_field", 1),
        ("unknown", 1),
    ]
    d = t.duration
    assert (d.count, d.total_s, d.mean_s, d.min_s, d.max_s) == (4, 20.0, 5.0, 2.0, 8.0)
    assert t.cache_hits == 2
    # published 1..4 (sha-1 twice) + failed 5..7 + pending 10; rejected rows have no text.
    assert t.unique_texts == 3 + 3 + 1


def test_totals_of_nothing_attempted() -> None:
    t = campaign_totals([_row(1, "rejected", error_reason="bad_row"), _row(2, "pending")])
    assert (t.failure_rate, t.rejection_rate, t.undelivered_rate) == (0.0, 0.5, 0.5)
    assert (t.duration.total_s, t.duration.mean_s, t.duration.max_s) == (0.0, None, None)
    empty = campaign_totals([])
    assert (empty.total, empty.failure_rate, empty.rejection_rate) == (0, 0.0, 0.0)
    assert empty.failures_by_reason == {}


def test_deliveries_frame(rows: list[DeliveryRecord]) -> None:
    frame = deliveries_frame(rows)
    assert list(frame.columns) == list(DELIVERY_COLUMNS)
    assert frame["row_number"].tolist() == list(range(1, 11))
    assert frame.loc[1, "recipient_id"] == EVIL
    assert frame["cache_hit"].tolist()[:4] == [True, False, True, False]
    assert pd.isna(frame.loc[9, "duration_s"]) and pd.isna(frame.loc[9, "cache_hit"])
    assert frame.loc[4, "error_reason"] == "synthesis_timeout"
    empty = deliveries_frame([])
    assert list(empty.columns) == list(DELIVERY_COLUMNS) and len(empty) == 0


def test_write_report(tmp_path: Path, campaign: CampaignRecord, rows: list[DeliveryRecord]) -> None:
    files = write_report(tmp_path / "report", campaign, rows, audio_samples=3)
    expected = deliveries_frame(rows)

    parquet = pd.read_parquet(files.parquet)
    pd.testing.assert_frame_equal(parquet, expected)
    csv = pd.read_csv(files.csv, dtype=expected.dtypes.to_dict())
    pd.testing.assert_frame_equal(csv, expected)

    assert files.histogram_png.read_bytes().startswith(PNG_MAGIC)
    assert files.totals == campaign_totals(rows)
    assert not [p for p in files.html.parent.iterdir() if p.name.endswith(".tmp")]

    html = files.html.read_text(encoding="utf-8")
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Hi &lt;script&gt;" in html
    # Players: the first three published rows by row_number, from their delivery URLs.
    players = re.findall(r'<audio controls[^>]*src="([^"]+)"', html)
    assert players == [f"file:///srv/audio/r{n}.wav" for n in (1, 2, 3)]
    # The embedded PNG is the histogram file.
    b64 = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert b64 and base64.b64decode(b64.group(1)) == files.histogram_png.read_bytes()
    # Header facts and the failures-by-reason table.
    for fact in ("camp-1", "alice", "v3", "alice-gpt-sovits", "f" * 64, "temperature", "0.6"):
        assert fact in html
    failures = html.split('<table class="failures">', 1)[1].split("</table>", 1)[0]
    assert re.search(r"synthesis_timeout</code></td>\s*<td class=\"num\">2<", failures)
    assert "missing_field" in failures and "unknown" in failures
    assert "took 60 s" in html and "no first_name" in html


def test_sample_href_and_unsafe_urls(
    tmp_path: Path, campaign: CampaignRecord, rows: list[DeliveryRecord]
) -> None:
    def href(row: DeliveryRecord) -> str | None:
        if row.row_number == 1:
            return "javascript:alert(1)"  # never played
        if row.row_number == 3:
            return None  # no audio: skipped
        return f"audio/{row.recipient_id}.wav?a=1&b=2"

    html = write_report(tmp_path, campaign, rows, sample_href=href).html.read_text("utf-8")
    players = re.findall(r'<audio controls[^>]*src="([^"]+)"', html)
    assert players == [
        "audio/&lt;script&gt;alert(1)&lt;/script&gt;.wav?a=1&amp;b=2",
        "audio/r4.wav?a=1&amp;b=2",
    ]
    assert "javascript:" not in html


@pytest.mark.parametrize(
    "rows",
    [[], [_row(1, "rejected", error_reason="bad_row"), _row(2, "failed"), _row(3, "pending")]],
    ids=["empty", "none-published"],
)
def test_report_without_published_audio(
    tmp_path: Path, campaign: CampaignRecord, rows: list[DeliveryRecord]
) -> None:
    files = write_report(tmp_path, campaign, rows)
    assert files.histogram_png.read_bytes().startswith(PNG_MAGIC)
    html = files.html.read_text(encoding="utf-8")
    assert "No published audio to play." in html and "<audio" not in html
    assert "data:image/png;base64," in html
    frame = pd.read_parquet(files.parquet)
    assert list(frame.columns) == list(DELIVERY_COLUMNS) and len(frame) == len(rows)
    assert "no published audio" in format_summary(campaign, files.totals)


def test_format_summary(campaign: CampaignRecord, rows: list[DeliveryRecord]) -> None:
    text = format_summary(campaign, campaign_totals(rows))
    lines = text.splitlines()
    assert lines[0].split() == ["campaign", "camp-1"]
    # Values start in one column.
    starts = {len(line) - len(line.split("  ", 1)[1].lstrip()) for line in lines}
    assert len(starts) == 1
    for fact in (
        "completed",
        "alice v3 (ads)",
        "alice-gpt-sovits 7",
        "10 total: 4 published, 3 failed, 2 rejected, 1 pending",
        "42.9% (3 of 7 attempted)",
        "20.0%",
        "synthesis_timeout 2, clipping 1, missing_field 1, unknown 1",
        "20.0 s total, 5.00 s mean (min 2.00 s, max 8.00 s)",
    ):
        assert fact in text
    assert re.search(r"^cache hits\s+2$", text, re.MULTILINE)
    assert re.search(r"^unique texts\s+7$", text, re.MULTILINE)
