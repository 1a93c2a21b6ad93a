"""Parity: ``normalize_zh`` gives upstream's ``chinese2.text_normalize`` string for every input.

The inputs are hand-picked cases for each rule (including the quirks we match on
purpose) plus seeded random ones: templates that put dates, times, numbers, units,
operators and phone numbers side by side, and short strings drawn from the characters
the rules react to. ``zh_cases(seed, count)`` is also what a larger differential run
uses (thousands of inputs, same generator, other seeds).
"""

from __future__ import annotations

import random
from typing import Any, Protocol

import pytest

from voicemill.text.normalize import TextError
from voicemill.text.normalize_zh import normalize_zh, our_readings, upstream_normalize


class Peer(Protocol):
    """The ``peer`` fixture (tests/parity/conftest.py); it raises a RuntimeError where
    upstream raised."""

    def call(self, op: str, **args: Any) -> Any: ...


HAND_PICKED: tuple[str, ...] = (
    # sentences, quotes, brackets, spaces, newlines
    "你好",
    "",
    "  ",
    "你好，世界！今天天气怎么样？",
    "他说：“好的。”然后走了",
    "《三体》【推荐】（科幻）",
    "第一行\n第二行\n\n第三行",
    "a b c 你 好",
    "你好\u3000世界",
    "+86\u300013812345678",
    "2024\u300003\u300015",
    "５０％，－３",
    "一、二；三：四,五;六?七!八’九",
    # traditional and full-width
    "這個東西很貴，還是買吧",
    "臺灣的電腦",
    "乾杯，於是",
    "ＡＢＣ１２３個",
    "全角：２０２４年３月",
    # dates
    "2024年3月15日",
    "24年",
    "2024年",
    "2024年12月",
    "2024年2月30号",
    "12345年",
    "2024年13月",
    "2024-03-15上线",
    "2024/03/15",
    "2024.03.15",
    "2024-3-15",
    "2024-03/15",
    "2020-2021年",
    # times
    "下午3:30开会",
    "08:05:09",
    "23:59",
    "24:00",
    "12:00:00",
    "8:30-12:00",
    "8:30-9:15",
    "8:15-9:30",
    "9:00~17:30",
    "123:45",
    # ranges with ~ and units, temperatures, units
    "10%~20%",
    "1.5m~2m",
    "3cm~5cm",
    "-3°C",
    "25℃",
    "36.5度",
    "零下-5度",
    "3-5度",
    "25摄氏度",
    "5kg",
    "3km",
    "10cm2",
    "10m²",
    "5ml",
    "5mm",
    "30s",
    "80db",
    "iPhone is great",
    # arithmetic and powers
    "1+2=3",
    "1+2+3+4",
    "3×4÷2",
    "-1+2",
    "x²+y²=z²",
    "2¹⁰",
    "a-b",
    "10-5",
    "=",
    "+5",
    # fractions and percentages
    "1/2",
    "-3/4",
    "1/2/3",
    "50%",
    "12.5%",
    "-5%",
    "km/h",
    # phone numbers
    "13812345678",
    "+86 13812345678",
    "+8613812345678",
    "电话010-12345678",
    "0101234567",
    "12345678",
    "1234567",
    "400-123-4567",
    "4001234567",
    # numbers
    "5-10",
    "5~10",
    "1.5~2.5",
    "-3",
    "-3.5",
    "1.2.3",
    "10.0.1.5",
    "3.14",
    ".5",
    "3.0",
    "3.500",
    "2个",
    "12个",
    "02个",
    "5+个",
    "3多人",
    "10余年",
    "5微克",
    "5十吨",
    "5十",
    "3小时",
    "100美元",
    "价格1000",
    "1000元",
    "100000001",
    "10010",
    "1,234",
    "1,234,567.89",
    "0",
    "00",
    "10",
    "110",
    "¥100",
    "$5",
    # symbols and marks
    "α β γ Ω",
    "①②③④⑤⑥⑦⑧⑨⑩",
    "嗯……好吧...真的？！",
    "呣呣呣～就是…大人的鼹鼠党吧？",
    "啊——但是《原神》是由,米哈\\游自主，研发的",
    "每天~每夜",
    "a·b·c",
    "好!!!??",
    "😀你好",
)

# Pieces the random templates join: each exercises one rule or sits between rules.
_WORDS = ("今天", "价格", "我们", "共", "大约", "電話", "溫度", "第", "版本", "从", "到", "是")
_SEPARATORS = ("", "", "", "，", "。", "、", " ", "-", "~", "/", "：", ":", "！", "\n", "\u3000")


def _number(rng: random.Random) -> str:
    digits = str(rng.choice((0, 1, 2, 7, 10, 12, 20, 99, 100, 101, 1000, 1010, 10000)))
    if rng.random() < 0.5:
        digits = str(rng.randrange(10 ** rng.randint(1, 12)))
    if rng.random() < 0.15:
        digits = "0" * rng.randint(1, 2) + digits
    if rng.random() < 0.3:
        digits += "." + str(rng.randrange(10 ** rng.randint(1, 3))).zfill(rng.randint(1, 3))
    if rng.random() < 0.2:
        digits = "-" + digits
    return digits


def _piece(rng: random.Random) -> str:
    """One fragment: a number in some role, a date, a time, a phone number, a word."""
    n = _number(rng)
    kind = rng.randrange(16)
    if kind == 0:
        return f"{rng.randint(1900, 2099)}年{rng.randint(1, 13)}月{rng.randint(0, 32)}日"
    if kind == 1:
        sep = rng.choice("-/. ")
        return (
            f"{rng.randint(1900, 2099)}{sep}{rng.randint(1, 12):02d}{sep}{rng.randint(1, 31):02d}"
        )
    if kind == 2:
        clock = f"{rng.randint(0, 25)}:{rng.randint(0, 59):02d}"
        return clock + (f":{rng.randint(0, 59):02d}" if rng.random() < 0.3 else "")
    if kind == 3:
        return n + rng.choice(("%", "°C", "℃", "度", "摄氏度", "cm", "kg", "m²", "m", "s", "mm"))
    if kind == 4:
        return n + rng.choice("+-×÷=") + _number(rng)
    if kind == 5:
        return n + rng.choice(
            ("个", "人", "元", "块", "多个", "余年", "+个", "几天", "小时", "十吨")
        )
    if kind == 6:
        return f"{rng.randint(0, 99)}/{rng.randint(1, 99)}"
    if kind == 7:
        prefix = rng.choice(("", "+86", "+86 ", "86"))
        return prefix + "1" + rng.choice("3578934") + str(rng.randrange(10**9)).zfill(9)
    if kind == 8:
        area = rng.choice(("", "010-", "021", "0755-", "0571"))
        return area + str(rng.randint(1, 9)) + str(rng.randrange(10**7)).zfill(rng.choice((6, 7)))
    if kind == 9:
        return "400" + rng.choice(("-", "")) + "123" + rng.choice(("-", "")) + "4567"
    if kind == 10:
        return ".".join(str(rng.randint(0, 12)) for _ in range(rng.randint(2, 4)))
    if kind == 11:
        return n + rng.choice("²³¹⁰ⁿ")
    if kind == 12:
        return rng.choice("αβγΔθλμπσΣφωΩ①⑤⑩xyzAB")
    if kind == 13:
        return rng.choice(_WORDS)
    if kind == 14:
        return n + rng.choice("-~") + _number(rng) + rng.choice(("", "%", "度", "个", "m"))
    return n


# Characters the rules react to, for short random strings.
_SOUP = "0123456789０１２３-~.:/%+×÷=年月日号点度个两℃°Cmskgc²³ⁿ，。、！？…,;?! \u3000嗯電话αx"


def zh_cases(seed: int, count: int) -> list[str]:
    """``count`` random inputs: mostly joined template pieces, some character soup."""
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        if rng.random() < 0.25:
            cases.append("".join(rng.choice(_SOUP) for _ in range(rng.randint(1, 14))))
            continue
        parts = []
        for _ in range(rng.randint(1, 4)):
            parts.append(_piece(rng))
            parts.append(rng.choice(_SEPARATORS))
        cases.append("".join(parts))
    return cases


def _upstream(peer: Peer, text: str) -> str | None:
    """Upstream's string, or None where upstream raises."""
    try:
        return peer.call("text.normalize", text=text, language="zh")
    except RuntimeError:
        return None


def _ours(text: str) -> str | None:
    try:
        return upstream_normalize(text)
    except TextError:
        return None


def test_hand_picked_inputs_match_upstream(peer: Peer) -> None:
    mismatches = [
        (text, expected, got)
        for text in HAND_PICKED
        if (expected := _upstream(peer, text)) != (got := _ours(text))
    ]
    assert not mismatches


@pytest.mark.parametrize("seed", [0, 1])
def test_random_inputs_match_upstream(peer: Peer, seed: int) -> None:
    mismatches = [
        (text, expected, got)
        for text in zh_cases(seed, 150)
        if (expected := _upstream(peer, text)) != (got := _ours(text))
    ]
    assert not mismatches


def test_digits_of_other_scripts_fail_in_both(peer: Peer) -> None:
    for text in ("٣个", "价格١٢٣", "२०२४年"):
        with pytest.raises(RuntimeError, match="KeyError"):
            peer.call("text.normalize", text=text, language="zh")
        with pytest.raises(TextError, match="unsupported_digits"):
            normalize_zh(text)


@pytest.mark.parametrize(
    "text", ["营收是1,234,567元。", "一共是￥128。", "花了$5.5", "价格¥1,234.50！", "共12,000人"]
)
def test_our_readings_are_the_only_difference(peer: Peer, text: str) -> None:
    """Deliberate readings (README): they change the text, and only they differ from upstream."""
    assert our_readings(text) != text
    assert normalize_zh(text) != _upstream(peer, text)
    assert normalize_zh(text) == upstream_normalize(our_readings(text))
