"""Speaker profiles: a voice's reference, prompt, language and frozen presets per use case.

A profile is versioned by content: saving identical settings again is a no-op, and any
change to the reference audio, prompt text, language, model name or presets makes a new
version, so a delivery can always name the exact voice settings it was rendered with.
Evaluation scores are measurements *of* a version and update it in place.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, field_validator

from voicemill.errors import RejectedInput
from voicemill.synthesis.types import InferencePreset

PROFILE_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")

# Starting points per use case; a profile freezes its own copy (with fixed seeds).
DEFAULT_USE_CASE_PRESETS: dict[str, InferencePreset] = {
    # Short prompts read the same way every time: conservative sampling.
    "ivr": InferencePreset(top_k=5, top_p=0.8, temperature=0.7, seed=1234),
    # Upstream defaults: livelier prosody for promotional copy.
    "marketing": InferencePreset(top_k=15, top_p=1.0, temperature=1.0, seed=42),
    # Long-form reading: a little slower, steady.
    "audiobook": InferencePreset(top_k=10, top_p=0.9, temperature=0.8, speed=0.95, seed=7),
}


class ProfileError(RejectedInput):
    """Reasons: ``unknown_profile``, ``unknown_use_case``."""


class SpeakerProfile(BaseModel):
    """What identifies a voice for synthesis; validated before it reaches the database."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    profile_id: str
    speaker: str = Field(min_length=1)
    language: Literal["en", "zh", "ja"]
    reference_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    reference_uri: str = Field(min_length=1)
    prompt_text: str | None = None
    model_name: str | None = None  # the registered model whose champion speaks this voice
    presets: dict[str, InferencePreset] = Field(
        default_factory=lambda: dict(DEFAULT_USE_CASE_PRESETS), min_length=1
    )

    @field_validator("profile_id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not PROFILE_ID_PATTERN.match(value):
            raise ValueError(
                "use 1-63 lowercase letters, digits, '_' or '-', starting with a letter or digit"
            )
        return value

    @field_validator("presets")
    @classmethod
    def _frozen_seeds(cls, presets: dict[str, InferencePreset]) -> dict[str, InferencePreset]:
        drawn = sorted(name for name, preset in presets.items() if preset.seed < 0)
        if drawn:
            raise ValueError(f"presets {drawn} draw a random seed; a profile fixes its seeds")
        return presets

    @property
    def content_sha256(self) -> str:
        payload = self.model_dump(mode="json")
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def preset(self, use_case: str) -> InferencePreset:
        try:
            return self.presets[use_case]
        except KeyError:
            raise ProfileError(
                "unknown_use_case",
                f"profile {self.profile_id!r} has presets {sorted(self.presets)}, not {use_case!r}",
            ) from None


class StoredProfile(SpeakerProfile):
    version: int
    quality_scores: dict[str, float] = Field(default_factory=dict)
    evaluated_model_version: str | None = None
    evaluated_at: datetime | None = None
    created_at: datetime


_COLUMNS = (
    "profile_id, version, speaker, language, reference_sha256, reference_uri, prompt_text, "
    "model_name, presets, quality_scores, evaluated_model_version, evaluated_at, created_at"
)


def _stored(row: dict[str, Any]) -> StoredProfile:
    return StoredProfile.model_validate(row)


def save_profile(conn: psycopg.Connection, profile: SpeakerProfile) -> StoredProfile:
    """Store ``profile``; a new version only when its content differs from the latest.

    The latest row is locked while deciding, so two writers cannot both add version n+1.
    """
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('speaker_profiles:' || %s))", (profile.profile_id,)
    )
    latest = conn.execute(
        "SELECT version, content_sha256 FROM speaker_profiles WHERE profile_id = %s "
        "ORDER BY version DESC LIMIT 1",
        (profile.profile_id,),
    ).fetchone()
    if latest is not None and latest["content_sha256"] == profile.content_sha256:
        return get_profile(conn, profile.profile_id, latest["version"])
    data = profile.model_dump(mode="json")
    row = conn.execute(
        f"""
        INSERT INTO speaker_profiles (profile_id, version, speaker, language,
            reference_sha256, reference_uri, prompt_text, model_name, presets, content_sha256)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        RETURNING {_COLUMNS}
        """,
        (
            profile.profile_id,
            1 if latest is None else latest["version"] + 1,
            profile.speaker,
            profile.language,
            profile.reference_sha256,
            profile.reference_uri,
            profile.prompt_text,
            profile.model_name,
            Jsonb(data["presets"]),
            profile.content_sha256,
        ),
    ).fetchone()
    return _stored(row)


def get_profile(
    conn: psycopg.Connection, profile_id: str, version: int | None = None
) -> StoredProfile:
    """The given version, or the latest; ``unknown_profile`` when there is none."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM speaker_profiles WHERE profile_id = %s "
        "AND (%s::int IS NULL OR version = %s) ORDER BY version DESC LIMIT 1",
        (profile_id, version, version),
    ).fetchone()
    if row is None:
        which = f"version {version} of " if version is not None else ""
        raise ProfileError("unknown_profile", f"no {which}speaker profile {profile_id!r}")
    return _stored(row)


def list_profiles(conn: psycopg.Connection) -> list[StoredProfile]:
    """The latest version of every profile, by id."""
    rows = conn.execute(
        f"SELECT DISTINCT ON (profile_id) {_COLUMNS} FROM speaker_profiles "
        "ORDER BY profile_id, version DESC"
    ).fetchall()
    return [_stored(r) for r in rows]


def record_evaluation(
    conn: psycopg.Connection,
    profile_id: str,
    version: int,
    model_version: str,
    scores: dict[str, float],
) -> StoredProfile:
    """Attach the latest evaluation's scores (and the model version measured) to a version."""
    row = conn.execute(
        f"""
        UPDATE speaker_profiles
           SET quality_scores = %s, evaluated_model_version = %s, evaluated_at = now()
         WHERE profile_id = %s AND version = %s
        RETURNING {_COLUMNS}
        """,
        (Jsonb(scores), model_version, profile_id, version),
    ).fetchone()
    if row is None:
        raise ProfileError("unknown_profile", f"no version {version} of profile {profile_id!r}")
    return _stored(row)
