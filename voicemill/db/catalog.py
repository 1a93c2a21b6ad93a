"""The data catalog in PostgreSQL: datasets, recordings, utterances, quarantine.

Plain SQL over psycopg 3: the statements are few and PostgreSQL-specific
(``ON CONFLICT``, JSONB), so an ORM would add weight without removing code.
Every write is idempotent, keyed by content, so a re-run changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from voicemill.db.server import Database, libpq_dsn
from voicemill.settings import Settings

DATASET_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class InvalidDatasetId(ValueError):
    pass


def validate_dataset_id(dataset_id: str) -> str:
    """Dataset ids name partitions and folders, so they must be path-safe slugs."""
    if not DATASET_ID_PATTERN.match(dataset_id):
        raise InvalidDatasetId(
            f"invalid dataset id {dataset_id!r}: use 1-63 lowercase letters, digits, '_' or '-',"
            " starting with a letter or digit"
        )
    return dataset_id


@contextmanager
def connect(settings: Settings | None = None) -> Iterator[psycopg.Connection]:
    """A transaction on the app database; commits on success, rolls back on error."""
    with psycopg.connect(libpq_dsn(Database.APP, settings), row_factory=dict_row) as conn:
        yield conn


@dataclass(frozen=True)
class NewRecording:
    dataset_id: str
    content_sha256: str
    source_uri: str
    source_name: str
    size_bytes: int
    stored_path: str
    transcript: str | None = None

    @property
    def recording_id(self) -> str:
        return recording_id_for(self.dataset_id, self.content_sha256)


def recording_id_for(dataset_id: str, content_sha256: str) -> str:
    return f"{dataset_id}/{content_sha256[:16]}"


# -- datasets -----------------------------------------------------------------


def upsert_dataset(
    conn: psycopg.Connection,
    dataset_id: str,
    source_uri: str,
    speaker: str | None = None,
    language: str | None = None,
) -> None:
    validate_dataset_id(dataset_id)
    conn.execute(
        """
        INSERT INTO datasets (dataset_id, source_uri, speaker, language)
        VALUES (%s, %s, %s, %s)
        ON CONFLICT (dataset_id) DO UPDATE
           SET source_uri = EXCLUDED.source_uri,
               speaker = EXCLUDED.speaker,
               language = COALESCE(EXCLUDED.language, datasets.language),
               updated_at = now()
         WHERE (datasets.source_uri, datasets.speaker, datasets.language)
               IS DISTINCT FROM (EXCLUDED.source_uri, EXCLUDED.speaker,
                                 COALESCE(EXCLUDED.language, datasets.language))
        """,
        (dataset_id, source_uri, speaker or dataset_id, language),
    )


def get_dataset(conn: psycopg.Connection, dataset_id: str) -> dict[str, Any] | None:
    return conn.execute("SELECT * FROM datasets WHERE dataset_id = %s", (dataset_id,)).fetchone()


def list_datasets(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return conn.execute("SELECT * FROM datasets ORDER BY dataset_id").fetchall()


# -- recordings ---------------------------------------------------------------


def register_recording(conn: psycopg.Connection, rec: NewRecording) -> bool:
    """Insert a recording; returns False when the same content is already registered."""
    row = conn.execute(
        """
        INSERT INTO recordings (recording_id, dataset_id, content_sha256, source_uri,
                                source_name, size_bytes, stored_path, transcript, status)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'registered')
        ON CONFLICT (dataset_id, content_sha256) DO NOTHING
        RETURNING recording_id
        """,
        (
            rec.recording_id,
            rec.dataset_id,
            rec.content_sha256,
            rec.source_uri,
            rec.source_name,
            rec.size_bytes,
            rec.stored_path,
            rec.transcript,
        ),
    ).fetchone()
    return row is not None


def recording_source_name(conn: psycopg.Connection, recording_id: str) -> str | None:
    """The source name a recording was first registered under."""
    row = conn.execute(
        "SELECT source_name FROM recordings WHERE recording_id = %s", (recording_id,)
    ).fetchone()
    return None if row is None else row["source_name"]


def update_recording_transcript(
    conn: psycopg.Connection, recording_id: str, source_name: str, transcript: str | None
) -> bool:
    """Record a changed transcript for known audio from the same source file.

    Returns whether it changed. A copy of the same audio under another name is
    not the registered source, so its (missing) transcript changes nothing.
    """
    cur = conn.execute(
        """
        UPDATE recordings SET transcript = %s, updated_at = now()
         WHERE recording_id = %s AND source_name = %s AND transcript IS DISTINCT FROM %s
        """,
        (transcript, recording_id, source_name, transcript),
    )
    return cur.rowcount > 0


def set_recording_probe(
    conn: psycopg.Connection,
    recording_id: str,
    *,
    container: str,
    sample_rate: int,
    channels: int,
    duration_s: float,
) -> None:
    conn.execute(
        """
        UPDATE recordings SET container = %s, sample_rate = %s, channels = %s,
               duration_s = %s, updated_at = now()
         WHERE recording_id = %s
        """,
        (container, sample_rate, channels, duration_s, recording_id),
    )


def set_recording_status(
    conn: psycopg.Connection,
    recording_id: str,
    status: str,
    measurements: Mapping[str, Any] | None = None,
) -> None:
    conn.execute(
        """
        UPDATE recordings
           SET status = %s, measurements = COALESCE(%s, measurements), updated_at = now()
         WHERE recording_id = %s
        """,
        (status, Jsonb(dict(measurements)) if measurements is not None else None, recording_id),
    )


def set_stage_fingerprint(
    conn: psycopg.Connection, recording_id: str, stage: str, value: str | None
) -> None:
    conn.execute(
        """
        UPDATE recordings
           SET stage_fingerprints = CASE WHEN %(value)s::text IS NULL
                                         THEN stage_fingerprints - %(stage)s
                                         ELSE jsonb_set(stage_fingerprints, ARRAY[%(stage)s],
                                                        to_jsonb(%(value)s::text)) END,
               updated_at = now()
         WHERE recording_id = %(recording_id)s
        """,
        {"value": value, "stage": stage, "recording_id": recording_id},
    )


def recordings(
    conn: psycopg.Connection, dataset_id: str, status: str | None = None
) -> list[dict[str, Any]]:
    if status is None:
        return conn.execute(
            "SELECT * FROM recordings WHERE dataset_id = %s ORDER BY source_name",
            (dataset_id,),
        ).fetchall()
    return conn.execute(
        "SELECT * FROM recordings WHERE dataset_id = %s AND status = %s ORDER BY source_name",
        (dataset_id, status),
    ).fetchall()


# -- quarantine ---------------------------------------------------------------


def quarantine(
    conn: psycopg.Connection,
    *,
    dataset_id: str,
    stage: str,
    item: str,
    reason: str,
    detail: str = "",
    recording_id: str | None = None,
    run_id: str | None = None,
) -> None:
    """Record why an item was set aside; re-quarantining updates the reason."""
    conn.execute(
        """
        INSERT INTO quarantine (dataset_id, stage, item, reason, detail, recording_id, run_id)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (dataset_id, stage, item) DO UPDATE
           SET reason = EXCLUDED.reason, detail = EXCLUDED.detail,
               recording_id = EXCLUDED.recording_id, run_id = EXCLUDED.run_id,
               created_at = now()
        """,
        (dataset_id, stage, item, reason, detail, recording_id, run_id),
    )


def release_from_quarantine(
    conn: psycopg.Connection, dataset_id: str, stage: str, items: Iterable[str]
) -> None:
    """Forget earlier quarantine entries for items that now pass ``stage``."""
    conn.execute(
        "DELETE FROM quarantine WHERE dataset_id = %s AND stage = %s AND item = ANY(%s)",
        (dataset_id, stage, list(items)),
    )


def clear_recording_quarantine(
    conn: psycopg.Connection, recording_id: str, stages: Iterable[str]
) -> None:
    """Drop a recording's entries for stages that are about to run again."""
    conn.execute(
        "DELETE FROM quarantine WHERE recording_id = %s AND stage = ANY(%s)",
        (recording_id, list(stages)),
    )


def quarantined(conn: psycopg.Connection, dataset_id: str) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM quarantine WHERE dataset_id = %s ORDER BY stage, item", (dataset_id,)
    ).fetchall()


# -- utterances ---------------------------------------------------------------

_UTTERANCE_COLUMNS = (
    "utterance_id",
    "dataset_id",
    "recording_id",
    "segment_index",
    "start_s",
    "end_s",
    "duration_s",
    "audio_path",
    "clipping_ratio",
    "snr_db",
    "status",
    "rejection_reason",
    "rejection_stage",
)


def replace_segments(
    conn: psycopg.Connection, recording_id: str, rows: Iterable[Mapping[str, Any]]
) -> None:
    """Replace a recording's utterances with a fresh segmentation."""
    conn.execute("DELETE FROM utterances WHERE recording_id = %s", (recording_id,))
    placeholders = ", ".join(["%s"] * len(_UTTERANCE_COLUMNS))
    with conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO utterances ({', '.join(_UTTERANCE_COLUMNS)}) VALUES ({placeholders})",
            [tuple(row.get(col) for col in _UTTERANCE_COLUMNS) for row in rows],
        )


def set_alignment(
    conn: psycopg.Connection,
    utterance_id: str,
    *,
    text: str | None,
    normalized_text: str | None,
    language: str | None,
    words: list[dict[str, Any]] | None,
    alignment_score: float | None,
    alignment_method: str | None,
    status: str,
    rejection_reason: str | None,
) -> None:
    conn.execute(
        """
        UPDATE utterances
           SET text = %s, normalized_text = %s, language = %s, words = %s,
               alignment_score = %s, alignment_method = %s, status = %s,
               rejection_reason = %s,
               rejection_stage = CASE WHEN %s::text IS NULL THEN NULL ELSE 'align' END,
               updated_at = now()
         WHERE utterance_id = %s
        """,
        (
            text,
            normalized_text,
            language,
            Jsonb(words) if words is not None else None,
            alignment_score,
            alignment_method,
            status,
            rejection_reason,
            rejection_reason,
            utterance_id,
        ),
    )


def recording_utterances(conn: psycopg.Connection, recording_id: str) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM utterances WHERE recording_id = %s ORDER BY start_s", (recording_id,)
    ).fetchall()


def utterances(
    conn: psycopg.Connection, dataset_id: str, status: str | None = None
) -> list[dict[str, Any]]:
    query = "SELECT * FROM utterances WHERE dataset_id = %s"
    params: list[Any] = [dataset_id]
    if status is not None:
        query += " AND status = %s"
        params.append(status)
    return conn.execute(query + " ORDER BY utterance_id", params).fetchall()
