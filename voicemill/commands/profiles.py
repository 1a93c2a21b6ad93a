"""``voicemill profiles``: speaker profiles and their frozen presets per use case.

A profile is versioned by content: changing a preset saves a new version, and the
campaigns and deliveries that used the old one keep naming it.
"""

from __future__ import annotations

import json

import click


def _connect():  # -> context manager of a psycopg connection
    from voicemill.db.catalog import connect
    from voicemill.platform import bootstrap

    bootstrap()
    return connect()


@click.group()
def profiles() -> None:
    """Speaker profiles: reference, language, model and presets per use case."""


@profiles.command("list")
def list_command() -> None:
    """The latest version of every profile."""
    from voicemill.release.profiles import list_profiles

    with _connect() as conn:
        for p in list_profiles(conn):
            scores = ", ".join(f"{k}={v:.3f}" for k, v in sorted(p.quality_scores.items()))
            click.echo(
                f"{p.profile_id:<24} v{p.version:<3} {p.language}  {p.model_name or '-':<28} "
                f"presets: {', '.join(sorted(p.presets))}  {scores}"
            )


@profiles.command("show")
@click.argument("profile_id")
@click.option("--version", type=int, default=None, help="Default: the latest.")
def show(profile_id: str, version: int | None) -> None:
    """One profile version as JSON."""
    from voicemill.release.profiles import ProfileError, get_profile

    try:
        with _connect() as conn:
            profile = get_profile(conn, profile_id, version)
    except ProfileError as exc:
        raise click.ClickException(f"{exc.reason}: {exc.detail}") from exc
    click.echo(json.dumps(profile.model_dump(mode="json"), indent=2, ensure_ascii=False))


@profiles.command("set-preset")
@click.argument("profile_id")
@click.argument("use_case")
@click.option("--temperature", type=float)
@click.option("--top-k", type=int)
@click.option("--top-p", type=float)
@click.option("--speed", type=float)
@click.option("--repetition-penalty", type=float)
@click.option("--seed", type=int, help="Fixed seed (a profile never draws one).")
@click.option("--max-new-tokens", type=int)
def set_preset(profile_id: str, use_case: str, **changes: float | int | None) -> None:
    """Change (or add) USE_CASE's preset of PROFILE_ID; saves a new profile version."""
    from pydantic import ValidationError

    from voicemill.release.profiles import (
        DEFAULT_USE_CASE_PRESETS,
        ProfileError,
        SpeakerProfile,
        get_profile,
        save_profile,
    )
    from voicemill.synthesis.types import InferencePreset

    updates = {k: v for k, v in changes.items() if v is not None}
    if not updates:
        raise click.UsageError("name at least one setting to change, e.g. --temperature 0.8")
    try:
        with _connect() as conn:
            current = get_profile(conn, profile_id)
            base = current.presets.get(use_case) or DEFAULT_USE_CASE_PRESETS.get(use_case)
            preset = InferencePreset.model_validate(
                {**(base or InferencePreset(seed=0)).model_dump(), **updates}
            )
            fields = current.model_dump(include=set(SpeakerProfile.model_fields))
            fields["presets"] = {**current.presets, use_case: preset}
            saved = save_profile(conn, SpeakerProfile.model_validate(fields))
    except ProfileError as exc:
        raise click.ClickException(f"{exc.reason}: {exc.detail}") from exc
    except ValidationError as exc:
        raise click.ClickException(f"invalid preset: {exc}") from exc
    same = "unchanged" if saved.version == current.version else "saved"
    click.echo(f"{profile_id} v{saved.version} ({same}): {use_case} = {preset.model_dump()}")
