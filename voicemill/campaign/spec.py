"""The campaign spec: what an operator drops in next to the recipients file.

A frozen pydantic model (``extra="forbid"``, so a misspelt key such as ``max_retry``
is an error instead of a silently ignored setting). YAML (``yaml.safe_load``: no
object tags) or JSON, chosen by suffix; duplicate keys are rejected in both, since
both parsers would otherwise keep the last value without a word. Every problem is a
:class:`~voicemill.campaign.errors.CampaignError` whose detail lists each offending
field, so an operator can fix the file in one pass.

Specs come from inbox drops, so the file is bounded before it is parsed
(:class:`SpecLimits`: its size, and the nesting of its lists and mappings, counted on
the JSON text or the YAML event stream without building anything, because both
parsers recurse per level). YAML aliases are refused (``&a [*a, *a, ...]`` expands
exponentially; a spec has no use for them). Only regular files are read: a FIFO
would block the reader forever.

The spec's :attr:`CampaignSpec.fingerprint` (sha256 of its canonical JSON) lets runs
tell "the same campaign again" from "the campaign changed".
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from voicemill.campaign.errors import CampaignError
from voicemill.campaign.variables import VariableSpec

if TYPE_CHECKING:
    from voicemill.settings import Settings

__all__ = [
    "CampaignError",
    "CampaignSpec",
    "ScheduleWindow",
    "SpecLimits",
    "TemplateSpec",
    "TextLimits",
    "load_campaign_spec",
]

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]

# Longest text a template may produce for one recipient (spec.text_limits.max_chars
# cannot exceed it): about ten minutes of speech, far beyond a personalized message.
MAX_TEXT_CHARS = 10_000
MAX_TEMPLATE_CHARS = 20_000
TEMPLATE_ID_COLUMN = "template_id"
_VARIABLE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TemplateSpec(_Frozen):
    """One message template: a slug id and its Jinja2 source (see :mod:`.render`)."""

    id: Slug
    text: str = Field(min_length=1, max_length=MAX_TEMPLATE_CHARS)


class TextLimits(_Frozen):
    """Bounds on the rendered, whitespace-collapsed text of one recipient, in characters."""

    min_chars: int = Field(1, ge=1, le=MAX_TEXT_CHARS)
    max_chars: int = Field(1000, ge=1, le=MAX_TEXT_CHARS)

    @model_validator(mode="after")
    def _ordered(self) -> TextLimits:
        if self.min_chars > self.max_chars:
            raise ValueError(f"min_chars ({self.min_chars}) exceeds max_chars ({self.max_chars})")
        return self


class ScheduleWindow(_Frozen):
    """When deliveries may be published; times must carry a UTC offset (stored as UTC)."""

    start: AwareDatetime
    end: AwareDatetime

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _ordered(self) -> ScheduleWindow:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def state(self, now: datetime | None = None) -> Literal["before", "open", "after"]:
        """Where ``now`` (default: the current time) falls relative to the window."""
        now = now or datetime.now(UTC)
        return "before" if now < self.start else "open" if now < self.end else "after"

    def refusal(self, now: datetime | None = None) -> CampaignError | None:
        """Why nothing may be delivered now, or None inside the window."""
        state = self.state(now)
        if state == "before":
            return CampaignError(
                "schedule_window_not_open", f"deliveries start at {self.start.isoformat()}"
            )
        if state == "after":
            return CampaignError(
                "schedule_window_closed", f"deliveries ended at {self.end.isoformat()}"
            )
        return None


class CampaignSpec(_Frozen):
    """A campaign: which voice says which templates, how the audio is delivered.

    ``preset`` is a use-case name checked later against the voice profile.
    ``output_format`` ``opus`` means Ogg/Opus. ``storage_url`` is ``file://`` or
    ``s3://``; empty means the platform default. Recipients choose a template with a
    ``template_id`` column (see :meth:`template_for`).
    """

    campaign_id: Slug
    voice_profile: str = Field(min_length=1, max_length=128)
    preset: str = Field("marketing", min_length=1, max_length=64)
    templates: list[TemplateSpec] = Field(min_length=1)
    language: Literal["en", "zh", "ja", "auto"] = "auto"
    output_format: Literal["wav", "flac", "mp3", "opus"] = "wav"
    loudness_lufs: float = Field(-16.0, ge=-40.0, le=-5.0)
    true_peak_dbtp: float = Field(-1.0, ge=-9.0, le=0.0)
    storage_url: str = ""
    schedule_window: ScheduleWindow | None = None
    max_retries: int = Field(2, ge=0, le=5)
    max_failure_rate: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Share of recipients allowed to get no audio (failed or rejected rows).",
    )
    text_limits: TextLimits = Field(default_factory=TextLimits)
    seed: int | None = Field(
        None, ge=0, description="Override of the voice preset's frozen seed; empty keeps it."
    )
    shard_size: int = Field(200, ge=1, le=10_000)
    priority: Literal["urgent", "normal", "bulk"] = Field(
        "normal",
        description="urgent (re-renders, time-critical jobs) runs ahead of normal, bulk "
        "(large campaigns) behind it, in Dagster's run queue and on the Celery queues.",
    )
    variables: dict[str, VariableSpec] = Field(
        default_factory=dict,
        max_length=100,
        description="Declared recipient columns: type, required, bounds (see .variables).",
    )

    @field_validator("variables")
    @classmethod
    def _variable_names(cls, variables: dict[str, VariableSpec]) -> dict[str, VariableSpec]:
        bad = [n for n in variables if not _VARIABLE_NAME_RE.match(n)]
        if bad:
            raise ValueError(f"variable names must be identifiers; not {', '.join(map(repr, bad))}")
        return variables

    @field_validator("templates")
    @classmethod
    def _unique_template_ids(cls, templates: list[TemplateSpec]) -> list[TemplateSpec]:
        ids = [t.id for t in templates]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"template ids must be unique; repeated: {', '.join(duplicates)}")
        return templates

    @field_validator("storage_url")
    @classmethod
    def _storage_url(cls, url: str) -> str:
        if not url:
            return url
        parts = urlsplit(url)
        if parts.scheme == "s3":
            if not parts.netloc:
                raise ValueError(f"{url!r} names no bucket (expected s3://bucket/prefix)")
        elif parts.scheme == "file":
            if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
                raise ValueError(f"{url!r} is not an absolute local path (file:///dir)")
        else:
            raise ValueError(f"{url!r} must be a file:// or s3:// URL")
        return url

    @property
    def template_ids(self) -> list[str]:
        return [t.id for t in self.templates]

    def template_for(self, row: Mapping[str, Any]) -> TemplateSpec:
        """The template a recipient row uses.

        The row's ``template_id`` value when it has one (surrounding spaces ignored);
        the first template when the column is absent or the cell is empty or null.
        Raises ``CampaignError("unknown_template")`` for an id the spec lacks.
        """
        wanted = row.get(TEMPLATE_ID_COLUMN)
        if wanted is None or (isinstance(wanted, float) and math.isnan(wanted)):
            return self.templates[0]
        wanted = str(wanted).strip()
        if not wanted:
            return self.templates[0]
        for template in self.templates:
            if template.id == wanted:
                return template
        raise CampaignError(
            "unknown_template",
            f"template_id {wanted[:80]!r} is not one of the campaign's templates "
            f"({', '.join(self.template_ids)})",
        )

    @property
    def fingerprint(self) -> str:
        """sha256 of the spec's canonical JSON (sorted keys, defaults filled in). The
        ``priority`` is left out: it says when the campaign runs, not what it says, and
        specs stored before the field existed keep their fingerprint."""
        canonical = json.dumps(
            self.model_dump(mode="json", exclude={"priority"}),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SpecLimits:
    """Bounds checked before a spec is parsed (settings ``VOICEMILL_CAMPAIGN_SPEC_*``)."""

    max_bytes: int = 1024 * 1024
    max_nesting: int = 20

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> SpecLimits:
        from voicemill.settings import get_settings

        settings = settings or get_settings()
        return cls(
            max_bytes=settings.campaign_spec_max_bytes,
            max_nesting=settings.campaign_spec_max_nesting,
        )


def load_campaign_spec(path: str | Path, limits: SpecLimits | None = None) -> CampaignSpec:
    """Read a campaign spec from ``.yaml``/``.yml`` or ``.json``.

    Raises ``CampaignError`` with ``spec_unreadable`` (missing or not a regular file,
    unknown suffix, not UTF-8, not parseable), ``spec_too_large`` (over
    ``limits.max_bytes``), ``spec_too_complex`` (nested deeper than
    ``limits.max_nesting``, or YAML aliases) or ``spec_invalid`` (not a mapping,
    duplicate keys, failed validation; the detail lists every ``field.path: message``).
    """
    path = Path(path)
    limits = limits or SpecLimits()
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise CampaignError(
            "spec_unreadable", f"campaign spec {path.name}: use a .yaml, .yml or .json file"
        )
    raw = _read_bounded(path, limits.max_bytes)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CampaignError("spec_unreadable", f"campaign spec {path.name}: {exc}") from exc
    if suffix == ".json":
        _check_json_nesting(text, path, limits.max_nesting)
        data = _parse_json(text, path)
    else:
        _check_yaml_events(text, path, limits.max_nesting)
        data = _parse_yaml(text, path)
    if not isinstance(data, dict):
        raise CampaignError(
            "spec_invalid",
            f"campaign spec {path.name} must be a mapping of settings, not {type(data).__name__}",
        )
    try:
        return CampaignSpec.model_validate(data)
    except ValidationError as exc:
        raise CampaignError(
            "spec_invalid", f"campaign spec {path.name}: {format_validation_error(exc)}"
        ) from exc


def _read_bounded(path: Path, max_bytes: int) -> bytes:
    """The file's bytes: a regular file (not a link, FIFO or device) of bounded size."""
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode):
            raise CampaignError(
                "spec_unreadable", f"campaign spec {path.name} is not a regular file"
            )
        if info.st_size > max_bytes:
            raise CampaignError(
                "spec_too_large",
                f"campaign spec {path.name} has {info.st_size} bytes (at most {max_bytes})",
            )
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise CampaignError("spec_unreadable", f"cannot read campaign spec {path}: {exc}") from exc
    if len(raw) > max_bytes:  # it grew since lstat
        raise CampaignError(
            "spec_too_large", f"campaign spec {path.name} has more than {max_bytes} bytes"
        )
    return raw


def _too_deep(path: Path, max_nesting: int) -> CampaignError:
    return CampaignError(
        "spec_too_complex",
        f"campaign spec {path.name} nests lists or mappings more than {max_nesting} deep",
    )


def _check_json_nesting(text: str, path: Path, max_nesting: int) -> None:
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > max_nesting:
                raise _too_deep(path, max_nesting)
        elif ch in "]}":
            depth -= 1


def _check_yaml_events(text: str, path: Path, max_nesting: int) -> None:
    """Walk the YAML event stream (the parser is iterative; the composer recurses)."""
    import yaml

    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise CampaignError(
                    "spec_too_complex", f"campaign spec {path.name} uses YAML aliases (*name)"
                )
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > max_nesting:
                    raise _too_deep(path, max_nesting)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        raise CampaignError(
            "spec_unreadable", f"campaign spec {path.name} is not valid YAML: {exc}"
        ) from exc


def format_validation_error(exc: ValidationError) -> str:
    """Every pydantic error as ``location: message``, joined with ``; ``."""
    parts = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "(spec)"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{location}: {message}")
    return "; ".join(parts)


class _DuplicateKey(ValueError):
    pass


def _parse_json(text: str, path: Path) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise _DuplicateKey(key)
            out[key] = value
        return out

    try:
        return json.loads(text, object_pairs_hook=pairs)
    except _DuplicateKey as exc:
        raise CampaignError(
            "spec_invalid", f"campaign spec {path.name}: key {exc.args[0]!r} appears twice"
        ) from exc
    except ValueError as exc:
        raise CampaignError("spec_unreadable", f"campaign spec {path.name}: {exc}") from exc
    except RecursionError as exc:  # a backstop: _check_json_nesting refuses it first
        raise CampaignError("spec_too_complex", f"campaign spec {path.name} is too deep") from exc


def _parse_yaml(text: str, path: Path) -> Any:
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in out:
                line = key_node.start_mark.line + 1
                raise _DuplicateKey(f"key {key!r} appears twice (line {line})")
            out[key] = loader.construct_object(value_node, deep=True)
        return out

    UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass: no object tags
    except _DuplicateKey as exc:
        raise CampaignError("spec_invalid", f"campaign spec {path.name}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise CampaignError(
            "spec_unreadable", f"campaign spec {path.name} is not valid YAML: {exc}"
        ) from exc
    except RecursionError as exc:  # a backstop: _check_yaml_events refuses it first
        raise CampaignError("spec_too_complex", f"campaign spec {path.name} is too deep") from exc
