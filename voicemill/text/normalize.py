"""Text normalization for alignment, ASR comparison and the manifest's normalized text.

Aligners and WER need the words a speaker actually says: "Dr. Smith paid $12.50" is
spoken "doctor smith paid twelve dollars fifty cents". English numbers are spelled with
``num2words`` (well kept, offline, handles cardinals, ordinals and years); currency,
percent, times and abbreviations are small hand tables because ``num2words``'s
currency mode reads integers as cents. ``num2words`` has no Mandarin converter, so a
small one here writes Arabic numerals as Chinese numerals (二零二四年, 百分之五十, 三点五).

Supported languages are GPT-SoVITS's codes ``en`` and ``zh``.
"""

from __future__ import annotations

import re
import unicodedata

from num2words import num2words as _num2words

from voicemill.errors import RejectedInput

SUPPORTED_LANGUAGES: frozenset[str] = frozenset({"en", "zh"})


class TextError(RejectedInput, ValueError):
    """Text that cannot be normalized; ``reason`` is a snake_case code for quarantine."""


def num2words(value: int, **kwargs: str) -> str:
    """``num2words`` without its thousands commas ("one thousand, two"): a comma is a pause."""
    return _num2words(value, **kwargs).replace(",", "")


_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_RE = re.compile(f"[{_HAN}]")
_LATIN_WORD_RE = re.compile(r"[^\W\d_]+", re.UNICODE)

# Abbreviations that end in a period but do not end a sentence. Values are the spoken
# English form; "st." is resolved separately (saint before a name, street otherwise).
_ABBREVIATIONS: dict[str, str] = {
    "mr": "mister",
    "mrs": "missus",
    "ms": "miz",
    "dr": "doctor",
    "prof": "professor",
    "sr": "senior",
    "jr": "junior",
    "st": "street",
    "mt": "mount",
    "ave": "avenue",
    "rd": "road",
    "gen": "general",
    "capt": "captain",
    "lt": "lieutenant",
    "col": "colonel",
    "sgt": "sergeant",
    "gov": "governor",
    "rev": "reverend",
    "vs": "versus",
    "etc": "et cetera",
    "approx": "approximately",
    "dept": "department",
    "inc": "incorporated",
    "ltd": "limited",
    "co": "company",
    "no": "number",
    "fig": "figure",
    "jan": "january",
    "feb": "february",
    "aug": "august",
    "sept": "september",
    "oct": "october",
    "nov": "november",
    "dec": "december",
}
_MULTI_DOT_ABBREVIATIONS: dict[str, str] = {
    "e.g.": "for example",
    "i.e.": "that is",
    "a.m.": "a m",
    "p.m.": "p m",
    "u.s.": "u s",
}
# Abbreviations that never end a sentence when followed by a capitalised word.
_TITLE_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "st", "mt", "gen", "capt", "lt", "col", "sgt", "gov", "rev"}
)

_CURRENCIES: dict[str, tuple[str, str, str, str]] = {
    # symbol: (unit singular, unit plural, subunit singular, subunit plural)
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", "sen", "sen"),
}
_SCALES = ("thousand", "million", "billion", "trillion")

# A number: digits with optional thousands separators ("1,234") and decimals ("3.5").
_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_EN_CURRENCY_RE = re.compile(
    r"(?P<sym>[$£€¥])\s?(?P<num>" + _NUM + r")(?:\s+(?P<scale>" + "|".join(_SCALES) + r")\b)?",
    re.IGNORECASE,
)
_EN_PERCENT_RE = re.compile(r"(?P<num>" + _NUM + r")\s?%")
_EN_ORDINAL_RE = re.compile(r"\b(?P<num>\d+)(?P<suf>st|nd|rd|th)\b", re.IGNORECASE)
_EN_TIME_RE = re.compile(r"\b(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)\b")
_EN_NUMBER_RE = re.compile(r"(?P<neg>(?<!\w)-)?(?<![\d.,])(?P<num>" + _NUM + ")")


def normalize_text(text: str, language: str) -> str:
    """Return the spoken, comparable form of ``text``: what an aligner and WER should see.

    English: NFKC, numbers/currency/percent/ordinals/years spelled out, abbreviations
    expanded, lowercase, punctuation removed except apostrophes inside words.
    Mandarin: NFKC, Arabic numerals as Chinese numerals, punctuation and the spaces
    between hanzi removed, Latin words lowercased and space-separated.
    """
    _check_language(language)
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("’", "'").replace("‘", "'").replace("`", "'")
    if language == "en":
        return _normalize_en(text)
    return _normalize_zh(text)


def words_for_alignment(normalized: str, language: str) -> list[str]:
    """Alignment units of normalized text: English words; Mandarin characters.

    Latin words inside Mandarin text stay whole (one unit each).
    """
    _check_language(language)
    tokens = normalized.split()
    if language == "en":
        return tokens
    units: list[str] = []
    for token in tokens:
        if _HAN_RE.search(token):
            units.extend(ch for ch in token if not ch.isspace())
        else:
            units.append(token)
    return units


def detect_language(text: str) -> str:
    """``zh`` when hanzi make up at least half of the spoken units, else ``en``.

    A unit is one hanzi or one Latin word, so "我用iPhone手机" counts 4 hanzi vs 1 word.
    """
    hanzi = len(_HAN_RE.findall(text))
    latin_words = len(_LATIN_WORD_RE.findall(_HAN_RE.sub(" ", text)))
    if hanzi + latin_words == 0:
        raise TextError("empty_text", "no hanzi or Latin letters to detect a language from")
    return "zh" if hanzi / (hanzi + latin_words) >= 0.5 else "en"


# ----------------------------------------------------------------------------- sentences

_SENTENCE_END = frozenset(".!?;。！？；．")
_CJK_SENTENCE_END = frozenset("。！？；")
_CLOSERS = frozenset("\"')]}”’」』）】》")


def split_sentences(text: str, language: str) -> list[str]:
    """Split on . ! ? ; and 。！？； without breaking decimals (3.5) or abbreviations (Dr.).

    Runs of terminators ("?!", "...") stay together, closing quotes stay with their
    sentence, and an ASCII period only ends a sentence when followed by whitespace or
    the end of text (so "example.com" stays whole).
    """
    _check_language(language)
    text = text.strip()
    sentences: list[str] = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch not in _SENTENCE_END or (ch not in _CJK_SENTENCE_END and not _ends_here(text, i)):
            i += 1
            continue
        end = i + 1
        while end < n and (text[end] in _SENTENCE_END or text[end] in _CLOSERS):
            end += 1
        sentence = text[start:end].strip()
        if sentence:
            sentences.append(sentence)
        start = i = end
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _ends_here(text: str, i: int) -> bool:
    """Whether the ASCII terminator at ``text[i]`` ends a sentence."""
    ch = text[i]
    nxt = text[i + 1] if i + 1 < len(text) else ""
    j = i + 1  # skip the rest of a terminator run and closing quotes
    while j < len(text) and (text[j] in _SENTENCE_END or text[j] in _CLOSERS):
        j += 1
    after = text[j] if j < len(text) else ""
    if after and not after.isspace() and not _HAN_RE.match(after):
        return False  # 3.5, example.com, "?!" handled by the run
    if ch != "." or nxt == ".":
        return True
    word = re.search(r"([A-Za-z.]+)$", text[:i])
    if word is None:
        return True
    token = word.group(1).lower()
    if f"{token}." in _MULTI_DOT_ABBREVIATIONS:
        return False
    if token in _ABBREVIATIONS:
        # "Dr. Smith" continues; "... and so on, etc. The end" ends after a non-title.
        following = text[j:].lstrip()[:1]
        return token not in _TITLE_ABBREVIATIONS and following.isupper()
    # A single capital initial ("J. R. R. Tolkien") does not end a sentence.
    return not (len(token) == 1 and token.isalpha() and text[i - 1].isupper())


# ----------------------------------------------------------------------------- English


def _normalize_en(text: str) -> str:
    text = _expand_en(text).lower()
    # Keep apostrophes only between letters (don't, o'clock); everything else is a gap.
    text = re.sub(r"(?<![^\W\d_])'|'(?![^\W\d_])", " ", text)
    text = re.sub(r"[^\w' ]|_", " ", text)
    return " ".join(text.split())


def _expand_en(text: str) -> str:
    """Spell out abbreviations, symbols and numbers; case and punctuation are left as is."""
    text = _HAN_RE.sub(" ", text)
    for abbr, spoken in _MULTI_DOT_ABBREVIATIONS.items():
        text = re.sub(rf"(?<!\w){re.escape(abbr)}", f" {spoken} ", text, flags=re.IGNORECASE)
    text = re.sub(r"\b[Ss]t\.(?=\s+[A-Z])", "saint", text)
    text = re.sub(r"\b[Nn]o\.(?=\s*\d)", "number", text)  # "No. 5", but not "I said no."
    text = re.sub(
        r"\b(" + "|".join(k for k in _ABBREVIATIONS if k != "no") + r")\.",
        lambda m: _ABBREVIATIONS[m.group(1).lower()],
        text,
        flags=re.IGNORECASE,
    )
    text = text.replace("&", " and ").replace("+", " plus ").replace("@", " at ")
    text = _EN_CURRENCY_RE.sub(_spell_currency, text)
    text = _EN_PERCENT_RE.sub(lambda m: f" {_spell_en_number(m.group('num'))} percent ", text)
    text = _EN_ORDINAL_RE.sub(lambda m: f" {num2words(int(m.group('num')), to='ordinal')} ", text)
    text = _EN_TIME_RE.sub(_spell_time, text)
    text = _EN_NUMBER_RE.sub(_spell_plain_number, text)
    return re.sub(r"\d", lambda m: f" {num2words(int(m.group()))} ", text)  # stray digits


def _spell_en_number(num: str) -> str:
    num = num.replace(",", "")
    if "." in num:
        whole, frac = num.split(".", 1)
        whole_words = num2words(int(whole or "0"))
        return f"{whole_words} point " + " ".join(num2words(int(d)) for d in frac)
    return num2words(int(num))


def _spell_plain_number(match: re.Match[str]) -> str:
    num = match.group("num")
    sign = "minus " if match.group("neg") else ""
    plain = num.replace(",", "")
    if sign == "" and "," not in num and "." not in num and len(plain) == 4:
        value = int(plain)
        if 1100 <= value <= 2099 and value % 1000 != 0:
            return f" {num2words(value, to='year')} "
    if "." not in num and len(plain) > 1 and plain.startswith("0"):
        return " " + " ".join(num2words(int(d)) for d in plain) + " "  # 007, zip codes
    return f" {sign}{_spell_en_number(num)} "


def _spell_currency(match: re.Match[str]) -> str:
    unit, units, sub, subs = _CURRENCIES[match.group("sym")]
    num = match.group("num").replace(",", "")
    scale = match.group("scale")
    if scale:
        return f" {_spell_en_number(num)} {scale.lower()} {units} "
    whole, _, frac = num.partition(".")
    value = int(whole or "0")
    words = [f"{num2words(value)} {unit if value == 1 else units}"] if value or not frac else []
    if frac:
        cents = int((frac + "0")[:2])
        if cents:
            words.append(f"{num2words(cents)} {sub if cents == 1 else subs}")
        elif not words:
            words.append(f"zero {units}")
    return " " + " ".join(words) + " "


def _spell_time(match: re.Match[str]) -> str:
    hour, minute = int(match.group("h")), int(match.group("m"))
    if minute == 0:
        return f" {num2words(hour)} o'clock "
    if minute < 10:
        return f" {num2words(hour)} oh {num2words(minute)} "
    return f" {num2words(hour)} {num2words(minute)} "


# ----------------------------------------------------------------------------- Mandarin

_ZH_DIGITS = "零一二三四五六七八九"
_ZH_SMALL_UNITS = ("", "十", "百", "千")
_ZH_BIG_UNITS = ("", "万", "亿", "万亿")

_ZH_PERCENT_RE = re.compile(r"(?P<num>" + _NUM + r")\s?%")
_ZH_YEAR_RE = re.compile(r"(?<!\d)(?P<num>\d{2,4})(?=\s*年)")
_ZH_NUMBER_RE = re.compile(r"(?P<num>" + _NUM + ")")


def chinese_numeral(value: int) -> str:
    """Write an integer in Chinese numerals: 105 → 一百零五, 12 → 十二, 2000 → 两千."""
    if value < 0:
        return "负" + chinese_numeral(-value)
    if value == 0:
        return _ZH_DIGITS[0]
    if value >= 10**16:
        return "".join(_ZH_DIGITS[int(d)] for d in str(value))
    groups: list[int] = []
    while value:
        groups.append(value % 10000)
        value //= 10000
    out: list[str] = []
    need_zero = False
    for idx in range(len(groups) - 1, -1, -1):
        group = groups[idx]
        if group == 0:
            need_zero = bool(out)
            continue
        if out and (need_zero or group < 1000):
            out.append(_ZH_DIGITS[0])
        spoken = "两" if group == 2 and idx > 0 else _four_digits(group)
        out.append(spoken + _ZH_BIG_UNITS[idx])
        need_zero = False
    text = "".join(out)
    return text[1:] if text.startswith("一十") else text


def _four_digits(group: int) -> str:
    digits = f"{group:04d}"
    out: list[str] = []
    pending_zero = False
    for pos, ch in enumerate(digits):
        d = int(ch)
        if d == 0:
            pending_zero = bool(out)
            continue
        if pending_zero:
            out.append(_ZH_DIGITS[0])
            pending_zero = False
        digit = "两" if d == 2 and pos == 0 else _ZH_DIGITS[d]  # 两千, but 二百, 二十
        out.append(digit + _ZH_SMALL_UNITS[3 - pos])
    return "".join(out)


def _zh_number(num: str) -> str:
    num = num.replace(",", "")
    whole, _, frac = num.partition(".")
    # 007 and phone numbers digit by digit; so too past 16 digits, as chinese_numeral
    # would, without int() of a huge string (quadratic, and refused past 4,300 digits).
    if (len(whole) > 1 and whole.startswith("0")) or len(whole) > 16:
        spoken = "".join(_ZH_DIGITS[int(d)] for d in whole)
    else:
        spoken = chinese_numeral(int(whole))
    if frac:
        spoken += "点" + "".join(_ZH_DIGITS[int(d)] for d in frac)
    return spoken


def _normalize_zh(text: str) -> str:
    text = _spell_zh_numbers(text).lower()
    # Every non-word character (punctuation, symbols) becomes a gap; apostrophes too.
    text = re.sub(r"[^\w]|_", " ", text)
    # Hanzi runs and Latin words become separate space-joined tokens.
    text = re.sub(f"([{_HAN}]+)", r" \1 ", text)
    tokens = text.split()
    out: list[str] = []
    for token in tokens:
        if out and _HAN_RE.fullmatch(token[0]) and _HAN_RE.fullmatch(out[-1][-1]):
            out[-1] += token  # drop whitespace between hanzi
        else:
            out.append(token)
    return " ".join(out)


def _spell_zh_numbers(text: str) -> str:
    """Percentages, years (digit by digit) and other Arabic numbers as Chinese numerals."""
    text = _ZH_PERCENT_RE.sub(lambda m: "百分之" + _zh_number(m.group("num")), text)
    text = _ZH_YEAR_RE.sub(lambda m: "".join(_ZH_DIGITS[int(d)] for d in m.group("num")), text)
    return _ZH_NUMBER_RE.sub(lambda m: _zh_number(m.group("num")), text)


def _check_language(language: str) -> None:
    if language not in SUPPORTED_LANGUAGES:
        raise TextError(
            "unsupported_language",
            f"language {language!r} is not one of {sorted(SUPPORTED_LANGUAGES)}",
        )


# ----------------------------------------------------------------------------- synthesis

# Punctuation of both scripts mapped onto the v2 prosody marks (! ? … , . -). Quotes
# carry no prosody and are dropped; brackets and dashes become a pause.
_TTS_PUNCTUATION: dict[str, str] = {
    "，": ",", "、": ",", "；": ",", ";": ",", "：": ",", ":": ",", "·": ",",
    "。": ".", "．": ".", "！": "!", "？": "?", "～": "…", "~": "…", "⋯": "…",
    "—": ",", "–": ",", "(": ",", ")": ",", "（": ",", "）": ",", "[": ",", "]": ",",
    "【": ",", "】": ",", "《": ",", "》": ",", "\n": ".",
    "\"": "", "“": "", "”": "", "「": "", "」": "", "『": "", "』": "", "«": "", "»": "",
}  # fmt: skip
_TTS_MARKS = "!?…,.-"


def normalize_for_tts(text: str, language: str) -> str:
    """Spoken form of ``text`` for synthesis, with prosody kept: upstream GPT-SoVITS's
    normalization of the language (see :mod:`.normalize_zh` and :mod:`.normalize_en`).

    Unlike :func:`normalize_text` (made for comparison), case is kept so acronyms can
    be spelled, and punctuation survives as the v2 symbol set's marks ``! ? … , . -``.
    """
    _check_language(language)
    if language == "en":
        from voicemill.text.normalize_en import normalize_en

        return normalize_en(text)
    from voicemill.text.normalize_zh import normalize_zh

    return normalize_zh(text)


def tts_marks(text: str) -> str:
    """Punctuation as v2 marks, other symbols dropped, for the Japanese frontend (which
    normalizes its own language; upstream's Japanese module has no normalizer)."""
    return _tts_marks(text)


def _tts_marks(text: str) -> str:
    """Map punctuation to v2 marks, drop every other symbol, collapse pause runs."""
    out: list[str] = []
    for ch in text:
        ch = _TTS_PUNCTUATION.get(ch, ch)
        if ch in _TTS_MARKS or ch == "'" or ch.isspace() or ch.isalnum():
            out.append(ch)
        elif ch:
            out.append(" ")  # emoji, %, # ... (already spelled out where meaningful)
    text = "".join(out)
    text = re.sub(r"(?<![^\W\d_])'|'(?![^\W\d_])", " ", text)  # apostrophes inside words only
    text = re.sub(r"\s*([!?…,.-])", r"\1", text)  # no space before a mark
    text = re.sub(r"([!?…,.-])(?:\s*,)+", r"\1", text)  # ",," and "., " collapse
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"^[\s,.-]+", "", text)
