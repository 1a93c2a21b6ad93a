"""Versioned migrations: a fresh database goes to head, back to base and up again."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from voicemill.db import migrate
from voicemill.db.server import Database, libpq_dsn
from voicemill.settings import get_settings


def _head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(migrate.alembic_config("postgresql://")).get_current_head()
    assert head is not None
    return head


HEAD = _head()

TABLES = {
    "datasets",
    "recordings",
    "utterances",
    "quarantine",
    "speaker_profiles",
    "model_alias_events",
    "regression_results",
    "campaigns",
    "deliveries",
    "delivery_events",
    "synthesis_cache",
    "api_keys",
    "api_usage",
    "api_requests",
}


def _tables(settings) -> set[str]:
    with psycopg.connect(libpq_dsn(Database.APP, settings)) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def test_migrations_upgrade_downgrade_and_upgrade_again(platform_home: Path) -> None:
    from voicemill.db.server import database_url

    base = make_url(database_url())
    fresh = base.set(database=f"migrate_{uuid.uuid4().hex[:8]}")
    settings = get_settings().model_copy(
        update={"database_url": fresh.render_as_string(hide_password=False)}
    )
    migrate.upgrade(settings)
    assert migrate.current_revision(settings) == HEAD
    assert _tables(settings) >= TABLES
    migrate.upgrade(settings)  # idempotent
    from alembic import command

    url = database_url(Database.APP, driver="psycopg", settings=settings)
    command.downgrade(migrate.alembic_config(url), "base")
    assert migrate.current_revision(settings) is None
    assert not (TABLES & _tables(settings))
    migrate.upgrade(settings)
    assert _tables(settings) >= TABLES
