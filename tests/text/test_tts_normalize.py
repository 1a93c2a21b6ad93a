"""Synthesis normalization: spoken words plus the v2 prosody marks, nothing else."""

from __future__ import annotations

import pytest

from voicemill.text.normalize import TextError, normalize_for_tts, normalize_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I have 3 apples.", "I have three apples."),
        ("It costs $1,234.56!", "It costs one thousand two hundred and thirty four dollars "
         "fifty six cents!"),
        ("Dr. Smith arrived at 3:30 pm.", "doctor Smith arrived at three thirty P M."),
        ("Due 2026-11-30, really?", "Due November thirtieth, twenty twenty six, really?"),
        ("On November 30, 2026.", "On November thirtieth, twenty twenty six."),
        ("The 21st runner", "The twenty first runner"),
        ("We grew 50% & shipped 3.5kg", "We grew fifty percent and shipped three point five "
         "kilograms"),
        ("Add 1/2 cup, then 3/4.", "Add one half cup, then three quarters."),
        ("Room #5; wait...", "Room number five, wait…"),
        ("He said \"hi\" (twice) — ok", "He said hi, twice, ok"),
        ("A well-known name", "A well known name"),
        ("Raised $5M for 5 MB", "Raised five million dollars for five megabytes"),
        ("Ran 3 m at 10 km/h", "Ran three meters at ten kilometers per hour"),
    ],
)  # fmt: skip
def test_english_spoken_form_keeps_prosody_marks(text: str, expected: str) -> None:
    assert normalize_for_tts(text, "en") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026年11月30日", "二零二六年十一月三十日"),
        ("下午3:30开会。", "下午三点三十分开会."),
        ("2:05出发", "两点零五分出发"),
        ("价格¥1,234.50！", "价格一千二百三十四元五角!"),
        ("只要￥0.05", "只要五分"),
        ("增长了50%", "增长了百分之五十"),
        ("温度25°C，共2个人", "温度二十五摄氏度,共两个人"),
        ("第2个", "第二个"),
        ("电话13800138000", "电话一三八零零一三八零零零"),
        ("零下-5度，3-5天", "零下负五度,三到五天"),
        ("2026-11-30上线", "二零二六年十一月三十日上线"),
        ("三分之一是1/3", "三分之一是三分之一"),
        ("你好，世界！😀", "你好,世界!"),
    ],
)
def test_mandarin_spoken_form(text: str, expected: str) -> None:
    assert normalize_for_tts(text, "zh") == expected


def test_emoji_and_symbols_are_dropped_without_error() -> None:
    assert normalize_for_tts("Great 👍🏽 job ✨!", "en") == "Great job!"


def test_comparison_normalization_is_unchanged() -> None:
    # The ASR/alignment form still lowercases and strips punctuation.
    assert normalize_text("It costs $1,234.56!", "en") == (
        "it costs one thousand two hundred and thirty four dollars fifty six cents"
    )


def test_unsupported_language_is_rejected() -> None:
    with pytest.raises(TextError) as info:
        normalize_for_tts("bonjour", "fr")
    assert info.value.reason == "unsupported_language"
