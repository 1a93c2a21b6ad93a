"""Turn stage reports into asset metadata the Dagster UI shows well.

File names, transcripts and recipient data are user data: in markdown they go through
:func:`md_cell`, so a name such as ``x|y`` or ``[click](http://…)`` or ``<img …>`` is shown
as text and cannot break a table, add a link or inject HTML into the UI.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import dagster as dg

from voicemill.data.stages import ProgressCallback, StageReport


def stage_metadata(report: StageReport) -> dict[str, Any]:
    summary = report.summary()
    metadata: dict[str, Any] = {
        "processed": dg.MetadataValue.int(summary["processed"]),
        "skipped_unchanged": dg.MetadataValue.int(summary["skipped_unchanged"]),
        "quarantined": dg.MetadataValue.int(summary["quarantined"]),
        "audio_hours_processed": dg.MetadataValue.float(summary["audio_hours"]),
    }
    if report.quarantined:
        metadata["rejections_by_reason"] = dg.MetadataValue.json(report.rejections_by_reason)
        metadata["quarantine"] = dg.MetadataValue.md(quarantine_table(report.quarantined))
    return metadata


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~])")


def md_cell(text: object, limit: int = 120) -> str:
    """``text`` as inert markdown for one table cell: one line, every markdown
    character backslash-escaped, cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    if len(flat) > limit:
        flat = flat[:limit] + "…"
    return _MD_SPECIAL.sub(r"\\\1", flat)


def md_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A markdown table whose every cell went through :func:`md_cell`."""
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |"]
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def quarantine_table(items: dict[str, str], limit: int = 50) -> str:
    lines = ["| item | reason |", "|---|---|"]
    for item, reason in sorted(items.items())[:limit]:
        lines.append(f"| {md_cell(item)} | {md_cell(reason)} |")
    if len(items) > limit:
        lines.append(f"| … {len(items) - limit} more | |")
    return "\n".join(lines)


def duration_histogram(durations: Sequence[float], bin_s: float = 1.0) -> str:
    """A text histogram of utterance durations, readable in the UI's markdown view."""
    if not durations:
        return "_no utterances_"
    counts: dict[int, int] = {}
    for d in durations:
        counts[int(d // bin_s)] = counts.get(int(d // bin_s), 0) + 1
    peak = max(counts.values())
    lines = ["| seconds | count | |", "|---|---:|---|"]
    for b in range(min(counts), max(counts) + 1):
        n = counts.get(b, 0)
        bar = "█" * max(1 if n else 0, round(24 * n / peak))
        lines.append(f"| {b * bin_s:.0f}–{(b + 1) * bin_s:.0f} | {n} | {bar} |")
    return "\n".join(lines)


def log_progress(context: dg.AssetExecutionContext, stage: str) -> ProgressCallback:
    """Log about every 10 % of a stage, so a run's log shows it moving."""

    def report(done: int, total: int, item: str) -> None:
        step = max(1, total // 10)
        if done == total or done % step == 0:
            context.log.info(f"{stage}: {done}/{total} ({item})")

    return report
