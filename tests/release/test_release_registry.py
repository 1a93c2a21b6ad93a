"""Speaker profiles and the release audit tables on a real PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from voicemill.db.catalog import connect
from voicemill.release.audit import (
    alias_history,
    record_alias_event,
    record_regression,
    regression_history,
)
from voicemill.release.profiles import (
    DEFAULT_USE_CASE_PRESETS,
    ProfileError,
    SpeakerProfile,
    get_profile,
    list_profiles,
    record_evaluation,
    save_profile,
)
from voicemill.synthesis.types import InferencePreset


def _profile(profile_id: str, **changes) -> SpeakerProfile:
    fields = {
        "profile_id": profile_id,
        "speaker": "en_m3",
        "language": "en",
        "reference_sha256": "ab" * 32,
        "reference_uri": "file:///voices/en_m3/reference.wav",
        "prompt_text": "The birch canoe slid on the smooth planks.",
        "model_name": "voice-en_m3",
    }
    return SpeakerProfile(**{**fields, **changes})


@pytest.fixture
def profile_id(platform_home: Path) -> str:
    return f"p-{uuid.uuid4().hex[:10]}"


def test_profiles_are_versioned_by_content(profile_id: str) -> None:
    with connect() as conn:
        first = save_profile(conn, _profile(profile_id))
        again = save_profile(conn, _profile(profile_id))
        slower = dict(DEFAULT_USE_CASE_PRESETS)
        slower["ivr"] = slower["ivr"].model_copy(update={"speed": 0.9})
        second = save_profile(conn, _profile(profile_id, presets=slower))
    assert (first.version, again.version, second.version) == (1, 1, 2)
    assert again.created_at == first.created_at
    with connect() as conn:
        assert get_profile(conn, profile_id).version == 2
        old = get_profile(conn, profile_id, 1)
        assert old.preset("ivr").speed == 1.0 and old.preset("ivr").seed == 1234
        assert get_profile(conn, profile_id).preset("ivr").speed == 0.9
        latest = {p.profile_id: p.version for p in list_profiles(conn)}
    assert latest[profile_id] == 2


def test_evaluation_scores_update_a_version_in_place(profile_id: str) -> None:
    with connect() as conn:
        stored = save_profile(conn, _profile(profile_id))
        scored = record_evaluation(conn, profile_id, stored.version, "3", {"cer": 0.12})
    assert scored.version == stored.version
    assert scored.quality_scores == {"cer": 0.12} and scored.evaluated_model_version == "3"
    assert scored.evaluated_at is not None
    with connect() as conn:
        assert get_profile(conn, profile_id).quality_scores == {"cer": 0.12}


def test_concurrent_saves_of_one_change_make_one_version(profile_id: str) -> None:
    with connect() as conn:
        save_profile(conn, _profile(profile_id))
    changed = _profile(profile_id, prompt_text="A new prompt text for the voice.")
    versions: list[int] = []

    def save() -> None:
        with connect() as conn:
            versions.append(save_profile(conn, changed).version)

    threads = [threading.Thread(target=save) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert versions == [2, 2, 2, 2]


def test_unknown_profiles_and_use_cases_are_clear_errors(profile_id: str) -> None:
    with connect() as conn, pytest.raises(ProfileError) as excinfo:
        get_profile(conn, profile_id)
    assert excinfo.value.reason == "unknown_profile"
    with pytest.raises(ProfileError) as excinfo:
        _profile(profile_id).preset("podcast")
    assert excinfo.value.reason == "unknown_use_case"
    assert "ivr" in excinfo.value.detail


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"profile_id": "../etc"}, "lowercase letters"),
        ({"presets": {"ivr": InferencePreset(seed=-1)}}, "random seed"),
        ({"presets": {}}, "at least 1"),
        ({"reference_sha256": "not-a-hash"}, "pattern"),
        ({"language": "fr"}, "'en', 'zh' or 'ja'"),
    ],
)
def test_invalid_profiles_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _profile(**{"profile_id": "ok", **changes})


def test_alias_and_regression_history_append_in_order(platform_home: Path) -> None:
    model = f"voice-{uuid.uuid4().hex[:8]}"
    with connect() as conn:
        record_alias_event(
            conn,
            model_name=model,
            alias="champion",
            action="register",
            version="1",
            previous_version=None,
            actor="ci",
        )
        record_alias_event(
            conn,
            model_name=model,
            alias="champion",
            action="promote",
            version="2",
            previous_version="1",
            actor="alice",
            reason="gate ok",
        )
        record_alias_event(
            conn,
            model_name=model,
            alias="champion",
            action="rollback",
            version="1",
            previous_version="2",
            actor="bob",
            reason="clipping",
            details={"ticket": "OPS-7"},
        )
        record_alias_event(
            conn,
            model_name=model,
            alias="challenger",
            action="gate_failed",
            version="3",
            previous_version=None,
            actor="dagster",
        )
        record_regression(
            conn,
            model_name=model,
            model_version="1",
            benchmark_fingerprint="f",
            scores={"cer": 0.3},
            baseline={"cer": 0.2},
            drift={"cer": 0.1},
            passed=False,
            run_id="run-1",
        )
    with connect() as conn:
        champion = alias_history(conn, model, "champion")
        everything = alias_history(conn, model)
        nightly = regression_history(conn, model)
    assert [(e["action"], e["version"], e["previous_version"]) for e in champion] == [
        ("register", "1", None),
        ("promote", "2", "1"),
        ("rollback", "1", "2"),
    ]
    assert champion[-1]["actor"] == "bob" and champion[-1]["details"] == {"ticket": "OPS-7"}
    assert len(everything) == 4
    assert [(r["passed"], r["drift"]) for r in nightly] == [(False, {"cer": 0.1})]


def test_alias_actions_are_constrained(platform_home: Path) -> None:
    import psycopg

    with connect() as conn, pytest.raises(psycopg.errors.CheckViolation):
        record_alias_event(
            conn,
            model_name="m",
            alias="champion",
            action="delete",  # type: ignore[arg-type]
            version="1",
            previous_version=None,
            actor="x",
        )
