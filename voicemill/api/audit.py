"""One audit row per request the API service answered (``api_requests``).

The row answers "who asked for what, with which voice and settings, and how did it
go": key id (never the key), route, status and error code, the voice (profile and
model versions, preset), the text's SHA-256 and length, audio length, timings, cache
use and the User-Agent. The text itself is stored only when the caller passes
``store_text=True`` (a deployment setting): texts may carry personal data, and the
hash is enough to match a complaint about a known text to its request.

As a second line of defence, anything shaped like an API key in the free-text fields
(route, error code, client) is cut down to its public key id before it is written.
PostgreSQL ``text`` cannot hold NUL: free-text fields are stored with each NUL
escaped as ``\\x00``; a request id holding NUL is refused (escaping would change it).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, model_validator

from voicemill.errors import RejectedInput

__all__ = [
    "AuditError",
    "RequestRecord",
    "get_request",
    "recent_requests",
    "record_request",
]

_CLIENT_MAX = 512  # User-Agent strings are short; a huge header is not worth keeping
# Anything that looks like a key, including a truncated one: keep the public part.
_KEY_LIKE = re.compile(r"(vm_[a-z0-9]{8})_[A-Za-z0-9_-]+")

_COLUMNS = (
    "request_id",
    "received_at",
    "key_id",
    "route",
    "method",
    "status",
    "error_code",
    "profile_id",
    "profile_version",
    "model_name",
    "model_version",
    "preset",
    "text_sha256",
    "text_chars",
    "text",
    "audio_seconds",
    "time_to_first_audio_ms",
    "latency_ms",
    "cache",
    "client",
)
_ESCAPED = ("route", "method", "error_code", "profile_id", "model_name", "model_version", "text")
_REDACTED = ("route", "error_code", "client")


class AuditError(RejectedInput, ValueError):
    """An audit record that cannot be stored (``reason``: ``invalid_request_id``)."""


class RequestRecord(BaseModel):
    """One answered request. Give ``text`` and the hash and length are derived from it;
    the text itself is only written with ``record_request(..., store_text=True)``."""

    model_config = ConfigDict(frozen=True)

    request_id: str
    received_at: datetime | None = None  # None: the database's now() when recorded
    key_id: str | None = None  # None: the request was not authenticated
    route: str
    method: str
    status: int
    error_code: str | None = None
    profile_id: str | None = None
    profile_version: int | None = None
    model_name: str | None = None
    model_version: str | None = None
    preset: dict[str, Any] | None = None
    text_sha256: str | None = None
    text_chars: int | None = None
    text: str | None = None
    audio_seconds: float | None = None
    time_to_first_audio_ms: float | None = None
    latency_ms: float | None = None
    cache: Literal["hit", "miss"] | None = None
    client: str | None = None  # the User-Agent header, nothing else

    @model_validator(mode="before")
    @classmethod
    def _derive_text_fields(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("text"), str):
            text = data["text"]
            data = {
                "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                "text_chars": len(text),
                **{k: v for k, v in data.items() if v is not None},
            }
        return data


def _redact(value: str | None) -> str | None:
    return None if value is None else _KEY_LIKE.sub(r"\1_[redacted]", value)


def _escape_nul(value: str | None) -> str | None:
    return None if value is None else value.replace("\x00", "\\x00")


def record_request(
    conn: psycopg.Connection, record: RequestRecord, *, store_text: bool = False
) -> bool:
    """Append ``record`` (a client reusing a request id gets a row per request)."""
    if "\x00" in record.request_id:
        raise AuditError("invalid_request_id", "request ids cannot contain NUL")
    values: dict[str, Any] = record.model_dump()
    if not store_text:
        values["text"] = None
    if values["client"] is not None:
        values["client"] = values["client"][:_CLIENT_MAX]
    for field in _REDACTED:
        values[field] = _redact(values[field])
    for field in (*_ESCAPED, "client"):
        values[field] = _escape_nul(values[field])
    values["preset"] = Jsonb(values["preset"]) if values["preset"] is not None else None
    placeholders = ", ".join(
        "COALESCE(%(received_at)s::timestamptz, now())" if c == "received_at" else f"%({c})s"
        for c in _COLUMNS
    )
    row = conn.execute(
        f"INSERT INTO api_requests ({', '.join(_COLUMNS)}) VALUES ({placeholders})"
        " RETURNING request_id",
        values,
    ).fetchone()
    return row is not None


def recent_requests(conn: psycopg.Connection, limit: int = 20) -> list[RequestRecord]:
    """The ``limit`` most recently received requests, newest first."""
    rows = conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM api_requests"
        " ORDER BY received_at DESC, id DESC LIMIT %s",
        (max(0, int(limit)),),
    ).fetchall()
    return [RequestRecord.model_validate(dict(r)) for r in rows]


def get_request(conn: psycopg.Connection, request_id: str) -> RequestRecord | None:
    """The latest audit row of ``request_id``, or None."""
    row = conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM api_requests WHERE request_id = %s"
        " ORDER BY id DESC LIMIT 1",
        (request_id,),
    ).fetchone()
    return None if row is None else RequestRecord.model_validate(dict(row))
