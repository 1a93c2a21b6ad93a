"""whisperx backend with local models only: bundled tiny.en ASR, tiny random wav2vec2.

Random alignment weights give meaningless timings, so these tests check structure: every
transcript unit comes back, in order, with start <= end inside the audio.
"""

from __future__ import annotations

import numpy as np
import pytest
from speech_testkit import MANDARIN, RATE, speak, write_tiny_wav2vec2

from voicemill.align.base import Aligner, AlignmentError, Transcriber
from voicemill.align.verify import transcript_agreement
from voicemill.align.whisper_transcriber import bundled_whisper_model_dir
from voicemill.align.whisperx_backend import WhisperxBackend
from voicemill.text.normalize import normalize_text, words_for_alignment

pytestmark = pytest.mark.slow

SENTENCE = "My name is John and I live in a small house near the river."
MANDARIN_TEXT = "我用iPhone打电话，价格是3元。"


@pytest.fixture(scope="module")
def backend(tiny_english_wav2vec2, tmp_path_factory) -> WhisperxBackend:
    return WhisperxBackend(
        bundled_whisper_model_dir(),
        align_model=tiny_english_wav2vec2,
        nltk_data_dir=tmp_path_factory.mktemp("nltk"),
    )


def _assert_well_formed(words, expected_units, duration) -> None:
    assert [w.word for w in words] == expected_units
    for word in words:
        assert 0.0 <= word.start_s <= word.end_s <= duration + 1e-6
    starts = [w.start_s for w in words]
    assert starts == sorted(starts)


def test_align_supplied_english_transcript(backend) -> None:
    audio = np.array(speak(SENTENCE))
    result = backend.align(audio, SENTENCE, "en")

    assert isinstance(backend, Aligner)
    assert result.text == normalize_text(SENTENCE, "en")
    assert result.method == "whisperx"
    assert result.language == "en"
    _assert_well_formed(result.words, result.text.split(), audio.size / RATE)
    assert 0.0 <= result.score <= 1.0


def test_transcribe_with_bundled_tiny_en(backend) -> None:
    audio = np.array(speak(SENTENCE))
    result = backend.transcribe(audio)

    assert isinstance(backend, Transcriber)
    assert result.language == "en"
    assert transcript_agreement(SENTENCE, result.text, "en") > 0.5
    assert 0.0 < result.confidence <= 1.0
    assert result.words
    _assert_well_formed(result.words, [w.word for w in result.words], audio.size / RATE)
    assert normalize_text(" ".join(w.word for w in result.words), "en") == normalize_text(
        result.text, "en"
    )


def test_mandarin_alignment_regroups_characters(tmp_path_factory) -> None:
    normalized = normalize_text(MANDARIN_TEXT, "zh")
    model_dir = write_tiny_wav2vec2(
        tmp_path_factory.mktemp("w2v_zh"), "".join(sorted(set(normalized) - {" "}))
    )
    backend = WhisperxBackend(
        bundled_whisper_model_dir(),
        align_model=model_dir,
        language="zh",
        nltk_data_dir=tmp_path_factory.mktemp("nltk_zh"),
    )
    audio = np.array(speak(MANDARIN_TEXT, MANDARIN))

    result = backend.align(audio, MANDARIN_TEXT, "zh")

    assert backend.supports("zh") and not backend.supports("en")
    assert result.text == normalized
    units = words_for_alignment(normalized, "zh")
    assert "iphone" in units
    _assert_well_formed(result.words, units, audio.size / RATE)
    with pytest.raises(AlignmentError) as err:
        backend.transcribe(audio, language="zh")  # the bundled ASR is English-only
    assert err.value.reason == "unsupported_language"


def test_empty_transcript_is_a_coded_error(backend) -> None:
    with pytest.raises(AlignmentError) as err:
        backend.align(np.array(speak("hello")), "...", "en")
    assert err.value.reason == "empty_transcript"


def test_asr_only_backend_skips_word_alignment(tmp_path) -> None:
    # Without an alignment model, transcribe must not reach for whisperx's default
    # (downloaded) wav2vec2: it returns text and confidence without word timings.
    backend = WhisperxBackend(bundled_whisper_model_dir(), nltk_data_dir=tmp_path)
    result = backend.transcribe(np.array(speak("Good morning everyone.")))

    assert transcript_agreement("Good morning everyone.", result.text, "en") > 0.5
    assert result.words == ()
