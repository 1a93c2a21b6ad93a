"""Registering, promoting and rolling back voices in a real MLflow registry, audited."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from voicemill.db.catalog import connect
from voicemill.release.audit import alias_history
from voicemill.release.registry import (
    CHALLENGER,
    CHAMPION,
    RegistryError,
    alias_version,
    champion_stack,
    gate_verdict,
    list_models,
    list_versions,
    promote,
    record_gate_verdict,
    register_voice,
    rollback,
)


@pytest.fixture
def client(platform_home: Path):
    from voicemill.tracking import open_client

    return open_client()


@pytest.fixture
def registered(client, tmp_path: Path) -> tuple[str, list[str]]:
    """A model with three versions; each source is a real directory."""
    name = f"voice-{uuid.uuid4().hex[:8]}"
    versions = []
    for i in range(3):
        source = tmp_path / f"model{i}"
        source.mkdir()
        (source / "MLmodel").write_text(f"version {i}\n")
        with connect() as conn:
            mv = register_voice(
                client,
                conn,
                name=name,
                source=source.as_uri(),
                run_id=None,
                actor="ci",
                tags={"dataset": "demo"},
            )
        versions.append(mv.version)
    return name, versions


def test_every_registration_becomes_the_challenger(client, registered) -> None:
    name, versions = registered
    assert versions == ["1", "2", "3"]
    assert alias_version(client, name, CHALLENGER) == "3"
    assert alias_version(client, name, CHAMPION) is None
    listed = list_versions(client, name)
    assert [v.version for v in listed] == ["3", "2", "1"]
    assert listed[0].aliases == (CHALLENGER,) and listed[0].tags["dataset"] == "demo"
    assert name in list_models(client)
    with connect() as conn:
        events = alias_history(conn, name, CHALLENGER)
    assert [(e["action"], e["version"], e["previous_version"]) for e in events] == [
        ("register", "1", None),
        ("register", "2", "1"),
        ("register", "3", "2"),
    ]


def test_rollback_walks_back_one_champion_at_a_time(client, registered) -> None:
    name, _ = registered
    with connect() as conn:
        assert promote(client, conn, name=name, version="1", actor="alice", reason="first") is None
        assert promote(client, conn, name=name, version="2", actor="alice", reason="gate") == "1"
        promote(client, conn, name=name, version="3", actor="bob", reason="gate")
    with connect() as conn:
        assert rollback(client, conn, name=name, actor="ops", reason="clipping") == ("3", "2")
    assert alias_version(client, name, CHAMPION) == "2"
    with connect() as conn:
        assert rollback(client, conn, name=name, actor="ops", reason="again") == ("2", "1")
        assert champion_stack(conn, name) == ["1"]
        with pytest.raises(RegistryError) as excinfo:
            rollback(client, conn, name=name, actor="ops", reason="nothing before 1")
    assert excinfo.value.reason == "no_previous"
    assert alias_version(client, name, CHAMPION) == "1"
    with connect() as conn:
        last = alias_history(conn, name, CHAMPION)[-1]
    assert (last["action"], last["actor"], last["reason"]) == ("rollback", "ops", "again")


def test_a_failed_gate_keeps_the_challenger_and_records_why(client, registered) -> None:
    name, _ = registered
    with connect() as conn:
        promote(client, conn, name=name, version="1", actor="ci", reason="first")
        assert gate_verdict(conn, name, "3") is None  # never gated
        record_gate_verdict(conn, name=name, version="3", passed=True, actor="ci", reason="ok")
        record_gate_verdict(
            conn,
            name=name,
            version="3",
            passed=False,
            actor="ci",
            reason="cer regressed",
            details={"checks": ["primary_error vs champion"]},
        )
        assert gate_verdict(conn, name, "3") is False  # the latest verdict counts
        assert gate_verdict(conn, name, "1") is None
    assert alias_version(client, name, CHAMPION) == "1"
    assert alias_version(client, name, CHALLENGER) == "3"
    with connect() as conn:
        failed = [e for e in alias_history(conn, name) if e["action"] == "gate_failed"]
    assert failed[0]["details"] == {"checks": ["primary_error vs champion"]}


def test_unknown_models_versions_and_missing_champions_are_clear(client, registered) -> None:
    name, _ = registered
    with connect() as conn:
        with pytest.raises(RegistryError) as excinfo:
            promote(client, conn, name=name, version="9", actor="x", reason="typo")
        assert excinfo.value.reason == "unknown_version"
        with pytest.raises(RegistryError) as excinfo:
            rollback(client, conn, name=name, actor="x", reason="none yet")
        assert excinfo.value.reason == "no_champion"
    with pytest.raises(RegistryError) as excinfo:
        list_versions(client, "no-such-voice")
    assert excinfo.value.reason == "unknown_model"
    with connect() as conn:  # the refused promotion left no audit row behind
        assert all(e["version"] != "9" for e in alias_history(conn, name))


def test_operators_promote_roll_back_and_read_history_from_the_cli(registered) -> None:
    from click.testing import CliRunner

    from voicemill.commands.models import models

    name, _ = registered
    runner = CliRunner()
    first = runner.invoke(models, ["promote", name, "2", "--reason", "gate ok", "--actor", "al"])
    assert first.exit_code == 0, first.output
    assert f"{name}: champion - -> 2" in first.output
    runner.invoke(models, ["promote", name, "3", "--reason", "better", "--actor", "al"])
    listed = runner.invoke(models, ["list", name])
    assert listed.exit_code == 0
    assert listed.output.splitlines()[0].split()[:2] == ["3", "challenger,champion"]
    back = runner.invoke(models, ["rollback", name, "--reason", "artifacts", "--actor", "op"])
    assert back.exit_code == 0 and "champion 3 -> 2 (rolled back)" in back.output
    history = runner.invoke(models, ["history", name])
    assert "rollback" in history.output and "op: artifacts" in history.output
    missing = runner.invoke(models, ["rollback", "no-such-voice", "--reason", "x"])
    assert missing.exit_code != 0 and "no_champion" in missing.output
    no_reason = runner.invoke(models, ["rollback", name])
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
