"""Sandboxed rendering of campaign templates (Jinja2).

Jinja2 because operators already know its syntax (``{{ first_name }}``,
``{% if %}``, filters) and it ships a sandbox: ``ImmutableSandboxedEnvironment``
refuses access to dunder and internal attributes (``''.__class__.__mro__``,
``cycler.__init__.__globals__``, ``fn.__self__``) and to methods that mutate
lists, dicts and sets, raising ``SecurityError``; it also caps ``range()`` at
``MAX_RANGE`` (100,000) items. Recipient values are passed in as plain strings and
are never rendered as template code, so a recipient file cannot inject template
logic. ``StrictUndefined`` makes a missing variable an error instead of an empty
string ("Hello ," would otherwise be synthesized). Autoescaping is off: the output
is speech, not HTML.

On top of Jinja's defaults this environment:

* drops ``lipsum`` (global) and ``random`` (filter): random output would make the
  same campaign render differently on a retry, changing content hashes and keys;
* drops ``center``, ``indent`` and ``batch`` and refuses the str methods
  ``center``/``ljust``/``rjust``/``zfill``/``expandtabs``/``format``/``format_map``:
  each turns a small number into an arbitrarily large allocation
  (``'x'.ljust(10**10)``); the ``format`` filter and the ``%`` operator are kept
  for ``'%.2f'|format(amount|float)`` but refuse widths or precisions over 1,000;
* bounds ``*`` (string/list repetition) and ``**`` (huge integers) and the rendered
  output itself (:data:`MAX_RENDER_CHARS`, checked while streaming);
* makes ``range()`` over the cap a ``SecurityError`` rather than ``OverflowError``.

The sandbox is the boundary against code execution and data access. It cannot
bound every allocation or CPU second (nested loops that print nothing, ``replace``
chains, ``~`` doubling): campaigns therefore render in a child process under a
memory limit and a per-row CPU budget (:mod:`.render_process`). Templates are also checked before
parsing: Jinja's parser recurses once per nested bracket or block, so a few hundred
``(`` would raise ``RecursionError``; nesting deeper than
:data:`MAX_TEMPLATE_NESTING` is refused as ``template_too_complex``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2 import StrictUndefined, meta
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.filters import do_format
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

from voicemill.campaign.errors import CampaignError
from voicemill.campaign.spec import CampaignSpec

__all__ = [
    "MAX_RENDER_CHARS",
    "MAX_TEMPLATE_NESTING",
    "collapse_whitespace",
    "compile_template",
    "compile_templates",
    "render_text",
    "sandbox_environment",
    "template_variables",
]

MAX_RENDER_CHARS = 100_000  # raw output of one render, before whitespace collapsing
MAX_TEMPLATE_NESTING = 32  # brackets and blocks inside each other; real templates use < 5
_OPENERS = frozenset({"(", "[", "{"})
_CLOSERS = frozenset({")", "]", "}"})
_BLOCK_TAGS = frozenset(
    {"if", "for", "macro", "call", "filter", "with", "block", "autoescape", "trans"}
)
_MAX_FORMAT_WIDTH = 1000
_MAX_POWER_BITS = 4096
_REMOVED_GLOBALS = ("lipsum",)
_REMOVED_FILTERS = ("random", "center", "indent", "batch")
_UNSAFE_STR_METHODS = frozenset(
    {"center", "ljust", "rjust", "zfill", "expandtabs", "format", "format_map"}
)
# A printf conversion's width and precision: "%-10.2f" → ("10", "2"); "*" takes an argument.
_PRINTF_SPEC_RE = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_UNDEFINED_NAME_RE = re.compile(r"^'([^']+)' is undefined$")


class _CampaignSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with allocation bounds (see the module docstring)."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and attr in _UNSAFE_STR_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value: Any) -> None:
        # Jinja returns a sandboxed str.format here, before is_safe_attribute is asked;
        # returning None sends str.format/format_map to is_safe_attribute, which refuses.
        return None

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_repetition(left, right)
            return left * right
        if operator == "**":
            _check_power(left, right)
            return left**right
        if isinstance(left, str):  # "%": printf-style formatting on a string
            _check_printf(left)
        return left % right


def _check_repetition(left: Any, right: Any) -> None:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(times, int):
            size = _size(seq) * max(times, 0)
            if size > MAX_RENDER_CHARS:
                raise SecurityError(
                    f"repeating a sequence of size {_size(seq)} {times} times exceeds "
                    f"the sandbox limit of {MAX_RENDER_CHARS}"
                )


def _size(seq: str | list | tuple) -> int:
    """Characters of a string; for a list, its items' sizes (``['x' * 1000] * 1000``
    is a million characters once joined, not a thousand items)."""
    if isinstance(seq, str):
        return len(seq)
    return sum(len(item) if isinstance(item, str | list | tuple) else 1 for item in seq)


def _check_power(base: Any, exponent: Any) -> None:
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and abs(base) > 1
        and exponent * abs(base).bit_length() > _MAX_POWER_BITS
    ):
        raise SecurityError(f"{base} ** {exponent} is too large for the sandbox")


def _check_printf(fmt: str) -> None:
    for match in _PRINTF_SPEC_RE.finditer(fmt):
        for number in match.groups():
            if number == "*" or (number and int(number) > _MAX_FORMAT_WIDTH):
                raise SecurityError(
                    f"format width or precision {number!r} is not allowed in the sandbox "
                    f"(at most {_MAX_FORMAT_WIDTH})"
                )


def _checked_format(value: Any, *args: Any, **kwargs: Any) -> str:
    _check_printf(str(value))
    return do_format(value, *args, **kwargs)


def _bounded_range(*args: int) -> range:
    try:
        return safe_range(*args)
    except OverflowError as exc:  # "Range too big. The sandbox blocks ranges larger than ..."
        raise SecurityError(str(exc)) from exc


def sandbox_environment() -> jinja2.Environment:
    """A fresh sandboxed environment with the campaign restrictions applied."""
    env = _CampaignSandbox(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        auto_reload=False,
    )
    for name in _REMOVED_GLOBALS:
        env.globals.pop(name, None)
    for name in _REMOVED_FILTERS:
        env.filters.pop(name, None)
    env.globals["range"] = _bounded_range
    env.filters["format"] = _checked_format
    return env


_ENV = sandbox_environment()  # templates carry their environment; one is enough


def compile_templates(spec: CampaignSpec) -> dict[str, jinja2.Template]:
    """Compile every template of a :class:`~voicemill.campaign.spec.CampaignSpec`.

    Returns ``{template_id: Template}``; each template's ``name`` is its id. Raises
    ``CampaignError`` (``template_syntax`` naming the template and line, or
    ``template_too_complex``) for the first bad template in spec order.
    """
    return {t.id: compile_template(t.text, t.id) for t in spec.templates}


def compile_template(source: str, template_id: str | None = None) -> jinja2.Template:
    """One template, its nesting checked before Jinja parses it."""
    label = f"template {template_id!r}" if template_id else "template"
    _check_nesting(source, label)
    try:
        code = _ENV.compile(source, name=template_id)
    except TemplateSyntaxError as exc:
        raise CampaignError(
            "template_syntax", f"{label} has a syntax error on line {exc.lineno}: {exc.message}"
        ) from exc
    except (RecursionError, SyntaxError) as exc:  # a backstop: _check_nesting refuses these
        # (Python itself refuses code nested over 100 blocks deep: IndentationError.)
        raise CampaignError("template_too_complex", f"{label} is nested too deeply") from exc
    return _ENV.template_class.from_code(_ENV, code, _ENV.make_globals(None))


def _check_nesting(source: str, label: str) -> None:
    """Refuse brackets or blocks nested deeper than :data:`MAX_TEMPLATE_NESTING`,
    counted on Jinja's (iterative) lexer, so the recursive parser never sees them.
    Unary chains (``not not not x``, ``- - - 1``) count as nesting too."""
    depth = unary = 0
    block_start = False
    try:
        for _, kind, value in _ENV.lex(source):
            if kind == "whitespace":
                continue
            if (kind == "name" and value == "not") or (kind == "operator" and value in "-+"):
                unary += 1  # binary +/- inflate this only by one per operand
            else:
                unary = 0
            if kind == "operator" and value in _OPENERS:
                depth += 1
            elif kind == "operator" and value in _CLOSERS:
                depth = max(depth - 1, 0)
            elif block_start and kind == "name":
                if value in _BLOCK_TAGS:
                    depth += 1
                elif value.startswith("end"):
                    depth = max(depth - 1, 0)
            block_start = kind == "block_begin"
            if depth + unary > MAX_TEMPLATE_NESTING:
                raise CampaignError(
                    "template_too_complex",
                    f"{label} nests brackets or blocks more than {MAX_TEMPLATE_NESTING} deep",
                )
    except TemplateSyntaxError as exc:
        raise CampaignError(
            "template_syntax", f"{label} has a syntax error on line {exc.lineno}: {exc.message}"
        ) from exc


def template_variables(template_source: str) -> set[str]:
    """Names a template reads from the recipient row (Jinja globals such as ``range``
    excluded). Includes names only tested with ``is defined``: those are optional."""
    _check_nesting(template_source, "template")
    try:
        ast = _ENV.parse(template_source)
    except TemplateSyntaxError as exc:
        raise CampaignError(
            "template_syntax", f"template has a syntax error on line {exc.lineno}: {exc.message}"
        ) from exc
    except RecursionError as exc:
        raise CampaignError("template_too_complex", "template is nested too deeply") from exc
    return set(meta.find_undeclared_variables(ast)) - set(_ENV.globals)


def collapse_whitespace(text: str) -> str:
    """NFC-normalized ``text`` with every whitespace run (newlines too) as one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def render_text(template: jinja2.Template, variables: Mapping[str, Any]) -> str:
    """Render one recipient's text: the template output, whitespace-collapsed (NFC).

    Raises ``CampaignError`` with ``missing_variable`` (the detail names it),
    ``sandbox_violation`` (``SecurityError``: unsafe attribute, unbounded range,
    oversized repetition or format), ``text_too_long`` (raw output over
    :data:`MAX_RENDER_CHARS`), ``render_memory`` (``MemoryError``: the limits of
    :mod:`.render_process`), ``template_too_complex`` (macro recursion) or
    ``render_failed`` (any other exception, e.g. ``1 / 0``).
    """
    label = f"template {template.name!r}" if template.name else "template"
    chunks: list[str] = []
    size = 0
    try:
        for chunk in template.generate(dict(variables)):
            size += len(chunk)
            if size > MAX_RENDER_CHARS:
                raise CampaignError(
                    "text_too_long",
                    f"{label} produced more than {MAX_RENDER_CHARS} characters; rendering stopped",
                )
            chunks.append(chunk)
    except CampaignError:
        raise
    except MemoryError as exc:
        raise CampaignError("render_memory", f"{label} needed more memory than allowed") from exc
    except RecursionError as exc:
        raise CampaignError("template_too_complex", f"{label} recursed too deeply") from exc
    except SecurityError as exc:
        raise CampaignError("sandbox_violation", f"{label} was blocked: {exc}") from exc
    except UndefinedError as exc:
        message = str(exc)
        match = _UNDEFINED_NAME_RE.match(message)
        if match is None:
            raise CampaignError("render_failed", f"{label} failed: {message}") from exc
        raise CampaignError(
            "missing_variable",
            f"{label} uses variable {match.group(1)!r}, which this recipient does not have "
            "(no such column, or the cell is null)",
        ) from exc
    except Exception as exc:
        raise CampaignError(
            "render_failed", f"{label} failed: {type(exc).__name__}: {exc}"
        ) from exc
    return collapse_whitespace("".join(chunks))
