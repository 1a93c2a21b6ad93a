"""Mandarin G2P: opencpop-strict initials/finals, polyphones, sandhi, erhua, word2ph.

Expectations are upstream GPT-SoVITS's phones (tests/parity compares with its code).
"""

from __future__ import annotations

import pytest

from voicemill.text.g2p_zh import chinese_g2p, syllable_phones
from voicemill.text.lexicon import lexicon_from_mapping
from voicemill.text.symbols import is_symbol


@pytest.mark.parametrize(
    ("syllable", "phones"),
    [
        ("zhang3", ("zh", "ang3")),
        ("an1", ("AA", "an1")),
        ("er2", ("EE", "er2")),
        ("ou1", ("OO", "ou1")),
        ("yi1", ("y", "i1")),
        ("ya1", ("y", "a1")),
        ("you3", ("y", "ou3")),
        ("yu2", ("y", "v2")),
        ("yuan2", ("y", "van2")),
        ("yan4", ("y", "En4")),
        ("ye3", ("y", "E3")),
        ("yao4", ("y", "ao4")),
        ("yong3", ("y", "ong3")),
        ("wu3", ("w", "u3")),
        ("wei4", ("w", "ei4")),
        ("wo3", ("w", "o3")),
        ("shi4", ("sh", "ir4")),
        ("zi5", ("z", "i05")),
        ("ju2", ("j", "v2")),
        ("xue2", ("x", "ve2")),
        ("lv4", ("l", "v4")),
        ("nve4", ("n", "ve4")),
        ("gui4", ("g", "ui4")),
    ],
)
def test_syllables_map_to_v2_symbols(syllable: str, phones: tuple[str, str]) -> None:
    assert syllable_phones(syllable) == phones
    assert all(is_symbol(phone) for phone in phones)


def test_bad_syllable_is_rejected() -> None:
    with pytest.raises(ValueError):
        syllable_phones("hang9")


def _pinyin(text: str) -> str:
    phones, _ = chinese_g2p(text)
    return " ".join(phones)


def test_polyphones_follow_word_context() -> None:
    assert _pinyin("银行") == "y in2 h ang2"
    assert _pinyin("行长") == "h ang2 zh ang3"
    assert _pinyin("他行走") == "t a1 x ing2 z ou3"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("你好", "n i2 h ao3"),  # 3-3 sandhi
        ("很好", "h en2 h ao3"),
        ("不是", "b u2 sh ir4"),  # 不 before a 4th tone
        ("不去", "b u2 q v4"),  # across jieba words
        ("去不去", "q v4 b u5 q v4"),
        ("一样", "y i2 y ang4"),
        ("一天", "y i4 t ian1"),
        ("第一", "d i4 y i1"),
        ("十一", "sh ir2 y i1"),
        ("看一看", "k an4 y i5 k an4"),
        ("我的", "w o3 d e5"),
        ("走了", "z ou3 l e5"),
        ("朋友们", "p eng2 y ou5 m en5"),
    ],
)
def test_tone_sandhi(text: str, expected: str) -> None:
    assert _pinyin(text) == expected


def test_erhua_takes_the_previous_tone_but_stays_a_syllable() -> None:
    phones, word2ph = chinese_g2p("小院儿")
    assert phones == ["x", "iao3", "y", "van4", "EE", "er4"]
    assert word2ph == [2, 2, 2]
    assert chinese_g2p("哪儿")[0][-1] == "er3"
    # Listed words keep er2, as upstream's list has them (女儿 "daughter", 花儿 too).
    assert chinese_g2p("女儿")[0][-1] == "er2"
    assert chinese_g2p("花儿")[0][-1] == "er2"


def test_zero_initial_syllables_use_the_written_final() -> None:
    assert " ".join(chinese_g2p("我要用有问样")[0]) == "w o3 y ao4 y ong4 y ou3 w en4 y ang4"
    assert " ".join(chinese_g2p("爱鹅欧")[0]) == "AA ai4 EE e2 OO ou1"


def test_unreadable_syllables_become_unknown_symbols_not_a_crash() -> None:
    # pypinyin reads 嗯 as a syllabic n, which has no opencpop symbols (upstream crashes).
    phones, word2ph = chinese_g2p("嗯,好")
    assert phones[:2] == ["UNK", "UNK"] and word2ph == [2, 1, 2]


def test_lexicon_words_are_not_sandhied_and_block_cross_word_sandhi() -> None:
    lexicon = lexicon_from_mapping({"version": 1, "zh": {"雨伞": "yu3 san3"}})
    phones, word2ph = chinese_g2p("雨伞", lexicon)
    assert phones == ["y", "v3", "s", "an3"]  # verbatim: no 3-3 sandhi inside
    assert word2ph == [2, 2]
    assert chinese_g2p("雨伞", None)[0][1] == "v2"


def test_word2ph_counts_two_per_hanzi_and_one_per_mark() -> None:
    phones, word2ph = chinese_g2p("银行行长说,你好!")
    assert word2ph == [2, 2, 2, 2, 2, 1, 2, 2, 1]
    assert sum(word2ph) == len(phones)
    assert phones[10] == "," and phones[-1] == "!"


def test_a_paragraph_produces_only_known_symbols() -> None:
    text = (
        "春眠不觉晓,处处闻啼鸟.夜来风雨声,花落知多少.我们明天早上八点在学校门口集合,"
        "请大家准时到达!绿色的草地上,女孩儿们唱着歌,月亮慢慢升起来了…"
    )
    phones, word2ph = chinese_g2p(text)
    assert all(is_symbol(phone) and phone != "UNK" for phone in phones)
    assert sum(word2ph) == len(phones)


def test_non_hanzi_characters_are_ignored() -> None:
    assert chinese_g2p("你abc好")[0] == chinese_g2p("你好")[0]
