"""Voices in the MLflow model registry: register, promote, roll back — all audited.

MLflow keeps versions and where each alias points now; every move is also appended to
``model_alias_events`` (who, when, why, from which version). The audit row is written
in the caller's transaction *before* the alias moves, so a failed move leaves no row
once the transaction rolls back, and no move happens without its row. ``challenger`` is the
newest registered candidate, ``champion`` the version that serves.

Rollback is one step back along the champion's history: promotions push a version,
rollbacks pop one, so rolling back twice after two promotions returns to the first
champion, and a rollback is never confused with a new promotion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg

from voicemill.errors import RejectedInput
from voicemill.release.audit import AliasAction, alias_history, record_alias_event

if TYPE_CHECKING:
    from mlflow import MlflowClient

CHALLENGER = "challenger"
CHAMPION = "champion"


class RegistryError(RejectedInput):
    """Reasons: ``unknown_model``, ``unknown_version``, ``no_champion``, ``no_previous``."""


@dataclass(frozen=True)
class VoiceVersion:
    name: str
    version: str
    aliases: tuple[str, ...]
    run_id: str | None
    source: str
    created_ms: int
    tags: dict[str, str]


def _version(mv: Any, aliases: tuple[str, ...] | None = None) -> VoiceVersion:
    return VoiceVersion(
        name=mv.name,
        version=str(mv.version),
        aliases=aliases if aliases is not None else tuple(sorted(mv.aliases or [])),
        run_id=mv.run_id,
        source=mv.source,
        created_ms=int(mv.creation_timestamp or 0),
        tags=dict(mv.tags or {}),
    )


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version an alias points to, or None when it is unset (or the model unknown)."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def list_versions(client: MlflowClient, name: str) -> list[VoiceVersion]:
    """Every version of ``name``, newest first."""
    versions = client.search_model_versions(f"name = '{_quoted(name)}'")
    if not versions:
        raise RegistryError("unknown_model", f"no registered model {name!r}")
    # Search results carry no aliases; the registered model knows where each points.
    by_version: dict[str, list[str]] = {}
    for alias, version in client.get_registered_model(name).aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    found = [_version(v, tuple(sorted(by_version.get(str(v.version), [])))) for v in versions]
    return sorted(found, key=lambda v: int(v.version), reverse=True)


def list_models(client: MlflowClient) -> list[str]:
    return sorted(m.name for m in client.search_registered_models())


def register_voice(
    client: MlflowClient,
    conn: psycopg.Connection,
    *,
    name: str,
    source: str,
    run_id: str | None,
    actor: str,
    tags: dict[str, str] | None = None,
    description: str = "",
) -> VoiceVersion:
    """Register ``source`` (a pyfunc model directory URI) and alias it ``challenger``."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name, description=description or None)
    except MlflowException as exc:
        if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
            raise
    mv = client.create_model_version(name, source, run_id=run_id, tags=tags or {})
    version = str(mv.version)
    previous = alias_version(client, name, CHALLENGER)
    _audit(conn, name, CHALLENGER, "register", version, previous, actor, "registered")
    client.set_registered_model_alias(name, CHALLENGER, version)
    return _version(client.get_model_version(name, version))


def promote(
    client: MlflowClient,
    conn: psycopg.Connection,
    *,
    name: str,
    version: str,
    actor: str,
    reason: str,
    details: dict[str, Any] | None = None,
) -> str | None:
    """Point ``champion`` at ``version``; returns the previous champion (or None)."""
    _require_version(client, name, version)
    previous = alias_version(client, name, CHAMPION)
    _audit(conn, name, CHAMPION, "promote", version, previous, actor, reason, details)
    client.set_registered_model_alias(name, CHAMPION, version)
    return previous


def record_gate_verdict(
    conn: psycopg.Connection,
    *,
    name: str,
    version: str,
    passed: bool,
    actor: str,
    reason: str,
    details: dict[str, Any] | None = None,
) -> None:
    """The release gate's verdict on a version, with the statistics behind it. A failed
    challenger stays challenger; :func:`gate_verdict` is what promotion asks."""
    action: AliasAction = "gate_passed" if passed else "gate_failed"
    _audit(conn, name, CHALLENGER, action, version, None, actor, reason, details)


def gate_verdict(conn: psycopg.Connection, name: str, version: str) -> bool | None:
    """Whether the latest gate verdict on exactly this version passed; None if never gated."""
    row = conn.execute(
        "SELECT action FROM model_alias_events WHERE model_name = %s AND version = %s "
        "AND action IN ('gate_passed', 'gate_failed') ORDER BY event_id DESC LIMIT 1",
        (name, version),
    ).fetchone()
    return None if row is None else row["action"] == "gate_passed"


def rollback(
    client: MlflowClient, conn: psycopg.Connection, *, name: str, actor: str, reason: str
) -> tuple[str, str]:
    """Move ``champion`` back to the version it had before; returns (from, to)."""
    current = alias_version(client, name, CHAMPION)
    if current is None:
        raise RegistryError("no_champion", f"{name!r} has no champion to roll back")
    stack = champion_stack(conn, name)
    if len(stack) < 2 or stack[-1] != current:
        raise RegistryError(
            "no_previous",
            f"{name!r} champion {current} has no earlier champion to return to",
        )
    target = stack[-2]
    _require_version(client, name, target)
    _audit(conn, name, CHAMPION, "rollback", target, current, actor, reason)
    client.set_registered_model_alias(name, CHAMPION, target)
    return current, target


def champion_stack(conn: psycopg.Connection, name: str) -> list[str]:
    """Champion versions in promotion order, with rolled-back ones removed."""
    stack: list[str] = []
    for event in alias_history(conn, name, CHAMPION):
        if event["action"] == "promote":
            stack.append(event["version"])
        elif event["action"] == "rollback" and stack:
            stack.pop()
    return stack


def _require_version(client: MlflowClient, name: str, version: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_model_version(name, version)
    except MlflowException as exc:
        raise RegistryError("unknown_version", f"{name!r} has no version {version}") from exc


def _audit(
    conn: psycopg.Connection,
    name: str,
    alias: str,
    action: AliasAction,
    version: str,
    previous: str | None,
    actor: str,
    reason: str,
    details: dict[str, Any] | None = None,
) -> None:
    record_alias_event(
        conn,
        model_name=name,
        alias=alias,
        action=action,
        version=version,
        previous_version=previous,
        actor=actor,
        reason=reason,
        details=details,
    )


def _quoted(name: str) -> str:
    return name.replace("'", "''")
