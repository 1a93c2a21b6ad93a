"""``voicemill profiles``: presets changed from the CLI become new profile versions."""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner

from voicemill.cli import main
from voicemill.db.catalog import connect
from voicemill.release.profiles import SpeakerProfile, get_profile, save_profile

pytestmark = pytest.mark.usefixtures("platform_home")


def _profile() -> str:
    profile_id = f"p_{uuid.uuid4().hex[:8]}"
    with connect() as conn:
        save_profile(
            conn,
            SpeakerProfile(
                profile_id=profile_id,
                speaker="en_m3",
                language="en",
                reference_sha256="ab" * 32,
                reference_uri="file:///voices/en_m3/reference.wav",
                model_name="voice-en_m3",
            ),
        )
    return profile_id


def test_set_preset_saves_a_new_version_and_keeps_the_old() -> None:
    profile_id = _profile()
    runner = CliRunner()
    out = runner.invoke(
        main, ["profiles", "set-preset", profile_id, "ivr", "--temperature", "0.5", "--seed", "9"]
    )
    assert out.exit_code == 0, out.output
    assert f"{profile_id} v2 (saved)" in out.output
    with connect() as conn:
        new, old = get_profile(conn, profile_id), get_profile(conn, profile_id, 1)
    assert (new.presets["ivr"].temperature, new.presets["ivr"].seed) == (0.5, 9)
    assert new.presets["ivr"].top_k == old.presets["ivr"].top_k  # the rest is kept
    assert old.presets["ivr"].temperature == 0.7  # the old version is untouched
    again = runner.invoke(
        main, ["profiles", "set-preset", profile_id, "ivr", "--temperature", "0.5"]
    )
    assert "v2 (unchanged)" in again.output
    shown = runner.invoke(main, ["profiles", "show", profile_id, "--version", "1"])
    assert json.loads(shown.output)["presets"]["ivr"]["temperature"] == 0.7
    listed = runner.invoke(main, ["profiles", "list"])
    assert profile_id in listed.output


def test_bad_preset_values_and_unknown_profiles_are_refused() -> None:
    profile_id = _profile()
    runner = CliRunner()
    bad = runner.invoke(main, ["profiles", "set-preset", profile_id, "ivr", "--seed", "-1"])
    assert bad.exit_code != 0 and "draw a random seed" in bad.output
    unknown = runner.invoke(main, ["profiles", "set-preset", "nobody", "ivr", "--top-k", "3"])
    assert unknown.exit_code != 0 and "unknown_profile" in unknown.output
    nothing = runner.invoke(main, ["profiles", "set-preset", profile_id, "ivr"])
    assert nothing.exit_code != 0 and "at least one setting" in nothing.output
