"""API keys and per-key limits, in PostgreSQL so several service processes share them.

A key reads ``vm_<key_id>_<secret>``: ``key_id`` (8 lowercase letters and digits) is
public and names the key in listings and audit rows; ``secret`` is
``secrets.token_urlsafe(32)`` (256 random bits) and is stored only as its SHA-256.
The plaintext key exists once, in :func:`create_key`'s return value.

Nothing is cached in the process: :func:`verify_key` reads the key's row on every
request, so a revocation (or any change to the row) holds from the next request on,
in every process, at the cost of one primary-key lookup.

Limits are fixed one-minute windows on the database clock (:func:`consume`): each
request is admitted or refused by a single ``INSERT ... ON CONFLICT DO UPDATE ...
RETURNING`` under the window row's lock, so concurrent requests through any number of
processes never overshoot a limit. Only admitted requests use up the window's quota;
refused ones are counted apart (``api_usage.refused``). Counting them against the
quota would let one refused long text block shorter requests that still fit, and
would not slow a hammering client down anyway: a fixed window resets on time
regardless.

Every function takes a connection and leaves the transaction to the caller. Commit
soon after :func:`verify_key` and :func:`consume` (do not hold the transaction open
while synthesizing): the row locks they take are held until then and would queue the
same key's other requests.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg
from pydantic import BaseModel, ConfigDict

from voicemill.errors import RejectedInput

__all__ = [
    "SCOPES",
    "Admission",
    "ApiKey",
    "ApiKeyError",
    "Scope",
    "consume",
    "create_key",
    "list_keys",
    "parse_key",
    "revoke_key",
    "verify_key",
]

Scope = Literal["synthesize", "jobs", "admin"]
SCOPES: tuple[str, ...] = ("synthesize", "jobs", "admin")  # also the display order

KEY_PREFIX = "vm"
KEY_ID_LENGTH = 8
_KEY_ID_ALPHABET = string.ascii_lowercase + string.digits  # no '_': it separates the parts
_SECRET_BYTES = 32
_KEY_RE = re.compile(rf"{KEY_PREFIX}_([a-z0-9]{{{KEY_ID_LENGTH}}})_([A-Za-z0-9_-]{{43}})")
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_VOICE_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")  # voicemill.release.profiles' profile ids
_MAX_LIMIT = 2**31 - 1  # the columns are int4

# last_used_at is written at most once per this interval per key: an exact timestamp
# would cost a row write (and a row lock) on every request for little information.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Usage windows older than this are deleted when a key opens a new window.
USAGE_RETENTION = timedelta(hours=1)

_KEY_COLUMNS = (
    "key_id, name, scopes, voices, rpm, chars_per_min, created_at, revoked_at, last_used_at"
)


class ApiKeyError(RejectedInput, ValueError):
    """A key request that cannot be honoured; ``reason`` is a stable snake_case code:
    ``invalid_key_name``, ``invalid_scopes``, ``invalid_voices``, ``invalid_limit``,
    ``key_name_taken``, ``invalid_chars``, ``text_too_long``."""


class ApiKey(BaseModel):
    """A key as the service sees it: identity, grants and limits; never the secret or hash."""

    model_config = ConfigDict(frozen=True)

    key_id: str
    name: str
    scopes: tuple[Scope, ...]
    voices: tuple[str, ...] | None = None  # None: every voice
    rpm: int | None = None  # requests per minute; None: unlimited
    chars_per_min: int | None = None  # text characters per minute; None: unlimited
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None  # to within LAST_USED_RESOLUTION

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def allows_scope(self, scope: str) -> bool:
        """Whether the key holds ``scope``. Scopes do not imply each other (``admin``
        grants admin routes only), so a key can do exactly what its listing says.
        An unknown scope name is a programming error and raises ``ValueError``."""
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}; scopes are {', '.join(SCOPES)}")
        return scope in self.scopes

    def allows_voice(self, profile_id: str) -> bool:
        """Whether the key may speak with the voice profile ``profile_id``."""
        return self.voices is None or profile_id in self.voices


class Admission(BaseModel):
    """:func:`consume`'s answer for one request.

    Refused: ``limit`` is the error code (``rate_limited`` for requests per minute,
    ``char_limit`` for characters per minute; both at once report ``rate_limited``)
    and ``retry_after_s`` the whole seconds, 1 to 60, until the window ends (the
    ``Retry-After`` header). ``requests``/``chars`` are the window's admitted totals
    after this request (None for a key without limits, which is not counted).
    """

    model_config = ConfigDict(frozen=True)

    allowed: bool
    limit: Literal["rate_limited", "char_limit"] | None = None
    retry_after_s: int | None = None
    window_start: datetime | None = None
    requests: int | None = None
    chars: int | None = None
    rpm: int | None = None
    chars_per_min: int | None = None


# ----------------------------------------------------------------------------- helpers


def _hash_secret(secret: str) -> str:
    # SHA-256 suffices: the secret has 256 random bits, so there is nothing to
    # brute-force; a deliberately slow hash would only tax every request.
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _key(row: Mapping[str, Any]) -> ApiKey:
    return ApiKey.model_validate({k: v for k, v in row.items() if k in ApiKey.model_fields})


def _split(values: str | Iterable[str]) -> list[Any]:
    """A comma-separated string or an iterable; strings stripped, blank ones dropped."""
    items = values.split(",") if isinstance(values, str) else list(values)
    stripped = [v.strip() if isinstance(v, str) else v for v in items]
    return [v for v in stripped if v != ""]


def _valid_scopes(scopes: str | Iterable[str]) -> list[str]:
    given = _split(scopes)
    unknown = [s for s in given if s not in SCOPES]
    if unknown or not given:
        raise ApiKeyError(
            "invalid_scopes",
            f"scopes must be one or more of {', '.join(SCOPES)}; got {given!r}",
        )
    return [s for s in SCOPES if s in given]


def _valid_voices(voices: str | Iterable[str] | None) -> list[str] | None:
    if voices is None:
        return None
    given = _split(voices)
    bad = [v for v in given if not isinstance(v, str) or not _VOICE_RE.fullmatch(v)]
    if bad or not given:
        raise ApiKeyError(
            "invalid_voices",
            f"voices must be one or more profile ids (lowercase letters, digits, '_', '-')"
            f" or omitted for every voice; got {given!r}",
        )
    return list(dict.fromkeys(given))


def _valid_limit(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_LIMIT:
        raise ApiKeyError(
            "invalid_limit", f"{name} must be a positive integer (or omitted); got {value!r}"
        )
    return value


# ----------------------------------------------------------------------------- keys


def parse_key(presented: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a well-formed key, else None (nothing is looked up)."""
    if not isinstance(presented, str):
        return None
    match = _KEY_RE.fullmatch(presented.strip())
    return (match.group(1), match.group(2)) if match else None


def create_key(
    conn: psycopg.Connection,
    name: str,
    scopes: str | Iterable[str],
    voices: str | Iterable[str] | None = None,
    rpm: int | None = None,
    chars_per_min: int | None = None,
) -> tuple[ApiKey, str]:
    """Issue a key; returns it and its plaintext, which is not stored and cannot be
    shown again. ``scopes``/``voices`` take lists or comma-separated strings."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ApiKeyError(
            "invalid_key_name", f"key names are 1-64 of A-Z a-z 0-9 _ . -; got {name!r}"
        )
    scope_list = _valid_scopes(scopes)
    voice_list = _valid_voices(voices)
    rpm = _valid_limit("rpm", rpm)
    chars_per_min = _valid_limit("chars_per_min", chars_per_min)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    for _ in range(5):  # a key_id collision (36^8 ids) is unlikely; retry a few times
        key_id = "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(KEY_ID_LENGTH))
        try:
            with conn.transaction():  # a savepoint: a conflict leaves the caller's work intact
                row = conn.execute(
                    f"""
                    INSERT INTO api_keys (key_id, name, key_hash, scopes, voices, rpm,
                                          chars_per_min)
                    VALUES (%s, %s, %s, %s, %s, %s, %s)
                    RETURNING {_KEY_COLUMNS}
                    """,
                    (
                        key_id,
                        name,
                        _hash_secret(secret),
                        scope_list,
                        voice_list,
                        rpm,
                        chars_per_min,
                    ),
                ).fetchone()
        except psycopg.errors.UniqueViolation as exc:
            if exc.diag.constraint_name == "uq_api_keys_active_name":
                raise ApiKeyError(
                    "key_name_taken",
                    f"a key named {name!r} exists; revoke it first or choose another name",
                ) from exc
            continue  # key_id taken: draw another
        return _key(row), f"{KEY_PREFIX}_{key_id}_{secret}"
    raise RuntimeError("could not draw an unused key id")


def verify_key(conn: psycopg.Connection, presented: str) -> ApiKey | None:
    """The key ``presented`` names when its secret matches and it is not revoked, else None.

    Reads the row every time (no cache), compares hashes in constant time, and records
    ``last_used_at`` at most once per :data:`LAST_USED_RESOLUTION`, so a busy key costs
    one indexed read per request and one write per minute.
    """
    parsed = parse_key(presented)
    if parsed is None:
        return None
    key_id, secret = parsed
    row = conn.execute(
        f"""
        SELECT {_KEY_COLUMNS}, key_hash,
               last_used_at IS NULL OR last_used_at < statement_timestamp() - %s AS stale
          FROM api_keys WHERE key_id = %s
        """,
        (LAST_USED_RESOLUTION, key_id),
    ).fetchone()
    presented_hash = _hash_secret(secret)
    if row is None or not hmac.compare_digest(row["key_hash"], presented_hash):
        return None
    if row["revoked_at"] is not None:
        return None
    if row["stale"]:
        touched = conn.execute(
            """
            UPDATE api_keys SET last_used_at = statement_timestamp()
             WHERE key_id = %s
               AND (last_used_at IS NULL OR last_used_at < statement_timestamp() - %s)
            RETURNING last_used_at
            """,
            (key_id, LAST_USED_RESOLUTION),
        ).fetchone()
        if touched is not None:
            row = {**row, "last_used_at": touched["last_used_at"]}
    return _key(row)


def list_keys(conn: psycopg.Connection, include_revoked: bool = True) -> list[ApiKey]:
    """Every key (or only the live ones), oldest first."""
    rows = conn.execute(
        f"SELECT {_KEY_COLUMNS} FROM api_keys"
        f"{'' if include_revoked else ' WHERE revoked_at IS NULL'}"
        " ORDER BY created_at, key_id"
    ).fetchall()
    return [_key(r) for r in rows]


def revoke_key(conn: psycopg.Connection, name: str) -> bool:
    """Revoke the live key named ``name``; False when there is none. Takes effect on the
    next :func:`verify_key` in any process (keys are never cached)."""
    row = conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL"
        " RETURNING key_id",
        (name,),
    ).fetchone()
    return row is not None


# ----------------------------------------------------------------------------- limits

# The window is the UTC minute of the statement's time on the database clock (not
# now(): the caller's transaction may have begun earlier). "ok" is evaluated against
# the locked, current row, so concurrent upserts of one window serialise exactly.
_OK = (
    "(%(rpm)s::int IS NULL OR u.requests < %(rpm)s::int)"
    " AND (%(cpm)s::bigint IS NULL OR u.chars + EXCLUDED.chars <= %(cpm)s::bigint)"
)
_CONSUME_SQL = f"""
INSERT INTO api_usage AS u (key_id, window_start, requests, chars)
VALUES (%(key_id)s, date_trunc('minute', statement_timestamp(), 'UTC'), 1, %(chars)s)
ON CONFLICT (key_id, window_start) DO UPDATE SET
    requests = u.requests + CASE WHEN {_OK} THEN 1 ELSE 0 END,
    chars = u.chars + CASE WHEN {_OK} THEN EXCLUDED.chars ELSE 0 END,
    refused = u.refused + CASE WHEN {_OK} THEN 0 ELSE 1 END,
    last_admitted = {_OK}
RETURNING window_start, requests, chars, refused, last_admitted,
    ceil(extract(epoch FROM window_start + interval '1 minute' - statement_timestamp()))::int
        AS retry_after_s
"""


def consume(conn: psycopg.Connection, key: ApiKey, chars: int) -> Admission:
    """Admit or refuse one request of ``chars`` text characters under ``key``'s limits.

    One atomic upsert of the key's current one-minute window decides; an admitted
    request adds 1 request and ``chars`` characters to the window, a refused one adds
    nothing but ``refused``. A key without limits is admitted without a write. A text
    longer than the key's whole per-minute allowance can never pass and raises
    ``ApiKeyError("text_too_long")`` instead of asking the client to retry.
    """
    if isinstance(chars, bool) or not isinstance(chars, int) or chars < 0:
        raise ApiKeyError("invalid_chars", f"chars must be a non-negative integer; got {chars!r}")
    limits = {"rpm": key.rpm, "chars_per_min": key.chars_per_min}
    if key.rpm is None and key.chars_per_min is None:
        return Admission(allowed=True, **limits)
    if key.chars_per_min is not None and chars > key.chars_per_min:
        raise ApiKeyError(
            "text_too_long",
            f"the text has {chars} characters; key {key.name!r} allows"
            f" {key.chars_per_min} per minute",
        )
    row = conn.execute(
        _CONSUME_SQL,
        {"key_id": key.key_id, "chars": chars, "rpm": key.rpm, "cpm": key.chars_per_min},
    ).fetchone()
    if row["requests"] + row["refused"] == 1:  # this request opened the window
        conn.execute(
            "DELETE FROM api_usage WHERE key_id = %s AND window_start < %s",
            (key.key_id, row["window_start"] - USAGE_RETENTION),
        )
    counts = {k: row[k] for k in ("window_start", "requests", "chars")}
    if row["last_admitted"]:
        return Admission(allowed=True, **counts, **limits)
    at_rpm = key.rpm is not None and row["requests"] >= key.rpm
    return Admission(
        allowed=False,
        limit="rate_limited" if at_rpm else "char_limit",
        retry_after_s=min(60, max(1, row["retry_after_s"])),
        **counts,
        **limits,
    )
