"""The campaign audit trail in PostgreSQL: campaigns, deliveries and their events.

Plain SQL over psycopg 3, like :mod:`voicemill.db.catalog`. Every function takes a
connection and leaves the transaction to the caller. Writes are idempotent where a
re-run could repeat them:

- :func:`upsert_campaign` accepts the same campaign again and refuses a different one
  under the same id;
- :func:`pin_voice` pins the voice once (first start wins), so a re-run reuses it;
- :func:`register_deliveries` inserts each recipient row once (``ON CONFLICT DO
  NOTHING`` on ``(campaign_id, row_number)``), never resetting a row's progress;
- :func:`mark_published` / :func:`mark_failed` never move a ``published`` (or
  ``rejected``) delivery and say whether they changed anything.

Every status change and every failed attempt is also a ``delivery_events`` row
(written in the same statement as the change), so the trail answers "which model,
which settings, which text, when, after how many attempts" for every file.

PostgreSQL ``text`` cannot hold NUL. Identifiers and content (ids, texts, keys, URLs)
containing NUL are refused with ``CampaignError("nul_character")`` before anything is
written, because silently altering them would change what they identify; callers pass
printable ids (:attr:`RejectedRow.printable_recipient_id`). Diagnostic text
(``error_detail``, event details) is stored with each NUL escaped as ``\\x00``, so a
failure can always be recorded.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict

from voicemill.campaign.errors import CampaignError
from voicemill.campaign.records import CampaignRecord, DeliveryRecord, DurationStats

__all__ = [
    "CAMPAIGN_STATUSES",
    "CampaignStatus",
    "CampaignSummary",
    "DurationStats",
    "assign_shards",
    "campaign_summary",
    "deliveries",
    "delivery_events",
    "get_campaign",
    "list_campaigns",
    "mark_failed",
    "mark_published",
    "pin_voice",
    "register_deliveries",
    "set_campaign_status",
    "upsert_campaign",
]

CampaignStatus = Literal["submitted", "running", "completed", "failed"]
CAMPAIGN_STATUSES: frozenset[str] = frozenset({"submitted", "running", "completed", "failed"})
_DELIVERY_STATUSES = ("pending", "published", "failed", "rejected")
_REGISTRABLE = frozenset({"pending", "rejected"})

_CAMPAIGN_COLUMNS = (
    "campaign_id, spec, spec_sha256, recipients_uri, recipients_sha256, voice_profile, "
    "use_case, profile_version, model_name, model_version, preset, status, submitted_at, "
    "started_at, finished_at, failure_reason, failure_detail"
)

# (column, SQL array type) for every DeliveryRecord field written at registration.
_DELIVERY_INPUT: tuple[tuple[str, str], ...] = (
    ("trace_id", "text"),
    ("campaign_id", "text"),
    ("recipient_id", "text"),
    ("row_number", "int"),
    ("template_id", "text"),
    ("text", "text"),
    ("text_sha256", "text"),
    ("request_key", "text"),
    ("shard", "int"),
    ("status", "text"),
    ("attempts", "int"),
    ("error_reason", "text"),
    ("error_detail", "text"),
    ("model_name", "text"),
    ("model_version", "text"),
    ("profile_version", "int"),
    ("preset", "text"),  # JSON text, cast to jsonb in SQL
    ("seed", "bigint"),
    ("duration_s", "float8"),
    ("sample_rate", "int"),
    ("loudness_lufs", "float8"),
    ("true_peak_dbtp", "float8"),
    ("storage_key", "text"),
    ("storage_url", "text"),
    ("delivery_url", "text"),
    ("cache_hit", "boolean"),
    ("timings", "text"),  # JSON text, cast to jsonb in SQL
)
_JSON_INPUT = frozenset({"preset", "timings"})
_DELIVERY_COLUMNS = ", ".join([name for name, _ in _DELIVERY_INPUT] + ["created_at", "updated_at"])
# Content fields that identify or make up a delivery: refused when they hold NUL.
_STRICT_TEXT = (
    "trace_id",
    "campaign_id",
    "recipient_id",
    "template_id",
    "text",
    "text_sha256",
    "request_key",
    "error_reason",
    "model_name",
    "model_version",
    "storage_key",
    "storage_url",
    "delivery_url",
)


class CampaignSummary(BaseModel):
    """Where a campaign stands: deliveries by status, why rows failed, what was made."""

    model_config = ConfigDict(frozen=True)

    campaign_id: str
    status: str  # the campaign's own status
    total: int
    pending: int
    published: int
    failed: int
    rejected: int
    failures_by_reason: dict[str, int]  # failed + rejected rows, most frequent first
    duration: DurationStats
    cache_hits: int  # published deliveries whose raw audio came from the synthesis cache
    cache_misses: int
    mean_timings_s: dict[str, float]  # mean seconds per step over published deliveries
    first_update: datetime | None  # first delivery registered
    last_update: datetime | None  # latest change to any delivery

    @property
    def by_status(self) -> dict[str, int]:
        return {status: getattr(self, status) for status in _DELIVERY_STATUSES}

    @property
    def accepted(self) -> int:
        """Rows that passed validation (everything but ``rejected``)."""
        return self.total - self.rejected

    @property
    def done(self) -> bool:
        """No delivery is waiting: each is published, failed or rejected."""
        return self.pending == 0

    @property
    def failure_rate(self) -> float:
        """Failed share of the accepted rows (0 when there are none)."""
        return self.failed / self.accepted if self.accepted else 0.0


# ----------------------------------------------------------------------------- helpers


def _refuse_nul(field: str, value: Any) -> None:
    if isinstance(value, str) and "\x00" in value:
        raise CampaignError(
            "nul_character",
            f"{field} {value[:60]!r} contains NUL, which PostgreSQL text cannot store;"
            " pass a printable form",
        )


def _escape_nul(value: str | None) -> str | None:
    return value.replace("\x00", "\\x00") if value is not None else None


def _json_text(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(dict(value), allow_nan=False)


def _campaign(row: Mapping[str, Any]) -> CampaignRecord:
    return CampaignRecord.model_validate(dict(row))


def _delivery(row: Mapping[str, Any]) -> DeliveryRecord:
    return DeliveryRecord.model_validate(dict(row))


def _require_delivery(conn: psycopg.Connection, trace_id: str) -> None:
    if conn.execute("SELECT 1 FROM deliveries WHERE trace_id = %s", (trace_id,)).fetchone():
        return
    raise CampaignError("unknown_delivery", f"no delivery with trace id {trace_id!r}")


# ----------------------------------------------------------------------------- campaigns


def upsert_campaign(conn: psycopg.Connection, record: CampaignRecord) -> CampaignRecord:
    """Store a submitted campaign; the stored row when it is already there.

    Submitting the same spec and recipients again (same ``spec_sha256`` and
    ``recipients_sha256``) returns the stored campaign unchanged, pin included.
    Anything else under an existing id raises ``CampaignError("campaign_exists")``.
    """
    for field in ("campaign_id", "spec_sha256", "recipients_uri", "recipients_sha256"):
        _refuse_nul(field, getattr(record, field))
    if record.status not in CAMPAIGN_STATUSES:
        raise CampaignError("invalid_status", f"campaign status {record.status!r} is unknown")
    row = conn.execute(
        f"""
        INSERT INTO campaigns (campaign_id, spec, spec_sha256, recipients_uri,
            recipients_sha256, voice_profile, use_case, profile_version, model_name,
            model_version, preset, status, submitted_at, started_at, finished_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                COALESCE(%s::timestamptz, now()), %s, %s)
        ON CONFLICT (campaign_id) DO NOTHING
        RETURNING {_CAMPAIGN_COLUMNS}
        """,
        (
            record.campaign_id,
            Jsonb(record.spec),
            record.spec_sha256,
            record.recipients_uri,
            record.recipients_sha256,
            record.voice_profile,
            record.use_case,
            record.profile_version,
            record.model_name,
            record.model_version,
            Jsonb(record.preset) if record.preset is not None else None,
            record.status,
            record.submitted_at,
            record.started_at,
            record.finished_at,
        ),
    ).fetchone()
    if row is not None:
        return _campaign(row)
    stored = get_campaign(conn, record.campaign_id)
    if (stored.spec_sha256, stored.recipients_sha256) != (
        record.spec_sha256,
        record.recipients_sha256,
    ):
        changed = [
            name
            for name, old, new in (
                ("spec", stored.spec_sha256, record.spec_sha256),
                ("recipients", stored.recipients_sha256, record.recipients_sha256),
            )
            if old != new
        ]
        raise CampaignError(
            "campaign_exists",
            f"campaign {record.campaign_id!r} was submitted {stored.submitted_at} with a"
            f" different {' and '.join(changed)}; submit the change under a new campaign id",
        )
    return stored


def get_campaign(conn: psycopg.Connection, campaign_id: str) -> CampaignRecord:
    """The stored campaign; ``CampaignError("unknown_campaign")`` when there is none."""
    row = conn.execute(
        f"SELECT {_CAMPAIGN_COLUMNS} FROM campaigns WHERE campaign_id = %s", (campaign_id,)
    ).fetchone()
    if row is None:
        raise CampaignError("unknown_campaign", f"no campaign {campaign_id!r}")
    return _campaign(row)


def list_campaigns(conn: psycopg.Connection) -> list[CampaignRecord]:
    """Every campaign, oldest submission first."""
    rows = conn.execute(
        f"SELECT {_CAMPAIGN_COLUMNS} FROM campaigns ORDER BY submitted_at, campaign_id"
    ).fetchall()
    return [_campaign(r) for r in rows]


def pin_voice(
    conn: psycopg.Connection,
    campaign_id: str,
    *,
    profile_version: int,
    model_name: str,
    model_version: str,
    preset: Mapping[str, Any],
) -> CampaignRecord:
    """Pin the campaign's voice unless it is pinned already, and mark it running.

    The first start wins: the campaign row is locked (``FOR UPDATE``) while deciding,
    and once ``model_version`` is set the arguments are ignored, so a re-run (or a
    concurrent start) gets the original pin back even after the champion moved.
    Sets ``status = 'running'``, ``started_at`` (first start only) and clears
    ``finished_at``. Returns the campaign as stored.
    """
    if not model_version:
        raise CampaignError("invalid_pin", f"campaign {campaign_id!r}: empty model version")
    for field, value in (("model_name", model_name), ("model_version", model_version)):
        _refuse_nul(field, value)
    current = conn.execute(
        "SELECT model_version FROM campaigns WHERE campaign_id = %s FOR UPDATE", (campaign_id,)
    ).fetchone()
    if current is None:
        raise CampaignError("unknown_campaign", f"no campaign {campaign_id!r}")
    pin = current["model_version"] is None
    row = conn.execute(
        f"""
        UPDATE campaigns
           SET profile_version = CASE WHEN %(pin)s THEN %(profile_version)s
                                      ELSE profile_version END,
               model_name = CASE WHEN %(pin)s THEN %(model_name)s ELSE model_name END,
               model_version = CASE WHEN %(pin)s THEN %(model_version)s ELSE model_version END,
               preset = CASE WHEN %(pin)s THEN %(preset)s ELSE preset END,
               status = 'running',
               started_at = COALESCE(started_at, now()),
               finished_at = NULL,
               failure_reason = NULL,
               failure_detail = NULL
         WHERE campaign_id = %(campaign_id)s
        RETURNING {_CAMPAIGN_COLUMNS}
        """,
        {
            "pin": pin,
            "profile_version": profile_version,
            "model_name": model_name,
            "model_version": model_version,
            "preset": Jsonb(dict(preset)),
            "campaign_id": campaign_id,
        },
    ).fetchone()
    return _campaign(row)


def set_campaign_status(
    conn: psycopg.Connection,
    campaign_id: str,
    status: CampaignStatus,
    reason: str | None = None,
    detail: str | None = None,
) -> CampaignRecord:
    """Set the campaign's status; ``completed``/``failed`` stamp ``finished_at``.

    ``failed`` needs a ``reason`` (a stable code) and a ``detail``, kept on the row so
    ``voicemill campaign status`` says why; any other status clears them.
    """
    if status not in CAMPAIGN_STATUSES:
        raise CampaignError(
            "invalid_status",
            f"campaign status {status!r} is not one of {', '.join(sorted(CAMPAIGN_STATUSES))}",
        )
    if status == "failed":
        if not reason:
            raise CampaignError("invalid_status", "a failed campaign needs a reason")
        detail = _printable_text(detail or reason)
        reason = _printable_text(reason)
    else:
        reason = detail = None
    row = conn.execute(
        f"""
        UPDATE campaigns
           SET status = %(status)s::text,
               started_at = CASE WHEN %(status)s::text = 'running'
                                 THEN COALESCE(started_at, now()) ELSE started_at END,
               finished_at = CASE WHEN %(status)s::text IN ('completed', 'failed')
                                  THEN now() ELSE NULL END,
               failure_reason = %(reason)s,
               failure_detail = %(detail)s
         WHERE campaign_id = %(campaign_id)s
        RETURNING {_CAMPAIGN_COLUMNS}
        """,
        {"status": status, "campaign_id": campaign_id, "reason": reason, "detail": detail},
    ).fetchone()
    if row is None:
        raise CampaignError("unknown_campaign", f"no campaign {campaign_id!r}")
    return _campaign(row)


_MAX_FAILURE_CHARS = 2000


def _printable_text(text: str) -> str:
    """``text`` without NUL (PostgreSQL text refuses it), cut to a readable length."""
    text = text.replace("\x00", "\\x00")
    return text if len(text) <= _MAX_FAILURE_CHARS else text[:_MAX_FAILURE_CHARS] + "…"


# ----------------------------------------------------------------------------- deliveries


@contextlib.contextmanager
def shard_lock(
    connect: Callable[[], contextlib.AbstractContextManager[psycopg.Connection]],
    campaign_id: str,
    shard: int,
) -> Iterator[None]:
    """Hold a campaign shard while delivering it: a PostgreSQL session advisory lock.

    Two runs of one campaign (a second launch, a re-run while one is still going) would
    otherwise both synthesize and publish the same pending rows, recording each twice.
    The second run's step waits here, then finds the shard done. The lock belongs to
    the connection, so a killed run's lock goes with its connection and a resumed run
    is never blocked by a dead one.
    """
    key = f"voicemill:campaign:{campaign_id}:{shard}"
    with connect() as conn:
        conn.autocommit = True  # a session lock, not an open transaction
        conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (key,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))


def _input_expression(name: str) -> str:
    if name == "timings":
        return "COALESCE(timings::jsonb, '{}'::jsonb)"
    return f"{name}::jsonb" if name in _JSON_INPUT else name


_INPUT_NAMES = ", ".join(name for name, _ in _DELIVERY_INPUT)
_INPUT_ARRAYS = ", ".join(f"%({name})s::{kind}[]" for name, kind in _DELIVERY_INPUT)
_INPUT_VALUES = ", ".join(_input_expression(name) for name, _ in _DELIVERY_INPUT)
# One statement: unnest the column arrays, insert what is new, and write one event
# per inserted row (data-modifying CTE), all in a single round trip.
_REGISTER_SQL = f"""
WITH input AS (
    SELECT * FROM unnest({_INPUT_ARRAYS}) AS t({_INPUT_NAMES})
), inserted AS (
    INSERT INTO deliveries ({_INPUT_NAMES})
    SELECT {_INPUT_VALUES} FROM input ORDER BY campaign_id, row_number
    ON CONFLICT (campaign_id, row_number) DO NOTHING
    RETURNING trace_id, campaign_id, row_number, status, attempts, error_reason, error_detail
)
INSERT INTO delivery_events (trace_id, campaign_id, status, attempt, reason, detail)
SELECT trace_id, campaign_id, status, attempts, error_reason, error_detail
  FROM inserted
 ORDER BY campaign_id, row_number
"""


def register_deliveries(conn: psycopg.Connection, rows: Sequence[DeliveryRecord]) -> int:
    """Insert new ``pending``/``rejected`` deliveries; returns how many were new.

    A row whose ``(campaign_id, row_number)`` is already registered is skipped, whatever
    its stored status: registering a recipients file again never duplicates a row nor
    resets one that was published or failed (read the stored rows, and their trace
    ids, back with :func:`deliveries`). Each new delivery gets one event. One statement
    for the whole batch (arrays through ``unnest``): thousands of rows per round trip.
    """
    if not rows:
        return 0
    columns: dict[str, list[Any]] = {name: [] for name, _ in _DELIVERY_INPUT}
    for row in rows:
        if row.status not in _REGISTRABLE:
            raise CampaignError(
                "invalid_status",
                f"row {row.row_number}: only pending or rejected deliveries are registered,"
                f" not {row.status!r}",
            )
        for field in _STRICT_TEXT:
            _refuse_nul(f"row {row.row_number} {field}", getattr(row, field))
        for name, _ in _DELIVERY_INPUT:
            value = getattr(row, name)
            if name in _JSON_INPUT:
                value = _json_text(value)
            elif name == "error_detail":
                value = _escape_nul(value)
            columns[name].append(value)
    with conn.cursor() as cur:
        cur.execute(_REGISTER_SQL, columns)
        return cur.rowcount


def deliveries(
    conn: psycopg.Connection,
    campaign_id: str,
    *,
    status: str | None = None,
    shard: int | None = None,
) -> list[DeliveryRecord]:
    """A campaign's deliveries (optionally one status and/or shard) by row number."""
    rows = conn.execute(
        f"""
        SELECT {_DELIVERY_COLUMNS} FROM deliveries
         WHERE campaign_id = %(campaign_id)s
           AND (%(status)s::text IS NULL OR status = %(status)s::text)
           AND (%(shard)s::int IS NULL OR shard = %(shard)s::int)
         ORDER BY row_number
        """,
        {"campaign_id": campaign_id, "status": status, "shard": shard},
    ).fetchall()
    return [_delivery(r) for r in rows]


def assign_shards(conn: psycopg.Connection, campaign_id: str, shard_size: int) -> int:
    """Give unsharded, non-rejected deliveries their shard; returns the number of shards.

    Shard ``n`` holds the accepted rows ranked ``n * shard_size`` to ``(n + 1) *
    shard_size - 1`` by row number, so the split depends only on the rows. Rows that
    already have a shard keep it (a re-run with another ``shard_size`` does not move
    work between shards). Rejected rows get no shard.
    """
    if shard_size < 1:
        raise CampaignError("invalid_shard_size", f"shard size must be >= 1, not {shard_size}")
    conn.execute(
        """
        WITH ranked AS (
            SELECT trace_id,
                   (row_number() OVER (ORDER BY row_number) - 1) / %(size)s AS shard
              FROM deliveries
             WHERE campaign_id = %(campaign_id)s AND status <> 'rejected'
        )
        UPDATE deliveries d SET shard = r.shard, updated_at = now()
          FROM ranked r
         WHERE d.trace_id = r.trace_id AND d.shard IS NULL
        """,
        {"size": shard_size, "campaign_id": campaign_id},
    )
    row = conn.execute(
        "SELECT count(DISTINCT shard) AS shards FROM deliveries "
        "WHERE campaign_id = %s AND shard IS NOT NULL",
        (campaign_id,),
    ).fetchone()
    return int(row["shards"])


def pending_shards(conn: psycopg.Connection, campaign_id: str) -> list[int]:
    """Shards that still hold a pending delivery, in order: the work a run has left."""
    rows = conn.execute(
        "SELECT DISTINCT shard FROM deliveries "
        "WHERE campaign_id = %s AND status = 'pending' AND shard IS NOT NULL ORDER BY shard",
        (campaign_id,),
    ).fetchall()
    return [int(r["shard"]) for r in rows]


def mark_published(
    conn: psycopg.Connection,
    trace_id: str,
    *,
    storage_key: str,
    storage_url: str,
    duration_s: float,
    sample_rate: int,
    cache_hit: bool,
    attempts: int,
    delivery_url: str | None = None,
    loudness_lufs: float | None = None,
    true_peak_dbtp: float | None = None,
    timings: Mapping[str, float] | None = None,
    model_name: str | None = None,
    model_version: str | None = None,
    profile_version: int | None = None,
    preset: Mapping[str, Any] | None = None,
    seed: int | None = None,
) -> bool:
    """Record a delivery's published audio; returns whether the row changed.

    Only a ``pending`` or ``failed`` delivery moves: an already published (or rejected)
    one is left as is and ``False`` comes back. Clears the last error (earlier failed
    attempts stay in the events). ``delivery_url`` defaults to ``storage_url``; the
    model, profile, preset, seed and timings fields keep their stored values when
    ``None``. Writes a ``published`` event whose detail is the storage key. Raises
    ``CampaignError("unknown_delivery")`` for an unknown trace id.
    """
    for field, value in (
        ("storage_key", storage_key),
        ("storage_url", storage_url),
        ("delivery_url", delivery_url),
        ("model_name", model_name),
        ("model_version", model_version),
    ):
        _refuse_nul(field, value)
    cur = conn.execute(
        """
        WITH updated AS (
            UPDATE deliveries
               SET status = 'published',
                   attempts = %(attempts)s,
                   error_reason = NULL,
                   error_detail = NULL,
                   storage_key = %(storage_key)s,
                   storage_url = %(storage_url)s,
                   delivery_url = %(delivery_url)s,
                   duration_s = %(duration_s)s,
                   sample_rate = %(sample_rate)s,
                   loudness_lufs = %(loudness_lufs)s,
                   true_peak_dbtp = %(true_peak_dbtp)s,
                   cache_hit = %(cache_hit)s,
                   timings = COALESCE(%(timings)s, timings),
                   model_name = COALESCE(%(model_name)s, model_name),
                   model_version = COALESCE(%(model_version)s, model_version),
                   profile_version = COALESCE(%(profile_version)s, profile_version),
                   preset = COALESCE(%(preset)s, preset),
                   seed = COALESCE(%(seed)s, seed),
                   updated_at = now()
             WHERE trace_id = %(trace_id)s AND status IN ('pending', 'failed')
            RETURNING trace_id, campaign_id, attempts, storage_key
        )
        INSERT INTO delivery_events (trace_id, campaign_id, status, attempt, detail)
        SELECT trace_id, campaign_id, 'published', attempts, storage_key FROM updated
        """,
        {
            "trace_id": trace_id,
            "attempts": attempts,
            "storage_key": storage_key,
            "storage_url": storage_url,
            "delivery_url": delivery_url if delivery_url is not None else storage_url,
            "duration_s": duration_s,
            "sample_rate": sample_rate,
            "loudness_lufs": loudness_lufs,
            "true_peak_dbtp": true_peak_dbtp,
            "cache_hit": cache_hit,
            "timings": Jsonb(dict(timings)) if timings is not None else None,
            "model_name": model_name,
            "model_version": model_version,
            "profile_version": profile_version,
            "preset": Jsonb(dict(preset)) if preset is not None else None,
            "seed": seed,
        },
    )
    if cur.rowcount:
        return True
    _require_delivery(conn, trace_id)
    return False


def mark_failed(
    conn: psycopg.Connection,
    trace_id: str,
    *,
    reason: str,
    detail: str,
    attempts: int,
    final: bool,
) -> bool:
    """Record a failed attempt; returns whether the row changed.

    Each call writes an event. A ``final`` failure (retries exhausted) sets the
    delivery ``failed``; otherwise it stays (or, on a re-run, becomes again)
    ``pending``, with ``attempts`` and the last error recorded, and its event has
    status ``pending`` with the reason: a failed attempt that will be retried. A
    ``published`` or ``rejected`` delivery is never moved (``False``). Raises
    ``CampaignError("unknown_delivery")`` for an unknown trace id.
    """
    _refuse_nul("reason", reason)
    cur = conn.execute(
        """
        WITH updated AS (
            UPDATE deliveries
               SET status = CASE WHEN %(final)s::boolean THEN 'failed' ELSE 'pending' END,
                   attempts = %(attempts)s,
                   error_reason = %(reason)s,
                   error_detail = %(detail)s,
                   updated_at = now()
             WHERE trace_id = %(trace_id)s AND status IN ('pending', 'failed')
            RETURNING trace_id, campaign_id, status, attempts, error_reason, error_detail
        )
        INSERT INTO delivery_events (trace_id, campaign_id, status, attempt, reason, detail)
        SELECT trace_id, campaign_id, status, attempts, error_reason, error_detail FROM updated
        """,
        {
            "final": final,
            "attempts": attempts,
            "reason": reason,
            "detail": _escape_nul(detail),
            "trace_id": trace_id,
        },
    )
    if cur.rowcount:
        return True
    _require_delivery(conn, trace_id)
    return False


def delivery_events(conn: psycopg.Connection, trace_id: str) -> list[dict[str, Any]]:
    """A delivery's events, oldest first: id, trace_id, campaign_id, status, attempt,
    reason, detail, at."""
    return conn.execute(
        "SELECT id, trace_id, campaign_id, status, attempt, reason, detail, at "
        "FROM delivery_events WHERE trace_id = %s ORDER BY id",
        (trace_id,),
    ).fetchall()


# ----------------------------------------------------------------------------- summary


def campaign_summary(conn: psycopg.Connection, campaign_id: str) -> CampaignSummary:
    """Totals by status, failures by reason, durations and cache use of a campaign."""
    campaign = get_campaign(conn, campaign_id)
    totals = conn.execute(
        """
        SELECT count(*) AS total,
               count(*) FILTER (WHERE status = 'pending') AS pending,
               count(*) FILTER (WHERE status = 'published') AS published,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               count(*) FILTER (WHERE status = 'rejected') AS rejected,
               count(duration_s) FILTER (WHERE status = 'published') AS duration_count,
               COALESCE(sum(duration_s) FILTER (WHERE status = 'published'), 0) AS total_s,
               avg(duration_s) FILTER (WHERE status = 'published') AS mean_s,
               min(duration_s) FILTER (WHERE status = 'published') AS min_s,
               max(duration_s) FILTER (WHERE status = 'published') AS max_s,
               count(*) FILTER (WHERE status = 'published' AND cache_hit) AS cache_hits,
               count(*) FILTER (WHERE status = 'published' AND NOT cache_hit) AS cache_misses,
               min(created_at) AS first_update,
               max(updated_at) AS last_update
          FROM deliveries
         WHERE campaign_id = %s
        """,
        (campaign_id,),
    ).fetchone()
    reasons = conn.execute(
        """
        SELECT error_reason AS reason, count(*) AS n FROM deliveries
         WHERE campaign_id = %s AND status IN ('failed', 'rejected')
         GROUP BY error_reason
         ORDER BY n DESC, reason
        """,
        (campaign_id,),
    ).fetchall()
    timings = conn.execute(
        """
        SELECT t.key AS step, avg(t.value::float8) AS mean_s
          FROM deliveries d, jsonb_each_text(d.timings) AS t
         WHERE d.campaign_id = %s AND d.status = 'published'
           AND jsonb_typeof(d.timings -> t.key) = 'number'
         GROUP BY t.key
         ORDER BY t.key
        """,
        (campaign_id,),
    ).fetchall()
    return CampaignSummary(
        campaign_id=campaign_id,
        status=campaign.status,
        total=totals["total"],
        pending=totals["pending"],
        published=totals["published"],
        failed=totals["failed"],
        rejected=totals["rejected"],
        failures_by_reason={r["reason"]: r["n"] for r in reasons},
        duration=DurationStats(
            count=totals["duration_count"],
            total_s=float(totals["total_s"]),
            mean_s=totals["mean_s"],
            min_s=totals["min_s"],
            max_s=totals["max_s"],
        ),
        cache_hits=totals["cache_hits"],
        cache_misses=totals["cache_misses"],
        mean_timings_s={r["step"]: float(r["mean_s"]) for r in timings},
        first_update=totals["first_update"],
        last_update=totals["last_update"],
    )
