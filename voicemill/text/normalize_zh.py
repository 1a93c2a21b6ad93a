"""Mandarin text normalization for synthesis, identical to upstream GPT-SoVITS's.

The pretrained GPT-SoVITS models were trained on text that went through upstream's
Mandarin ``text_normalize`` (PaddleSpeech's normalizer as GPT-SoVITS modified it), so our
synthesis must produce the very same string for every input, quirks included. This is
our own implementation of that behaviour, checked against upstream by
``tests/parity/test_parity_normalize_zh.py``:

1. split into sentences after ：、，；。？！,;?! (spaces and brackets, quotes and a few
   symbols are dropped first); each sentence is rewritten on its own, so no rule sees
   across a comma;
2. traditional characters become simplified ones, full-width letters and digits
   half-width (not full-width punctuation or the ideographic space: upstream leaves them);
3. numbers, dates, times, units, phone numbers and arithmetic are spelled out
   (``_zh_rules``);
4. Greek letters, circled digits and the remaining operators become words, "/" reads 每;
5. punctuation maps onto the v2 prosody marks (! ? … , . -) and everything that is not a
   hanzi or a mark is removed (Latin letters included); runs of marks keep their first.

Digits of other scripts (٣, ３ excepted) are rejected: upstream fails on them.

Two readings deliberately differ from upstream's, because upstream's speech is wrong
there (:func:`our_readings`, applied first; the README lists them):

* thousands separators: "1,234,567" is one number (upstream splits the sentence at
  each comma and reads 一,二百三十四,五百六十七);
* a currency sign before a number is read as its unit: "￥128" → 一百二十八元,
  "$5" → 五美元 (upstream drops ¥ and $, and takes ￥ as a pause marker).
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from voicemill.text._zh_numerals import spell_number
from voicemill.text._zh_rules import rewrite_sentence
from voicemill.text.normalize import TextError
from voicemill.text.symbols import PUNCTUATION

# ----------------------------------------------------------------------------- sentences

# Symbols dropped before splitting: they are not spoken and would otherwise block the
# number rules (《2024》, (3)). Of the spaces only the ASCII one is dropped here; others
# (U+3000) stay between the rules' digits until the final filter.
_UNSPOKEN_SYMBOLS = re.compile(r"[—《》【】<>{}()（）#&@“”^_|\\]")
# A sentence ends after one of these marks, with a closing quote kept on its side.
_SENTENCE_END = re.compile(r"[：、，；。？！,;?!][”’]?")


def _sentences(text: str) -> list[str]:
    """Sentences of ``text``; newlines also separate sentences and are not kept."""
    text = _UNSPOKEN_SYMBOLS.sub("", text.replace(" ", ""))
    text = _SENTENCE_END.sub(lambda end: end[0] + "\n", text).strip()
    return [sentence.strip() for sentence in re.split(r"\n+", text)]


# ----------------------------------------------------------------------------- characters

_TRADITIONAL_TABLE = "data/zh_traditional_simplified.txt"
# Full-width Latin letters and digits (U+FF10-FF5A) sit at a fixed offset from ASCII.
_FULL_WIDTH_OFFSET = 0xFEE0
_ASCII_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_FOREIGN_DIGIT = re.compile(r"(?![0-9０-９])\d")


@lru_cache(maxsize=1)
def _character_table() -> dict[int, str]:
    """Traditional → simplified (upstream's own table, see the data file's generator) and
    full-width → half-width: one ``str.translate`` table, as no character is both."""
    raw = resources.files("voicemill.text").joinpath(_TRADITIONAL_TABLE).read_text("utf-8")
    table: dict[int, str] = {}
    for line in raw.splitlines():
        if line and not line.startswith("#"):
            traditional, simplified = line.split("\t")
            table[ord(traditional)] = simplified
    for char in _ASCII_ALNUM:
        table[ord(char) + _FULL_WIDTH_OFFSET] = char
    return table


# ----------------------------------------------------------------------------- symbols

# Symbols still standing after the rules, read as words. The operators here are the
# ones the arithmetic rule left (no operand on one side): "-" reads 减 and "=" reads 等.
# (Upstream then drops the splitter's symbols once more; none can be left by then.)
_SYMBOL_WORDS = str.maketrans(
    {
        "/": "每",
        **dict(zip("①②③④⑤⑥⑦⑧⑨⑩", "一二三四五六七八九十", strict=True)),
        "α": "阿尔法",
        "β": "贝塔",
        "γ": "伽玛",
        "Γ": "伽玛",
        "δ": "德尔塔",
        "Δ": "德尔塔",
        "ε": "艾普西龙",
        "ζ": "捷塔",
        "η": "依塔",
        "θ": "西塔",
        "Θ": "西塔",
        "ι": "艾欧塔",
        "κ": "喀帕",
        "λ": "拉姆达",
        "Λ": "拉姆达",
        "μ": "缪",
        "ν": "拗",
        "ξ": "克西",
        "Ξ": "克西",
        "ο": "欧米克伦",
        "π": "派",
        "Π": "派",
        "ρ": "肉",
        "ς": "西格玛",
        "Σ": "西格玛",
        "σ": "西格玛",
        "τ": "套",
        "υ": "宇普西龙",
        "φ": "服艾",
        "Φ": "服艾",
        "χ": "器",
        "ψ": "普赛",
        "Ψ": "普赛",
        "ω": "欧米伽",
        "Ω": "欧米伽",
        "+": "加",
        "-": "减",
        "×": "乘",
        "÷": "除",
        "=": "等",
    }
)

# ----------------------------------------------------------------------------- punctuation

_ELLIPSIS = "..."
# Marks onto the v2 prosody marks, plus two interjections the v2 pinyin table spells with
# another character. Some keys (newline, "/", "—") are gone by now; they stay so that the
# table reads as the whole mapping.
_TO_PROSODY_MARKS = str.maketrans(
    {
        "嗯": "恩",
        "呣": "母",
        "：": ",",
        "；": ",",
        "，": ",",
        "。": ".",
        "！": "!",
        "？": "?",
        "\n": ".",
        "·": ",",
        "、": ",",
        "$": ".",
        "/": ",",
        "—": "-",
        "~": "…",
        "～": "…",
    }
)
_MARKS = "".join(re.escape(mark) for mark in PUNCTUATION)
# Hanzi of the basic CJK block up to U+9FA5 (upstream's range) and the prosody marks.
_UNSPEAKABLE = re.compile(rf"[^\u4e00-\u9fa5{_MARKS}]+")
_MARK_RUN = re.compile(rf"([{_MARKS}])[{_MARKS}]+")


def _to_prosody_marks(sentence: str) -> str:
    sentence = sentence.replace(_ELLIPSIS, "…").translate(_TO_PROSODY_MARKS)
    return _UNSPEAKABLE.sub("", sentence)


# ----------------------------------------------------------------------------- our readings

_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])")
_CURRENCY = re.compile(
    r"(?P<sign>[¥￥$€£])\s?(?P<amount>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?P<unit>[元块])?"
)
_CURRENCY_UNITS = {"¥": "元", "￥": "元", "$": "美元", "€": "欧元", "£": "英镑"}


_LONG_DIGITS = re.compile(r"[0-9]{17,}")


def our_readings(text: str) -> str:
    """Where we read numbers differently from upstream on purpose (see the module doc)."""
    # Past 16 digits (beyond 亿亿), digit by digit: upstream's place-word speller recurses
    # once per place and its patterns backtrack over the run (9,000 digits: a stack overflow).
    text = _LONG_DIGITS.sub(
        lambda run: "".join("零一二三四五六七八九"[int(d)] for d in run[0]), text
    )
    text = _CURRENCY.sub(
        lambda money: money["amount"] + (money["unit"] or _CURRENCY_UNITS[money["sign"]]), text
    )
    # Spelled here: without its commas a long number would meet upstream's phone rule.
    return _THOUSANDS.sub(lambda number: spell_number(number[0].replace(",", "")), text)


# ----------------------------------------------------------------------------- entry point


def normalize_zh(text: str) -> str:
    """Mandarin ``text`` as upstream GPT-SoVITS normalizes it before G2P.

    The result holds only hanzi and the marks ! ? … , . - (never two marks in a row):
    "2024年3月15日，气温-3℃。" → "二零二四年三月十五日,气温零下三度.".

    Raises ``TextError`` (reason ``unsupported_digits``) for decimal digits of scripts
    other than ASCII and full-width, which upstream cannot read.
    """
    return upstream_normalize(our_readings(text))


def upstream_normalize(text: str) -> str:
    """Upstream's normalization alone, without :func:`our_readings` (for parity tests)."""
    foreign = _FOREIGN_DIGIT.search(text)
    if foreign:
        raise TextError(
            "unsupported_digits",
            f"digit {foreign[0]!r} (U+{ord(foreign[0]):04X}) in {text[:40]!r} is not 0-9",
        )
    spoken = "".join(_normalize_sentence(sentence) for sentence in _sentences(text))
    return _MARK_RUN.sub(r"\1", spoken)


def _normalize_sentence(sentence: str) -> str:
    sentence = sentence.translate(_character_table())
    sentence = rewrite_sentence(sentence).translate(_SYMBOL_WORDS)
    return _to_prosody_marks(sentence)
