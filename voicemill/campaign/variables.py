"""Typed campaign variables: what a spec declares its recipients' columns to be, how each
value is checked, and how it is spoken.

Untyped, a cell is text and the normalizer guesses: ``amount=NaN`` is read "NaN
dollars", ``due_date=31/31/2026`` as three numbers, ``<speak><break time='10s'/>``
word by word. A spec may therefore declare its variables::

    variables:
      first_name: {type: name, max_length: 40}
      amount: {type: currency, currency: USD, min: 0, max: 100000}
      due_date: {type: date}                 # ISO 2026-03-05, or format: "%d/%m/%Y"
      phone: {type: phone}
      promo: {type: text, required: false, pattern: "[A-Z0-9]{4,12}"}

Every row is checked against the declarations before rendering; a value that is
missing (when required), out of range, too long, not matching its pattern, or not a
value of its type at all rejects the row with ``invalid_variable`` naming the column
and why. Typed values then reach the template *spoken*, the way a person reads them in
the campaign's language: currency with its unit and cents ("twelve dollars and fifty
cents", "十二元五角"), dates as dates ("March fifth, twenty twenty-six", "二零二六年三月五日"),
times as times, phone numbers digit by digit, e-mail addresses with "at" and "dot".
A template says ``Your balance is {{ amount }}.``, not ``{{ amount }} dollars``.

Markup is never spoken: a value holding a tag (``<break/>``), an entity (``&amp;``) or
template syntax (``{{``, ``{%``) is rejected in every column the template reads,
declared or not.

Checks run inside the render process (:mod:`.render_process`), under its CPU and memory
limits: a spec's ``pattern`` is a regular expression from an inbox drop, and a
catastrophic one must cost its row, not the campaign.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from voicemill.campaign.errors import CampaignError

__all__ = ["CURRENCIES", "VariableSpec", "check_markup", "spoken_value"]

VariableType = Literal[
    "text", "name", "integer", "decimal", "currency", "date", "time", "phone", "email"
]


class Currency(NamedTuple):
    """How a currency's amounts are spoken; ``digits`` is its minor unit's precision."""

    en: tuple[str, str]  # unit, plural
    en_minor: tuple[str, str]
    zh: str
    zh_minor: str  # "" for CNY: 角 and 分
    ja: str
    ja_minor: str
    digits: int


CURRENCIES: dict[str, Currency] = {
    "USD": Currency(("dollar", "dollars"), ("cent", "cents"), "美元", "美分", "ドル", "セント", 2),
    "EUR": Currency(("euro", "euros"), ("cent", "cents"), "欧元", "欧分", "ユーロ", "セント", 2),
    "GBP": Currency(("pound", "pounds"), ("penny", "pence"), "英镑", "便士", "ポンド", "ペンス", 2),
    "CNY": Currency(("yuan", "yuan"), ("fen", "fen"), "元", "", "元", "分", 2),
    "JPY": Currency(("yen", "yen"), ("", ""), "日元", "", "円", "", 0),
}
_MARKUP_RE = re.compile(
    r"<\s*/?\s*[A-Za-z!?][^>]*>|&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z]+);|\{\{|\{%|\{#"
)
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}$")
_PHONE_RE = re.compile(r"^\+?[0-9][0-9 ().-]{4,24}[0-9]$")
_INTEGER_RE = re.compile(r"^[+-]?\d{1,18}$")
_DECIMAL_RE = re.compile(r"^[+-]?\d{1,15}(?:\.\d{1,6})?$")
_TIME_RE = re.compile(r"^(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)$")
_MAX_DIGITS = 15  # amounts beyond a quadrillion are data errors, not messages


class VariableSpec(BaseModel):
    """One declared variable (a recipients column the templates read)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: VariableType = "text"
    required: bool = True
    min: float | None = Field(None, description="integer/decimal/currency: smallest value")
    max: float | None = Field(None, description="integer/decimal/currency: largest value")
    max_length: int = Field(200, ge=1, le=10_000)
    pattern: str | None = Field(None, max_length=500, description="full-match regex")
    currency: str = Field("USD", description="currency: ISO code")
    format: str = Field("%Y-%m-%d", max_length=40, description="date: strptime format")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a regular expression: {exc}") from exc
        return pattern

    @model_validator(mode="after")
    def _consistent(self) -> VariableSpec:
        if self.currency not in CURRENCIES:
            raise ValueError(f"currency {self.currency!r} is not one of {sorted(CURRENCIES)}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) exceeds max ({self.max})")
        return self


def check_markup(name: str, value: str) -> None:
    """``invalid_variable`` when ``value`` holds a tag, an entity or template syntax."""
    match = _MARKUP_RE.search(value)
    if match is not None:
        raise _invalid(name, f"holds markup {match.group(0)[:40]!r}, which is never spoken")


def spoken_value(name: str, value: str | None, spec: VariableSpec, language: str) -> str | None:
    """The checked value as it is spoken (None for an absent optional one).

    Raises ``CampaignError("invalid_variable")`` naming ``name`` and the problem.
    ``language`` is the spec's (``en``, ``zh``, ``ja``, ``auto``; ``auto`` speaks
    English forms, which the frontend reads in any script).
    """
    if value is None or not value.strip():
        if spec.required:
            raise _invalid(name, "is required and empty")
        return None
    value = value.strip()
    check_markup(name, value)
    if len(value) > spec.max_length:
        raise _invalid(name, f"has {len(value)} characters (at most {spec.max_length})")
    if spec.pattern is not None and re.fullmatch(spec.pattern, value) is None:
        raise _invalid(name, f"{_show(value)} does not match the declared pattern")
    speak = _SPEAKERS[spec.type]
    return speak(
        name, value, spec, "zh" if language == "zh" else "ja" if language == "ja" else "en"
    )


# ----------------------------------------------------------------------------- per type


def _text(name: str, value: str, spec: VariableSpec, language: str) -> str:
    return value


def _integer(name: str, value: str, spec: VariableSpec, language: str) -> str:
    compact = value.replace(",", "").replace("_", "")
    if not _INTEGER_RE.match(compact):
        raise _invalid(name, f"{_show(value)} is not a whole number")
    number = int(compact)
    _check_range(name, Decimal(number), spec)
    return _say_integer(number, language)


def _decimal(name: str, value: str, spec: VariableSpec, language: str) -> str:
    number = _parse_decimal(name, value)
    _check_range(name, number, spec)
    whole, _, fraction = format(number, "f").lstrip("-").partition(".")
    sign = number < 0
    spoken = _say_integer(int(whole), language)
    if fraction and fraction.strip("0"):
        digits = fraction.rstrip("0")
        if language == "zh":
            spoken += "点" + "".join(_zh_digit(int(d)) for d in digits)
        elif language == "ja":
            spoken = format(number, "f")
        else:
            spoken += " point " + " ".join(_en_number(int(d)) for d in digits)
    if sign and language != "ja":
        spoken = ("负" if language == "zh" else "minus ") + spoken
    return spoken


def _currency(name: str, value: str, spec: VariableSpec, language: str) -> str:
    number = _parse_decimal(name, value.lstrip("$€£¥"))
    _check_range(name, number, spec)
    money = CURRENCIES[spec.currency]
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > money.digits:
        raise _invalid(name, f"{_show(value)} has more decimals than {spec.currency} allows")
    if number < 0:
        raise _invalid(name, f"{_show(value)} is a negative amount")
    whole = int(number)
    cents = int((number - whole) * (10**money.digits))
    if language == "zh":
        if not money.zh_minor:  # CNY: 元, 角, 分
            jiao, fen = divmod(cents, 10)
            parts = [chinese_amount(whole) + money.zh] if whole or not cents else []
            parts += [chinese_amount(jiao) + "角"] if jiao else []
            parts += (
                [("零" if whole and not jiao else "") + chinese_amount(fen) + "分"] if fen else []
            )
            return "".join(parts)
        parts = [chinese_amount(whole) + money.zh] if whole or not cents else []
        return "".join(parts + ([chinese_amount(cents) + money.zh_minor] if cents else []))
    if language == "ja":  # the Japanese frontend reads digits itself
        parts = [f"{whole}{money.ja}"] if whole or not cents else []
        return "".join(parts + ([f"{cents}{money.ja_minor}"] if cents else []))
    words = [f"{_en_number(whole)} {money.en[whole != 1]}"] if whole or not cents else []
    if cents:
        words.append(f"{_en_number(cents)} {money.en_minor[cents != 1]}")
    return " and ".join(words)


def _date(name: str, value: str, spec: VariableSpec, language: str) -> str:
    try:
        day = dt.datetime.strptime(value, spec.format).date()
    except ValueError:
        raise _invalid(name, f"{_show(value)} is not a date ({spec.format})") from None
    if language == "zh":
        year = "".join(_zh_digit(int(d)) for d in str(day.year))
        return f"{year}年{chinese_amount(day.month)}月{chinese_amount(day.day)}日"
    if language == "ja":
        return f"{day.year}年{day.month}月{day.day}日"
    from num2words import num2words

    ordinal = num2words(day.day, to="ordinal")
    return f"{day.strftime('%B')} {ordinal}, {num2words(day.year, to='year')}"


def _time(name: str, value: str, spec: VariableSpec, language: str) -> str:
    match = _TIME_RE.match(value)
    if match is None:
        raise _invalid(name, f"{_show(value)} is not a time (HH:MM, 24-hour)")
    hour, minute = int(match["h"]), int(match["m"])
    if language == "zh":
        return f"{chinese_amount(hour)}点" + (f"{chinese_amount(minute)}分" if minute else "整")
    if language == "ja":
        return f"{hour}時" + (f"{minute}分" if minute else "")
    period = "a.m." if hour < 12 else "p.m."
    twelve = hour % 12 or 12
    if minute == 0:
        return f"{_en_number(twelve)} o'clock {period}"
    minutes = _en_number(minute) if minute >= 10 else f"oh {_en_number(minute)}"
    return f"{_en_number(twelve)} {minutes} {period}"


def _phone(name: str, value: str, spec: VariableSpec, language: str) -> str:
    if not _PHONE_RE.match(value) or sum(ch.isdigit() for ch in value) < 5:
        raise _invalid(name, f"{_show(value)} is not a phone number")
    groups = re.findall(r"\d+", value)
    plus = value.startswith("+")
    if language == "zh":
        spoken = "，".join(
            "".join("幺" if d == "1" else _zh_digit(int(d)) for d in g) for g in groups
        )
        return ("加" if plus else "") + spoken
    if language == "ja":
        return ("+" if plus else "") + "、".join(groups)
    digit_names = ("oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    spoken = ", ".join(" ".join(digit_names[int(d)] for d in g) for g in groups)
    return ("plus " if plus else "") + spoken


def _email(name: str, value: str, spec: VariableSpec, language: str) -> str:
    if not _EMAIL_RE.match(value) or ".." in value:
        raise _invalid(name, f"{_show(value)} is not an e-mail address")
    local, domain = value.split("@")
    if language == "zh":  # Latin runs are read in English by the frontend
        return f"{local.replace('.', '点')}艾特{domain.replace('.', '点')}"
    return f"{local.replace('.', ' dot ')} at {domain.replace('.', ' dot ')}"


_SPEAKERS = {
    "text": _text,
    "name": _text,
    "integer": _integer,
    "decimal": _decimal,
    "currency": _currency,
    "date": _date,
    "time": _time,
    "phone": _phone,
    "email": _email,
}


# ----------------------------------------------------------------------------- helpers


def _invalid(name: str, problem: str) -> CampaignError:
    return CampaignError("invalid_variable", f"variable {name!r} {problem}")


def _show(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


def _parse_decimal(name: str, value: str) -> Decimal:
    compact = value.replace(",", "")
    if not _DECIMAL_RE.match(compact):  # also refuses NaN, inf, 1e400 and hex
        raise _invalid(name, f"{_show(value)} is not a number")
    number = Decimal(compact)
    if len(str(int(abs(number)))) > _MAX_DIGITS:
        raise _invalid(name, f"{_show(value)} has more than {_MAX_DIGITS} digits")
    return number


def _check_range(name: str, number: Decimal, spec: VariableSpec) -> None:
    try:
        value = float(number)
    except (OverflowError, InvalidOperation):
        raise _invalid(name, "is out of range") from None
    if not math.isfinite(value):
        raise _invalid(name, "is not a finite number")
    if spec.min is not None and value < spec.min:
        raise _invalid(name, f"is {number}, below the minimum {spec.min:g}")
    if spec.max is not None and value > spec.max:
        raise _invalid(name, f"is {number}, above the maximum {spec.max:g}")


def _en_number(value: int) -> str:
    from num2words import num2words

    return num2words(value)


def _say_integer(value: int, language: str) -> str:
    if language == "zh":
        return chinese_amount(value)
    if language == "ja":
        return str(value)
    return ("minus " if value < 0 else "") + _en_number(abs(value))


def chinese_amount(value: int) -> str:
    """An integer in Chinese numerals (a quantity: 2 is 二 alone, 两 before a unit)."""
    from voicemill.text.normalize import chinese_numeral

    return chinese_numeral(value)


def _zh_digit(digit: int) -> str:
    return "零一二三四五六七八九"[digit]
