"""Intelligibility: jiwer WER/CER after shared normalization, and the Whisper judge."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from voicemill.errors import RejectedInput
from voicemill.evaluation import (
    PRIMARY_METRIC,
    AsrJudge,
    EvaluationError,
    JudgeLanguageUnsupported,
    intelligibility,
)

SENTENCE = "Please call me back tomorrow morning."
UNRELATED = "Rice is often served in round bowls."


@pytest.fixture(scope="module")
def judge() -> AsrJudge:
    return AsrJudge(cpu_threads=1)


# ----------------------------------------------------------------------------- metric


def test_identical_normalized_texts_score_zero() -> None:
    score = intelligibility("Hello, World! It's Dr. Smith.", "hello world it's doctor smith", "en")
    assert (score.wer, score.cer) == (0.0, 0.0)
    assert score.reference_normalized == score.hypothesis_normalized


@pytest.mark.parametrize(
    ("reference", "hypothesis"),
    [("3 cats", "three cats"), ("I paid $5 at 10:30.", "i paid five dollars at ten thirty")],
)
def test_numbers_are_normalized_the_same_on_both_sides(reference: str, hypothesis: str) -> None:
    score = intelligibility(reference, hypothesis, "en")
    assert score.wer == 0.0 and score.cer == 0.0
    # and the other way round
    assert intelligibility(hypothesis, reference, "en").wer == 0.0


def test_english_error_rates_have_the_expected_values() -> None:
    score = intelligibility("the cat sat on the mat", "the cat sat on a mat", "en")
    assert score.wer == pytest.approx(1 / 6)
    # "the" -> "a": one substitution and two deletions over 22 reference characters
    assert score.cer == pytest.approx(3 / 22)
    assert score.primary_metric == "wer" and score.primary == score.wer
    assert intelligibility("one two", "one two three four", "en").wer == pytest.approx(1.0)


def test_mandarin_uses_characters_without_spaces() -> None:
    same = intelligibility("我有3只猫。", "我 有 三 只 猫", "zh")
    assert (same.cer, same.wer) == (0.0, 0.0)
    wrong = intelligibility("我有三只猫", "我有三只狗", "zh")
    assert wrong.cer == pytest.approx(1 / 5)
    assert wrong.wer == pytest.approx(1 / 5)  # one unit per hanzi
    assert wrong.primary_metric == "cer" and wrong.primary == wrong.cer
    assert PRIMARY_METRIC == {"en": "wer", "zh": "cer"}


def test_empty_hypothesis_is_all_errors_and_empty_reference_is_rejected() -> None:
    score = intelligibility("good morning", "", "en")
    assert (score.wer, score.cer) == (1.0, 1.0)
    with pytest.raises(EvaluationError) as info:
        intelligibility("?!", "something", "en")
    assert info.value.reason == "empty_reference"


# ----------------------------------------------------------------------------- judge


@pytest.mark.parametrize("voice", ["m3", "f2"])
def test_judge_wer_on_clean_speech_is_far_below_unrelated_text(judge, speak, voice) -> None:
    audio, rate = speak(SENTENCE, voice)
    heard = judge.transcribe(audio, rate, "en")
    matched = intelligibility(SENTENCE, heard, "en")
    unrelated = intelligibility(UNRELATED, heard, "en")
    assert matched.wer <= 0.2, heard
    assert unrelated.wer >= 0.8, heard
    assert unrelated.wer - matched.wer >= 0.6


def test_judge_normalizes_numbers_end_to_end(judge, speak) -> None:
    audio, rate = speak("I have 3 cats and 2 dogs.", "m1")
    score = judge.judge(audio, rate, "I have 3 cats and 2 dogs.", "en")
    assert score.wer <= 0.15, score.hypothesis
    assert score.hypothesis  # the raw transcript is kept for inspection


def test_judge_is_deterministic(judge, speak) -> None:
    audio, rate = speak(SENTENCE, "m3")
    assert judge.transcribe(audio, rate, "en") == judge.transcribe(audio, rate, "en")


def test_silence_is_heard_as_nothing(judge) -> None:
    score = judge.judge(np.zeros(32_000, dtype=np.float32), 16_000, SENTENCE, "en")
    assert score.hypothesis == ""
    assert score.wer == 1.0


def test_english_judge_refuses_mandarin_before_loading(speak) -> None:
    fresh = AsrJudge(cpu_threads=1)
    assert fresh.english_only and not fresh.supports("zh") and fresh.supports("en")
    audio, rate = speak("我有三只猫。", "zh")
    with pytest.raises(JudgeLanguageUnsupported) as info:
        fresh.judge(audio, rate, "我有三只猫。", "zh")
    error = info.value
    assert isinstance(error, RejectedInput)
    assert error.reason == "judge_language_unsupported"
    assert "English-only" in error.detail
    assert fresh._whisper._model is None  # refused before any model work
    restored = pickle.loads(pickle.dumps(error))
    assert type(restored) is JudgeLanguageUnsupported
    assert restored.reason == "judge_language_unsupported"


def test_judge_rejects_unusable_audio(judge) -> None:
    with pytest.raises(EvaluationError) as info:
        judge.transcribe(np.zeros((2, 16_000), dtype=np.float32), 16_000, "en")
    assert info.value.reason == "invalid_audio"
    with pytest.raises(EvaluationError, match="model_not_found"):
        AsrJudge("/nonexistent/whisper").transcribe(np.ones(16_000, np.float32) * 0.1, 16_000, "en")
