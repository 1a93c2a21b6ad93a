"""Bring the platform's runtime up: state directory, database, schema, Dagster env.

Every entry point (CLI commands, ``voicemill dev``, tests) calls :func:`bootstrap`
once; it is idempotent and fast when everything already runs (the embedded
PostgreSQL keeps running between commands).
"""

from __future__ import annotations

import os
from pathlib import Path

from voicemill.db import migrate
from voicemill.db.server import Database, database_url
from voicemill.settings import PROJECT_ROOT, Settings, get_settings

# Telemetry off for everything we embed; none of it can reach the network here anyway.
QUIET_ENVIRONMENT = {
    "GX_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PYANNOTE_METRICS_ENABLED": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DAGSTER_DISABLE_TELEMETRY": "1",
}


def bootstrap(settings: Settings | None = None) -> dict[str, str]:
    """Start/locate PostgreSQL, migrate the schema, export Dagster's environment."""
    settings = settings or get_settings()
    for key, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    settings.home_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings)
    env = {
        "VOICEMILL_HOME": str(settings.home_dir),
        # dagster.yaml lives at the project root; its storage settings read the
        # variables below, so the instance follows the state directory.
        "DAGSTER_HOME": str(PROJECT_ROOT),
        "VOICEMILL_DAGSTER_PG_URL": database_url(
            Database.DAGSTER, driver="psycopg2", settings=settings
        ),
        "VOICEMILL_DAGSTER_STORAGE": str(settings.dagster_storage_dir / "artifacts"),
        "VOICEMILL_DAGSTER_COMPUTE_LOGS": str(settings.dagster_storage_dir / "compute_logs"),
    }
    if settings.database_url:
        env["VOICEMILL_DATABASE_URL"] = settings.database_url
    os.environ.update(env)
    return env


def write_dotenv(path: Path, env: dict[str, str]) -> Path:
    """Write ``env`` as a ``.env`` file that plain ``dagster dev``/``dagster`` commands
    load from their working directory (Dagster reads ``.env`` before it opens the
    instance), so they find dagster.yaml and its PostgreSQL without ``voicemill dev``.

    The file may hold a database password: it is written atomically with mode 0600.
    """
    import tempfile

    lines = ["# Written by `voicemill dotenv`: what plain Dagster commands need.\n"]
    for key, value in sorted(env.items()):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'{key}="{escaped}"\n')
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp: mode 0600
            handle.writelines(lines)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
