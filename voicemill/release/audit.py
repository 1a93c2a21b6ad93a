"""Append-only history of alias moves and nightly regression results.

The registry (MLflow) answers "which version is champion now"; these rows answer who
moved an alias, when, why and from which version, and how each champion scored night
after night. Rows are never updated or deleted.
"""

from __future__ import annotations

from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb

AliasAction = Literal["register", "promote", "rollback", "gate_failed", "gate_passed"]


def record_alias_event(
    conn: psycopg.Connection,
    *,
    model_name: str,
    alias: str,
    action: AliasAction,
    version: str,
    previous_version: str | None,
    actor: str,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> int:
    """Append one alias move; returns its event id."""
    row = conn.execute(
        """
        INSERT INTO model_alias_events
            (model_name, alias, action, version, previous_version, actor, reason, details)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
        RETURNING event_id
        """,
        (model_name, alias, action, version, previous_version, actor, reason, Jsonb(details or {})),
    ).fetchone()
    return int(row["event_id"])


def alias_history(
    conn: psycopg.Connection, model_name: str, alias: str | None = None
) -> list[dict[str, Any]]:
    """Events of a model (optionally one alias), oldest first."""
    return conn.execute(
        "SELECT * FROM model_alias_events WHERE model_name = %s "
        "AND (%s::text IS NULL OR alias = %s) ORDER BY event_id",
        (model_name, alias, alias),
    ).fetchall()


def record_regression(
    conn: psycopg.Connection,
    *,
    model_name: str,
    model_version: str,
    benchmark_fingerprint: str,
    scores: dict[str, float],
    baseline: dict[str, float],
    drift: dict[str, float],
    passed: bool,
    run_id: str | None = None,
) -> int:
    """Append one nightly comparison of a champion against its registration scores."""
    row = conn.execute(
        """
        INSERT INTO regression_results (model_name, model_version, benchmark_fingerprint,
                                        scores, baseline, drift, passed, run_id)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
        RETURNING result_id
        """,
        (
            model_name,
            model_version,
            benchmark_fingerprint,
            Jsonb(scores),
            Jsonb(baseline),
            Jsonb(drift),
            passed,
            run_id,
        ),
    ).fetchone()
    return int(row["result_id"])


def regression_history(conn: psycopg.Connection, model_name: str) -> list[dict[str, Any]]:
    """Nightly results of a model, oldest first."""
    return conn.execute(
        "SELECT * FROM regression_results WHERE model_name = %s ORDER BY result_id",
        (model_name,),
    ).fetchall()
