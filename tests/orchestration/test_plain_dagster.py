"""Plain Dagster commands (a Dagster user's habits) work on VoiceMill's instance once
`voicemill dotenv` has written the .env Dagster reads from its working directory."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path


def _dagster(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VOICEMILL_", "DAGSTER_"))}
    dagster = str(Path(sys.executable).with_name("dagster"))
    return subprocess.run(
        [dagster, *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=180
    )


def test_plain_dagster_finds_the_instance_through_the_written_dotenv(
    platform_home: Path, tmp_path: Path
) -> None:
    from voicemill.platform import bootstrap, write_dotenv

    without = _dagster(["instance", "info"], tmp_path)
    assert "postgres" not in without.stdout.lower()  # no instance of ours without it

    env = bootstrap()
    path = write_dotenv(tmp_path / ".env", {**env, "QUOTED": 'a "b" \\ c'})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it may hold a database password
    info = _dagster(["instance", "info"], tmp_path)
    assert info.returncode == 0, info.stderr[-2000:]
    assert "PostgresRunStorage" in info.stdout
    from dotenv import dotenv_values

    assert dotenv_values(path)["QUOTED"] == 'a "b" \\ c'
    assert dotenv_values(path)["VOICEMILL_DAGSTER_PG_URL"] == env["VOICEMILL_DAGSTER_PG_URL"]
