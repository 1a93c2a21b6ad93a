"""Campaign spec: YAML/JSON loading, validation details, template choice, fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from voicemill.campaign.errors import CampaignError
from voicemill.campaign.spec import CampaignSpec, load_campaign_spec
from voicemill.errors import RejectedInput

SPEC_YAML = """\
campaign_id: spring-sale_2025
voice_profile: narrator-ann
language: en
templates:
  - id: main
    text: "Hi {{ first_name }}, spring is here!"
  - id: vip
    text: "Dear {{ first_name }}, your VIP gift waits in {{ city }}."
output_format: opus
schedule_window:
  start: 2025-03-01T09:00:00+01:00
  end: 2025-03-02T09:00:00+01:00
"""


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_yaml_spec_loads_with_defaults(tmp_path: Path) -> None:
    spec = load_campaign_spec(_write(tmp_path, "spec.yaml", SPEC_YAML))
    assert spec.campaign_id == "spring-sale_2025"
    assert spec.template_ids == ["main", "vip"]
    assert spec.output_format == "opus"
    assert (spec.preset, spec.loudness_lufs, spec.true_peak_dbtp) == ("marketing", -16.0, -1.0)
    assert (spec.max_retries, spec.max_failure_rate, spec.seed, spec.shard_size) == (
        2,
        0.05,
        None,  # the voice preset's frozen seed
        200,
    )
    assert (spec.text_limits.min_chars, spec.text_limits.max_chars) == (1, 1000)
    assert spec.storage_url == ""
    window = spec.schedule_window
    assert window is not None
    assert window.start.utcoffset().total_seconds() == 0  # stored as UTC
    assert window.start.hour == 8


def test_json_spec_matches_yaml_and_fingerprint_is_canonical(tmp_path: Path) -> None:
    import yaml

    from_yaml = load_campaign_spec(_write(tmp_path, "spec.yml", SPEC_YAML))
    data = yaml.safe_load(SPEC_YAML)
    data["schedule_window"] = {  # same instants, other offset and key order
        "end": "2025-03-02T08:00:00Z",
        "start": "2025-03-01T08:00:00+00:00",
    }
    from_json = load_campaign_spec(_write(tmp_path, "spec.json", json.dumps(data, default=str)))
    assert from_json == from_yaml
    assert from_json.fingerprint == from_yaml.fingerprint
    assert len(from_yaml.fingerprint) == 64
    changed = from_yaml.model_copy(update={"seed": 7})
    assert changed.fingerprint != from_yaml.fingerprint
    # The priority says when, not what: specs stored before the field keep their identity.
    urgent = from_yaml.model_copy(update={"priority": "urgent"})
    assert urgent.fingerprint == from_yaml.fingerprint


def test_spec_is_frozen() -> None:
    spec = CampaignSpec(campaign_id="c", voice_profile="v", templates=[{"id": "t", "text": "x"}])
    with pytest.raises(ValidationError):
        spec.seed = 3  # type: ignore[misc]


def test_template_for_uses_the_template_id_column() -> None:
    spec = CampaignSpec(
        campaign_id="c",
        voice_profile="v",
        templates=[{"id": "main", "text": "a"}, {"id": "vip", "text": "b"}],
    )
    assert spec.template_for({"recipient_id": "1"}).id == "main"
    assert spec.template_for({"template_id": ""}).id == "main"
    assert spec.template_for({"template_id": None}).id == "main"
    assert spec.template_for({"template_id": float("nan")}).id == "main"
    assert spec.template_for({"template_id": " vip "}).id == "vip"
    with pytest.raises(CampaignError) as info:
        spec.template_for({"template_id": "gold"})
    assert info.value.reason == "unknown_template"
    assert "'gold'" in info.value.detail and "main, vip" in info.value.detail


def test_invalid_spec_lists_every_problem(tmp_path: Path) -> None:
    bad = {
        "campaign_id": "Spring Sale",
        "voice_profile": "v",
        "templates": [
            {"id": "a", "text": "x"},
            {"id": "a", "text": "y"},
            {"id": "B!", "text": "z"},
        ],
        "language": "fr",
        "output_format": "ogg",
        "loudness_lufs": -3,
        "true_peak_dbtp": 1,
        "storage_url": "http://example.com/x",
        "schedule_window": {"start": "2025-03-02T00:00:00Z", "end": "2025-03-01T00:00:00Z"},
        "max_retries": 6,
        "max_failure_rate": 1.5,
        "text_limits": {"min_chars": 50, "max_chars": 10},
        "seed": -1,
        "shard_size": 0,
        "max_retry": 3,
    }
    with pytest.raises(CampaignError) as info:
        load_campaign_spec(_write(tmp_path, "bad.json", json.dumps(bad)))
    error = info.value
    assert isinstance(error, RejectedInput)
    assert error.reason == "spec_invalid"
    for location in [
        "campaign_id:",
        "templates.2.id:",
        "language:",
        "output_format:",
        "loudness_lufs:",
        "true_peak_dbtp:",
        "storage_url: 'http://example.com/x' must be a file:// or s3:// URL",
        "schedule_window: end must be after start",
        "max_retries:",
        "max_failure_rate:",
        "text_limits: min_chars (50) exceeds max_chars (10)",
        "seed:",
        "shard_size:",
        "max_retry: Extra inputs are not permitted",
    ]:
        assert location in error.detail, location
    assert "bad.json" in error.detail


@pytest.mark.parametrize(
    ("update", "location"),
    [
        ({"templates": []}, "templates:"),
        ({"templates": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]}, "repeated: a"),
        ({"schedule_window": {"start": "2025-03-01T00:00:00", "end": "2025-03-02T00:00:00Z"}},
         "schedule_window.start:"),
        ({"storage_url": "s3:///no-bucket"}, "names no bucket"),
        ({"storage_url": "file://relative/path"}, "not an absolute local path"),
    ],
)  # fmt: skip
def test_more_invalid_fields(tmp_path: Path, update: dict, location: str) -> None:
    data = {"campaign_id": "c", "voice_profile": "v", "templates": [{"id": "t", "text": "x"}]}
    data.update(update)
    with pytest.raises(CampaignError) as info:
        load_campaign_spec(_write(tmp_path, "s.json", json.dumps(data)))
    assert info.value.reason == "spec_invalid"
    assert location in info.value.detail


def test_storage_urls_accepted() -> None:
    base = {"campaign_id": "c", "voice_profile": "v", "templates": [{"id": "t", "text": "x"}]}
    for url in ("", "file:///srv/audio", "s3://bucket", "s3://bucket/prefix/x"):
        assert CampaignSpec.model_validate({**base, "storage_url": url}).storage_url == url


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("spec.txt", SPEC_YAML, "spec_unreadable"),
        ("spec.yaml", "campaign_id: [unclosed", "spec_unreadable"),
        ("spec.json", "{not json", "spec_unreadable"),
        ("spec.yaml", b"campaign_id: \xff\xfe", "spec_unreadable"),
        ("spec.yaml", "- just\n- a list\n", "spec_invalid"),
        ("spec.yaml", SPEC_YAML + "seed: 1\nseed: 2\n", "spec_invalid"),
        ("spec.json", '{"seed": 1, "seed": 2}', "spec_invalid"),
    ],
)
def test_unreadable_or_malformed_files(
    tmp_path: Path, name: str, content: str | bytes, reason: str
) -> None:
    with pytest.raises(CampaignError) as info:
        load_campaign_spec(_write(tmp_path, name, content))
    assert info.value.reason == reason
    assert name in info.value.detail


def test_duplicate_key_detail_names_key(tmp_path: Path) -> None:
    with pytest.raises(CampaignError) as info:
        load_campaign_spec(_write(tmp_path, "spec.yaml", SPEC_YAML + "seed: 1\nseed: 2\n"))
    assert "'seed' appears twice" in info.value.detail


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CampaignError) as info:
        load_campaign_spec(tmp_path / "absent.yaml")
    assert info.value.reason == "spec_unreadable"
    assert "absent.yaml" in info.value.detail


def test_schedule_window_says_when_deliveries_may_run() -> None:
    from datetime import UTC, datetime, timedelta

    from voicemill.campaign.spec import ScheduleWindow

    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    window = ScheduleWindow(start=now, end=now + timedelta(hours=2))
    assert window.state(now - timedelta(seconds=1)) == "before"
    assert window.state(now) == "open" and window.refusal(now) is None
    assert window.state(now + timedelta(hours=2)) == "after"
    early = window.refusal(now - timedelta(minutes=5))
    assert early is not None and early.reason == "schedule_window_not_open"
    assert "2026-12-01T09:00:00+00:00" in early.detail
    late = window.refusal(now + timedelta(hours=3))
    assert late is not None and late.reason == "schedule_window_closed"
