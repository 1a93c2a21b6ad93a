"""Mandarin normalization for synthesis: hand-checked readings (upstream GPT-SoVITS's).

``tests/parity/test_parity_normalize_zh.py`` compares with upstream itself; these cases
pin the readings without the peer, one rule at a time, including the upstream quirks we
reproduce on purpose (marked "quirk").
"""

from __future__ import annotations

import pytest

from voicemill.text._zh_numerals import spell_cardinal, spell_digits, spell_number
from voicemill.text.normalize import TextError
from voicemill.text.normalize_zh import normalize_zh, upstream_normalize


@pytest.mark.parametrize(
    ("digits", "spoken"),
    [
        ("0", "零"),
        ("000", "零"),
        ("7", "七"),
        ("10", "十"),
        ("15", "十五"),
        ("110", "一百一十"),
        ("1205", "一千二百零五"),
        ("10010", "一万零一十"),
        ("100000", "十万"),
        ("100000001", "一亿零一"),
        ("", ""),
    ],
)
def test_cardinals(digits: str, spoken: str) -> None:
    assert spell_cardinal(digits) == spoken


def test_digits_and_decimals() -> None:
    assert spell_digits("2024") == "二零二四"
    assert spell_digits("110", phone=True) == "幺幺零"
    assert spell_number("3.14") == "三点一四"
    assert spell_number(".5") == "零点五"
    assert spell_number("3.500") == "三点五零"  # quirk: trailing zeros collapse to one
    assert spell_number("3.0") == "三点零"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # dates
        ("2026年11月30日", "二零二六年十一月三十日"),
        ("24年5月", "二四年五月"),
        ("2024年2月15号", "二零二四年二月十五号"),
        ("2026-11-30上线", "二零二六年十一月三十日上线"),
        ("2026/01/05", "二零二六年一月五日"),
        # times
        ("下午3:30开会", "下午三点半开会"),
        ("2:05出发", "二点零五分出发"),
        ("12:00:45", "十二点四十五秒"),
        ("9:00-17:45", "九点至十七点四十五分"),
        # money and counts
        ("100元", "一百元"),
        ("一共25元", "一共二十五元"),
        ("只要￥0.05", "只要零点零五元"),  # deliberate: currency read as its unit
        ("2个人", "两个人"),
        ("12个", "十二个"),
        ("3+个", "三多个"),
        ("20多岁", "二十多岁"),
        ("10000人", "一万人"),
        ("100000001个", "一亿零一个"),
        # percentages, fractions
        ("增长了50%", "增长了百分之五十"),
        ("下降了-2.5%", "下降了负百分之二点五"),
        ("3/4", "四分之三"),
        ("-1/2", "负二分之一"),
        # phone numbers
        ("电话13800138000", "电话幺三八零零幺三八零零零"),
        ("+8613800138000", "八六幺三八零零幺三八零零零"),
        ("座机12345678", "座机幺二三四五六七八"),
        # decimals, negatives, versions, identifiers
        ("3.14", "三点一四"),
        (".5", "零点五"),
        ("-5", "负五"),
        ("1.2.3", "一点二点三"),
        ("编号007", "编号零零七"),
        # ranges
        ("3~5个", "三到五个"),
        ("1.5~2.5", "一点五到二点五"),
        ("10%~20%", "百分之十至百分之二十"),
        # temperatures and units
        ("温度25°C", "温度二十五度"),
        ("36.8℃", "三十六点八度"),
        ("-3℃", "零下三度"),
        ("5kg", "五千克"),
        ("3.5km", "三点五千米"),
        ("10m²", "十平方米"),
        ("20cm", "二十厘米"),
        ("100ml", "一百毫升"),
        # arithmetic and powers
        ("1+1=2", "一加一等于二"),
        ("6×7", "六乘七"),
        ("8÷2", "八除二"),
        ("2¹⁰", "二的十次方"),
        # characters
        ("這個東西", "这个东西"),
        ("ＡＢＣ１２３個", "一百二十三个"),
        ("α粒子和β射线", "阿尔法粒子和贝塔射线"),
        ("①号", "一号"),
        ("km/h", "千米每"),
        # punctuation
        ("你好！！！", "你好!"),
        ("真的吗？？？", "真的吗?"),
        ("嗯，好吧……", "恩,好吧…"),
        ("等等...", "等等…"),
        ("他说：“好的。”", "他说,好的."),
        ("《三体》", "三体"),
        ("第一行\n第二行", "第一行第二行"),
        ("你好，世界！😀", "你好,世界!"),
        ("hello world", ""),
        ("", ""),
    ],
)
def test_spoken_form(text: str, expected: str) -> None:
    assert normalize_zh(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a comma splits sentences first, so thousands separators break numbers
        ("价格¥1,234.50！", "价格一,二百三十四点五零!"),
        # three or more digits without a measure word are read as an identifier
        ("价格1000", "价格幺零零零"),
        # the arithmetic rule runs before ranges and phone numbers
        ("5-10", "五减十"),
        ("电话010-12345678", "电话零幺零减幺二三四五六七八"),
        # the minus takes only the integer part
        ("-3.5", "负三零点五"),
        # a range's end reads 半 from the start's minutes
        ("8:30-9:15", "八点半至九点半"),
        # every temperature unit reads 度; an unbounded minus reads 零下
        ("25摄氏度", "二十五度"),
        ("3-5度", "三零下五度"),
        # unit symbols are replaced inside any Latin word, m before mm
        ("5mm", "五米米"),
        ("iPhone is great", "秒"),
        # ASCII ; and : are dropped without a pause
        ("今天,明天;后天", "今天,明天后天"),
    ],
)
def test_upstream_quirks_are_reproduced(text: str, expected: str) -> None:
    assert upstream_normalize(text) == expected


def test_only_hanzi_and_single_prosody_marks_remain() -> None:
    spoken = normalize_zh("Hi，你好!?…各位 ABC，#1号@～")
    assert spoken == ",你好!各位,一号…"
    assert set(spoken) <= {chr(c) for c in range(0x4E00, 0x9FA6)} | set("!?…,.-")


def test_our_readings_fix_separators_and_currency() -> None:
    assert normalize_zh("价格¥1,234.50！") == "价格一千二百三十四点五零元!"
    assert normalize_zh("营收1,234,567元") == "营收一百二十三万四千五百六十七元"
    assert normalize_zh("花了$5") == "花了五美元"
    assert normalize_zh("1,2,3") == "一,二,三"  # a list, not a number


def test_digits_of_other_scripts_are_rejected() -> None:
    with pytest.raises(TextError) as caught:
        normalize_zh("价格١٢٣元")
    assert caught.value.reason == "unsupported_digits"
