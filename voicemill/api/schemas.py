"""The service's contract: request and response models.

Requests reject unknown fields (a typo is an error, not a silent default). The
OpenAI-compatible request mirrors ``POST /v1/audio/speech``; the native one exposes
the platform's own notions (profile versions, use-case presets, loudness).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from voicemill.audio.encode import AudioFormat
from voicemill.synthesis.types import InferencePreset

Language = Literal["auto", "en", "zh", "ja"]
# Speaker profile ids (voicemill.release.profiles): a pattern here, so a malformed id is
# refused by validation instead of reaching the database.
PROFILE_ID = r"^[a-z0-9][a-z0-9_-]{0,62}$"
MAX_INT32 = 2**31 - 1


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _encodable(text: str) -> str:
    """Refuse lone surrogates (valid in JSON escapes, not in UTF-8 text)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"the text is not valid Unicode at position {exc.start}") from None
    return text


# ----------------------------------------------------------------------------- errors


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, snake_case; branch on this.")
    message: str
    request_id: str | None


class ErrorBody(BaseModel):
    error: ErrorDetail


# ----------------------------------------------------------------------------- speech


class SpeechRequest(_Request):
    """OpenAI's ``POST /v1/audio/speech`` body."""

    model: str = Field(
        min_length=1,
        max_length=200,
        description="voice-<name>, voice-<name>@<alias> or voice-<name>:<version>; "
        "tts-1, tts-1-hd and gpt-4o-mini-tts mean the voice's own model (its champion).",
        examples=["voice-demo_en_m3"],
    )
    input: str = Field(description="The text to speak.", examples=["Hello from VoiceMill."])
    voice: str = Field(
        pattern=PROFILE_ID, description="A speaker profile id.", examples=["demo_en_m3"]
    )
    response_format: AudioFormat = Field(
        AudioFormat.MP3, description="pcm is 32 kHz 16-bit little-endian mono."
    )
    speed: float = Field(1.0, ge=0.25, le=4.0)
    stream_format: Literal["audio", "sse"] = "audio"
    instructions: str | None = Field(
        None, description="Not supported: voices have fixed presets; must be empty."
    )

    _text = field_validator("input")(_encodable)


class SynthesizeRequest(_Request):
    """The native synthesis request."""

    profile: str = Field(pattern=PROFILE_ID, description="Speaker profile id.")
    profile_version: int | None = Field(None, ge=1, le=MAX_INT32, description="Default: latest.")
    model: str | None = Field(
        None, max_length=200, description="As in /v1/audio/speech; default the champion."
    )
    use_case: str | None = Field(
        None, max_length=64, description="One of the profile's presets; default: the service's."
    )
    text: str
    language: Language = "auto"
    seed: int | None = Field(None, ge=0, le=MAX_INT32, description="Overrides the preset's.")
    speed: float | None = Field(None, ge=0.25, le=4.0, description="Overrides the preset's.")
    format: AudioFormat = AudioFormat.WAV
    sample_rate: int | None = Field(
        None, ge=8000, le=48000, description="Resample the output (Opus is always 48 kHz)."
    )
    loudness_lufs: float | None = Field(
        None, ge=-40.0, le=-5.0, description="Normalize to this loudness (not with stream)."
    )
    stream: bool = False
    priority: Literal["realtime", "batch"] = Field(
        "realtime", description="batch requests wait behind every real-time one."
    )

    _text = field_validator("text")(_encodable)


class SegmentTiming(BaseModel):
    text: str
    start_s: float
    end_s: float
    tokens: int


class SynthesizeResponse(BaseModel):
    """``Accept: application/json`` answer of /v1/synthesize."""

    request_id: str
    profile: str
    profile_version: int
    model: str
    model_version: str
    use_case: str
    seed: int
    format: AudioFormat
    content_type: str
    sample_rate: int
    duration_s: float
    cache: Literal["hit", "miss"]
    segments: list[SegmentTiming] | None = Field(
        description="Where each text segment lies in the audio; null on a cache hit."
    )
    audio_base64: str


# ----------------------------------------------------------------------------- voices


class ModelVersionInfo(BaseModel):
    version: str
    aliases: list[str]
    created_at: datetime | None


class VoiceInfo(BaseModel):
    """A released voice: its profile, the model that speaks it, and how to call it."""

    name: str = Field(description="The speaker profile id (OpenAI's `voice`).")
    speaker: str
    language: str
    profile_version: int
    model: str | None
    champion_version: str | None
    versions: list[ModelVersionInfo]
    quality_scores: dict[str, float]
    presets: dict[str, InferencePreset]


class VoiceList(BaseModel):
    voices: list[VoiceInfo]


# ----------------------------------------------------------------------------- keys


class KeyCreate(_Request):
    """A new API key: its name, scopes, voices (none: every voice) and per-minute limits."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    scopes: list[Literal["synthesize", "jobs", "admin"]] = Field(min_length=1, max_length=3)
    voices: list[str] | None = Field(default=None, max_length=256)
    rpm: int | None = Field(default=None, ge=1, le=2**31 - 1)
    chars_per_min: int | None = Field(default=None, ge=1, le=2**31 - 1)


class KeyInfo(BaseModel):
    """A key as listed: identity, grants, limits and use; never its secret or hash."""

    key_id: str
    name: str
    scopes: list[str]
    voices: list[str] | None
    rpm: int | None
    chars_per_min: int | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class KeyCreated(KeyInfo):
    key: str = Field(description="The key itself: shown once, stored only as its hash.")


class KeyList(BaseModel):
    keys: list[KeyInfo]


# ----------------------------------------------------------------------------- jobs


class JobRequest(_Request):
    """A campaign: its spec (as in spec.yaml) and recipients (rows of recipients.csv)."""

    spec: dict[str, Any]
    recipients: list[dict[str, str | int | float | bool | None]] = Field(
        min_length=1, max_length=100_000
    )


class JobInfo(BaseModel):
    id: str
    status: str
    submitted_at: datetime | None
    counts: dict[str, int] = Field(description="Deliveries by status.")
    run_id: str | None = Field(description="The Dagster run delivering it, once launched.")
    report_url: str | None
    deliveries_url: str | None


# ----------------------------------------------------------------------------- health


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    ready: bool
    database: bool
    voices: list[str] = Field(description="Voices loaded and warmed.")
