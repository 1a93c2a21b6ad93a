"""The text frontend end to end: mixed text, errors, ids and word2ph invariants."""

from __future__ import annotations

import pytest

from voicemill.text.frontend import split_for_synthesis, text_to_phonemes
from voicemill.text.normalize import TextError
from voicemill.text.segment import LanguageRun, split_by_language
from voicemill.text.symbols import SYMBOL_COUNT_V2, cleaned_text_to_sequence


def test_mandarin_utterance_has_ids_and_consistent_word2ph() -> None:
    result = text_to_phonemes("今天是2026年11月30日，下午3:30开会。")
    assert result.norm_text == "今天是二零二六年十一月三十日,下午三点三十分开会."
    assert result.word2ph is not None
    assert sum(result.word2ph) == len(result.phones)
    assert result.ids == cleaned_text_to_sequence(result.phones)
    assert all(0 <= i < SYMBOL_COUNT_V2 for i in result.ids)
    assert 86 not in result.ids  # no UNK


def test_english_utterance_has_no_word2ph() -> None:
    result = text_to_phonemes("It costs $12.50, okay?")
    assert result.word2ph is None
    assert result.norm_text == "It costs twelve dollars fifty cents, okay?"
    assert result.phones[-1] == "?"
    assert [seg.language for seg in result.segments] == ["en"]


def test_mixed_text_is_split_by_script() -> None:
    result = text_to_phonemes("我用GPT-SoVITS训练了3个模型！")
    assert [seg.language for seg in result.segments] == ["zh", "en", "zh"]
    zh_first, en, zh_last = result.segments
    assert zh_first.phones == ("w", "uo3", "y", "iong4")
    assert en.phones[:6] == ("JH", "IY1", "P", "IY1", "T", "IY1")
    assert zh_last.norm_text == "训练了三个模型!"
    assert zh_last.word2ph is not None and sum(zh_last.word2ph) == len(zh_last.phones)
    assert result.word2ph is None  # mixed: per segment only
    assert result.phones == [p for seg in result.segments for p in seg.phones]


@pytest.mark.parametrize(
    ("text", "runs"),
    [
        ("iPhone 15很好", [("en", "iPhone "), ("zh", "15很好")]),
        ("I bought 3个苹果", [("en", "I bought "), ("zh", "3个苹果")]),
        ("你好, world!", [("zh", "你好, "), ("en", "world!")]),
        ("Version 2.0 is out", [("en", "Version 2.0 is out")]),
        ("123", [(None, "123")]),
    ],
)
def test_digits_attach_to_the_surrounding_language(text: str, runs: list) -> None:
    assert split_by_language(text) == [LanguageRun(lang, chunk) for lang, chunk in runs]


def test_language_modes() -> None:
    assert text_to_phonemes("123", "zh").segments[0].norm_text == "一百二十三"
    assert text_to_phonemes("123", "auto").segments[0].language == "en"
    en_only = text_to_phonemes("Hello 你好 world", "en")
    assert en_only.norm_text == "Hello world"


def test_emoji_is_dropped_without_crash() -> None:
    result = text_to_phonemes("你好😀世界🎉 great 👍")
    assert result.norm_text == "你好 世界 great"
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
