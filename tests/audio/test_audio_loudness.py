"""Streaming loudness equals pyloudnorm; true peak sees inter-sample peaks."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import pytest
import soxr

from voicemill.audio.loudness import StreamingLoudnessMeter, TruePeakMeter


def _signals(speech: np.ndarray, rate: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    t = np.arange(rate * 5) / rate
    tone_then_quiet = 0.5 * np.sin(2 * np.pi * 997 * t)
    tone_then_quiet[rate * 3 :] *= 0.003  # below the relative gate
    noise = np.cumsum(rng.standard_normal(rate * 4)) * 1e-3  # brown-ish, needs the high pass
    noise -= noise.mean()
    return {
        "speech": soxr.resample(speech, 22050, rate).astype(np.float64),
        "tone_then_quiet": tone_then_quiet,
        "brown_noise": noise,
    }


def _feed(meter: StreamingLoudnessMeter | TruePeakMeter, x: np.ndarray, sizes: list[int]) -> None:
    i, k = 0, 0
    while i < x.size:
        meter.process(x[i : i + sizes[k % len(sizes)]])
        i += sizes[k % len(sizes)]
        k += 1


@pytest.mark.parametrize("rate", [16000, 32000, 44100])
def test_streaming_loudness_matches_pyloudnorm(speech: np.ndarray, rate: int) -> None:
    for name, x in _signals(speech, rate).items():
        expected = pyloudnorm.Meter(rate).integrated_loudness(x)
        whole = StreamingLoudnessMeter(rate)
        whole.process(x)
        odd = StreamingLoudnessMeter(rate)
        _feed(odd, x, [1, 997, 4410, 13, 31999])
        assert whole.integrated_lufs() == pytest.approx(expected, abs=0.1), name
        assert odd.integrated_lufs() == pytest.approx(expected, abs=0.1), name


def test_loudness_of_silence_is_minus_infinity() -> None:
    meter = StreamingLoudnessMeter(16000)
    meter.process(np.zeros(16000 * 2))
    assert meter.integrated_lufs() == -math.inf


def test_loudness_follows_gain() -> None:
    rng = np.random.default_rng(3)
    x = 0.05 * rng.standard_normal(32000 * 3)
    a, b = StreamingLoudnessMeter(32000), StreamingLoudnessMeter(32000)
    a.process(x)
    b.process(x * 10 ** (6 / 20))
    assert b.integrated_lufs() - a.integrated_lufs() == pytest.approx(6.0, abs=1e-6)


def test_true_peak_finds_the_intersample_peak() -> None:
    # A sine at fs/4 sampled at 45 degrees: every sample is at 0.707, the wave reaches 1.0.
    rate = 32000
    n = np.arange(rate)
    x = np.sin(2 * np.pi * n / 4 + np.pi / 4).astype(np.float32)
    assert 20 * np.log10(np.abs(x).max()) == pytest.approx(-3.01, abs=0.01)
    whole = TruePeakMeter(rate)
    whole.process(x)
    assert whole.true_peak_dbtp() == pytest.approx(0.0, abs=0.2)
    blocks = TruePeakMeter(rate)
    _feed(blocks, x, [7, 1000, 333])
    assert blocks.true_peak_dbtp() == pytest.approx(whole.true_peak_dbtp(), abs=0.01)


def test_true_peak_is_never_below_the_sample_peak() -> None:
    x = np.zeros(16000, dtype=np.float32)
    x[8000] = 0.5  # a lone click: the oversampled reconstruction rings lower
    meter = TruePeakMeter(16000)
    meter.process(x)
    assert meter.peak() >= 0.5
    assert TruePeakMeter(16000).true_peak_dbtp() == -math.inf
