"""``voicemill serve``: the real-time speech service (voicemill/api) on uvicorn."""

from __future__ import annotations

import click


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--voices",
    default=None,
    help="Comma-separated profiles to load and warm at start (default: every released one).",
)
@click.option(
    "--device",
    default=None,
    help="auto | cpu | cuda:0,cuda:1 (one worker per GPU); default VOICEMILL_API_DEVICE.",
)
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 64),
    help="CPU inference workers (the cores are split between them).",
)
@click.option("--log-level", default="info", show_default=True)
def serve(
    host: str,
    port: int,
    voices: str | None,
    device: str | None,
    workers: int | None,
    log_level: str,
) -> None:
    """Serve released voices over HTTP: OpenAI's /v1/audio/speech and the native API.

    Uses the platform's database, registry and profiles (the embedded PostgreSQL unless
    VOICEMILL_DATABASE_URL is set). Binds to 127.0.0.1 unless --host says otherwise;
    clients authenticate with keys from `voicemill keys create`.
    """
    import uvicorn

    from voicemill.api.app import create_app
    from voicemill.api.logs import configure_logging
    from voicemill.platform import bootstrap
    from voicemill.settings import get_settings

    bootstrap()
    configure_logging(log_level)
    chosen = [v.strip() for v in voices.split(",") if v.strip()] if voices else None
    overrides = {"api_device": device, "api_workers": workers}
    settings = get_settings().model_copy(
        update={k: v for k, v in overrides.items() if v is not None}
    )
    app = create_app(settings=settings, voices=chosen)
    click.echo(f"VoiceMill service on http://{host}:{port} (docs: /docs)", err=True)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, log_level=log_level)
