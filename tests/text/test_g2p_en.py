"""English G2P: CMUdict ARPAbet with stress, offline fallbacks, upstream's short rule."""

from __future__ import annotations

import re

from voicemill.text.g2p_en import english_g2p, guess_phones, spell_letters, word_phones
from voicemill.text.lexicon import lexicon_from_mapping
from voicemill.text.symbols import is_symbol


def test_dictionary_words_keep_stress_and_punctuation() -> None:
    assert english_g2p("Hello, world!") == [
        "HH", "AH0", "L", "OW1", ",", "W", "ER1", "L", "D", "!",
    ]  # fmt: skip


def test_short_output_gets_leading_comma() -> None:
    assert english_g2p("Hi") == [",", "HH", "AY1"]
    assert english_g2p("Hello there")[0] == "HH"  # long enough: unchanged


def test_acronyms_are_spelled() -> None:
    assert word_phones("GPT") == ["JH", "IY1", "P", "IY1", "T", "IY1"]
    assert spell_letters("tts") == ["T", "IY1", "T", "IY1", "EH1", "S"]


def test_unknown_word_gets_a_stressed_guess_in_the_symbol_set() -> None:
    phones = word_phones("blorfication")
    assert all(is_symbol(phone) for phone in phones)
    stresses = [phone[-1] for phone in phones if phone[-1].isdigit()]
    assert stresses[0] == "1" and set(stresses[1:]) <= {"0"}
    assert phones[:3] == ["B", "L", "AO1"]


def test_accented_words_fold_to_dictionary_entries() -> None:
    assert word_phones("café") == word_phones("cafe")


def test_non_latin_words_are_skipped() -> None:
    assert english_g2p("Привет world") == english_g2p("world")


def test_guess_phones_always_has_a_vowel() -> None:
    assert any(re.fullmatch(r"[A-Z]+[012]", p) for p in guess_phones("brr"))


def test_compounds_and_possessives_reuse_known_words() -> None:
    assert word_phones("voicemill") == word_phones("voice") + word_phones("mill")
    assert word_phones("Zorblax's")[-1] in {"Z", "S"}
    assert word_phones("Smith's") == [*word_phones("Smith"), "S"]


def test_lexicon_overrides_dictionary_case_insensitively() -> None:
    lexicon = lexicon_from_mapping({"version": 1, "en": {"tomato": "T AH0 M AA1 T OW2"}})
    assert word_phones("Tomato", lexicon) == ["T", "AH0", "M", "AA1", "T", "OW2"]
    assert word_phones("Tomato") != word_phones("Tomato", lexicon)
