"""Offline English forced alignment with pocketsphinx, checked against known word timings."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from speech_testkit import RATE, join_with_gaps, speak, trim_silence

from voicemill.align.base import Aligner, AlignmentError
from voicemill.align.pronounce import cmudict_phones, letter_to_phones

WORDS = [
    "please",
    "bring",
    "these",
    "seven",
    "green",
    "apples",
    "to",
    "the",
    "kitchen",
    "before",
    "dinner",
    "tonight",
]


def test_word_boundaries_match_known_timings(pocketsphinx_aligner) -> None:
    # Single-word clips, trimmed, joined with 50-150 ms pauses: true boundaries are known.
    clips = [trim_silence(np.array(speak(word))) for word in WORDS]
    gaps = np.random.default_rng(1).uniform(0.05, 0.15, len(WORDS))
    audio, spans = join_with_gaps(clips, gaps)

    result = pocketsphinx_aligner.align(audio, " ".join(WORDS), "en")

    assert [w.word for w in result.words] == WORDS
    errors = np.array(
        [
            abs(value)
            for word, (start, end) in zip(result.words, spans, strict=True)
            for value in (word.start_s - start, word.end_s - end)
        ]
    )
    assert errors.mean() < 0.050, f"mean boundary error {errors.mean() * 1000:.0f} ms"
    assert np.mean(errors < 0.080) >= 0.75, f"errors (ms): {np.round(errors * 1000)}"
    assert result.method == "pocketsphinx"
    assert 0.0 <= result.score <= 1.0


def test_result_is_normalized_ordered_and_inside_the_audio(pocketsphinx_aligner) -> None:
    audio = np.array(speak("Dr. Brown bought 3 books."))
    result = pocketsphinx_aligner.align(audio, "Dr. Brown bought 3 books.", "en")

    assert isinstance(pocketsphinx_aligner, Aligner)
    assert result.text == "doctor brown bought three books"
    assert [w.word for w in result.words] == result.text.split()
    duration = audio.size / RATE
    for word in result.words:
        assert 0.0 <= word.start_s < word.end_s <= duration
    starts = [w.start_s for w in result.words]
    assert starts == sorted(starts)


def test_out_of_dictionary_words_do_not_crash(pocketsphinx_aligner) -> None:
    text = "The zorblax quivvered near the glimmerfrost door"
    assert cmudict_phones("zorblax") is None  # exercises the letter-to-sound fallback
    result = pocketsphinx_aligner.align(np.array(speak(text)), text, "en")

    assert [w.word for w in result.words] == text.lower().split()
    assert result.score > 0.3


def test_accented_and_silent_inputs(pocketsphinx_aligner) -> None:
    text = "We met at the café near the tower."
    result = pocketsphinx_aligner.align(np.array(speak(text)), text, "en")
    assert [w.word for w in result.words][4] == "café"

    quiet = np.random.default_rng(0).normal(0, 1e-4, RATE).astype(np.float32)
    with pytest.raises(AlignmentError) as err:
        pocketsphinx_aligner.align(quiet, "hello world", "en")
    assert err.value.reason == "alignment_failed"
    assert pickle.loads(pickle.dumps(err.value)).reason == "alignment_failed"


def test_wrong_transcript_scores_lower_than_the_right_one(pocketsphinx_aligner) -> None:
    right = "Please call Stella and ask her to bring these things with her from the store"
    audio = np.concatenate([np.zeros(4000, np.float32), speak(right), np.zeros(4000, np.float32)])

    good = pocketsphinx_aligner.align(audio, right, "en")
    truncated = pocketsphinx_aligner.align(audio, "please call stella", "en")

    assert good.score > 0.7
    assert good.score > truncated.score + 0.2
    # Unrelated text either cannot be fitted at all or scores clearly lower.
    try:
        unrelated = pocketsphinx_aligner.align(audio, "we should go home now before it rains", "en")
    except AlignmentError as err:
        assert err.reason == "alignment_failed"
    else:
        assert good.score > unrelated.score + 0.2


@pytest.mark.parametrize(
    ("audio", "text", "language", "reason"),
    [
        (np.zeros(RATE, np.float32), "hello", "zh", "unsupported_language"),
        (np.zeros(RATE, np.float32), "?! ...", "en", "empty_transcript"),
        (np.zeros((RATE, 2), np.float32), "hello", "en", "invalid_audio"),
        (np.full(RATE, np.nan, np.float32), "hello", "en", "invalid_audio"),
    ],
)
def test_bad_input_raises_coded_errors(
    pocketsphinx_aligner, audio: np.ndarray, text: str, language: str, reason: str
) -> None:
    with pytest.raises(AlignmentError) as err:
        pocketsphinx_aligner.align(audio, text, language)
    assert err.value.reason == reason


def test_letter_to_sound_fallback_gives_arpabet_with_a_vowel() -> None:
    assert letter_to_phones("zorblax") == "Z AO R B L AE K S"
    assert letter_to_phones("knight") == "K N AY T"
    assert letter_to_phones("xx") == "K S AH"
    assert cmudict_phones("stella") == "S T EH L AH"
