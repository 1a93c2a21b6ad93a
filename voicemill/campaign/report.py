"""The per-campaign report: a deliveries table, totals, a duration histogram and an HTML page.

Pure domain code: it takes the campaign's :class:`DeliveryRecord` rows (read by the
caller from the audit trail) and never touches Dagster or the database.

- **pandas/pyarrow** build the deliveries table with explicit dtypes (nullable
  ``string``/``boolean``), so Parquet round-trips exactly and an empty campaign still
  has every column.
- **matplotlib** draws the histogram on the Agg canvas (no pyplot, no display), like
  :mod:`voicemill.evaluation.plots`; an empty campaign gets a "no published audio" image.
- **Jinja2** renders the page with ``autoescape=True``: recipient ids and texts are
  untrusted. The PNG is embedded as a base64 data URI so the page survives being copied.
- Every file is written to a hidden sibling and ``os.replace``d into place, so a crash
  never leaves a half report under the final name.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from voicemill.audio.atomic import move_into_place, temporary_sibling
from voicemill.campaign.records import CampaignRecord, DeliveryRecord, DurationStats

if TYPE_CHECKING:
    import pandas as pd

DELIVERY_COLUMNS: tuple[str, ...] = (
    "recipient_id",
    "row_number",
    "template_id",
    "status",
    "storage_url",
    "delivery_url",
    "duration_s",
    "loudness_lufs",
    "error_reason",
    "error_detail",
    "trace_id",
    "model_version",
    "cache_hit",
)
_DTYPES: dict[str, str] = {
    **{c: "string" for c in DELIVERY_COLUMNS},
    "row_number": "int64",
    "duration_s": "float64",
    "loudness_lufs": "float64",
    "cache_hit": "boolean",
}
PARQUET_NAME = "deliveries.parquet"
CSV_NAME = "deliveries.csv"
HISTOGRAM_NAME = "duration_histogram.png"
HTML_NAME = "report.html"
UNKNOWN_REASON = "unknown"  # a failed/rejected row that carries no error_reason
_AUDIO_SCHEMES = frozenset({"", "http", "https", "file"})  # "" = a relative href


class CampaignTotals(BaseModel):
    """Counts and rates over one campaign's deliveries."""

    model_config = ConfigDict(frozen=True)

    total: int
    published: int
    failed: int
    rejected: int
    pending: int
    failure_rate: float  # failed / (published + failed); 0 when nothing was attempted
    rejection_rate: float  # rejected / total; 0 for an empty campaign
    undelivered_rate: float  # (failed + rejected) / total: recipients who got no audio
    failures_by_reason: dict[str, int]  # failed + rejected rows, most frequent first
    duration: DurationStats
    cache_hits: int
    unique_texts: int  # distinct text_sha256 among published, failed and pending rows


class ReportFiles(BaseModel):
    """What :func:`write_report` wrote, plus the totals it computed."""

    model_config = ConfigDict(frozen=True)

    parquet: Path
    csv: Path
    html: Path
    histogram_png: Path
    totals: CampaignTotals


def deliveries_frame(rows: Sequence[DeliveryRecord]) -> pd.DataFrame:
    """The deliveries table: one row per delivery, :data:`DELIVERY_COLUMNS`, by row_number."""
    import pandas as pd

    ordered = _by_row_number(rows)
    data = {
        column: pd.array([getattr(r, column) for r in ordered], dtype=_DTYPES[column])
        for column in DELIVERY_COLUMNS
    }
    return pd.DataFrame(data, columns=list(DELIVERY_COLUMNS))


def campaign_totals(rows: Sequence[DeliveryRecord]) -> CampaignTotals:
    """Status counts, failure and rejection rates, reasons, durations and cache hits."""
    by_status = Counter(r.status for r in rows)
    published, failed = by_status["published"], by_status["failed"]
    attempted = published + failed
    reasons = Counter(
        r.error_reason or UNKNOWN_REASON for r in rows if r.status in ("failed", "rejected")
    )
    durations = _published_durations(rows)
    duration = DurationStats()
    if durations:
        total_s = float(sum(durations))
        duration = DurationStats(
            count=len(durations),
            total_s=total_s,
            mean_s=total_s / len(durations),
            min_s=float(min(durations)),
            max_s=float(max(durations)),
        )
    texts = {
        r.text_sha256
        for r in rows
        if r.status in ("published", "failed", "pending") and r.text_sha256 is not None
    }
    return CampaignTotals(
        total=len(rows),
        published=published,
        failed=failed,
        rejected=by_status["rejected"],
        pending=by_status["pending"],
        failure_rate=failed / attempted if attempted else 0.0,
        rejection_rate=by_status["rejected"] / len(rows) if rows else 0.0,
        undelivered_rate=(failed + by_status["rejected"]) / len(rows) if rows else 0.0,
        failures_by_reason=dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        duration=duration,
        cache_hits=sum(1 for r in rows if r.cache_hit),
        unique_texts=len(texts),
    )


def write_report(
    out_dir: Path,
    campaign: CampaignRecord,
    rows: Sequence[DeliveryRecord],
    *,
    audio_samples: int = 5,
    sample_href: Callable[[DeliveryRecord], str | None] | None = None,
    failure_rows: int = 50,
) -> ReportFiles:
    """Write the deliveries table (Parquet, CSV), the histogram PNG and ``report.html``.

    The page plays up to ``audio_samples`` published rows, the first by row_number that
    have an audio URL: ``sample_href(row)`` when given, else the row's ``delivery_url``.
    URLs other than http(s), file or relative ones are not played. It lists up to
    ``failure_rows`` failed/rejected rows.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    totals = campaign_totals(rows)
    frame = deliveries_frame(rows)
    paths = {name: out / name for name in (PARQUET_NAME, CSV_NAME, HISTOGRAM_NAME, HTML_NAME)}

    _write_atomic(paths[PARQUET_NAME], lambda tmp: frame.to_parquet(tmp, index=False))
    # CRLF rows (RFC 4180): Python's csv quotes a cell holding any line-terminator
    # character, so a lone "\r" in a cell (data, as everything here) stays in its cell.
    _write_atomic(
        paths[CSV_NAME],
        lambda tmp: spreadsheet_frame(frame).to_csv(tmp, index=False, lineterminator="\r\n"),
    )
    durations = _published_durations(rows)
    png = _histogram_png(durations, totals.duration)
    _write_atomic(paths[HISTOGRAM_NAME], lambda tmp: tmp.write_bytes(png))

    ordered = _by_row_number(rows)
    href = sample_href or (lambda row: row.delivery_url)
    samples: list[tuple[DeliveryRecord, str]] = []
    for row in ordered:
        if len(samples) >= max(audio_samples, 0):
            break
        url = href(row) if row.status == "published" else None
        if url and urlsplit(url).scheme.lower() in _AUDIO_SCHEMES:
            samples.append((row, url))
    problems = [r for r in ordered if r.status in ("failed", "rejected")]
    template = _environment().from_string(_TEMPLATE)
    html = template.render(
        campaign=campaign,
        totals=totals,
        preset=[(k, _display(v)) for k, v in sorted((campaign.preset or {}).items())],
        spec_json=json.dumps(campaign.spec, indent=2, sort_keys=True, default=str),
        histogram_b64=base64.b64encode(png).decode("ascii"),
        samples=samples,
        problems=problems[: max(failure_rows, 0)],
        problems_left=max(len(problems) - max(failure_rows, 0), 0),
    )
    _write_atomic(paths[HTML_NAME], lambda tmp: tmp.write_text(html, encoding="utf-8"))
    return ReportFiles(
        parquet=paths[PARQUET_NAME],
        csv=paths[CSV_NAME],
        html=paths[HTML_NAME],
        histogram_png=paths[HISTOGRAM_NAME],
        totals=totals,
    )


def format_summary(campaign: CampaignRecord, totals: CampaignTotals) -> str:
    """The plain-text summary ``voicemill campaign status ID`` prints: aligned lines."""
    voice = campaign.voice_profile
    if campaign.profile_version is not None:
        voice += f" v{campaign.profile_version}"
    model = " ".join(p for p in (campaign.model_name, campaign.model_version) if p) or "-"
    attempted = totals.published + totals.failed
    reasons = ", ".join(f"{k} {v}" for k, v in totals.failures_by_reason.items()) or "none"
    d = totals.duration
    if d.count:
        duration = (
            f"{d.total_s:.1f} s total, {d.mean_s:.2f} s mean "
            f"(min {d.min_s:.2f} s, max {d.max_s:.2f} s)"
        )
    else:
        duration = "no published audio"
    lines = [
        ("campaign", campaign.campaign_id),
        ("status", campaign.status),
        ("voice", f"{voice} ({campaign.use_case})"),
        ("model", model),
        (
            "deliveries",
            f"{totals.total} total: {totals.published} published, {totals.failed} failed, "
            f"{totals.rejected} rejected, {totals.pending} pending",
        ),
        ("failure rate", f"{totals.failure_rate:.1%} ({totals.failed} of {attempted} attempted)"),
        ("rejection rate", f"{totals.rejection_rate:.1%}"),
        ("failures", reasons),
        ("duration", duration),
        ("cache hits", str(totals.cache_hits)),
        ("unique texts", str(totals.unique_texts)),
    ]
    width = max(len(label) for label, _ in lines)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in lines)


# -- helpers ------------------------------------------------------------------------------


def _by_row_number(rows: Sequence[DeliveryRecord]) -> list[DeliveryRecord]:
    return sorted(rows, key=lambda r: (r.row_number, r.recipient_id))


def _published_durations(rows: Sequence[DeliveryRecord]) -> list[float]:
    return [
        float(r.duration_s)
        for r in rows
        if r.status == "published" and r.duration_s is not None and math.isfinite(r.duration_s)
    ]


def _display(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A CSV cell a spreadsheet will not run: text starting with ``= + - @``, a tab or
    a carriage return (OWASP's CSV injection list) gets a leading ``'``, which
    Excel, LibreOffice and Google Sheets show as text. Recipient and template ids
    are data from the operator's CRM and may be ``=HYPERLINK(...)``. Numbers are not
    text and stay as they are; the Parquet table keeps every value unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def spreadsheet_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell passed through :func:`spreadsheet_safe`."""
    import pandas as pd

    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_string_dtype(out[column]) or out[column].dtype == object:
            out[column] = out[column].astype(object).map(spreadsheet_safe)
    return out


def _write_atomic(target: Path, write: Callable[[Path], object]) -> None:
    tmp = temporary_sibling(target)
    try:
        write(tmp)
        move_into_place(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _histogram_png(durations: Sequence[float], stats: DurationStats) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.0, 3.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    if durations:
        bins = min(30, max(5, round(len(durations) ** 0.5)))
        axes.hist(list(durations), bins=bins, color="#4c72b0", edgecolor="white")
        axes.axvline(
            stats.mean_s or 0.0, color="#c44e52", linestyle="--", label=f"mean {stats.mean_s:.2f} s"
        )
        axes.legend(loc="best")
        axes.set_xlabel("duration (s)")
        axes.set_ylabel("deliveries")
    else:
        axes.text(0.5, 0.5, "no published audio", ha="center", va="center", fontsize=14)
        axes.set_axis_off()
    axes.set_title("Published audio duration")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["pct"] = lambda v: f"{v:.1%}"
    env.filters["secs"] = lambda v: "-" if v is None else f"{v:.2f} s"
    env.filters["dash"] = lambda v: "-" if v is None or v == "" else v
    return env


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Campaign {{ campaign.campaign_id }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; }
code, pre { font-size: 0.9em; }
</style>
</head>
<body>
<h1>Campaign {{ campaign.campaign_id }}</h1>

<h2>Campaign</h2>
<table class="campaign">
<tr><th>Status</th><td>{{ campaign.status }}</td></tr>
<tr><th>Voice profile</th><td>{{ campaign.voice_profile }}
{%- if campaign.profile_version is not none %} v{{ campaign.profile_version }}{% endif %}</td></tr>
<tr><th>Use case</th><td>{{ campaign.use_case }}</td></tr>
<tr><th>Model</th><td>{{ campaign.model_name | dash }}</td></tr>
<tr><th>Model version</th><td>{{ campaign.model_version | dash }}</td></tr>
<tr><th>Spec fingerprint</th><td><code>{{ campaign.spec_sha256 }}</code></td></tr>
<tr><th>Recipients</th><td><code>{{ campaign.recipients_uri }}</code>
(sha256 <code>{{ campaign.recipients_sha256 }}</code>)</td></tr>
<tr><th>Submitted</th><td>{{ campaign.submitted_at | dash }}</td></tr>
<tr><th>Started</th><td>{{ campaign.started_at | dash }}</td></tr>
<tr><th>Finished</th><td>{{ campaign.finished_at | dash }}</td></tr>
</table>

<h2>Preset</h2>
{% if preset %}
<table class="preset">
{% for key, value in preset %}<tr><th>{{ key }}</th><td><code>{{ value }}</code></td></tr>
{% endfor %}
</table>
{% else %}<p>No preset recorded.</p>{% endif %}
<details><summary>Campaign spec</summary><pre>{{ spec_json }}</pre></details>

<h2>Totals</h2>
<table class="totals">
<tr><th>Deliveries</th><td class="num">{{ totals.total }}</td></tr>
<tr><th>Published</th><td class="num">{{ totals.published }}</td></tr>
<tr><th>Failed</th><td class="num">{{ totals.failed }}</td></tr>
<tr><th>Rejected</th><td class="num">{{ totals.rejected }}</td></tr>
<tr><th>Pending</th><td class="num">{{ totals.pending }}</td></tr>
<tr><th>Failure rate</th><td class="num">{{ totals.failure_rate | pct }}</td></tr>
<tr><th>Rejection rate</th><td class="num">{{ totals.rejection_rate | pct }}</td></tr>
<tr><th>Cache hits</th><td class="num">{{ totals.cache_hits }}</td></tr>
<tr><th>Unique texts</th><td class="num">{{ totals.unique_texts }}</td></tr>
<tr><th>Audio, total</th><td class="num">{{ totals.duration.total_s | secs }}</td></tr>
<tr><th>Audio, mean</th><td class="num">{{ totals.duration.mean_s | secs }}</td></tr>
<tr><th>Audio, min</th><td class="num">{{ totals.duration.min_s | secs }}</td></tr>
<tr><th>Audio, max</th><td class="num">{{ totals.duration.max_s | secs }}</td></tr>
</table>

<h2>Failures by reason</h2>
{% if totals.failures_by_reason %}
<table class="failures">
<tr><th>Reason</th><th>Count</th></tr>
{% for reason, count in totals.failures_by_reason.items() %}<tr><td><code>{{ reason }}</code></td>
<td class="num">{{ count }}</td></tr>
{% endfor %}
</table>
{% else %}<p>No failed or rejected deliveries.</p>{% endif %}

<h2>Duration</h2>
<img alt="Published audio duration histogram" src="data:image/png;base64,{{ histogram_b64 }}">

<h2>Samples</h2>
{% if samples %}
<table class="samples">
<tr><th>Row</th><th>Recipient</th><th>Text</th><th>Duration</th><th>Audio</th></tr>
{% for row, url in samples %}<tr><td class="num">{{ row.row_number }}</td>
<td>{{ row.recipient_id }}</td><td>{{ row.text | dash }}</td>
<td class="num">{{ row.duration_s | secs }}</td>
<td><audio controls preload="none" src="{{ url }}"></audio></td></tr>
{% endfor %}
</table>
{% else %}<p>No published audio to play.</p>{% endif %}

{% if problems %}
<h2>Failed and rejected deliveries</h2>
<table class="problems">
<tr><th>Row</th><th>Recipient</th><th>Status</th><th>Reason</th><th>Detail</th></tr>
{% for row in problems %}<tr><td class="num">{{ row.row_number }}</td>
<td>{{ row.recipient_id }}</td><td>{{ row.status }}</td>
<td><code>{{ row.error_reason | dash }}</code></td><td>{{ row.error_detail | dash }}</td></tr>
{% endfor %}
</table>
{% if problems_left %}<p>… and {{ problems_left }} more (see deliveries.csv).</p>{% endif %}
{% endif %}
</body>
</html>
"""
