"""``voicemill models``: what operators do with released voices, every move audited."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from voicemill.errors import RejectedInput


def _registry() -> MlflowClient:
    """Bootstrap the platform and open the registry client (MLflow imports are slow)."""
    from voicemill.platform import bootstrap
    from voicemill.tracking import open_client

    bootstrap()
    return open_client()


def _fail(exc: RejectedInput) -> click.ClickException:
    return click.ClickException(f"{exc.reason}: {exc.detail}")


@click.group()
def models() -> None:
    """Registered voices: list versions, promote one to champion, roll back."""


@models.command("list")
@click.argument("name", required=False)
def list_command(name: str | None) -> None:
    """All voices, or the versions of NAME with their aliases."""
    from voicemill.release.registry import RegistryError, list_models, list_versions

    client = _registry()
    if name is None:
        for model in list_models(client):
            click.echo(model)
        return
    try:
        versions = list_versions(client, name)
    except RegistryError as exc:
        raise _fail(exc) from exc
    for v in versions:
        created = datetime.fromtimestamp(v.created_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
        aliases = ",".join(v.aliases) or "-"
        click.echo(f"{v.version:>4}  {aliases:<22} {created}  run {v.run_id or '-'}")


@models.command("promote")
@click.argument("name")
@click.argument("version")
@click.option("--reason", required=True, help="Why: kept in the audit trail.")
@click.option("--actor", default=getpass.getuser, show_default="current user")
def promote_command(name: str, version: str, reason: str, actor: str) -> None:
    """Make VERSION of NAME the champion (an operator's override of the gate)."""
    from voicemill.db.catalog import connect
    from voicemill.release.registry import RegistryError, promote

    client = _registry()
    try:
        with connect() as conn:
            previous = promote(client, conn, name=name, version=version, actor=actor, reason=reason)
    except RegistryError as exc:
        raise _fail(exc) from exc
    click.echo(f"{name}: champion {previous or '-'} -> {version}")


@models.command("rollback")
@click.argument("name")
@click.option("--reason", required=True, help="Why: kept in the audit trail.")
@click.option("--actor", default=getpass.getuser, show_default="current user")
def rollback_command(name: str, reason: str, actor: str) -> None:
    """Move NAME's champion back to the version it had before."""
    from voicemill.db.catalog import connect
    from voicemill.release.registry import RegistryError, rollback

    client = _registry()
    try:
        with connect() as conn:
            current, target = rollback(client, conn, name=name, actor=actor, reason=reason)
    except RegistryError as exc:
        raise _fail(exc) from exc
    click.echo(f"{name}: champion {current} -> {target} (rolled back)")


@models.command("history")
@click.argument("name")
def history_command(name: str) -> None:
    """Every alias move of NAME: when, who, what, why."""
    from voicemill.db.catalog import connect
    from voicemill.platform import bootstrap
    from voicemill.release.audit import alias_history

    bootstrap()
    with connect() as conn:
        events = alias_history(conn, name)
    if not events:
        raise click.ClickException(f"unknown_model: no alias moves recorded for {name!r}")
    for e in events:
        when = e["created_at"].strftime("%Y-%m-%d %H:%M:%S")
        moved = f"{e['previous_version'] or '-'} -> {e['version']}"
        click.echo(
            f"{when}  {e['alias']:<10} {e['action']:<11} {moved:<10} {e['actor']}: {e['reason']}"
        )
