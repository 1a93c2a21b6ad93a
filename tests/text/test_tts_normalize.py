"""Synthesis normalization: spoken words plus the v2 prosody marks, nothing else."""

from __future__ import annotations

import pytest

from voicemill.text.normalize import TextError, normalize_for_tts, normalize_text


# English synthesis text is upstream's normalization (voicemill.text.normalize_en), quirks
# included: the voices learned it. Our deliberate readings: "Dr." before a name, phone
# numbers, and a.m./p.m. after a time.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I have 3 apples.", "I have three apples."),
        # 1234 falls in upstream's year range (1001-2999)
        ("It costs $1,234.56!", "It costs twelve thirty-four dollars and fifty-six cents!"),
        ("Dr. Smith arrived at 3:30 pm.", "Doctor Smith arrived at three thirty P M."),
        ("Due 2026-11-30, really?", "Due twenty twenty-six-eleven-thirty, really?"),
        ("On November 30, 2026.", "On November thirty, twenty twenty-six."),
        ("The 21st runner", "The twenty-first runner"),
        ("We grew 50% & shipped 3.5kg", "We grew fifty percent  shipped three point fivekg"),
        ("Add 1/2 cup, then 3/4.", "Add one half cup, then three fourths."),
        ("Room #5; wait...", "Room five wait."),
        ("He said \"hi\" (twice) — ok", "He said hi twice  ok"),
        ("A well-known name", "A well-known name"),
        ("Raised $5M for 5 MB", "Raised five dollars M for five M B"),
        ("Ran 3 m at 10 km/h", "Ran three m at ten kmh"),
    ],
)  # fmt: skip
def test_english_spoken_form_keeps_prosody_marks(text: str, expected: str) -> None:
    assert normalize_for_tts(text, "en") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Upstream's readings, quirks included (第两个, 三减五): tests/parity holds us to them.
        ("2026年11月30日", "二零二六年十一月三十日"),
        ("下午3:30开会。", "下午三点半开会."),
        ("2:05出发", "二点零五分出发"),
        ("价格¥1,234.50！", "价格一千二百三十四点五零元!"),
        ("只要￥0.05", "只要零点零五元"),
        ("增长了50%", "增长了百分之五十"),
        ("温度25°C，共2个人", "温度二十五度,共两个人"),
        ("第2个", "第两个"),
        ("电话13800138000", "电话幺三八零零幺三八零零零"),
        ("零下-5度，3-5天", "零下零下五度,三减五天"),
        ("2026-11-30上线", "二零二六年十一月三十日上线"),
        ("三分之一是1/3", "三分之一是三分之一"),
        ("你好，世界！😀", "你好,世界!"),
    ],
)
def test_mandarin_spoken_form(text: str, expected: str) -> None:
    assert normalize_for_tts(text, "zh") == expected


def test_emoji_and_symbols_are_dropped_without_error() -> None:
    # As upstream: symbols vanish, their spaces stay, and a mark after a space goes too.
    assert normalize_for_tts("Great 👍🏽 job ✨!", "en") == "Great  job "


def test_comparison_normalization_is_unchanged() -> None:
    # The ASR/alignment form still lowercases and strips punctuation.
    assert normalize_text("It costs $1,234.56!", "en") == (
        "it costs one thousand two hundred and thirty four dollars fifty six cents"
    )


def test_unsupported_language_is_rejected() -> None:
    with pytest.raises(TextError) as info:
        normalize_for_tts("bonjour", "fr")
    assert info.value.reason == "unsupported_language"
