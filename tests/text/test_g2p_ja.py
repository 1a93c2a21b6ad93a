"""Japanese through pyopenjtalk-plus (the ``ja`` extra, installed in dev/CI): phones,
pitch marks, word2ph, kanji/kana segmentation, lexicon readings and errors."""

from __future__ import annotations

import sys

import pytest

from voicemill.text.frontend import text_to_phonemes
from voicemill.text.g2p_ja import japanese_g2p, normalize_japanese
from voicemill.text.lexicon import LexiconError, lexicon_from_mapping
from voicemill.text.normalize import TextError
from voicemill.text.segment import LanguageRun, split_by_language
from voicemill.text.symbols import cleaned_text_to_sequence, is_symbol


def _ja(text: str) -> tuple[list[str], list[int]]:
    return japanese_g2p(normalize_japanese(text))


@pytest.mark.parametrize(
    ("text", "phones"),
    [
        # espnet's documented g2p_prosody example, without its ^ and $ edges
        ("こんにちは", "k o [ N n i ch i w a"),
        ("学校", "g a [ cl k o o"),  # っ-like geminate is cl
        ("です", "d e ] s u"),  # devoiced U written lower-case, as upstream
        ("東京", "t o [ o ky o o"),
        ("ｶﾀｶﾅ", "k a [ t a k a ] n a"),  # half-width katakana read after NFKC
    ],
)
def test_simple_words_give_the_upstream_phones(text: str, phones: str) -> None:
    assert _ja(text)[0] == phones.split()


def test_accent_phrase_border_is_unk_as_upstream_v2_saw_it() -> None:
    phones, _ = _ja("今日は良い天気ですね")
    assert " ".join(phones) == "ky o ] o w a UNK y o ] i UNK t e ] N k i d e s u n e"
    assert "#" not in phones


@pytest.mark.parametrize(
    "text",
    [
        "東京タワーに行きましょう、ね？",
        "ちょっと待ってください。",
        "ヴァイオリンとテュ",
        "あのー…はい!",
    ],
)
def test_every_phone_is_a_v2_symbol_and_word2ph_covers_the_phones(text: str) -> None:
    norm_text = normalize_japanese(text)
    phones, word2ph = japanese_g2p(norm_text)
    assert all(is_symbol(phone) for phone in phones)
    assert sum(word2ph) == len(phones)
    assert len(word2ph) == len(norm_text)
    assert "[" in phones or "]" in phones


def test_punctuation_becomes_v2_marks_like_zh_and_en() -> None:
    assert normalize_japanese("「はい」、そうです。") == "はい,そうです."
    phones, word2ph = _ja("はい、そうです！")
    assert phones[phones.index(",") - 1] == "i"
    assert phones[-1] == "!"
    assert word2ph[2] == 1  # the mark


@pytest.mark.parametrize(
    ("text", "norm_text", "phones"),
    [
        ("1,000円", "1000円", "s e [ N e N"),
        ("３.５キロ", "3.5キロ", "s a [ N t e N UNK g o ] k i r o"),
        ("５０％", "50パーセント", "g o [ j u cl p a a s e ] N t o"),
        ("¥300", "300円", "s a [ N by a k u e N"),
    ],
)
def test_numbers_are_read_by_openjtalk(text: str, norm_text: str, phones: str) -> None:
    assert normalize_japanese(text) == norm_text
    assert japanese_g2p(norm_text)[0] == phones.split()


@pytest.mark.parametrize(
    ("text", "runs"),
    [
        (
            "東京タワーでiPhoneを買った",
            [("ja", "東京タワーで"), ("en", "iPhone"), ("ja", "を買った")],
        ),
        ("今日は晴れ。我们去公园吧。", [("ja", "今日は晴れ。"), ("zh", "我们去公园吧。")]),
        ("こんにちは, 世界", [("ja", "こんにちは, 世界")]),  # kanji in a kana clause
        ("我喜欢东京", [("zh", "我喜欢东京")]),  # kanji without kana stay Mandarin
        ("東京，大阪です", [("zh", "東京，"), ("ja", "大阪です")]),  # ， is zh-only
        ("りんごを3個ください", [("ja", "りんごを3個ください")]),
    ],
)
def test_auto_mode_tells_japanese_kanji_by_kana_in_the_clause(text: str, runs: list) -> None:
    assert split_by_language(text) == [LanguageRun(lang, chunk) for lang, chunk in runs]


def test_auto_mode_mixes_ja_en_and_zh_segments() -> None:
    result = text_to_phonemes("今日はGPTで話します。我们去公园吧。")
    assert [seg.language for seg in result.segments] == ["ja", "en", "ja", "zh"]
    ja_first = result.segments[0]
    assert ja_first.word2ph is not None and sum(ja_first.word2ph) == len(ja_first.phones)
    assert result.word2ph is None  # mixed: per segment only
    assert result.phones == [p for seg in result.segments for p in seg.phones]
    assert result.ids == cleaned_text_to_sequence(result.phones)


def test_explicit_ja_reads_all_cjk_as_japanese() -> None:
    assert text_to_phonemes("東京").segments[0].language == "zh"
    result = text_to_phonemes("東京", "ja")
    assert result.phones == ["t", "o", "[", "o", "ky", "o", "o"]
    assert result.word2ph == [7, 0]
    mixed = text_to_phonemes("Hello 世界 123", "ja")
    assert [seg.language for seg in mixed.segments] == ["en", "ja"]
    assert mixed.segments[1].norm_text == "世界123"


def test_ja_lexicon_reading_replaces_the_word() -> None:
    lexicon = lexicon_from_mapping({"version": 1, "ja": {"東京": "ニシキョウ"}})
    assert lexicon.japanese == {"東京": "ニシキョウ"}
    result = text_to_phonemes("東京に行く", "ja", lexicon)
    assert result.phones[:5] == ["n", "i", "[", "sh", "i"]
    assert sum(result.word2ph or ()) == len(result.phones)
    flat = lexicon_from_mapping({"version": 1, "entries": {"ｶﾅ": "かな"}})
    assert flat.japanese == {"カナ": "かな"}  # kana keys are ja, NFKC-normalized
    with pytest.raises(LexiconError, match="reading in hiragana or katakana"):
        lexicon_from_mapping({"version": 1, "ja": {"東京": "tokyo"}})


@pytest.mark.parametrize("text", ["", "  ", "😀🎉", "。。。", "「」"])
def test_empty_or_unspeakable_japanese_is_a_clear_error(text: str) -> None:
    with pytest.raises(TextError) as info:
        text_to_phonemes(text, "ja")
    assert info.value.reason == "empty_text"


def test_missing_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyopenjtalk", None)  # makes the import fail
    with pytest.raises(TextError) as info:
        text_to_phonemes("こんにちは")
    assert info.value.reason == "missing_extra"
    assert "pip install 'voicemill[ja]'" in info.value.detail
    assert text_to_phonemes("你好").phones  # zh and en do not need it
