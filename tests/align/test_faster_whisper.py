"""Offline ASR with the bundled Whisper tiny.en, and the ASR-vs-transcript agreement judge."""

from __future__ import annotations

import numpy as np
import pytest
from speech_testkit import RATE, speak

from voicemill.align.base import AlignmentError, Transcriber
from voicemill.align.verify import transcript_agreement
from voicemill.align.whisper_transcriber import (
    FasterWhisperTranscriber,
    bundled_whisper_model_dir,
    is_english_only_model,
)

SENTENCE = "My name is John and I live in a small house near the river."


def test_bundled_model_is_found_and_english_only() -> None:
    model_dir = bundled_whisper_model_dir()
    assert (model_dir / "model.bin").is_file()
    assert is_english_only_model(model_dir)
    assert is_english_only_model("base.en")
    assert not is_english_only_model("large-v3")


def test_transcribes_espeak_speech(whisper_transcriber) -> None:
    audio = np.array(speak(SENTENCE))
    result = whisper_transcriber.transcribe(audio)

    assert isinstance(whisper_transcriber, Transcriber)
    assert result.language == "en"
    assert transcript_agreement(SENTENCE, result.text, "en") > 0.5
    assert 0.0 < result.confidence <= 1.0
    assert result.words, "word timestamps were requested"
    duration = audio.size / RATE
    starts = [w.start_s for w in result.words]
    assert starts == sorted(starts)
    assert all(0.0 <= w.start_s <= w.end_s <= duration for w in result.words)


def test_english_only_model_refuses_mandarin() -> None:
    transcriber = FasterWhisperTranscriber()  # no model load needed to refuse
    with pytest.raises(AlignmentError) as err:
        transcriber.transcribe(np.zeros(RATE, np.float32), language="zh")
    assert err.value.reason == "unsupported_language"


def test_missing_model_is_a_coded_error(tmp_path) -> None:
    transcriber = FasterWhisperTranscriber(model=tmp_path / "no-such-model")
    with pytest.raises(AlignmentError) as err:
        transcriber.transcribe(np.zeros(RATE, np.float32), language="en")
    assert err.value.reason == "model_not_found"


def test_agreement_scores() -> None:
    assert transcript_agreement("Dr. Smith paid $5.", "doctor smith paid five dollars", "en") == 1.0
    assert transcript_agreement(SENTENCE, "The weather is cold and wet today.", "en") < 0.3
    half = transcript_agreement("one two three four", "one two five six", "en")
    assert half == pytest.approx(0.5)
    assert transcript_agreement("我有3个苹果。", "我有三个苹果", "zh") == 1.0
    assert transcript_agreement("今天天气很好", "明天下雨了吗", "zh") < 0.3
    assert transcript_agreement("hello", "", "en") == 0.0
