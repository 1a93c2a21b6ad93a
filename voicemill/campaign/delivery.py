"""Delivering one shard of a campaign: synthesize once per request, publish per recipient.

Rows are grouped by request key (voice profile version, preset, model version,
normalized text, seed: see :func:`voicemill.campaign.cache.request_key`), so duplicate
texts are synthesized once, and a key found in the persistent synthesis cache is not
synthesized at all. The shard is worked through in small groups of keys: cached or
synthesized audio (the GPT decoding a group's texts together), post-processed once per
key, published once per recipient, and dropped before the next group, so memory stays
flat however many recipients a campaign has.

Every recipient's outcome is committed on its own as soon as it is known, so a worker
killed mid-shard loses nothing: the rerun finds those rows published and skips them,
and republishing an unmarked row writes the same storage key again, never a second one.
Failures: a request the synthesis refuses (text it cannot read, nothing to say) fails
its recipients at once; unexpected errors (a crashed batch, an unreachable store) are
retried ``max_retries`` times before the recipient is recorded as failed. Either way the
rest of the shard goes on; whether the failure rate sinks the partition is the asset
check's call.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from voicemill.campaign import audit
from voicemill.campaign.errors import CampaignError
from voicemill.campaign.keys import delivery_key
from voicemill.campaign.postprocess import (
    CONTENT_TYPES,
    EXTENSIONS,
    PostprocessSettings,
    encode,
    postprocess,
)
from voicemill.campaign.records import CampaignRecord, DeliveryRecord
from voicemill.errors import RejectedInput

if TYPE_CHECKING:
    import psycopg

    from voicemill.campaign.cache import SynthesisCache
    from voicemill.campaign.storage import Store
    from voicemill.synthesis.types import SynthesisResult

log = logging.getLogger(__name__)


class Synthesize(Protocol):
    """The campaign's prepared voice and pinned preset, applied to many texts at once."""

    def __call__(self, texts: Sequence[str]) -> list[SynthesisResult | RejectedInput]: ...


@dataclass
class ShardReport:
    """What one shard did; ``seconds`` splits its wall time by kind of work."""

    logger: Any = field(default=log, repr=False, compare=False)  # where outcomes are logged

    def summary(self) -> dict[str, Any]:
        """The counters and seconds, JSON-ready."""
        return {
            "published": self.published,
            "failed": self.failed,
            "skipped": self.skipped,
            "cache_hits": self.cache_hits,
            "synthesized": self.synthesized,
            "seconds": dict(self.seconds),
        }

    published: int = 0
    failed: int = 0
    skipped: int = 0  # already published (or rejected) before this run
    cache_hits: int = 0  # recipients whose audio came from the cache
    synthesized: int = 0  # requests synthesized by this run
    seconds: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(
            ("synthesis", "cache", "postprocess", "storage", "database"), 0.0
        )
    )


@dataclass(frozen=True)
class _Audio:
    samples: np.ndarray
    rate: int
    cache_hit: bool
    synthesis_s: float  # this request's share of its batch's synthesis time


def deliver_shard(
    rows: Sequence[DeliveryRecord],
    *,
    campaign: CampaignRecord,
    settings: PostprocessSettings,
    synthesize: Synthesize,
    cache: SynthesisCache,
    store: Store,
    connect: Callable[[], AbstractContextManager[psycopg.Connection]],
    max_retries: int,
    batch_size: int = 8,
    logger: logging.Logger | logging.LoggerAdapter | Any = log,
) -> ShardReport:
    """Publish every pending row of ``rows`` (see module docstring).

    ``logger`` (e.g. a Dagster run's ``context.log``) gets one line per outcome, each
    with the delivery's trace id.
    """
    report = ShardReport(logger=logger)
    groups: dict[str, list[DeliveryRecord]] = {}
    for row in rows:
        if row.status != "pending":
            report.skipped += 1
        elif row.request_key is None or row.text is None:
            raise CampaignError("invalid_delivery", f"pending delivery {row.trace_id} has no text")
        else:
            groups.setdefault(row.request_key, []).append(row)
    keys = list(groups)
    for start in range(0, len(keys), batch_size):
        chunk = keys[start : start + batch_size]
        audio = _audio_for(chunk, groups, synthesize, cache, connect, max_retries, report)
        for key, got in audio.items():
            _publish(
                key, got, groups[key], campaign, settings, store, connect, max_retries, report
            )  # fmt: skip
    return report


def _audio_for(
    keys: list[str],
    groups: dict[str, list[DeliveryRecord]],
    synthesize: Synthesize,
    cache: SynthesisCache,
    connect: Callable[[], AbstractContextManager[psycopg.Connection]],
    max_retries: int,
    report: ShardReport,
) -> dict[str, _Audio]:
    """Audio per key from the cache, else synthesized (misses of the chunk together)."""
    found: dict[str, _Audio] = {}
    with _timed(report, "cache"), connect() as conn:
        for key in keys:
            cached = cache.get(conn, key)
            if cached is not None:
                found[key] = _Audio(cached.audio, cached.sample_rate, True, 0.0)
                report.cache_hits += len(groups[key])
    remaining = [k for k in keys if k not in found]
    for attempt in range(1, max_retries + 2):
        if not remaining:
            break
        started = time.perf_counter()
        try:
            results = synthesize([groups[k][0].text or "" for k in remaining])
        except Exception as exc:  # a crashed batch: every request in it is retried
            log.warning("synthesis batch failed (attempt %d): %s", attempt, exc)
            crash = CampaignError("synthesis_crashed", f"{type(exc).__name__}: {exc}")
            results = [crash] * len(remaining)
        elapsed = time.perf_counter() - started
        report.seconds["synthesis"] += elapsed
        retry: list[str] = []
        for key, result in zip(remaining, results, strict=True):
            if isinstance(result, RejectedInput):
                transient = result.reason == "synthesis_crashed"
                final = not transient or attempt > max_retries
                _fail(groups[key], result, attempt, final, connect, report)
                if not final:
                    retry.append(key)
                continue
            with _timed(report, "cache"), connect() as conn:
                cache.put(
                    conn,
                    key,
                    result.audio,
                    result.sample_rate,
                    groups[key][0].model_name,
                    groups[key][0].model_version,
                )
            report.synthesized += 1
            found[key] = _Audio(result.audio, result.sample_rate, False, elapsed / len(results))
        remaining = retry
    return found


def _publish(
    key: str,
    audio: _Audio,
    rows: list[DeliveryRecord],
    campaign: CampaignRecord,
    settings: PostprocessSettings,
    store: Store,
    connect: Callable[[], AbstractContextManager[psycopg.Connection]],
    max_retries: int,
    report: ShardReport,
) -> None:
    """Post-process the key's audio once, then put and record it for each recipient."""
    content_type = CONTENT_TYPES[settings.output_format]
    extension = EXTENSIONS[settings.output_format]
    started = time.perf_counter()
    try:
        processed = postprocess(audio.samples, audio.rate, settings)
        data = encode(processed)
    except RejectedInput as exc:
        _fail(rows, exc, 1, True, connect, report)
        return
    finally:
        postprocess_s = time.perf_counter() - started
        report.seconds["postprocess"] += postprocess_s
    # The key derives from the request and the delivery settings, not from the encoded
    # bytes (lossy encoders need not be bit-exact): the same delivery, the same key.
    content = hashlib.sha256(f"{key}\0{settings.model_dump_json()}".encode()).hexdigest()
    for row in rows:
        storage_key = delivery_key(campaign.campaign_id, row.recipient_id, content, extension)
        for attempt in range(1, max_retries + 2):
            put_started = time.perf_counter()
            try:
                published = store.put(storage_key, data, content_type)
            except Exception as exc:  # unreachable store, timeouts: worth another try
                report.seconds["storage"] += time.perf_counter() - put_started
                reason = exc if isinstance(exc, RejectedInput) else None
                error = reason or CampaignError("publish_failed", f"{type(exc).__name__}: {exc}")
                _fail([row], error, attempt, attempt > max_retries, connect, report)
                continue
            put_s = time.perf_counter() - put_started
            report.seconds["storage"] += put_s
            with _timed(report, "database"), connect() as conn:
                audit.mark_published(
                    conn,
                    row.trace_id,
                    duration_s=processed.duration_s,
                    sample_rate=processed.rate,
                    loudness_lufs=processed.loudness_lufs,
                    true_peak_dbtp=processed.true_peak_dbtp,
                    storage_key=storage_key,
                    storage_url=published.url,
                    delivery_url=published.delivery_url,
                    cache_hit=audio.cache_hit,
                    attempts=row.attempts + attempt,
                    timings={
                        "synthesis_s": round(audio.synthesis_s, 4),
                        "postprocess_s": round(postprocess_s, 4),
                        "publish_s": round(put_s, 4),
                    },
                )
            report.published += 1
            report.logger.debug(
                f"trace {row.trace_id}: row {row.row_number} published to {published.url}"
            )
            break


def _fail(
    rows: Sequence[DeliveryRecord],
    error: RejectedInput,
    attempt: int,
    final: bool,
    connect: Callable[[], AbstractContextManager[psycopg.Connection]],
    report: ShardReport,
) -> None:
    with _timed(report, "database"), connect() as conn:
        for row in rows:
            audit.mark_failed(
                conn,
                row.trace_id,
                reason=error.reason,
                detail=error.detail,
                attempts=row.attempts + attempt,
                final=final,
            )
    for row in rows:
        state = "failed" if final else f"attempt {attempt} failed, will retry"
        report.logger.warning(
            f"trace {row.trace_id}: row {row.row_number} {state}: {error.reason}: {error.detail}"
        )
    if final:
        report.failed += len(rows)


@contextmanager
def _timed(report: ShardReport, kind: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        report.seconds[kind] += time.perf_counter() - started
