"""DNSMOS quality scores from speechmos on espeak speech.

Measured here: clean espeak ovrl 2.75-2.99 (en-us m3, three sentences), 3.11 (en-us f2),
bak 3.66-4.04; the same clips with white noise (std 0.05) ovrl 1.81-1.87, bak 1.60-1.69.
"""

from __future__ import annotations

import numpy as np
import pytest

from voicemill.evaluation import DNSMOS_MIN_SECONDS, DnsmosScorer, EvaluationError

SENTENCE = "The birch canoe slid on the smooth planks."


@pytest.fixture(scope="module")
def scorer() -> DnsmosScorer:
    return DnsmosScorer(threads=1)


@pytest.mark.parametrize("voice", ["m3", "f2"])
def test_clean_speech_scores_higher_than_noisy(scorer, speak, voice) -> None:
    audio, rate = speak(SENTENCE, voice)
    noise = 0.05 * np.random.default_rng(0).standard_normal(audio.size).astype(np.float32)
    clean = scorer.score(audio, rate)
    noisy = scorer.score(audio + noise, rate)  # out-of-range peaks are clipped
    for score in (clean, noisy):
        for value in (score.ovrl, score.sig, score.bak, score.p808):
            assert 1.0 <= value <= 5.0
    assert clean.ovrl >= 2.4
    assert clean.ovrl - noisy.ovrl >= 0.5, (clean, noisy)
    assert clean.bak - noisy.bak >= 1.0, (clean, noisy)


def test_scores_are_deterministic_and_rate_independent(scorer, speak) -> None:
    audio, rate = speak(SENTENCE, "m3")
    first = scorer.score(audio, rate)
    assert scorer.score(audio, rate) == first
    import soxr

    at_16k = soxr.resample(audio, rate, 16_000, quality="HQ").astype(np.float32)
    assert scorer.score(at_16k, 16_000).ovrl == pytest.approx(first.ovrl, abs=1e-6)


def test_short_and_silent_audio_are_rejected(scorer, speak) -> None:
    audio, rate = speak(SENTENCE, "m3")
    with pytest.raises(EvaluationError) as info:
        scorer.score(audio[: int(0.5 * DNSMOS_MIN_SECONDS * rate)], rate)
    assert info.value.reason == "audio_too_short"
    with pytest.raises(EvaluationError) as info:
        scorer.score(np.zeros(0, dtype=np.float32), 16_000)  # speechmos alone would hang
    assert info.value.reason == "audio_too_short"
    with pytest.raises(EvaluationError) as info:
        scorer.score(np.zeros(3 * 16_000, dtype=np.float32), 16_000)
    assert info.value.reason == "silent_audio"
