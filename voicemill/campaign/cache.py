"""Raw synthesized audio kept across runs and campaigns, keyed by what determines it.

Synthesis is the slow step of a delivery. Its output depends only on the voice
(profile and version), the use case's preset, the model version, the normalized text,
the seed and the language; :func:`request_key` hashes exactly those, so a re-run, a
retried shard or another campaign saying the same thing with the same voice reuses
the audio instead of synthesizing it again.

Storage: one file per key under ``root/<key[:2]>/<key>.wav`` plus a
``synthesis_cache`` row (path, sample rate, duration, model, hits).

- **Lossless, bit-exact**: files are 32-bit float WAV (libsndfile ``FLOAT``). The
  engine produces float32 samples; FLAC stores integers only (at most 24 bits), so
  FLAC ``PCM_24`` would quantize them and a cache hit would then post-process
  slightly different samples than the original miss did. A float WAV returns the
  very float32 array that was put, so a delivered file is the same whether its
  audio came from the model or from the cache. The cost is size (4 bytes/sample,
  about 128 kB per second at 32 kHz), acceptable for a cache.
- **Verified reads, self-healing**: the row keeps the sha256 of the samples
  (``audio_sha256``). :meth:`SynthesisCache.get` decodes the file and checks the
  rate, shape and hash; a missing, truncated or altered file drops the row (and the
  bad file) and reads as a miss. So no fsync is needed: a file lost in a crash is
  a later miss, never wrong audio.
- **Atomic, concurrent-safe puts**: the file is written to a unique hidden sibling
  and ``os.replace``d into place, so readers only ever see whole files. Writers of
  one key take a transaction-scoped advisory lock, and a writer that finds a valid
  entry already there keeps it, so concurrent puts (threads or processes) of the
  same key leave one file and one row that agree.

Locks (the advisory lock of a put, the row lock of a hit's ``hits = hits + 1``) are
held until the caller's transaction ends: call :meth:`~SynthesisCache.get` and
:meth:`~SynthesisCache.put` in short transactions (one per delivery, as
``with connect() as conn:``), never around a whole shard.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import soundfile as sf

from voicemill.audio.atomic import move_into_place, temporary_sibling
from voicemill.text.version import FRONTEND_VERSION

__all__ = ["CACHE_KEY_VERSION", "CachedAudio", "SynthesisCache", "request_key"]

# Part of every key: bump it when what a key means changes, and old entries stop matching.
CACHE_KEY_VERSION = 1
_KEY_RE = re.compile(r"^[0-9a-f]{64}$")
_SUFFIX = ".wav"


def request_key(
    *,
    profile_id: str,
    profile_version: int,
    use_case: str,
    preset: Mapping[str, Any],
    model_name: str,
    model_version: str,
    normalized_text: str,
    seed: int,
    language: str,
    chunked: bool = False,
) -> str:
    """sha256 (hex) of the canonical JSON of everything that determines the raw audio.

    ``chunked``: the audio was vocoded in token chunks as it streamed
    (:mod:`voicemill.synthesis.chunked`), which differs slightly from the whole render.

    Canonical: sorted keys, no whitespace, ASCII escapes (so any text, lone
    surrogates included, encodes the same way), no NaN. ``preset`` is the preset as a
    JSON-able mapping (``InferencePreset.model_dump(mode="json")``).
    """
    payload = {
        "v": CACHE_KEY_VERSION,
        "frontend": FRONTEND_VERSION,  # the same text read with other phones is other audio
        "profile_id": profile_id,
        "profile_version": profile_version,
        "use_case": use_case,
        "preset": dict(preset),
        "model_name": model_name,
        "model_version": model_version,
        "normalized_text": normalized_text,
        "seed": seed,
        "language": language,
    }
    if chunked:  # absent otherwise, so whole renders keep their keys
        payload["decode"] = "chunked"
    canonical = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


@dataclass(frozen=True, eq=False)
class CachedAudio:
    """One cache entry: mono float32 samples and where and how they were stored."""

    key: str
    audio: np.ndarray  # float32, 1-D
    sample_rate: int
    duration_s: float
    path: Path
    model_name: str | None
    model_version: str | None
    hits: int
    created_at: datetime | None = None
    last_used_at: datetime | None = None


def _samples_sha256(audio: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(audio, dtype="<f4").tobytes()).hexdigest()


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ValueError(f"cache key {key!r} is not 64 lowercase hex digits (see request_key)")
    return key


# Bytes an entry's file takes: float32 samples plus the WAV header.
_ENTRY_BYTES = "(round(duration_s * sample_rate) * 4 + 80)"
_ROW_COLUMNS = (
    "request_key, audio_path, audio_sha256, sample_rate, duration_s, model_name, "
    "model_version, created_at, last_used_at, hits"
)


class SynthesisCache:
    """Raw synthesis results under ``root``, indexed in the ``synthesis_cache`` table."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()

    def path_for(self, key: str) -> Path:
        _check_key(key)
        return self.root / key[:2] / f"{key}{_SUFFIX}"

    # -- reading --------------------------------------------------------------

    def get(self, conn: psycopg.Connection, key: str) -> CachedAudio | None:
        """The cached audio for ``key`` (counting a hit), or ``None``.

        A row whose file is missing or does not decode to the stored samples is
        deleted (with the file) and reads as a miss.
        """
        _check_key(key)
        row = self._row(conn, key)
        if row is None:
            return None
        audio = self._read(row)
        if audio is None:
            # Decide under the key's lock: a writer may have just replaced the entry.
            self._lock(conn, key)
            row = self._row(conn, key)
            audio = self._read(row) if row is not None else None
            if audio is None:
                if row is not None:
                    self._forget(conn, row)
                return None
        hit = conn.execute(
            "UPDATE synthesis_cache SET hits = hits + 1, last_used_at = now() "
            f"WHERE request_key = %s RETURNING {_ROW_COLUMNS}",
            (key,),
        ).fetchone()
        if hit is None or hit["audio_sha256"] != row["audio_sha256"]:
            return None  # replaced or dropped meanwhile: a miss, never someone else's audio
        return self._entry(hit, audio)

    # -- writing --------------------------------------------------------------

    def put(
        self,
        conn: psycopg.Connection,
        key: str,
        audio: np.ndarray,
        rate: int,
        model_name: str | None,
        model_version: str | None,
    ) -> CachedAudio:
        """Store ``audio`` (mono, finite) under ``key``; returns the stored entry.

        When a valid entry for ``key`` is already there it is kept and returned (the
        same request makes the same audio, so the first writer's copy stands).
        """
        _check_key(key)
        samples = np.asarray(audio)
        if samples.ndim != 1 or samples.size == 0:
            raise ValueError(f"cache audio must be mono and non-empty, got shape {samples.shape}")
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if not np.isfinite(samples).all():
            raise ValueError("cache audio contains NaN or infinite samples")
        if int(rate) <= 0:
            raise ValueError(f"sample rate must be positive, got {rate}")
        rate = int(rate)

        self._lock(conn, key)
        existing = self._row(conn, key)
        if existing is not None:
            stored = self._read(existing)
            if stored is not None:
                return self._entry(existing, stored)

        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_sibling(path)
        try:
            sf.write(str(tmp), samples, rate, subtype="FLOAT", format="WAV")
            move_into_place(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        row = conn.execute(
            f"""
            INSERT INTO synthesis_cache (request_key, audio_path, audio_sha256, sample_rate,
                                         duration_s, model_name, model_version)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (request_key) DO UPDATE
               SET audio_path = EXCLUDED.audio_path,
                   audio_sha256 = EXCLUDED.audio_sha256,
                   sample_rate = EXCLUDED.sample_rate,
                   duration_s = EXCLUDED.duration_s,
                   model_name = EXCLUDED.model_name,
                   model_version = EXCLUDED.model_version,
                   created_at = now(),
                   last_used_at = NULL,
                   hits = 0
            RETURNING {_ROW_COLUMNS}
            """,
            (
                key,
                str(path),
                _samples_sha256(samples),
                rate,
                samples.shape[0] / rate,
                model_name,
                model_version,
            ),
        ).fetchone()
        return self._entry(row, samples)

    # -- bounding -------------------------------------------------------------

    def evict(self, conn: psycopg.Connection, max_bytes: int) -> int:
        """Drop least recently used entries until the cache holds at most ``max_bytes``
        of audio (4 bytes a sample plus the WAV header); returns how many were dropped.

        Entries in use elsewhere are safe: a reader holds its own copy of the samples,
        and a dropped entry only means a later miss.
        """
        total = conn.execute(
            f"SELECT COALESCE(sum({_ENTRY_BYTES}), 0)::bigint AS n FROM synthesis_cache"
        ).fetchone()["n"]
        if total <= max_bytes:
            return 0
        victims = conn.execute(
            f"""
            SELECT {_ROW_COLUMNS} FROM (
                SELECT *, sum({_ENTRY_BYTES}) OVER (
                           ORDER BY COALESCE(last_used_at, created_at) DESC, request_key
                       ) AS kept_bytes
                  FROM synthesis_cache
            ) ranked
            WHERE kept_bytes > %s
            """,
            (max_bytes,),
        ).fetchall()
        for row in victims:
            self._forget(conn, row)
        return len(victims)

    # -- helpers --------------------------------------------------------------

    @staticmethod
    def _lock(conn: psycopg.Connection, key: str) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('synthesis_cache:' || %s))", (key,))

    @staticmethod
    def _row(conn: psycopg.Connection, key: str) -> dict[str, Any] | None:
        return conn.execute(
            f"SELECT {_ROW_COLUMNS} FROM synthesis_cache WHERE request_key = %s", (key,)
        ).fetchone()

    @staticmethod
    def _read(row: Mapping[str, Any]) -> np.ndarray | None:
        """The row's samples, or None when its file is missing or not what was stored."""
        try:
            audio, rate = sf.read(row["audio_path"], dtype="float32", always_2d=False)
        except (OSError, RuntimeError, ValueError, sf.LibsndfileError):
            return None
        if rate != row["sample_rate"] or audio.ndim != 1:
            return None
        if _samples_sha256(audio) != row["audio_sha256"]:
            return None
        return audio

    def _forget(self, conn: psycopg.Connection, row: Mapping[str, Any]) -> None:
        conn.execute(
            "DELETE FROM synthesis_cache WHERE request_key = %s AND audio_sha256 = %s",
            (row["request_key"], row["audio_sha256"]),
        )
        path = Path(row["audio_path"])
        if path.is_relative_to(self.root):  # never delete files outside this cache
            path.unlink(missing_ok=True)

    @staticmethod
    def _entry(row: Mapping[str, Any], audio: np.ndarray) -> CachedAudio:
        return CachedAudio(
            key=row["request_key"],
            audio=audio,
            sample_rate=row["sample_rate"],
            duration_s=row["duration_s"],
            path=Path(row["audio_path"]),
            model_name=row["model_name"],
            model_version=row["model_version"],
            hits=row["hits"],
            created_at=row["created_at"],
            last_used_at=row["last_used_at"],
        )
