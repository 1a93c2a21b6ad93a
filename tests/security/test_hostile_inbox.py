"""Hostile inbox drops: specs, recipient files and folder layouts that once hung, crashed
or took over the campaign inbox sensor. Each ends in a clear rejection within bounded
time and memory, and the good campaigns dropped beside them are still submitted and
launched.
"""

from __future__ import annotations

import json
import os
import resource
import time
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from voicemill.campaign.errors import CampaignError
from voicemill.campaign.recipients import (
    RecipientLimits,
    check_recipients_file,
    load_recipients,
)
from voicemill.campaign.spec import SpecLimits, load_campaign_spec

GOOD_SPEC = {
    "campaign_id": "good",
    "voice_profile": "ann",
    "templates": [{"id": "main", "text": "Hello {{ first_name }}."}],
}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _refused(call, *args) -> CampaignError:
    """The error ``call`` raises, checked to come quickly and without a memory spike."""
    before, started = _peak_mb(), time.monotonic()
    with pytest.raises(CampaignError) as info:
        call(*args)
    assert time.monotonic() - started < 10
    assert _peak_mb() - before < 100
    return info.value


# -- specs ------------------------------------------------------------------------------


def _deep_json(depth: int) -> str:
    return '{"campaign_id": "x", "extra": ' + "[" * depth + "]" * depth + "}"


def _deep_yaml(depth: int) -> str:
    return "campaign_id: x\nextra: " + "[" * depth + "]" * depth + "\n"


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("spec.json", _deep_json(100_000), "spec_too_complex"),
        ("spec.yaml", _deep_yaml(100_000), "spec_too_complex"),
        ("spec.yaml", ALIAS_BOMB, "spec_too_complex"),
        ("spec.json", json.dumps({**GOOD_SPEC, "pad": "x" * 2_000_000}), "spec_too_large"),
        (
            "spec.json",
            '{"campaign_id": "x", "a": "\\\\[[[[["}',
            "spec_invalid",
        ),  # brackets in strings
    ],
)
def test_hostile_specs_are_refused_before_parsing(
    tmp_path: Path, name: str, content: str, reason: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    error = _refused(load_campaign_spec, path, SpecLimits())
    assert error.reason == reason, error.detail
    assert name in error.detail


def test_a_fifo_or_link_spec_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.json"
    os.mkfifo(fifo)  # nobody writes: opening it for reading would block forever
    assert _refused(load_campaign_spec, fifo).reason == "spec_unreadable"
    target = tmp_path / "real.json"
    target.write_text(json.dumps(GOOD_SPEC))
    link = tmp_path / "spec_link.json"
    link.symlink_to(target)
    assert "not a regular file" in _refused(load_campaign_spec, link).detail
    assert load_campaign_spec(target).campaign_id == "good"


# -- recipients -------------------------------------------------------------------------


def _expanding_parquet(path: Path, rows: int, cell_chars: int, dictionary: bool) -> None:
    """A small file that decodes to rows x cell_chars characters: one value repeated,
    as a dictionary column (the footer counts the dictionary once) or a plain one
    (compression hides it; the footer tells the truth)."""
    value = "x" * cell_chars
    names = (
        pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), pa.array([value]))
        if dictionary
        else pa.array([value] * rows)
    )
    ids = pa.array([f"r-{i}" for i in range(rows)])
    table = pa.table({"recipient_id": ids, "first_name": names})
    pq.write_table(table, path, compression="zstd", use_dictionary=dictionary)


@pytest.mark.parametrize("dictionary", [True, False])
def test_a_parquet_that_expands_is_refused(tmp_path: Path, dictionary: bool) -> None:
    path = tmp_path / "recipients.parquet"
    _expanding_parquet(path, rows=20_000, cell_chars=2_000, dictionary=dictionary)  # 40 MB
    assert path.stat().st_size < 500_000
    limits = RecipientLimits(max_decoded_bytes=10 * 1024 * 1024)
    error = _refused(load_recipients, path, limits)
    assert error.reason == "recipients_too_large" and "decodes to" in error.detail
    if not dictionary:  # what the sensor checks: an honest footer, without reading rows
        error = _refused(check_recipients_file, path, limits)
        assert error.reason == "recipients_too_large"
    assert len(load_recipients(path, RecipientLimits())) == 20_000  # the default bound is 1 GB


def test_too_many_rows_are_refused(tmp_path: Path) -> None:
    csv_path = tmp_path / "recipients.csv"
    pd.DataFrame({"recipient_id": [f"r-{i}" for i in range(50)]}).to_csv(csv_path, index=False)
    error = _refused(load_recipients, csv_path, RecipientLimits(max_rows=49))
    assert error.reason == "recipients_too_large" and "at most 49" in error.detail
    parquet_path = tmp_path / "recipients.parquet"
    pd.DataFrame({"recipient_id": [f"r-{i}" for i in range(50)]}).to_parquet(parquet_path)
    error = _refused(check_recipients_file, parquet_path, RecipientLimits(max_rows=49))
    assert error.reason == "recipients_too_large"
    assert len(load_recipients(csv_path, RecipientLimits(max_rows=50))) == 50


def test_oversized_fifo_and_linked_recipient_files_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "recipients.csv"
    big.write_text("recipient_id\n" + "r\n" * 600_000)
    error = _refused(check_recipients_file, big, RecipientLimits(max_bytes=1024 * 1024))
    assert error.reason == "recipients_too_large"
    fifo = tmp_path / "fifo" / "recipients.csv"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    for call in (check_recipients_file, load_recipients):
        assert "not a regular file" in _refused(call, fifo).detail
    link = tmp_path / "link" / "recipients.csv"
    link.parent.mkdir()
    link.symlink_to("/etc/passwd")
    assert "not a regular file" in _refused(check_recipients_file, link).detail


# -- the inbox sensor -------------------------------------------------------------------


def _drop(
    inbox: Path,
    folder: str,
    spec: str | dict,
    recipients: str = "recipient_id\nr-1\n",
    spec_name: str = "spec.json",
) -> Path:
    path = inbox / folder
    path.mkdir(parents=True)
    (path / spec_name).write_text(spec if isinstance(spec, str) else json.dumps(spec))
    (path / "recipients.csv").write_text(recipients)
    return path


def _settle(folder: Path) -> None:
    past = time.time() - 60
    for path in folder.iterdir():
        os.utime(path, (past, past), follow_symlinks=False)


@pytest.mark.usefixtures("platform_home")
def test_hostile_drops_are_refused_and_the_good_campaigns_still_launch(tmp_path: Path) -> None:
    import dagster as dg

    from voicemill.campaign.audit import get_campaign
    from voicemill.db.catalog import connect
    from voicemill.orchestration.resources import CampaignResource, PostgresResource
    from voicemill.orchestration.sensors import campaign_inbox_sensor

    campaigns = CampaignResource(root=str(tmp_path / "campaigns"))
    inbox = campaigns.inbox_path
    suffix = uuid.uuid4().hex[:6]
    good = [f"good-a-{suffix}", f"good-z-{suffix}"]
    hostile = {
        "a-parens": {
            **GOOD_SPEC,
            "campaign_id": f"parens-{suffix}",
            "templates": [{"id": "main", "text": "{{" + "(" * 205 + ")" * 205 + "}}"}],
        },
        "b-deep-json": _deep_json(100_000),
        "c-alias-bomb": ALIAS_BOMB,
        "d-not-json": "{",
        "e-no-id-column": {**GOOD_SPEC, "campaign_id": f"noid-{suffix}"},
    }
    _drop(inbox, "0-first-good", {**GOOD_SPEC, "campaign_id": good[0]})
    for name, spec in hostile.items():
        _drop(
            inbox,
            name,
            spec,
            recipients="name\nAnn\n" if name.startswith("e") else "recipient_id\nr-1\n",
            spec_name="spec.yaml" if name == "c-alias-bomb" else "spec.json",
        )
    fifo_drop = inbox / "f-fifo"
    fifo_drop.mkdir()
    (fifo_drop / "spec.json").write_text(json.dumps({**GOOD_SPEC, "campaign_id": f"fifo-{suffix}"}))
    os.mkfifo(fifo_drop / "recipients.csv")
    link_drop = inbox / "g-link"
    link_drop.mkdir()
    (link_drop / "spec.json").write_text(json.dumps({**GOOD_SPEC, "campaign_id": f"link-{suffix}"}))
    (link_drop / "recipients.csv").symlink_to("/etc/passwd")
    (inbox / "h-linked-folder").symlink_to(tmp_path)
    _drop(inbox, "z-last-good", {**GOOD_SPEC, "campaign_id": good[1]})
    for folder in inbox.iterdir():
        if not folder.is_symlink():
            _settle(folder)

    instance = dg.DagsterInstance.get()
    resources = {"campaigns": campaigns, "postgres": PostgresResource()}
    started, before = time.monotonic(), _peak_mb()
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = campaign_inbox_sensor(context)
    assert time.monotonic() - started < 30
    assert _peak_mb() - before < 200
    launched = {r.partition_key for r in result.run_requests}
    assert set(good) <= launched
    with connect() as conn:
        for campaign_id in good:
            assert get_campaign(conn, campaign_id).status == "submitted"
        for campaign_id in (
            f"parens-{suffix}",
            f"noid-{suffix}",
            f"fifo-{suffix}",
            f"link-{suffix}",
        ):
            with pytest.raises(CampaignError):
                get_campaign(conn, campaign_id)
    cursor = json.loads(result.cursor)
    for name in [*hostile, "f-fifo", "g-link"]:
        assert name in cursor, f"{name} is not remembered: it would be retried every tick"
    assert cursor["g-link"] == "refused:inbox_not_regular"
    # The next tick: nothing is submitted again and the sensor still does not fail.
    with dg.build_sensor_context(
        instance=instance, resources=resources, cursor=result.cursor
    ) as context:
        again = campaign_inbox_sensor(context)
    assert set(good) <= {r.partition_key for r in again.run_requests}
