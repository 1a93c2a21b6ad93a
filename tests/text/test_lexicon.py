"""Custom lexicon: validated at load time, applied before G2P in both languages."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicemill.text.frontend import text_to_phonemes
from voicemill.text.lexicon import LexiconError, lexicon_from_mapping, load_lexicon

LEXICON_YAML = """\
version: 1
en:
  VoiceMill: "V OY1 S M IH2 L"
zh:
  行长: "xing2 chang2"
  重庆: "ch ong2 q ing4"
entries:
  GPT: "G IY1 P IY1 T IY1"
  银行: "yin2 xing2"
"""


@pytest.fixture
def lexicon_file(tmp_path: Path) -> Path:
    path = tmp_path / "lexicon.yaml"
    path.write_text(LEXICON_YAML, encoding="utf-8")
    return path


def test_load_converts_pinyin_and_keeps_symbols(lexicon_file: Path) -> None:
    lexicon = load_lexicon(lexicon_file)
    assert lexicon.chinese["行长"] == ("x", "ing2", "ch", "ang2")
    assert lexicon.chinese["重庆"] == ("ch", "ong2", "q", "ing4")
    assert lexicon.chinese["银行"] == ("y", "in2", "x", "ing2")  # flat form, hanzi → zh
    assert lexicon.english("voicemill") == ("V", "OY1", "S", "M", "IH2", "L")
    assert lexicon.english("GPT") == ("G", "IY1", "P", "IY1", "T", "IY1")


def test_lexicon_overrides_g2p_in_both_languages(lexicon_file: Path) -> None:
    lexicon = load_lexicon(lexicon_file)
    zh = text_to_phonemes("银行行长在重庆", "zh", lexicon)
    assert zh.phones == [
        "y",
        "in2",
        "x",
        "ing2",
        "x",
        "ing2",
        "ch",
        "ang2",
        "z",
        "ai4",
        "ch",
        "ong2",
        "q",
        "ing4",
    ]
    assert zh.word2ph == [2] * 7
    en = text_to_phonemes("VoiceMill uses GPT.", "en", lexicon)
    assert en.phones[:6] == ["V", "OY1", "S", "M", "IH2", "L"]
    assert en.phones[-7:] == ["G", "IY1", "P", "IY1", "T", "IY1", "."]
    # Without the lexicon the default readings come back.
    assert text_to_phonemes("银行行长", "zh").phones[:4] == ["y", "in2", "h", "ang2"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"version": 2}, "version must be 1"),
        ({"version": 1, "en": {"word": "W ER1 DD"}}, "not v2 symbols"),
        ({"version": 1, "en": {"two words": "T UW1"}}, "one word"),
        ({"version": 1, "zh": {"行长": "hang2"}}, "per character"),
        ({"version": 1, "zh": {"行长": "hang9 zhang3"}}, "not a TONE3 pinyin syllable"),
        ({"version": 1, "zh": {"行长": "h ang2 zh BAD"}}, "not v2 symbols"),
        ({"version": 1, "zh": {"abc": "a1 b1 c1"}}, "hanzi only"),
        ({"version": 1, "extra": {}}, "unknown keys"),
        ({"version": 1, "en": {"word": 5}}, "must be a string"),
        (["not", "a", "mapping"], "top level"),
    ],
)
def test_invalid_lexicons_fail_with_a_clear_reason(data: object, message: str) -> None:
    with pytest.raises(LexiconError) as info:
        lexicon_from_mapping(data)
    assert info.value.reason == "invalid_lexicon"
    assert message in info.value.detail


def test_unreadable_file_is_a_lexicon_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: [1\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="cannot read"):
        load_lexicon(bad)
    with pytest.raises(LexiconError, match="cannot read"):
        load_lexicon(tmp_path / "missing.yaml")
