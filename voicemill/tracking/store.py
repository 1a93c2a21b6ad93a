"""Where MLflow keeps runs and artifacts, and getting its database ready.

The tracking store is the platform's PostgreSQL: database ``<db>_mlflow``
(``voicemill_mlflow`` on the embedded server), reached through SQLAlchemy with
the ``postgresql+psycopg2`` driver. psycopg 3 is installed too, and SQLAlchemy 2.1
picks it for a plain ``postgresql://`` URL; MLflow works with both here, but
psycopg2 is the driver MLflow is tested with and the one Dagster's storage needs,
so the platform uses one driver for both. ``VOICEMILL_MLFLOW_TRACKING_URI``
replaces the whole URI (another database, or an ``http://`` tracking server).

Artifacts go to ``$VOICEMILL_HOME/mlflow-artifacts`` as a ``file://`` URI unless
``VOICEMILL_MLFLOW_ARTIFACT_ROOT`` says otherwise. Each experiment gets an
explicit artifact location under that root; MLflow's fallback is ``./mlruns``
in whatever directory the process happens to run in.

Nothing here calls ``mlflow.set_tracking_uri`` or sets ``MLFLOW_TRACKING_URI``:
those are process-wide, and one process can hold several clients on different
stores (a Dagster run with two resources, a test suite with a throwaway store per
session). Every client is an explicit :class:`mlflow.MlflowClient` on one URI.
MLflow itself is imported inside functions; it takes 1–2 s.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from voicemill.db.server import Database, database_url
from voicemill.settings import Settings, get_settings

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Experiment

log = logging.getLogger(__name__)

DRIVER = "psycopg2"
ARTIFACTS_DIRNAME = "mlflow-artifacts"
_DATABASE_SCHEMES = ("postgresql", "mysql", "sqlite", "mssql")
# pg_advisory_lock key held while MLflow's schema is created or upgraded.
_SCHEMA_LOCK_KEY = 0x766D_6D6C_666C  # "vmmlfl"

_REVISION = re.compile(r"^revision\s*=\s*[\"']([0-9A-Za-z_]+)[\"']", re.M)
_DOWN_REVISION = re.compile(r"^down_revision\s*=\s*(.*)$", re.M)
_QUOTED = re.compile(r"[\"']([0-9A-Za-z_]+)[\"']")

_schema_ready: set[str] = set()
_schema_lock = threading.Lock()


def tracking_uri(settings: Settings | None = None) -> str:
    """MLflow tracking (and registry) URI: the override, else the platform's PostgreSQL."""
    settings = settings or get_settings()
    if settings.mlflow_tracking_uri:
        return settings.mlflow_tracking_uri
    return database_url(Database.MLFLOW, driver=DRIVER, settings=settings)


def artifact_root(settings: Settings | None = None) -> str:
    """Root URI under which experiments keep their artifacts (``file://`` by default)."""
    settings = settings or get_settings()
    if settings.mlflow_artifact_root:
        return as_uri(settings.mlflow_artifact_root)
    return (settings.home_dir / ARTIFACTS_DIRNAME).as_uri()


def as_uri(location: str) -> str:
    """A URI for ``location``; a plain local path becomes an absolute ``file://`` URI."""
    if "://" in location or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:/", location):
        return location.rstrip("/")
    return Path(location).expanduser().resolve().as_uri()


def is_database_uri(uri: str) -> bool:
    """Whether ``uri`` names a SQL store (as opposed to an HTTP tracking server)."""
    scheme = urlparse(uri).scheme.lower().split("+", 1)[0]
    return scheme in _DATABASE_SCHEMES


def experiment_location(root: str, name: str) -> str:
    """Artifact location of experiment ``name`` under ``root``."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "experiment"
    return f"{root.rstrip('/')}/{slug}"


# -- schema ---------------------------------------------------------------------


@lru_cache(maxsize=1)
def schema_head() -> str:
    """The newest revision of MLflow's tracking schema.

    Read from the ``revision``/``down_revision`` lines of MLflow's migration
    scripts: loading them through Alembic would import mlflow (~1.5 s), which
    the check of an up-to-date schema should not need.
    """
    spec = importlib.util.find_spec("mlflow")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("mlflow is not installed")
    versions = Path(next(iter(spec.submodule_search_locations))) / "store/db_migrations/versions"
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in versions.glob("*.py"):
        text = script.read_text()
        revision, down = _REVISION.search(text), _DOWN_REVISION.search(text)
        if revision and down:
            revisions.add(revision.group(1))
            parents.update(_QUOTED.findall(down.group(1)))
    heads = revisions - parents
    if len(heads) == 1:
        return heads.pop()
    # Scripts in an unexpected shape: ask Alembic (this imports mlflow).
    from alembic.script import ScriptDirectory

    alembic_heads = ScriptDirectory(str(versions.parent)).get_heads()
    if len(alembic_heads) != 1:
        raise RuntimeError(f"MLflow's migrations have {len(alembic_heads)} heads")
    return alembic_heads[0]


def schema_revision(uri: str) -> str | None:
    """The revision MLflow's tables in ``uri`` are at; ``None`` for an empty database."""
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(uri, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def ensure_schema(
    uri: str | None = None, *, root: str | None = None, settings: Settings | None = None
) -> bool:
    """Create or upgrade MLflow's tables in the tracking database; True if it changed them.

    MLflow creates its tables itself on the first use of an empty SQL store, but
    without any lock between processes (its own file lock is per host and only
    used by some entry points), and it creates the ``Default`` experiment with
    an artifact location under ``./mlruns`` of the current directory. Here the
    work happens under a PostgreSQL advisory lock, so two processes (the UI
    server, a Dagster run worker) can make the first use at once: one migrates,
    the other waits and finds the tables ready. The check when the schema is
    current reads one row without importing mlflow and is remembered for the
    rest of the process. Creating the tables on an empty database takes about
    1.3 s on the embedded PostgreSQL (plus ~2 s to import mlflow).

    Non-SQL URIs (an ``http://`` tracking server) are left alone: the server owns
    its schema.
    """
    settings = settings or get_settings()
    uri = uri or tracking_uri(settings)
    if uri in _schema_ready:
        return False
    if not is_database_uri(uri):
        _schema_ready.add(uri)
        return False
    with _schema_lock:
        if uri in _schema_ready:
            return False
        changed = False
        if schema_revision(uri) != schema_head():
            changed = _migrate_locked(uri, root or artifact_root(settings))
        _schema_ready.add(uri)
        return changed


def _migrate_locked(uri: str, root: str) -> bool:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    lock_engine = create_engine(uri, poolclass=NullPool)
    try:
        with lock_engine.connect() as conn:
            postgres = conn.dialect.name == "postgresql"
            if postgres:
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
                conn.commit()
            try:
                return _migrate(uri, root)
            finally:
                if postgres:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _SCHEMA_LOCK_KEY})
                    conn.commit()
    finally:
        lock_engine.dispose()


def _migrate(uri: str, root: str) -> bool:
    from mlflow.store.db import utils as db_utils
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    started = time.perf_counter()
    engine = create_engine(uri, poolclass=NullPool)
    try:
        current = db_utils._get_schema_version(engine)
        if current == schema_head():
            return False  # another process finished while we waited for the lock
        if db_utils._is_empty_database(engine):
            log.info("creating MLflow's tables")
            db_utils._initialize_tables(engine)
        else:
            log.info("upgrading MLflow's schema from %s to %s", current, schema_head())
            db_utils._upgrade_db(engine)
    finally:
        engine.dispose()
    # Constructing the store creates the Default experiment; do it while we hold the
    # lock, with our artifact root instead of ./mlruns.
    SqlAlchemyStore(uri, root)
    log.info("MLflow schema ready in %.1f s", time.perf_counter() - started)
    return True


# -- clients and experiments ----------------------------------------------------------


def open_client(
    settings: Settings | None = None,
    *,
    uri: str | None = None,
    root: str | None = None,
) -> MlflowClient:
    """An :class:`mlflow.MlflowClient` for tracking and the model registry on one store."""
    from mlflow import MlflowClient

    settings = settings or get_settings()
    uri = uri or tracking_uri(settings)
    ensure_schema(uri, root=root, settings=settings)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def ensure_experiment(
    client: MlflowClient,
    name: str,
    *,
    root: str | None = None,
    tags: dict[str, str] | None = None,
) -> Experiment:
    """The experiment called ``name``, created under ``root`` if it does not exist.

    Idempotent and safe when several processes ask at once: the database's unique
    name constraint lets exactly one creation through and the others read the
    winner's experiment. A deleted experiment of that name is restored. With
    ``root=None`` the store's default location applies (use that for an HTTP
    tracking server with its own artifact store).
    """
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        location = experiment_location(root, name) if root else None
        try:
            client.create_experiment(name, artifact_location=location, tags=tags)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        experiment = client.get_experiment_by_name(name)
        if experiment is None:  # pragma: no cover - deleted between the two calls
            raise RuntimeError(f"experiment {name!r} vanished while it was being created")
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
        experiment = client.get_experiment(experiment.experiment_id)
    return experiment
