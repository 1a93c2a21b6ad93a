"""Versioned schema migrations (Alembic), applied programmatically.

Alembic is the migration tool of the SQLAlchemy ecosystem that Dagster and
MLflow already ship; revisions live in ``voicemill/db/migrations/versions``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from voicemill.db.server import Database, database_url, ensure_databases
from voicemill.settings import Settings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(settings: Settings | None = None, revision: str = "head") -> None:
    """Create the databases if needed and bring the app schema to ``revision``."""
    ensure_databases(settings)
    url = database_url(Database.APP, driver="psycopg", settings=settings)
    command.upgrade(alembic_config(url), revision)


def current_revision(settings: Settings | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(database_url(Database.APP, driver="psycopg", settings=settings))
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
