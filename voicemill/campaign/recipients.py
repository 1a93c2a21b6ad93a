"""Recipients: load the file, render each row's text, quarantine the rows that cannot be used.

One bad row never stops a campaign: :func:`prepare_recipients` checks every row and
returns the accepted rows (rendered text ready for synthesis) and the rejected ones,
each with a stable ``reason`` and a ``detail`` naming the problem. Only file-level
problems raise (unreadable file, no ``recipient_id`` column, over the limits).
Templates render in a child process under memory and time limits
(:mod:`.render_process`), so a runaway template rejects its row, not the campaign.

Files are bounded before they are loaded (:class:`RecipientLimits`): bytes on disk,
rows, and bytes once decoded (a small Parquet file can expand a thousandfold; it is
read batch by batch and refused once past the bound), and each cell's length (a
longer cell rejects its row with ``cell_too_long``). :func:`check_recipients_file`
is what submission (and the inbox sensor) runs: the header or Parquet metadata
only, so the sensor process never loads a recipients file.

Cells are data. Every value reaches the template as a string (CSV is read with
``dtype=str`` and ``keep_default_na=False`` so an empty cell stays ``""`` and "NA"
stays "NA"; Parquet values are converted exactly, ints stay "5" not "5.0"); a null
Parquet cell is an *absent* variable, so ``{{ x }}`` fails with ``missing_variable``
while ``{{ x | default("friend") }}`` still works. Recipient ids are kept as given:
"../x" and "a/b" are valid ids (:mod:`.keys` makes storage keys safe); only empty
ids, ids over 256 characters and ids with control characters are rejected.

Duplicate ids: the first occurrence in file order is kept and every later row with
the same id is rejected (``duplicate_recipient_id``, naming the first row), whatever
became of the first row. One recipient then gets at most one message, and which row
wins depends only on the file, never on rendering.

Supported characters (:func:`unsupported_characters`) follow the text frontend:
``en`` reads Latin letters (accents included), digits and punctuation; ``zh`` adds
CJK ideographs and ``ja`` ideographs and kana (both read Latin runs as English);
``auto`` is the union. Anything else (emoji, Cyrillic, Arabic, Devanagari, Hangul,
control characters) would be silently dropped by normalization, so the row is
rejected with the offending characters named instead.
"""

from __future__ import annotations

import datetime
import functools
import math
import os
import stat
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from voicemill.campaign.errors import CampaignError
from voicemill.campaign.keys import spoken_form, text_sha256
from voicemill.campaign.render import compile_templates, template_variables
from voicemill.campaign.render_process import RenderLimits, RenderProcess
from voicemill.campaign.spec import TEMPLATE_ID_COLUMN, CampaignSpec

if TYPE_CHECKING:
    import pandas as pd

    from voicemill.settings import Settings

__all__ = [
    "MAX_RECIPIENT_ID_CHARS",
    "RECIPIENT_ID_COLUMN",
    "PreparedRecipients",
    "RecipientLimits",
    "RejectedRow",
    "RenderedRow",
    "check_recipients_file",
    "load_recipients",
    "prepare_recipients",
    "rendered_frame",
    "required_variables",
    "unsupported_characters",
]

RECIPIENT_ID_COLUMN = "recipient_id"
MAX_RECIPIENT_ID_CHARS = 256
_MAX_NAMED_CHARACTERS = 5
# Control characters, surrogates and line/paragraph separators: invisible, and they
# break CSV reports, logs and (NUL) PostgreSQL text columns.
_INVALID_ID_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})

# Script ranges match voicemill.text.segment, which decides what the frontend reads.
_HAN_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
_KANA_RANGES = (
    (0x3005, 0x3006),
    (0x3040, 0x309F),
    (0x30A0, 0x30FA),
    (0x30FC, 0x30FF),
    (0x31F0, 0x31FF),
    (0xFF66, 0xFF9F),
)
# Blocks whose punctuation the normalizer maps to prosody marks or drops harmlessly:
# General Punctuation, CJK Symbols and Punctuation, Half/Full-width Forms, ・.
_PUNCTUATION_RANGES = ((0x2000, 0x206F), (0x3000, 0x303F), (0xFF00, 0xFFEF), (0x30FB, 0x30FB))
_EXTRA_SYMBOLS = frozenset("€₩")  # currency the normalizer spells ("€5" → "five euros")
_LANGUAGE_SCRIPTS: dict[str, frozenset[str]] = {
    "en": frozenset({"latin"}),
    "zh": frozenset({"latin", "han"}),
    "ja": frozenset({"latin", "han", "kana"}),
    "auto": frozenset({"latin", "han", "kana"}),
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RenderedRow(_Frozen):
    """An accepted recipient: the text to synthesize and the variables that made it.

    ``variables`` holds only the columns the template reads (not the whole row:
    less personal data travels and is stored). ``text`` is NFC, whitespace-collapsed;
    ``spoken_text`` is its spoken form (:func:`.keys.spoken_form`), what identical
    requests are recognized by.
    """

    row_number: int = Field(ge=1)
    recipient_id: str
    template_id: str
    text: str
    spoken_text: str
    variables: dict[str, str]

    @property
    def text_sha256(self) -> str:
        return text_sha256(self.text)


class RejectedRow(_Frozen):
    """A quarantined recipient row. ``row_number`` counts data rows from 1 (header
    excluded). ``recipient_id`` is as given, possibly unsafe: data, never a path."""

    row_number: int = Field(ge=1)
    recipient_id: str | None
    reason: str
    detail: str
    template_id: str | None = None

    @property
    def printable_recipient_id(self) -> str:
        """The id with control characters escaped (``\\x00``) and cut to 256 characters:
        safe for logs, reports and PostgreSQL text (which refuses NUL)."""
        return "" if self.recipient_id is None else _printable(self.recipient_id)


class PreparedRecipients(_Frozen):
    """Every data row, either accepted (rendered) or rejected (with its reason)."""

    accepted: list[RenderedRow]
    rejected: list[RejectedRow]

    @property
    def total(self) -> int:
        return len(self.accepted) + len(self.rejected)

    @property
    def rejection_rate(self) -> float:
        return len(self.rejected) / self.total if self.total else 0.0

    def rejection_counts(self) -> dict[str, int]:
        """``{reason: rows}``, most frequent first."""
        return dict(Counter(row.reason for row in self.rejected).most_common())


# ----------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class RecipientLimits:
    """Bounds on a recipients file (settings ``VOICEMILL_CAMPAIGN_RECIPIENTS_*``)."""

    max_bytes: int = 256 * 1024 * 1024
    max_rows: int = 1_000_000
    max_decoded_bytes: int = 1024 * 1024 * 1024
    max_cell_chars: int = 10_000

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> RecipientLimits:
        from voicemill.settings import get_settings

        settings = settings or get_settings()
        mb = 1024 * 1024
        return cls(
            max_bytes=settings.campaign_recipients_max_mb * mb,
            max_rows=settings.campaign_recipients_max_rows,
            max_decoded_bytes=settings.campaign_recipients_max_decoded_mb * mb,
            max_cell_chars=settings.campaign_recipients_max_cell_chars,
        )


def check_recipients_file(path: str | Path, limits: RecipientLimits | None = None) -> None:
    """What submission checks without loading the rows: a regular file of a known type
    within ``limits.max_bytes``, a readable header (CSV) or footer (Parquet: row count
    and decoded size checked too) with a ``recipient_id`` column and no repeated name."""
    path = Path(path)
    limits = limits or RecipientLimits()
    suffix = _checked_suffix(path)
    _check_regular_file(path, limits)
    if suffix == ".csv":
        header = _csv_header(path)
        _require_id_column_in(_unique_names(header, path.name), path.name)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_metadata(path)
        names = metadata.schema.to_arrow_schema().names
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise CampaignError(
            "recipients_unreadable", f"cannot read recipients file {path.name}: {exc}"
        ) from exc
    _check_parquet_metadata(metadata, path.name, limits)
    _require_id_column_in(_unique_names(names, path.name), path.name)


def load_recipients(path: str | Path, limits: RecipientLimits | None = None) -> pd.DataFrame:
    """Read a ``.csv`` (UTF-8, BOM allowed) or ``.parquet`` recipients file.

    Every CSV cell is a string (empty cells stay ``""``); Parquet values are converted
    to strings, nulls to ``None``. Column names are stripped of surrounding spaces.
    Raises ``CampaignError`` with ``recipients_unreadable`` (missing, not a regular
    file, unknown suffix, not parseable, duplicate column names),
    ``recipients_missing_column`` or ``recipients_too_large`` (past ``limits``).
    """
    import pandas as pd

    path = Path(path)
    limits = limits or RecipientLimits()
    suffix = _checked_suffix(path)
    _check_regular_file(path, limits)
    frame = _read_csv(path, limits) if suffix == ".csv" else _read_parquet(path, limits)
    frame.columns = pd.Index(_unique_names(frame.columns, path.name), dtype=object)
    _require_id_column(frame, path.name)
    return frame


def _checked_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise CampaignError(
            "recipients_unreadable", f"recipients file {path.name}: use a .csv or .parquet file"
        )
    return suffix


def _check_regular_file(path: Path, limits: RecipientLimits) -> None:
    try:
        info = path.lstat()
    except OSError as exc:
        raise CampaignError(
            "recipients_unreadable", f"cannot read recipients file {path.name}: {exc}"
        ) from exc
    if not stat.S_ISREG(info.st_mode):  # a FIFO would block the reader; a link leads elsewhere
        raise CampaignError(
            "recipients_unreadable", f"recipients file {path.name} is not a regular file"
        )
    if info.st_size > limits.max_bytes:
        raise CampaignError(
            "recipients_too_large",
            f"recipients file {path.name} has {info.st_size} bytes (at most {limits.max_bytes}; "
            "VOICEMILL_CAMPAIGN_RECIPIENTS_MAX_MB)",
        )


def _too_many_rows(source: str, rows: int | str, limits: RecipientLimits) -> CampaignError:
    return CampaignError(
        "recipients_too_large",
        f"recipients file {source} has {rows} rows (at most {limits.max_rows}; "
        "VOICEMILL_CAMPAIGN_RECIPIENTS_MAX_ROWS)",
    )


def _too_big_decoded(source: str, size: int, limits: RecipientLimits) -> CampaignError:
    return CampaignError(
        "recipients_too_large",
        f"recipients file {source} decodes to more than {size} bytes (at most "
        f"{limits.max_decoded_bytes}; VOICEMILL_CAMPAIGN_RECIPIENTS_MAX_DECODED_MB)",
    )


def _open_regular(path: Path) -> int:
    """A descriptor of ``path`` opened without following links or blocking on a FIFO."""
    return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)


_HEADER_BYTES = 1024 * 1024


def _csv_header(path: Path) -> list[str]:
    import csv
    import io

    try:
        with open(_open_regular(path), "rb") as raw:
            head = raw.read(_HEADER_BYTES)
        # A full read may end inside a character: only a shorter file must decode whole.
        text = head.decode("utf-8-sig", "strict" if len(head) < _HEADER_BYTES else "ignore")
        header = next((row for row in csv.reader(io.StringIO(text, newline="")) if row), None)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CampaignError(
            "recipients_unreadable", f"cannot read recipients file {path.name}: {exc}"
        ) from exc
    if not header:
        raise CampaignError("recipients_unreadable", f"recipients file {path.name} is empty")
    return header


def _read_csv(path: Path, limits: RecipientLimits) -> pd.DataFrame:
    import csv
    import warnings

    import pandas as pd

    _unique_names(_csv_header(path), path.name)
    try:
        with warnings.catch_warnings(), open(_open_regular(path), "rb") as handle:
            # index_col=False: a row with extra fields must not turn the first columns
            # into an index (shifting every value); pandas warns instead, made an error.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                handle,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                index_col=False,
                encoding="utf-8-sig",
                nrows=limits.max_rows + 1,
            )
    except (OSError, UnicodeDecodeError, ValueError, csv.Error, pd.errors.ParserWarning) as exc:
        # pandas' ParserError and EmptyDataError are ValueErrors.
        raise CampaignError(
            "recipients_unreadable", f"cannot read recipients file {path.name}: {exc}"
        ) from exc
    if len(frame) > limits.max_rows:
        raise _too_many_rows(path.name, f"more than {limits.max_rows}", limits)
    return frame


def _check_parquet_metadata(metadata: Any, source: str, limits: RecipientLimits) -> None:
    if metadata.num_rows > limits.max_rows:
        raise _too_many_rows(source, metadata.num_rows, limits)
    decoded = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    if decoded > limits.max_decoded_bytes:
        raise _too_big_decoded(source, decoded, limits)


def _decoded_bytes(array: Any) -> int:
    """Bytes of an Arrow array once its values are Python strings: for a dictionary
    array, each index counts its value's length (one short file can repeat a
    megabyte-long value a million times), computed without expanding it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(array.type):
        values = array.dictionary
        kinds = (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary,
                 pa.types.is_large_binary)  # fmt: skip
        if any(is_kind(values.type) for is_kind in kinds):
            total = pc.sum(pc.take(pc.binary_length(values), array.indices)).as_py()
            return int(total or 0) + array.indices.nbytes
    return int(array.nbytes)


def _read_parquet(path: Path, limits: RecipientLimits) -> pd.DataFrame:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with open(_open_regular(path), "rb") as handle:
            parquet = pq.ParquetFile(handle)
            _check_parquet_metadata(parquet.metadata, path.name, limits)
            names = parquet.schema_arrow.names
            columns: list[list[str | None]] = [[] for _ in names]
            decoded = 0
            # Batch by batch: the footer's sizes are the writer's word, not a bound, and a
            # dictionary column is counted as it will be once every value is expanded.
            for batch in parquet.iter_batches(batch_size=1024):
                decoded += sum(_decoded_bytes(column) for column in batch.columns)
                if decoded > limits.max_decoded_bytes:
                    raise _too_big_decoded(path.name, decoded, limits)
                for i in range(batch.num_columns):
                    columns[i].extend(_cell(v) for v in batch.column(i).to_pylist())
    except CampaignError:
        raise
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise CampaignError(
            "recipients_unreadable", f"cannot read recipients file {path.name}: {exc}"
        ) from exc
    rows = len(columns[0]) if columns else 0
    frame = pd.DataFrame(dict(enumerate(columns)), dtype=object, index=pd.RangeIndex(rows))
    frame.columns = pd.Index(names, dtype=object)
    return frame


def _unique_names(columns: Any, source: str) -> list[str]:
    """Column names stripped of spaces; ``recipients_unreadable`` when one repeats."""
    names = [str(c).strip() for c in columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise CampaignError(
            "recipients_unreadable",
            f"recipients file {source} repeats column(s) {', '.join(map(repr, repeated))}",
        )
    return names


def _require_id_column(frame: pd.DataFrame, source: str) -> None:
    _require_id_column_in([str(c) for c in frame.columns], source)


def _require_id_column_in(columns: Sequence[str], source: str) -> None:
    if RECIPIENT_ID_COLUMN not in columns:
        found = ", ".join(repr(str(c)) for c in list(columns)[:10]) or "none"
        raise CampaignError(
            "recipients_missing_column",
            f"recipients {source} has no {RECIPIENT_ID_COLUMN!r} column (columns: {found})",
        )


def _cell(value: Any) -> str | None:
    """A cell as template data: a string, or None for null (None, NaN, NA, NaT).

    The caller also treats blank strings as absent: an empty CSV cell is how a missing
    value arrives, and "your payment of  dollars" must be a ``missing_variable``.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    import numpy as np
    import pandas as pd

    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()  # numpy scalar → Python scalar
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


# ----------------------------------------------------------------------------- rows


def required_variables(spec: CampaignSpec) -> dict[str, set[str]]:
    """``{template_id: variable names}`` the templates read (``is defined`` ones included)."""
    return {t.id: template_variables(t.text) for t in spec.templates}


def prepare_recipients(
    spec: CampaignSpec,
    frame: pd.DataFrame,
    limits: RenderLimits | None = None,
    max_cell_chars: int | None = None,
) -> PreparedRecipients:
    """Validate and render every row of ``frame`` (from :func:`load_recipients`).

    Rendering runs in a :class:`~voicemill.campaign.render_process.RenderProcess`
    under ``limits``. Raises only for the whole frame (no ``recipient_id`` column,
    template syntax errors); each bad row is returned in ``rejected`` with one of:
    ``empty_recipient_id``, ``recipient_id_too_long``, ``recipient_id_invalid``,
    ``cell_too_long``, ``duplicate_recipient_id``, ``unknown_template``,
    ``missing_variable``, ``sandbox_violation``, ``render_failed``, ``render_memory``,
    ``render_timeout``, ``render_crashed``, ``template_too_complex``, ``text_empty``,
    ``text_too_short``, ``text_too_long``, ``unsupported_characters``,
    ``text_unspeakable``.
    """
    _require_id_column(frame, "frame")
    compile_templates(spec)  # syntax errors stop the campaign here, with the template named
    max_cell_chars = max_cell_chars or RecipientLimits().max_cell_chars
    variables_of = required_variables(spec)
    columns = [str(c) for c in frame.columns]
    accepted: list[RenderedRow] = []
    rejected: list[RejectedRow] = []
    first_row_of: dict[str, int] = {}
    with RenderProcess(spec, limits) as renderer:
        for index, values in enumerate(frame.itertuples(index=False, name=None)):
            row_number = index + 1
            row: dict[str, str] = {}
            for name, value in zip(columns, values, strict=True):
                cell = _cell(value)
                if cell is not None and cell.strip():  # a blank cell is a missing value
                    row[name] = cell
            recipient_id = row.get(RECIPIENT_ID_COLUMN)
            problem = _recipient_id_problem(recipient_id) or _cell_problem(row, max_cell_chars)
            if problem is None and recipient_id in first_row_of:
                problem = (
                    "duplicate_recipient_id",
                    f"recipient_id {_quote(recipient_id)} already appears in row "
                    f"{first_row_of[recipient_id]}; only the first occurrence is used",
                    None,
                )
            if problem is None:
                first_row_of[recipient_id] = row_number
                outcome = _render_row(spec, renderer, variables_of, row, row_number)
                if isinstance(outcome, RenderedRow):
                    accepted.append(outcome)
                    continue
                problem = outcome
            reason, detail, template_id = problem
            rejected.append(
                RejectedRow(
                    row_number=row_number,
                    recipient_id=recipient_id,
                    reason=reason,
                    detail=f"row {row_number}: {detail}",
                    template_id=None if template_id is None else _printable(template_id),
                )
            )
    return PreparedRecipients(accepted=accepted, rejected=rejected)


_Problem = tuple[str, str, str | None]  # reason, detail, template id


def _render_row(
    spec: CampaignSpec,
    renderer: RenderProcess,
    variables_of: dict[str, set[str]],
    row: dict[str, str],
    row_number: int,
) -> RenderedRow | _Problem:
    try:
        template = spec.template_for(row)
    except CampaignError as exc:
        return exc.reason, exc.detail, row.get(TEMPLATE_ID_COLUMN)
    used = variables_of[template.id]
    variables = {k: v for k, v in row.items() if k in used}
    try:  # declared variables are checked whether this template reads them or not
        rendered = renderer.render(
            template.id, {k: v for k, v in row.items() if k in used or k in spec.variables}
        )
    except CampaignError as exc:
        if exc.reason == "render_unavailable":  # not this row's fault: stop the campaign
            raise
        return exc.reason, exc.detail, template.id
    problem = _text_problem(rendered.text, spec)
    if problem is not None:
        return (*problem, template.id)
    try:  # the normalizer on whatever a row holds (a 400-digit number...): the row's problem
        spoken = spoken_form(rendered.text, spec.language)
    except Exception as exc:
        return (
            "text_unspeakable",
            f"the text cannot be normalized for speech: {type(exc).__name__}: {str(exc)[:200]}",
            template.id,
        )
    return RenderedRow(
        row_number=row_number,
        recipient_id=row[RECIPIENT_ID_COLUMN],
        template_id=template.id,
        text=rendered.text,
        spoken_text=spoken,
        variables=variables,
    )


def _cell_problem(row: dict[str, str], max_chars: int) -> _Problem | None:
    for name, value in row.items():
        if len(value) > max_chars:
            return (
                "cell_too_long",
                f"column {_printable(name)[:60]!r} has {len(value)} characters (at most "
                f"{max_chars}; VOICEMILL_CAMPAIGN_RECIPIENTS_MAX_CELL_CHARS)",
                None,
            )
    return None


def _printable(text: str, limit: int = MAX_RECIPIENT_ID_CHARS) -> str:
    """``text`` with control characters escaped (``\\x00``), cut to ``limit``: safe for
    logs, reports and PostgreSQL text (which refuses NUL)."""
    escaped = "".join(
        ch if unicodedata.category(ch) not in _INVALID_ID_CATEGORIES else _escape(ch)
        for ch in text[:limit]
    )
    return escaped + ("…" if len(text) > limit else "")


def _recipient_id_problem(recipient_id: str | None) -> _Problem | None:
    if recipient_id is None or not recipient_id.strip():
        return "empty_recipient_id", "recipient_id is empty", None
    if len(recipient_id) > MAX_RECIPIENT_ID_CHARS:
        return (
            "recipient_id_too_long",
            f"recipient_id has {len(recipient_id)} characters (at most "
            f"{MAX_RECIPIENT_ID_CHARS}): {_quote(recipient_id)}",
            None,
        )
    bad = [
        (i, ch)
        for i, ch in enumerate(recipient_id)
        if unicodedata.category(ch) in _INVALID_ID_CATEGORIES
    ]
    if bad:
        position, ch = bad[0]
        return (
            "recipient_id_invalid",
            f"recipient_id {_quote(recipient_id)} contains the control character "
            f"{_describe(ch)} at position {position + 1}",
            None,
        )
    return None


def _text_problem(text: str, spec: CampaignSpec) -> tuple[str, str] | None:
    limits = spec.text_limits
    if not text:
        return "text_empty", "the rendered text is empty"
    if len(text) < limits.min_chars:
        return (
            "text_too_short",
            f"the rendered text has {len(text)} characters, fewer than the "
            f"minimum {limits.min_chars}: {text!r}",
        )
    if len(text) > limits.max_chars:
        return (
            "text_too_long",
            f"the rendered text has {len(text)} characters, more than the "
            f"maximum {limits.max_chars}",
        )
    bad = unsupported_characters(text, spec.language)
    if bad:
        named = ", ".join(_describe(ch) for ch in bad[:_MAX_NAMED_CHARACTERS])
        more = len(bad) - _MAX_NAMED_CHARACTERS
        return (
            "unsupported_characters",
            f"the rendered text has characters the {spec.language!r} voice cannot read: {named}"
            + (f" and {more} more" if more > 0 else ""),
        )
    if not any(ch.isalnum() for ch in text):
        return "text_empty", f"the rendered text has nothing to say: {text!r}"
    return None


# ----------------------------------------------------------------------------- characters


def unsupported_characters(text: str, language: str) -> list[str]:
    """Distinct characters of ``text`` that a ``language`` voice cannot read, in order.

    ``language`` is a spec language (``en``, ``zh``, ``ja``, ``auto``). Judged after
    NFC; a character whose compatibility form (NFKC) is readable passes, so
    full-width "Ａ" and "１" or "™" are fine. Latin-1 symbols (£ ° ½ ©) pass too.
    """
    try:
        scripts = _LANGUAGE_SCRIPTS[language]
    except KeyError:
        raise CampaignError(
            "unsupported_language",
            f"language {language!r} is not one of {sorted(_LANGUAGE_SCRIPTS)}",
        ) from None
    text = unicodedata.normalize("NFC", text)
    if text.isascii() and text.isprintable():
        return []  # the common case, decided without looking at each character
    return [ch for ch in dict.fromkeys(text) if not _supported(ch, scripts)]


@functools.lru_cache(maxsize=8192)
def _supported(ch: str, scripts: frozenset[str]) -> bool:
    return _readable(ch, scripts) or all(
        _readable(part, scripts) for part in unicodedata.normalize("NFKC", ch)
    )


def _readable(ch: str, scripts: frozenset[str]) -> bool:
    code = ord(ch)
    if code < 0x100:
        return ch.isprintable() or ch == "\xa0"  # ASCII and Latin-1, controls excluded
    category = unicodedata.category(ch)
    if category.startswith("L") and unicodedata.name(ch, "").startswith("LATIN "):
        return "latin" in scripts
    if _in(code, _HAN_RANGES):
        return "han" in scripts
    if _in(code, _KANA_RANGES):
        return "kana" in scripts
    if category.startswith("P") and _in(code, _PUNCTUATION_RANGES):
        return True
    return ch in _EXTRA_SYMBOLS


def _in(code: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= code <= high for low, high in ranges)


def _describe(ch: str) -> str:
    """``U+1F600 GRINNING FACE``; controls and unnamed characters by their category."""
    name = unicodedata.name(ch, "")
    if not name:
        name = f"<{_CATEGORY_NAMES.get(unicodedata.category(ch), 'unnamed')}>"
    return f"U+{ord(ch):04X} {name}"


_CATEGORY_NAMES = {"Cc": "control", "Cs": "surrogate", "Co": "private use", "Cn": "unassigned"}


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _quote(recipient_id: str, limit: int = 60) -> str:
    """The id for a detail sentence: repr (controls escaped), long ids cut."""
    shown = recipient_id if len(recipient_id) <= limit else recipient_id[:limit] + "…"
    return repr(shown)


# ----------------------------------------------------------------------------- frames


def rendered_frame(rows: Sequence[RenderedRow]) -> pd.DataFrame:
    """Accepted rows as a frame for :func:`voicemill.quality.recipients_suite.validate_recipients`:
    ``recipient_id``, ``template_id``, ``text``, ``text_chars``, then one column per
    variable any row used (null where a row's template does not read it)."""
    import pandas as pd

    variable_names = sorted({name for row in rows for name in row.variables})
    base = ["recipient_id", "template_id", "text", "text_chars"]
    records = [
        {
            "recipient_id": row.recipient_id,
            "template_id": row.template_id,
            "text": row.text,
            "text_chars": len(row.text),
            **{name: row.variables.get(name) for name in variable_names if name not in base},
        }
        for row in rows
    ]
    columns = base + [n for n in variable_names if n not in base]
    frame = pd.DataFrame.from_records(records, columns=columns)
    return frame.astype({"text_chars": "int64"})
