"""Text normalization: what aligners and WER see must be what the speaker said."""

from __future__ import annotations

import pytest

from voicemill.text.normalize import (
    SUPPORTED_LANGUAGES,
    TextError,
    chinese_numeral,
    detect_language,
    normalize_text,
    split_sentences,
    words_for_alignment,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I have 3 apples.", "i have three apples"),
        ("It costs $12.50 today", "it costs twelve dollars fifty cents today"),
        ("A £1 coin and €3", "a one pound coin and three euros"),
        ("$5 million", "five million dollars"),
        ("We won 50% of 1,200 games", "we won fifty percent of one thousand two hundred games"),
        ("Pi is 3.14", "pi is three point one four"),
        ("The 21st and the 2nd", "the twenty first and the second"),
        (
            "Born in 1999, graduated in 2024",
            "born in nineteen ninety nine graduated in twenty twenty four",
        ),
        (
            "Dr. Smith met Mr. Jones on St. Patrick's day",
            "doctor smith met mister jones on saint patrick's day",
        ),
        ("Meet me at 3:30.", "meet me at three thirty"),
        ("Ask for No. 7 at the door", "ask for number seven at the door"),
        ("\u201cDon\u2019t stop,\u201d she said -- 'really'!", "don't stop she said really"),
        ("ＦＵＬＬ width ４２", "full width forty two"),
        ("I said no.", "i said no"),
    ],
)
def test_english_normalization(text: str, expected: str) -> None:
    assert normalize_text(text, "en") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我有3个苹果。", "我有三个苹果"),
        ("2024年，价格上涨了50%！", "二零二四年价格上涨了百分之五十"),
        ("温度是3.5度", "温度是三点五度"),
        ("他有10001元和15本书", "他有一万零一元和十五本书"),
        ("我 用 iPhone 打电话，", "我用 iphone 打电话"),
        ("Ｈｅｌｌｏ，世界！", "hello 世界"),
    ],
)
def test_mandarin_normalization(text: str, expected: str) -> None:
    assert normalize_text(text, "zh") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "零"),
        (10, "十"),
        (12, "十二"),
        (105, "一百零五"),
        (110, "一百一十"),
        (1010, "一千零一十"),
        (2000, "两千"),
        (120000, "十二万"),
        (100010000, "一亿零一万"),
    ],
)
def test_chinese_numerals(value: int, expected: str) -> None:
    assert chinese_numeral(value) == expected


def test_words_for_alignment_units() -> None:
    assert words_for_alignment("don't stop now", "en") == ["don't", "stop", "now"]
    assert words_for_alignment("我用 iphone 打电话", "zh") == [
        "我",
        "用",
        "iphone",
        "打",
        "电",
        "话",
    ]


def test_split_sentences_keeps_decimals_and_abbreviations() -> None:
    text = "Dr. Smith paid 3.5 dollars. Then he left! Did he? Yes; he did, e.g. at 5 p.m. Bye"
    assert split_sentences(text, "en") == [
        "Dr. Smith paid 3.5 dollars.",
        "Then he left!",
        "Did he?",
        "Yes;",
        "he did, e.g. at 5 p.m. Bye",
    ]


def test_split_sentences_mandarin_punctuation() -> None:
    text = "我很好。你呢？他说：“走吧！”然后走了；价格是3.5元。"
    assert split_sentences(text, "zh") == [
        "我很好。",
        "你呢？",
        "他说：“走吧！”",
        "然后走了；",
        "价格是3.5元。",
    ]


def test_split_sentences_handles_runs_and_missing_final_stop() -> None:
    assert split_sentences("Really?! Yes... maybe", "en") == ["Really?!", "Yes...", "maybe"]


def test_detect_language() -> None:
    assert detect_language("我用iPhone打电话") == "zh"
    assert detect_language("The meeting is at noon, 你好") == "en"
    with pytest.raises(TextError) as err:
        detect_language("123 !!!")
    assert err.value.reason == "empty_text"


def test_unsupported_language_is_a_coded_error() -> None:
    assert frozenset({"en", "zh"}) == SUPPORTED_LANGUAGES
    with pytest.raises(TextError) as err:
        normalize_text("Bonjour", "fr")
    assert err.value.reason == "unsupported_language"
