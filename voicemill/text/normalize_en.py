"""English text normalization for synthesis, equal to upstream's except where noted.

The pretrained voices were trained on text that upstream GPT-SoVITS's English
normalizer (``english.text_normalize``) produced, so :func:`normalize_en` reproduces
it rule by rule (tests/parity compares the two on a few hundred inputs): numbers,
ordinals, years, clock times, units, pounds and dollars, decimals, fractions and
arithmetic are spelled with ``inflect`` exactly as upstream words them ("twelve
dollars and fifty-six cents", "nineteen eighty-four"), accents are stripped, every
character but ASCII letters, spaces and ``' . , ? ! -`` is dropped, capitals inside
a word start a new one ("iPhone" -> "i Phone", "GPT" -> "G P T") and runs of marks
collapse to their first.

That includes upstream's quirks, kept on purpose because the voices learned them:
``;`` and ``:`` outside clock times vanish instead of pausing, a bare time gets
"a.m."/"p.m." appended, "1. " is read as the ordinal "first,", a minus sign glued to
a number eats the space before it ("was -5" -> "wasnegative five"), and line breaks
are dropped (words on either side join).

Three readings differ deliberately; they run first, as a separate pre-pass
(:func:`our_readings`), each a small function saying why:

* "Dr." is "doctor" before a name and "drive" after a street name (upstream always
  reads the dictionary's "drive");
* phone numbers are read digit by digit in their groups (upstream reads cardinals);
* "a.m."/"p.m." after a time are spelled once, upper-case, as "A M"/"P M" (upstream
  reads "3:30 p.m." as "three thirty a.m. p.m.", the letters as "uh em").

Where upstream's normalizer raises, we go on: an amount with a stray comma ("$,5"),
a bracket before "5$", and numbers past ``inflect``'s range (10**33 and up, read
digit by digit) still give text.

A :class:`~.lexicon.Lexicon` passed in keeps its words whole: the capital split
leaves "VoiceMill" alone when the lexicon has it, so its entry still applies in G2P.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voicemill.text.lexicon import Lexicon


def normalize_en(text: str, lexicon: Lexicon | None = None) -> str:
    """Spoken form of English ``text`` for :func:`~.g2p_en.english_g2p`."""
    return upstream_normalize(our_readings(text), lexicon)


# ----------------------------------------------------------------- deliberate readings


def our_readings(text: str) -> str:
    """The readings where we deliberately differ from upstream, applied first."""
    text = split_long_digit_runs(text)
    text = read_phone_numbers(text)
    text = read_clock_periods(text)
    return read_dr(text)


_DIGIT_NAMES = ("oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_SEP = r"[ .-]"
_PHONE_RE = re.compile(
    r"(?<![\w+.,])(?:"
    # +1 555 123 4567, +44 (20) 7946-0958 style: a country code, then three groups
    rf"\+\d{{1,3}}{_SEP}?(?:\(\d{{2,4}}\)|\d{{2,4}}){_SEP}?\d{{3,4}}{_SEP}\d{{4}}"
    # (555) 123-4567
    rf"|\(\d{{3}}\) ?\d{{3}}{_SEP}\d{{4}}"
    # 555-123-4567, 555.123.4567
    r"|\d{3}([.-])\d{3}\1\d{4}"
    # 555-0123: a seven-digit local number (exchanges never start with 0 or 1); not
    # a range of round numbers such as 200-1000
    r"|(?!\d00-\d*00\b)[2-9]\d{2}-\d{4}"
    r")(?![\w]|[.,-]\d)"
)


_LONG_DIGITS_RE = re.compile(r"[0-9]{34,}")


def split_long_digit_runs(text: str) -> str:
    """Digits past inflect's range (34 and more in a row) as single digits.

    Upstream reads them one by one as well (its number speller gives up there), but
    only after its currency patterns (``[0-9.,]*[0-9]+£``) backtrack over the run in
    cubic time: 2,000 digits took 20 s, so one row of a campaign could stall a run.
    Split first, the words are the same and the cost linear."""
    return _LONG_DIGITS_RE.sub(lambda m: " ".join(m[0]), text)


def read_phone_numbers(text: str) -> str:
    """Phone numbers digit by digit, zero as "oh", a comma between digit groups.

    "555-0123" -> "five five five, oh one two three". Upstream reads the groups as
    cardinals ("five hundred fifty-five-one hundred twenty-three"), which nobody says.
    The comma gives the short pause people make between groups. "+" is "plus".
    Recognised: "+1 555 123 4567" (a country code and three groups), "(555) 123-4567",
    "555-123-4567" / "555.123.4567", and "555-0123" (but not round ranges: "200-1000").
    """

    def spoken(match: re.Match[str]) -> str:
        groups = [" ".join(_DIGIT_NAMES[int(d)] for d in g) for g in re.findall(r"\d+", match[0])]
        prefix = "plus " if match[0].startswith("+") else ""
        return prefix + ", ".join(groups)

    return _PHONE_RE.sub(spoken, text)


_CLOCK_PERIOD_RE = re.compile(
    r"(?<![\w:.])(?:(?P<hour>[01]?\d|2[0-3]):(?P<minute>[0-5]\d)|(?P<bare>1[0-2]|0?[1-9]))"
    r"\s*(?P<period>[AaPp])\.?[Mm](?!\w)(?P<dot>\.)?"
)


def read_clock_periods(text: str) -> str:
    """A time or an hour with a.m./p.m. ("3:30 p.m.", "3pm", "11 AM") read once, right.

    Upstream's clock rule appends its own guess ("a.m." before noon) and then the
    written period follows, so "3:30 p.m." becomes "three thirty a.m. p.m.", both
    read as "uh em"/"pee em" words. We say the hour and minutes as upstream words them
    ("three thirty"; "eleven" alone at :00, where upstream says "o'clock") and the
    letters as capitals so the G2P spells them: "three thirty P M". A final period
    stays when it also ends the sentence.
    """

    def spoken(match: re.Match[str]) -> str:
        hour = int(match["hour"] or match["bare"])
        hour = hour - 12 if hour > 12 else hour or 12
        words = spell_number(hour)
        if match["minute"] and int(match["minute"]):
            words += " " + spell_number(int(match["minute"]))
        rest = match.string[match.end() :].lstrip()
        ends_sentence = bool(match["dot"]) and (not rest or rest[0].isupper())
        return f"{words} {match['period'].upper()} M" + ("." if ends_sentence else "")

    return _CLOCK_PERIOD_RE.sub(spoken, text)


_DR_RE = re.compile(r"\b(?P<dr>Dr|dr)\b(?P<dot>\.)?")
_STREET_NUMBER_RE = re.compile(r"\d+\s+(?:[A-Z][\w']*\s+)*$")
_CAPITALISED_WORD_RE = re.compile(r"(?P<word>[A-Z][\w']*)\s+$")
_NAME_AFTER_RE = re.compile(r"\s*[A-Z][a-z]")
# Capitalised words that start a sentence before a title, never a street name.
_NOT_STREET_NAMES = frozenset(
    {"The", "A", "An", "My", "Your", "Our", "His", "Her", "Their", "This", "That", "Dear",
     "Ask", "Call", "See", "Visit", "Meet", "Thanks", "Thank", "Hi", "Hello", "Hey"}
)  # fmt: skip


def read_dr(text: str) -> str:
    """ "Dr." as "doctor" before a name ("Dr. Smith"), "drive" after a street name.

    Upstream reads the dictionary's first entry, "drive", even in "Dr. Smith". Ours
    reads a street after a house number ("12 Elm Dr.") and after a capitalised word
    inside a sentence ("along Mulholland Dr."); a capitalised word that opens the
    sentence is a street name too ("Mulholland Dr. is long") unless a name follows
    ("Ask Dr. Lee") or it is a word such as "The" or "Dear". Everything else is
    "doctor" ("Dr. Smith", "the dr. said"). The period goes with a title (kept at the
    very end of the text); after a street it stays where it also ends the sentence.
    """

    def spoken(match: re.Match[str]) -> str:
        before, after = match.string[: match.start()], match.string[match.end() :]
        capital = match["dr"][0] == "D"
        if _is_street(before, after):
            word = "Drive" if capital else "drive"
            rest = after.lstrip()
            ends_sentence = bool(match["dot"]) and (not rest or rest[0].isupper())
            return word + ("." if ends_sentence else "")
        at_end = bool(match["dot"]) and not after.strip()
        return ("Doctor" if capital else "doctor") + ("." if at_end else "")

    return _DR_RE.sub(spoken, text)


def _is_street(before: str, after: str) -> bool:
    if _STREET_NUMBER_RE.search(before):
        return True
    previous = _CAPITALISED_WORD_RE.search(before)
    if previous is None or previous["word"] in _NOT_STREET_NAMES:
        return False
    head = before[: previous.start()].rstrip()
    first_of_sentence = not head or head[-1] in ".!?"
    return not first_of_sentence or not _NAME_AFTER_RE.match(after)


# ---------------------------------------------------------- upstream-equivalent rules


@cache
def inflect_engine() -> Any:
    """``inflect``'s engine, which spells numbers exactly as upstream's normalizer."""
    import inflect

    return inflect.engine()


_DIGITS_SPOKEN = ("zero", *_DIGIT_NAMES[1:])
_INFLECT_MAX_DIGITS = 33  # number_to_words stops below 10**33 (decillions)


def spell_number(value: int | str, **options: Any) -> str:
    """``inflect``'s ``number_to_words``; past its range (10**33 and up), where
    upstream's normalizer crashes, the digits one by one so the text is still read."""
    import inflect

    digits = re.findall(r"[0-9]", str(value))
    if len(digits) > _INFLECT_MAX_DIGITS:  # decided up front: inflect's own refusal of a
        return " ".join(_DIGITS_SPOKEN[int(d)] for d in digits)  # long number is cubic
    try:
        return inflect_engine().number_to_words(value, **options)
    except inflect.NumOutOfRangeError:
        return " ".join(_DIGITS_SPOKEN[int(d)] for d in digits)


def upstream_normalize(text: str, lexicon: Lexicon | None = None) -> str:
    """Upstream's ``text_normalize``, rule for rule, in its order."""
    text = _full_width_marks(text)
    text = _LIST_NUMBER_RE.sub(_list_number, text)
    while _ARITHMETIC_RE.search(text):
        text = _ARITHMETIC_RE.sub(_arithmetic, text)
    text = _NEGATIVE_RE.sub(_negative, text)
    text = _GROUPED_NUMBER_RE.sub(lambda m: m[1].replace(",", ""), text)
    text = _CLOCK_RE.sub(_clock, text)
    text = _MEASUREMENT_RE.sub(_measurement, text)
    text = _POUNDS_BEFORE_RE.sub(lambda m: _money(m[1], _POUND_UNITS), text)
    text = _POUNDS_AFTER_RE.sub(lambda m: _money(m[1], _POUND_UNITS), text)
    text = _DOLLARS_BEFORE_RE.sub(lambda m: _money(m[1], _DOLLAR_UNITS), text)
    text = _DOLLARS_AFTER_RE.sub(lambda m: _money(m[1], _DOLLAR_UNITS), text)
    text = _DECIMAL_RE.sub(_decimal, text)
    text = _FRACTION_RE.sub(_fraction, text)
    text = _ORDINAL_RE.sub(lambda m: spell_number(m[0]), text)
    text = _NUMBER_RE.sub(_number, text)
    text = _strip_accents(text)
    text = text.replace("%", " percent")
    text = _DROPPED_RE.sub("", text)
    text = re.sub(r"(?i)i\.e\.", "that is", text)
    text = re.sub(r"(?i)e\.g\.", "for example", text)
    text = _split_capitals(text, lexicon)
    return _MARK_RUN_RE.sub(r"\1", text)


def _full_width_marks(text: str) -> str:
    """。！？ as . ! ? (upstream's map also lists ; : ， ； " ’ for "," and "'", but
    as escaped patterns that never match, so those are dropped later instead)."""
    return text.replace("。", ".").replace("！", "!").replace("？", "?")


# "3. " at a list item or sentence end: the ordinal followed by a pause ("third, ").
_LIST_NUMBER_RE = re.compile(r"\b([0-9]+)\. ")


def _list_number(match: re.Match[str]) -> str:
    return inflect_engine().ordinal(match[1]) + ", "


# Operand, spaced operator, operand. An operand is a number (optionally signed,
# decimal, with superscripts), a bare decimal, or a single letter, so "a - b" and
# even the last letter of "word - word" count.
_SUPERSCRIPTS = "[⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*"
_OPERAND = rf"(?:-?\d+(?:\.\d+)?{_SUPERSCRIPTS}|\.\d+{_SUPERSCRIPTS}|[A-Za-z]{_SUPERSCRIPTS})"
_ARITHMETIC_RE = re.compile(rf"(?P<left>{_OPERAND})\s+(?P<op>[+\-×÷=])\s+(?P<right>{_OPERAND})")
_OPERATORS = {"+": " plus ", "-": " minus ", "×": " times ", "÷": " divided by ", "=": " Equals "}


def _arithmetic(match: re.Match[str]) -> str:
    return match["left"] + _OPERATORS[match["op"]] + match["right"]


# A minus sign at the start or after whitespace; the whitespace goes with it.
_NEGATIVE_RE = re.compile(r"(?:^|\s+)(-)(\d+)")


def _negative(match: re.Match[str]) -> str:
    return f"negative {match[2]}"


_GROUPED_NUMBER_RE = re.compile(r"([0-9][0-9\,]+[0-9])")

_CLOCK_RE = re.compile(r"\b([01]?[0-9]|2[0-3]):([0-5][0-9])\b")


def _clock(match: re.Match[str]) -> str:
    hours, minutes = int(match[1]), int(match[2])
    period = "a.m." if hours < 12 else "p.m."
    if hours > 12:
        hours -= 12
    if minutes == 0:
        return f"{spell_number(hours)} o'clock {period}"
    return f"{spell_number(hours)} {spell_number(minutes)} {period}"


_UNITS: dict[str, tuple[str, str]] = {
    "m": ("meter", "meters"),
    "km": ("kilometer", "kilometers"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "ft": ("feet", "feet"),
    "L": ("liter", "liters"),
    "tbsp": ("tablespoon", "tablespoons"),
    "tsp": ("teaspoon", "teaspoons"),
    "h": ("hour", "hours"),
    "min": ("minute", "minutes"),
    "s": ("second", "seconds"),
    "°C": ("degree celsius", "degrees celsius"),
    "°F": ("degree fahrenheit", "degrees fahrenheit"),
}
# In this order: "5km/h" stops at "km" (the word boundary after it holds).
_MEASUREMENT_RE = re.compile(
    r"\b([0-9]+(\.[0-9]+)?(" + "|".join(re.escape(unit) for unit in _UNITS) + r"))\b"
)


def _measurement(match: re.Match[str]) -> str:
    """A number glued to a unit; singular only for a whole 1 ("1.0m" is plural)."""
    unit = match[3]
    value = int(match[1].replace(unit, "").replace(".", ""))
    name = _UNITS[unit][0 if match[2] is None and value == 1 else 1]
    return match[1].replace(unit, " " + name)


_POUNDS_BEFORE_RE = re.compile(r"£([0-9\.\,]*[0-9]+)")
_POUNDS_AFTER_RE = re.compile(r"([0-9\.\,]*[0-9]+)£")
_DOLLARS_BEFORE_RE = re.compile(r"\$([0-9\.\,]*[0-9]+)")
# Upstream's pattern also admits "(" here ("(5$"), where its reading then fails;
# we leave the bracket out and read the amount.
_DOLLARS_AFTER_RE = re.compile(r"([0-9\.\,]*[0-9]+)\$")
_POUND_UNITS = ("pound", "pounds", "penny", "pence")
_DOLLAR_UNITS = ("dollar", "dollars", "cent", "cents")


def _money(amount: str, units: tuple[str, str, str, str]) -> str:
    """ "12.5" -> "12 dollars and 50 cents"; the numbers are spelled by a later rule.

    A stray comma ("$,5"), which makes upstream's ``int()`` fail, is ignored.
    """
    parts = amount.split(".")
    if len(parts) > 2:
        return f"{amount} {units[1]}"
    whole = int(parts[0].replace(",", "")) if parts[0].strip(",") else 0
    cents = (
        int(parts[1].replace(",", "").ljust(2, "0"))
        if len(parts) > 1 and parts[1].strip(",")
        else 0
    )
    whole_text = f"{whole} {units[0] if whole == 1 else units[1]}"
    cents_text = f"{cents} {units[2] if cents == 1 else units[3]}"
    if whole and cents:
        return f"{whole_text} and {cents_text}"
    if whole:
        return whole_text
    if cents:
        return cents_text
    return f"zero {units[1]}"


_DECIMAL_RE = re.compile(r"([0-9]+\.\s*[0-9]+)")


def _decimal(match: re.Match[str]) -> str:
    """ "13.25" -> "13 point 2 5": digits after the point one by one."""
    whole, fraction = match[1].split(".")
    return whole + " point " + " ".join(fraction)


_FRACTION_RE = re.compile(r"([0-9]+/[0-9]+)")


def _fraction(match: re.Match[str]) -> str:
    """Cardinal over ordinal ("three fourths"), halves for 2, the numerator alone for 1."""
    numerator, denominator = map(int, match[0].split("/"))
    top = spell_number(numerator)
    if denominator == 1:
        return top
    if denominator == 2:
        return f"{top} {'half' if numerator == 1 else 'halves'}"
    bottom = inflect_engine().ordinal(spell_number(denominator))
    return f"{top} {bottom}{'s' if numerator > 1 else ''}"


_ORDINAL_RE = re.compile(r"[0-9]+(st|nd|rd|th)")
_NUMBER_RE = re.compile(r"[0-9]+")


def _number(match: re.Match[str]) -> str:
    """Cardinals without "and"; 1001-2999 read as years ("nineteen eighty-four")."""
    value = int(match[0])
    if not 1000 < value < 3000:
        return spell_number(value, andword="")
    if value == 2000:
        return "two thousand"
    if 2000 < value < 2010:
        return "two thousand " + spell_number(value % 100)
    if value % 100 == 0:
        return spell_number(value // 100) + " hundred"
    return spell_number(value, andword="", zero="oh", group=2).replace(", ", " ")


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


_DROPPED_RE = re.compile(r"[^ A-Za-z'.,?!-]")
_CAPITAL_RE = re.compile(r"(?<!^)(?<![\s])([A-Z])")
_WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


def _split_capitals(text: str, lexicon: Lexicon | None) -> str:
    """A space before every capital not at the start or after a space: "iPhone" ->
    "i Phone", "USA" -> "U S A". Words the lexicon knows keep their inner capitals."""
    if lexicon is None:
        return _CAPITAL_RE.sub(r" \1", text)
    kept = [
        (m.start() + 1, m.end())
        for m in _WORD_RE.finditer(text)
        if lexicon.english(m[0]) is not None
    ]

    def space(match: re.Match[str]) -> str:
        inside = any(start <= match.start() < end for start, end in kept)
        return match[0] if inside else " " + match[0]

    return _CAPITAL_RE.sub(space, text)


# A mark (or space) followed by more marks keeps only the first: "!!" -> "!", " ," -> " ".
_MARKS = "!?…,.-"
_MARK_RUN_RE = re.compile(rf"([{re.escape(_MARKS)}\s])([{re.escape(_MARKS)}])+")
