"""``voicemill keys``: issue, list and revoke the API service's keys.

``create`` prints the new key, and only the key, on stdout, so that
``KEY=$(voicemill keys create ...)`` captures it; everything else goes to stderr.
The key is shown once: only its SHA-256 is stored.
"""

from __future__ import annotations

import contextlib
import sys
from datetime import datetime

import click


def _connect():  # -> context manager of a psycopg connection
    from voicemill.db.catalog import connect
    from voicemill.platform import bootstrap

    # Keep stdout for the key alone, whatever bootstrapping might print.
    with contextlib.redirect_stdout(sys.stderr):
        bootstrap()
    return connect()


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else "-"


@click.group()
def keys() -> None:
    """API keys: scopes, allowed voices and per-minute limits of each client."""


@keys.command("create")
@click.option("--name", required=True, help="Unique among live keys: [A-Za-z0-9_.-]{1,64}.")
@click.option("--scopes", required=True, help="Comma-separated: synthesize,jobs,admin.")
@click.option("--voices", default=None, help="Comma-separated profile ids (default: all).")
@click.option("--rpm", type=int, default=None, help="Requests per minute (default: unlimited).")
@click.option(
    "--chars-per-min",
    type=int,
    default=None,
    help="Text characters per minute (default: unlimited).",
)
def create_command(
    name: str, scopes: str, voices: str | None, rpm: int | None, chars_per_min: int | None
) -> None:
    """Issue a key and print it (once: it cannot be shown again)."""
    from voicemill.api.keys import ApiKeyError, create_key

    try:
        with _connect() as conn:
            key, plaintext = create_key(conn, name, scopes, voices, rpm, chars_per_min)
    except ApiKeyError as exc:
        raise click.ClickException(f"{exc.reason}: {exc.detail}") from exc
    click.echo(
        f"created key {key.name} ({key.key_id}); store it now, it is not shown again", err=True
    )
    click.echo(plaintext)


@keys.command("list")
@click.option("--live", is_flag=True, help="Leave revoked keys out.")
def list_command(live: bool) -> None:
    """Every key: name, id, scopes, voices, limits, created, last used, revoked."""
    from voicemill.api.keys import list_keys

    with _connect() as conn:
        rows = list_keys(conn, include_revoked=not live)
    header = ("NAME", "KEY_ID", "SCOPES", "VOICES", "RPM", "CHARS/MIN", "CREATED", "LAST USED")
    table = [(*header, "REVOKED")]
    for k in rows:
        table.append(
            (
                k.name,
                k.key_id,
                ",".join(k.scopes),
                ",".join(k.voices) if k.voices is not None else "*",
                str(k.rpm) if k.rpm is not None else "-",
                str(k.chars_per_min) if k.chars_per_min is not None else "-",
                _when(k.created_at),
                _when(k.last_used_at),
                _when(k.revoked_at),
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@keys.command("revoke")
@click.argument("name")
def revoke_command(name: str) -> None:
    """Revoke the live key NAME; refused from the next request on."""
    from voicemill.api.keys import revoke_key

    with _connect() as conn:
        revoked = revoke_key(conn, name)
    if not revoked:
        raise click.ClickException(f"unknown_key: no live key named {name!r}")
    click.echo(f"revoked {name}")
