"""``voicemill requests``: the API service's audit trail, one row per request."""

from __future__ import annotations

import json

import click


def _connect():  # -> context manager of a psycopg connection
    from voicemill.db.catalog import connect
    from voicemill.platform import bootstrap

    bootstrap()
    return connect()


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


@click.group()
def requests() -> None:
    """Requests the API service answered: who, what, which voice, how fast."""


@requests.command("tail")
@click.option("-n", "count", default=20, show_default=True, type=click.IntRange(min=1))
def tail_command(count: int) -> None:
    """The latest COUNT requests, oldest first (the newest is the last line)."""
    from voicemill.api.audit import recent_requests

    with _connect() as conn:
        records = recent_requests(conn, count)
    for r in reversed(records):
        when = r.received_at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if r.received_at else "-"
        voice = f"{r.profile_id}@v{r.profile_version}" if r.profile_id else "-"
        if r.profile_id and r.profile_version is None:
            voice = r.profile_id
        click.echo(
            f"{when}  {r.request_id:<32} {r.key_id or '-':<8} {r.method:<6} {r.route:<24}"
            f" {r.status:>3} {r.error_code or '-':<18} {voice:<22}"
            f" {_num(r.text_chars, 'd'):>6}ch {_num(r.audio_seconds, '.2f'):>6}s"
            f" ttfa {_num(r.time_to_first_audio_ms, '.0f'):>5}ms"
            f" total {_num(r.latency_ms, '.0f'):>5}ms {r.cache or '-'}"
        )


@requests.command("show")
@click.argument("request_id")
def show_command(request_id: str) -> None:
    """Every recorded field of REQUEST_ID, as JSON."""
    from voicemill.api.audit import get_request

    with _connect() as conn:
        record = get_request(conn, request_id)
    if record is None:
        raise click.ClickException(f"unknown_request: no request {request_id!r} recorded")
    click.echo(json.dumps(record.model_dump(mode="json"), indent=2, ensure_ascii=False))
