"""The text frontend end to end: mixed text, errors, ids and word2ph invariants."""

from __future__ import annotations

import pytest

from voicemill.text.frontend import split_for_synthesis, text_to_phonemes
from voicemill.text.normalize import TextError
from voicemill.text.segment import LanguageRun, split_by_language
from voicemill.text.symbols import SYMBOL_COUNT_V2, cleaned_text_to_sequence


def test_mandarin_utterance_has_ids_and_consistent_word2ph() -> None:
    result = text_to_phonemes("今天是2026年11月30日，下午3:30开会。")
    assert result.norm_text == "今天是二零二六年十一月三十日,下午三点半开会."
    assert result.word2ph is not None
    assert sum(result.word2ph) == len(result.phones)
    assert result.ids == cleaned_text_to_sequence(result.phones)
    assert all(0 <= i < SYMBOL_COUNT_V2 for i in result.ids)
    assert 86 not in result.ids  # no UNK


def test_english_utterance_has_no_word2ph() -> None:
    result = text_to_phonemes("It costs $12.50, okay?")
    assert result.word2ph is None
    assert result.norm_text == "It costs twelve dollars and fifty cents, okay?"
    assert result.phones[-1] == "?"
    assert [seg.language for seg in result.segments] == ["en"]


def test_mixed_text_is_split_by_script() -> None:
    result = text_to_phonemes("我用GPT-SoVITS训练了3个模型！")
    assert [seg.language for seg in result.segments] == ["zh", "en", "zh"]
    zh_first, en, zh_last = result.segments
    assert zh_first.phones == ("w", "o3", "y", "ong4")
    assert en.phones[:6] == ("JH", "IY1", "P", "IY1", "T", "IY1")
    assert zh_last.norm_text == "训练了三个模型!"
    assert zh_last.word2ph is not None and sum(zh_last.word2ph) == len(zh_last.phones)
    assert result.word2ph is None  # mixed: per segment only
    assert result.phones == [p for seg in result.segments for p in seg.phones]


@pytest.mark.parametrize(
    ("text", "runs"),
    [
        # A number between languages goes with the longer side, as upstream decides.
        ("iPhone 15很好", [("en", "iPhone 15"), ("zh", "很好")]),
        ("I bought 3个苹果", [("en", "I bought 3"), ("zh", "个苹果")]),
        ("我有3个apple", [("zh", "我有3个"), ("en", "apple")]),
        ("版本3.5比v2好。", [("zh", "版本3.5比"), ("en", "v"), ("zh", "2好。")]),
        ("你好, world!", [("zh", "你好, "), ("en", "world!")]),
        ("Version 2.0 is out", [("en", "Version 2.0 is out")]),
        ("123", [("zh", "123")]),
    ],
)
def test_digits_attach_to_the_surrounding_language(text: str, runs: list) -> None:
    assert split_by_language(text) == [LanguageRun(lang, chunk) for lang, chunk in runs]


def test_language_modes() -> None:
    assert text_to_phonemes("我有12个人", "zh").norm_text == "我有十二个人"
    assert text_to_phonemes("12 cats", "auto").segments[0].language == "en"
    en_only = text_to_phonemes("Hello 你好 world", "en")
    assert en_only.norm_text.split() == ["Hello", "world"]


def test_emoji_become_pauses_without_crash() -> None:
    # As upstream: an emoji is a run of its own with no words, read as a "," pause.
    result = text_to_phonemes("你好😀世界🎉 great 👍")
    assert result.norm_text == "你好世界 great "
    assert result.phones[:5] == ["n", "i2", "h", "ao3", ","]
    assert "UNK" not in result.phones


@pytest.mark.parametrize("text", ["", "   \n", "😀🎉", "!!!", "。。。", "Привет"])
def test_empty_or_unspeakable_input_is_a_clear_error(text: str) -> None:
    with pytest.raises(TextError) as info:
        text_to_phonemes(text)
    assert info.value.reason == "empty_text"


def test_unsupported_language_is_rejected() -> None:
    with pytest.raises(TextError) as info:
        text_to_phonemes("안녕하세요", "ko")
    assert info.value.reason == "unsupported_language"


def test_long_text_is_split_into_sized_sentences() -> None:
    text = (
        "Hi. This sentence is rather long, it has several clauses, and it keeps going on. "
        "Ok. 你好。我们明天早上八点在学校门口集合，请大家准时到达！"
    )
    pieces = split_for_synthesis(text, max_chars=40)
    assert pieces == [
        "Hi. This sentence is rather long,",
        "it has several clauses,",
        "and it keeps going on.",
        "Ok.你好。",
        "我们明天早上八点在学校门口集合，请大家准时到达！",
    ]
    assert all(text_to_phonemes(piece).phones for piece in pieces)
