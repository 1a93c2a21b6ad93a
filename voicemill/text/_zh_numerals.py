"""Arabic numerals spelled in Mandarin characters, the three ways the normalizer reads them.

* ``spell_cardinal("1205")`` → 一千二百零五: a quantity, with 十/百/千/万/亿 place words and
  one 零 for each run of zeros inside a four-digit group;
* ``spell_digits("110", phone=True)`` → 幺幺零: a code or year read digit by digit (phone
  numbers say 幺 for 1 so that it is not misheard as 七);
* ``spell_number("3.50")`` → 三点五零: a cardinal integer part, then the fraction digit by digit.

Readings follow upstream GPT-SoVITS exactly (our synthesis must see the text its models
were trained on), quirks included: trailing zeros of a fraction collapse to one
(3.500 → 三点五零, 3.0 → 三点零), a number that starts with 一十 drops the 一 (十二,
十万) while one inside keeps it (一百一十), and place words simply repeat past 亿
(10^16 → 一亿亿).

Only ASCII digits are accepted; callers reject other digit scripts first.
"""

from __future__ import annotations

DIGIT_WORDS = "零一二三四五六七八九"
ZERO = DIGIT_WORDS[0]
# The place words and how many digits each one stands after, largest first: a number of
# n significant digits is split at the largest place shorter than n.
_PLACES: tuple[tuple[int, str], ...] = ((8, "亿"), (4, "万"), (3, "千"), (2, "百"), (1, "十"))


def spell_digits(digits: str, *, phone: bool = False) -> str:
    """Each digit on its own: 2024 → 二零二四; with ``phone``, 1 is read 幺."""
    spelled = "".join(DIGIT_WORDS[int(digit)] for digit in digits)
    return spelled.replace("一", "幺") if phone else spelled


def spell_cardinal(digits: str) -> str:
    """A whole number: "" → "", 0 and 000 → 零, 15 → 十五, 10010 → 一万零一十."""
    if not digits:
        return ""
    significant = digits.lstrip("0")
    if not significant:
        return ZERO
    words = _place_words(significant)
    if words[:2] == ["一", "十"]:
        words = words[1:]
    return "".join(words)


def _place_words(digits: str) -> list[str]:
    """Words for ``digits``, which may carry leading zeros from the split above: they say 零.

    Splitting at the largest place leaves a head (the count of that place) and a tail of
    exactly that many digits; a tail like "0005" starts with zeros, read as one 零.
    """
    significant = digits.lstrip("0")
    if not significant:
        return []
    if len(significant) == 1:
        gap = [ZERO] if len(significant) < len(digits) else []
        return [*gap, DIGIT_WORDS[int(significant)]]
    width, place = next((w, p) for w, p in _PLACES if w < len(significant))
    return [*_place_words(digits[:-width]), place, *_place_words(digits[-width:])]


def spell_number(number: str) -> str:
    """An unsigned number with an optional fraction: 12 → 十二, 0.25 → 零点二五, .5 → 零点五."""
    whole, _, fraction = number.partition(".")
    spelled = spell_cardinal(whole)
    if fraction.endswith("0"):
        fraction = fraction.rstrip("0") + "0"
    if fraction:
        spelled = (spelled or ZERO) + "点" + spell_digits(fraction)
    return spelled
