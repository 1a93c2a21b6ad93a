"""The rewrite rules that turn numbers, dates, units and symbols into Mandarin words.

``rewrite_sentence`` applies them in a fixed order, one sentence at a time. The order is
part of the behaviour: a rule only sees what earlier rules left, so dates go before
plain numbers, ranges before negative numbers, and measure words before bare digits.
Every rule mirrors upstream GPT-SoVITS's Mandarin normalizer (parity): the patterns,
their order and their quirks are facts we match, not choices; the quirks that read
wrongly are listed in the docstrings of the rules that cause them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from voicemill.text._zh_numerals import (
    DIGIT_WORDS,
    ZERO,
    spell_cardinal,
    spell_digits,
    spell_number,
)

# Pieces the patterns share. A signed number is "-3", "12.5"; a bare fraction ".5" is also a
# number to several rules.
_SIGNED = r"-?\d+(?:\.\d+)?"
_NUMBER_OR_FRACTION = rf"(?:{_SIGNED}|\.\d+)"
_SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ"


def _signed(number: str) -> str:
    """A number that may start with a minus: -3.5 → 负三点五."""
    return ("负" if number.startswith("-") else "") + spell_number(number.removeprefix("-"))


# ----------------------------------------------------------------------------- dates

# 2024年3月15日, 24年, 2024年3月, 2024年15号: a two- or four-digit year, then an optional
# month and an optional day (with 日 or 号). Nothing bounds the year, so 12345年 reads its
# last four digits as the year.
_DATE = re.compile(
    r"(?P<year>\d{4}|\d{2})年"
    r"(?:(?P<month>0?[1-9]|1[0-2])月)?"
    r"(?:(?P<day>0?[1-9]|[12][0-9]|30|31)(?P<day_word>[日号]))?"
)
# 2024-03-15, 2024/03/15, 2024.03.15: four-digit year, zero-padded month and day, the
# same separator twice. (Upstream also allows a space, which cannot reach the rules: the
# sentence splitter drops ASCII spaces.)
_NUMERIC_DATE = re.compile(
    r"(?P<year>\d{4})(?P<sep>[-/.])(?P<month>0[1-9]|1[012])(?P=sep)"
    r"(?P<day>0[1-9]|[12][0-9]|3[01])"
)


def _say_date(match: re.Match[str]) -> str:
    """Year digit by digit (二零二四年), month and day as numbers (三月十五日)."""
    spoken = spell_digits(match["year"]) + "年"
    if match["month"]:
        spoken += spell_cardinal(match["month"]) + "月"
    if match["day"]:
        spoken += spell_cardinal(match["day"]) + match["day_word"]
    return spoken


def _say_numeric_date(match: re.Match[str]) -> str:
    year, month, day = match["year"], match["month"], match["day"]
    return f"{spell_digits(year)}年{spell_cardinal(month)}月{spell_cardinal(day)}日"


# ----------------------------------------------------------------------------- clock times


def _clock(tag: str) -> str:
    """H:MM with optional :SS; hours 0-23 (one digit or two), minutes and seconds 00-59."""
    return (
        rf"(?P<hour{tag}>[0-1]?[0-9]|2[0-3])"
        rf":(?P<minute{tag}>[0-5][0-9])"
        rf"(?::(?P<second{tag}>[0-5][0-9]))?"
    )


# 8:30-12:00 or 8:30~12:00; matched before single times so that the range reads 至.
_TIME_RANGE = re.compile(_clock("") + "[~-]" + _clock("_end"))
_TIME = re.compile(_clock(""))


def _say_minutes(two_digits: str) -> str:
    """05 → 零五, 45 → 四十五: a leading zero is spoken, as on a clock."""
    padding = ZERO if two_digits.startswith("0") else ""
    return padding + spell_cardinal(two_digits.lstrip("0"))


def _say_clock(hour: str, minute: str, second: str | None, *, half_past: bool) -> str:
    """八点, 八点半, 八点零五分, 八点十分三十秒: zero minutes and seconds are not said."""
    spoken = spell_cardinal(hour) + "点"
    if minute.lstrip("0"):
        spoken += "半" if half_past else _say_minutes(minute) + "分"
    if second and second.lstrip("0"):
        spoken += _say_minutes(second) + "秒"
    return spoken


def _say_time(match: re.Match[str]) -> str:
    """A time or a time range (至 between the ends).

    Upstream decides 半 for the end of a range from the *start's* minutes, so 8:30-9:15
    reads 八点半至九点半 and 8:15-9:30 reads 八点十五分至九点三十分; we match it.
    """
    half_past = int(match["minute"]) == 30
    spoken = _say_clock(match["hour"], match["minute"], match["second"], half_past=half_past)
    if "hour_end" in match.re.groupindex:
        end = _say_clock(
            match["hour_end"], match["minute_end"], match["second_end"], half_past=half_past
        )
        spoken += "至" + end
    return spoken


# ----------------------------------------------------------------------------- units

# Unit symbols a ``~`` range may carry on both ends (10%~20%, 1.5m~2m); the order of the
# alternatives is upstream's.
_RANGE_UNITS = "%|°C|℃|度|摄氏度|cm2|cm²|cm3|cm³|cm|db|ds|kg|km|m2|m²|m³|m3|ml|m|mm|s"
# number+unit ~ number+unit: the tilde alone becomes 至 (other tildes end up as pauses).
_UNIT_RANGE = re.compile(
    rf"{_NUMBER_OR_FRACTION}(?:{_RANGE_UNITS})~{_NUMBER_OR_FRACTION}(?:{_RANGE_UNITS})"
)

# -3°C → 零下三度. Nothing bounds the minus, so the second end of "3-5度" reads as below
# zero (三零下五度), as upstream does.
_TEMPERATURE = re.compile(r"(?P<minus>-?)(?P<value>\d+(?:\.\d+)?)(?:°C|℃|度|摄氏度)")


def _say_temperature(match: re.Match[str]) -> str:
    """Every unit reads 度: upstream means to keep 摄氏度 but tests the wrong group, so
    25摄氏度 reads 二十五度; we match it."""
    below_zero = "零下" if match["minus"] else ""
    return below_zero + spell_number(match["value"]) + "度"


# Unit symbols replaced wherever they occur, in this order (longer symbols first where one
# contains another). Upstream replaces them as plain substrings, digits or not: the m and
# s of any Latin word become 米 and 秒, and because m goes before mm, 5mm reads 五米米.
_MEASURES: tuple[tuple[str, str], ...] = (
    ("cm2", "平方厘米"),
    ("cm²", "平方厘米"),
    ("cm3", "立方厘米"),
    ("cm³", "立方厘米"),
    ("cm", "厘米"),
    ("db", "分贝"),
    ("ds", "毫秒"),
    ("kg", "千克"),
    ("km", "千米"),
    ("m2", "平方米"),
    ("m²", "平方米"),
    ("m³", "立方米"),
    ("m3", "立方米"),
    ("ml", "毫升"),
    ("m", "米"),
    ("s", "秒"),
)


def _say_measures(sentence: str) -> str:
    for symbol, word in _MEASURES:
        sentence = sentence.replace(symbol, word)
    return sentence


# ----------------------------------------------------------------------------- arithmetic

# An operand: a signed number, a bare fraction or one Latin letter, each optionally raised
# to a superscript power (x², 2¹⁰).
_OPERAND = (
    rf"(?:-?\d+(?:\.\d+)?[{_SUPERSCRIPTS}]*|\.\d+[{_SUPERSCRIPTS}]*|[A-Za-z][{_SUPERSCRIPTS}]*)"
)
_ARITHMETIC = re.compile(rf"(?P<left>{_OPERAND})(?P<operator>[-+×÷=])(?P<right>{_OPERAND})")
_OPERATOR_WORDS = {"+": "加", "-": "减", "×": "乘", "÷": "除", "=": "等于"}


def _say_operator(match: re.Match[str]) -> str:
    """Only the operator is spoken here; the operands stay for the number rules."""
    return match["left"] + _OPERATOR_WORDS[match["operator"]] + match["right"]


def _say_arithmetic(sentence: str) -> str:
    """1+2=3 → 1加2等于3. A match consumes its right operand, so "1+2+3" needs a second
    pass for "2+3"; passes repeat until no operator between operands is left."""
    while True:
        sentence, count = _ARITHMETIC.subn(_say_operator, sentence)
        if not count:
            return sentence


_POWER = re.compile(f"[{_SUPERSCRIPTS}]+")
_POWER_DIGITS = str.maketrans(_SUPERSCRIPTS, "0123456789xyn")


def _say_power(match: re.Match[str]) -> str:
    """x² → x的2次方 (the exponent's digits are read by the number rules later)."""
    return "的" + match[0].translate(_POWER_DIGITS) + "次方"


# ----------------------------------------------------------------------------- fractions, %

_FRACTION = re.compile(r"(?P<minus>-?)(?P<numerator>\d+)/(?P<denominator>\d+)")


def _say_fraction(match: re.Match[str]) -> str:
    """3/4 → 四分之三 (the denominator is said first)."""
    minus = "负" if match["minus"] else ""
    return f"{minus}{spell_number(match['denominator'])}分之{spell_number(match['numerator'])}"


_PERCENTAGE = re.compile(r"(?P<minus>-?)(?P<value>\d+(?:\.\d+)?)%")


def _say_percentage(match: re.Match[str]) -> str:
    return ("负" if match["minus"] else "") + "百分之" + spell_number(match["value"])


# ----------------------------------------------------------------------------- phone numbers

# Chinese mobile numbers (11 digits from 13x, 15x, 17x, 18x, 19x prefixes), optionally
# after +86 (upstream also allows a space after it, which cannot reach the rules); not
# inside a longer run of digits.
_MOBILE = re.compile(r"(?<!\d)(?:\+?86)?1(?:[38]\d|5[0-35-9]|7[678]|9[89])\d{8}(?!\d)")
# Landlines: an optional area code (010, 02x, 0xxx) and a 7- or 8-digit number. Any lone
# 7- or 8-digit integer matches too, so it is read digit by digit like a phone number.
_LANDLINE = re.compile(r"(?<!\d)(?:0(?:10|2[1-3]|[3-9]\d{2})-?)?[1-9]\d{6,7}(?!\d)")
# 400 service numbers: 400-xxx-xxxx, dashes optional.
_SERVICE_NUMBER = re.compile(r"400-?\d{3}-?\d{4}")
_PHONE_PAUSE = "，"


def _say_mobile(match: re.Match[str]) -> str:
    """Digit by digit with 幺 for 1, the country code run into the number."""
    return spell_digits(match[0].removeprefix("+"), phone=True)


def _say_phone(match: re.Match[str]) -> str:
    """Digit by digit with 幺 for 1; each dash becomes a pause."""
    return _PHONE_PAUSE.join(spell_digits(part, phone=True) for part in match[0].split("-"))


# ----------------------------------------------------------------------------- numbers

# 5-10, 1.5~2, -3-3: two numbers joined by - or ~ read 到, unless an operator or a digit
# touches either end (then the minus is arithmetic or a sign).
_RANGE = re.compile(rf"(?<![\d+\-×÷=])(?P<first>{_SIGNED})[-~](?P<second>{_SIGNED})(?![\d+\-×÷=])")


def _say_range(match: re.Match[str]) -> str:
    return _signed(match["first"]) + "到" + _signed(match["second"])


# A minus before digits: 负. Only the integer part is taken, so upstream reads -3.5 as
# 负三 followed by the bare fraction .5 (零点五): 负三零点五; we match it.
_NEGATIVE = re.compile(r"-(?P<digits>\d+)")


def _say_negative(match: re.Match[str]) -> str:
    return "负" + spell_cardinal(match["digits"])


# 1.2.3, 10.0.1.5: three or more dotted parts, each digit read on its own (一点二点三).
_VERSION = re.compile(r"\d+\.\d+(?:\.\d+)?(?:\.\d+)+")


def _say_version(match: re.Match[str]) -> str:
    return "".join("点" if char == "." else DIGIT_WORDS[int(char)] for char in match[0])


# A number with a fraction (3.14, .5); the plain-number pattern also takes integers.
_DECIMAL = re.compile(r"-?\d+\.\d+|\.\d+")
_PLAIN_NUMBER = re.compile(_NUMBER_OR_FRACTION)


def _say_number(match: re.Match[str]) -> str:
    return _signed(match[0])


# Measure words (classifiers, units of length, weight, time, money) after which digits are
# a count: 3个 → 三个, 2个 → 两个, 5+个 → 五多个. Upstream lists whole words; only their first
# characters matter to the match, except for the words below whose first character is not a
# measure word by itself (微克 but not 微, 十吨 but not 十).
_MEASURE_CHARS = (
    "处台架枚趟幅平方堵间床株批项例列篇栋注亩封艘把目套段人所朵匹张座回场尾条个首阙阵网炮"
    "顶丘棵只支袭辆挑担颗壳窠曲墙群腔砣客贯扎捆刀令打手罗坡山岭江溪钟队单双对出口头脚板跳"
    "枝件贴针线管名位身堂课本页家户层丝毫厘分钱两斤铢石钧锱忽千寸尺丈里寻常铺程米撮勺合升"
    "斗盘碗碟叠桶笼盆盒杯斛锅簋篮罐瓶壶卮盏箩箱煲啖袋钵年月日季刻时周天秒旬纪岁世更夜春夏"
    "秋冬代伏辈丸泡粒幢堆根道面片块元亿万百吨角毛"
)
_MEASURE_WORDS = ("微克", "微米", "公分", "小时", "美元", "十吨")
_COUNT = re.compile(
    rf"(?P<digits>\d+)(?P<about>[多余几+])?(?=[{_MEASURE_CHARS}]|{'|'.join(_MEASURE_WORDS)})"
)


def _say_count(match: re.Match[str]) -> str:
    """A count reads 两 for exactly two; "+" after a count means 多 (more than)."""
    count = spell_cardinal(match["digits"])
    about = match["about"] or ""
    return ("两" if count == "二" else count) + ("多" if about == "+" else about)


# Three or more digits left over (no measure word after them): an identifier, read digit by
# digit with 幺, as upstream does even for amounts (价格1000 → 价格幺零零零).
_LONG_DIGITS = re.compile(r"\d{3,}")


def _say_long_digits(match: re.Match[str]) -> str:
    return spell_digits(match[0], phone=True)


# ----------------------------------------------------------------------------- the order

_Rewrite = Callable[[str], str]


def _rule(pattern: re.Pattern[str], say: Callable[[re.Match[str]], str]) -> _Rewrite:
    return lambda sentence: pattern.sub(say, sentence)


_RULES: tuple[_Rewrite, ...] = (
    _rule(_DATE, _say_date),
    _rule(_NUMERIC_DATE, _say_numeric_date),
    _rule(_TIME_RANGE, _say_time),
    _rule(_TIME, _say_time),
    _rule(_UNIT_RANGE, lambda match: match[0].replace("~", "至")),
    _rule(_TEMPERATURE, _say_temperature),
    _say_measures,
    _say_arithmetic,
    _rule(_POWER, _say_power),
    _rule(_FRACTION, _say_fraction),
    _rule(_PERCENTAGE, _say_percentage),
    _rule(_MOBILE, _say_mobile),
    _rule(_LANDLINE, _say_phone),
    _rule(_SERVICE_NUMBER, _say_phone),
    _rule(_RANGE, _say_range),
    _rule(_NEGATIVE, _say_negative),
    _rule(_VERSION, _say_version),
    _rule(_DECIMAL, _say_number),
    _rule(_COUNT, _say_count),
    _rule(_LONG_DIGITS, _say_long_digits),
    _rule(_PLAIN_NUMBER, _say_number),
)


def rewrite_sentence(sentence: str) -> str:
    """All rules, in order, over one sentence of simplified, half-width text."""
    for rewrite in _RULES:
        sentence = rewrite(sentence)
    return sentence
