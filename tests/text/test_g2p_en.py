"""English G2P: upstream's dictionary, names, spelling, possessives, compounds, neural
model, symbol filter and short-output rule (tests/parity compares with upstream)."""

from __future__ import annotations

from voicemill.text.en_dictionary import dictionary_phones, name_phones
from voicemill.text.en_neural_g2p import predict_phones
from voicemill.text.g2p_en import english_g2p, spell_letters, token_phones, word_phones
from voicemill.text.lexicon import lexicon_from_mapping
from voicemill.text.normalize_en import normalize_en
from voicemill.text.symbols import is_symbol


def test_dictionary_words_keep_stress_and_punctuation() -> None:
    assert english_g2p("Hello, world!") == [
        "HH", "AH0", "L", "OW1", ",", "W", "ER1", "L", "D", "!",
    ]  # fmt: skip


def test_short_output_gets_leading_comma() -> None:
    assert english_g2p("Hi") == [",", "HH", "AY1"]
    assert english_g2p("Hello there")[0] == "HH"  # long enough: unchanged
    assert english_g2p("") == [","]


def test_single_letters_and_capital_a() -> None:
    assert english_g2p("a b c") == ["AH0", "B", "IY1", "S", "IY1"]  # "a" is the article
    assert token_phones("A") == ["EY1"]  # the letter, as normalization leaves "U S A"
    assert english_g2p("U S A") == ["Y", "UW1", "EH1", "S", "EY1"]


def test_upstream_dictionary_differs_from_cmudict_where_upstream_does() -> None:
    assert dictionary_phones("acid") == ("AE1", "S", "IH0", "D")  # cmudict: AH0
    assert dictionary_phones("chatgpt") == ("CH", "AE1", "T", "JH", "IY1", "P", "IY1", "T", "IY1")
    for removed in ("ae", "ai", "ar", "ios", "hud", "os"):  # deleted upstream: spelled
        assert dictionary_phones(removed) is None
    assert english_g2p("os") == [",", "OW1", "EH1", "S"]
    assert dictionary_phones("aalborg") is None  # cmudict has it, upstream does not


def test_name_dictionary_only_for_title_case_words() -> None:
    assert name_phones("aaditya") == ("AA0", "D", "IY1", "T", "Y", "AH0")
    assert word_phones("Aaditya") == ["AA0", "D", "IY1", "T", "Y", "AH0"]
    assert word_phones("aaditya") != word_phones("Aaditya")  # lower case: model reads it


def test_short_unknown_words_are_spelled() -> None:
    assert word_phones("GPT") == ["JH", "IY1", "P", "IY1", "T", "IY1"]
    assert spell_letters("tts") == ["T", "IY1", "T", "IY1", "EH1", "S"]
    assert spell_letters("xa") == ["EH1", "K", "S", "EY1"]


def test_unknown_words_go_to_the_neural_model() -> None:
    assert word_phones("numpy") == predict_phones("numpy") == ["N", "AH1", "M", "P", "IY0"]
    phones = english_g2p("kombucha")
    assert phones == ["K", "AH0", "M", "B", "UW1", "K", "AH0"]
    assert all(is_symbol(phone) for phone in phones)


def test_model_noise_is_filtered_and_apostrophes_become_dashes() -> None:
    assert token_phones("x'y") == ["EH1", "K", "S", "'", "W", "AY1"]  # spelled, apostrophe kept
    assert english_g2p("x'y") == ["EH1", "K", "S", "-", "W", "AY1"]


def test_compounds_and_possessives() -> None:
    assert word_phones("voicemill") == word_phones("voice") + word_phones("mill")
    assert word_phones("Smith's") == [*word_phones("Smith"), "S"]  # voiceless: S
    assert word_phones("Zorblax's")[-2:] == ["AH0", "Z"]  # sibilant: AH0 Z


def test_non_latin_words_are_skipped() -> None:
    assert english_g2p("Привет world") == english_g2p("world")


def test_accents_are_stripped_by_normalization() -> None:
    assert english_g2p(normalize_en("café")) == english_g2p("cafe")


def test_lexicon_overrides_everything_case_insensitively() -> None:
    lexicon = lexicon_from_mapping(
        {"version": 1, "en": {"tomato": "T AH0 M AA1 T OW2", "record": "R EH1 K AO0 R D"}}
    )
    assert word_phones("Tomato", lexicon) == ["T", "AH0", "M", "AA1", "T", "OW2"]
    assert word_phones("Tomato") != word_phones("Tomato", lexicon)
    # Even a homograph: the lexicon entry wins over the tag.
    assert english_g2p("I will record it.", lexicon)[4:10] == ["R", "EH1", "K", "AO0", "R", "D"]


def test_lexicon_words_survive_normalization() -> None:
    lexicon = lexicon_from_mapping({"version": 1, "en": {"VoiceMill": "V OY1 S M IH2 L"}})
    assert normalize_en("VoiceMill rocks") == "Voice Mill rocks"
    assert normalize_en("VoiceMill rocks", lexicon) == "VoiceMill rocks"
    phones = english_g2p(normalize_en("VoiceMill rocks", lexicon), lexicon)
    assert phones[:6] == ["V", "OY1", "S", "M", "IH2", "L"]
