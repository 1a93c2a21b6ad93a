"""Campaign post-processing on espeak-ng speech: trim, loudness, true peak, fades, encodings."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
import soxr
from pydantic import ValidationError
from speech_testkit import RATE, speak, trim_silence

from voicemill.audio.loudness import StreamingLoudnessMeter, TruePeakMeter
from voicemill.campaign.postprocess import (
    CONTENT_TYPES,
    EXTENSIONS,
    PostprocessError,
    PostprocessSettings,
    encode,
    postprocess,
)

SYNTH_RATE = 32_000  # what the synthesizer delivers
TEXT = "Hello Maria, your appointment is confirmed for Tuesday at three o'clock."


def _loudness(audio: np.ndarray, rate: int) -> float:
    meter = StreamingLoudnessMeter(rate)
    meter.process(audio)
    return meter.integrated_lufs()


def _true_peak(audio: np.ndarray, rate: int) -> float:
    meter = TruePeakMeter(rate)
    meter.process(audio)
    return meter.true_peak_dbtp()


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """Speech at 32 kHz with 1 s of silence before and 1.5 s after (plus faint noise)."""
    voice = soxr.resample(speak(TEXT), RATE, SYNTH_RATE).astype(np.float32) * 0.3
    lead = np.zeros(SYNTH_RATE, np.float32)
    tail = np.zeros(SYNTH_RATE * 3 // 2, np.float32)
    audio = np.concatenate([lead, voice, tail])
    noise = np.random.default_rng(1).normal(0.0, 1e-4, audio.size).astype(np.float32)
    audio = audio + noise
    audio.setflags(write=False)
    return audio


def test_trim_keeps_speech_and_the_pads(speech: np.ndarray) -> None:
    core_s = trim_silence(speak(TEXT)).size / RATE  # the testkit's 40 dB energy trim
    settings = PostprocessSettings(keep_pad_ms=50)
    out = postprocess(speech, SYNTH_RATE, settings)
    assert out.duration_s == pytest.approx(core_s + 0.1, abs=0.03)
    assert out.duration_s < speech.size / SYNTH_RATE - 2.4  # ~2.5 s of silence removed
    unpadded = postprocess(speech, SYNTH_RATE, PostprocessSettings(keep_pad_ms=0))
    assert out.duration_s - unpadded.duration_s == pytest.approx(0.1, abs=0.002)


def test_loudness_reaches_target_and_peak_stays_under_ceiling(speech: np.ndarray) -> None:
    for target in (-16.0, -20.0):
        settings = PostprocessSettings(loudness_lufs=target, true_peak_dbtp=-1.0)
        out = postprocess(speech, SYNTH_RATE, settings)
        assert out.rate == SYNTH_RATE and out.audio.dtype == np.float32
        assert out.loudness_lufs == pytest.approx(target, abs=0.2)
        assert out.true_peak_dbtp <= -1.0
        # The reported numbers describe the returned samples.
        assert _loudness(out.audio, out.rate) == pytest.approx(out.loudness_lufs, abs=1e-6)
        assert _true_peak(out.audio, out.rate) == pytest.approx(out.true_peak_dbtp, abs=1e-6)
        assert not out.audio.flags.writeable


def test_peaky_input_is_limited_under_the_ceiling(speech: np.ndarray) -> None:
    loud = np.clip(speech * 3.5, -1.0, 1.0)  # hot, clipped speech
    clicks = np.flatnonzero(np.abs(loud) > 0.2)[::4000]
    loud[clicks] = np.sign(loud[clicks])  # full-scale single-sample spikes
    out = postprocess(loud, SYNTH_RATE, PostprocessSettings(true_peak_dbtp=-2.0))
    assert out.true_peak_dbtp <= -2.0
    assert _true_peak(out.audio, out.rate) <= -2.0
    assert 0.0 < out.limiter_db <= 8.0
    assert out.loudness_lufs == pytest.approx(-16.0, abs=0.5)
    # With less limiting allowed, the rest comes off the gain: quieter, still under.
    capped = postprocess(
        loud, SYNTH_RATE, PostprocessSettings(true_peak_dbtp=-2.0, limiter_max_db=2)
    )
    assert 0.0 < capped.limiter_db <= 2.0
    assert capped.true_peak_dbtp <= -2.0
    assert capped.loudness_lufs < out.loudness_lufs - 2.0


def test_without_limiter_the_gain_is_lowered_and_loudness_reported(speech: np.ndarray) -> None:
    settings = PostprocessSettings(loudness_lufs=-12.0, true_peak_dbtp=-1.0, limiter_max_db=0)
    out = postprocess(speech, SYNTH_RATE, settings)
    assert out.limiter_db == 0.0
    assert out.true_peak_dbtp == pytest.approx(-1.0, abs=0.05)
    assert out.loudness_lufs < -13.0  # speech peaks ~20 dB over its loudness
    assert _loudness(out.audio, out.rate) == pytest.approx(out.loudness_lufs, abs=1e-6)


def test_fades_bring_both_ends_to_zero() -> None:
    # A tone that starts and ends abruptly: nothing to trim, the fades do all the work.
    t = np.arange(SYNTH_RATE) / SYNTH_RATE
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    out = postprocess(tone, SYNTH_RATE, PostprocessSettings(fade_ms=10))
    y = np.abs(out.audio)
    peak = y.max()
    assert y[0] == 0.0 and y[-1] == 0.0
    one_ms = SYNTH_RATE // 1000
    assert y[:one_ms].max() < 0.05 * peak and y[-one_ms:].max() < 0.05 * peak
    ten_ms = 10 * one_ms
    assert y[ten_ms : 2 * ten_ms].max() > 0.9 * peak  # fully open after the fade
    assert out.duration_s == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    ("fmt", "rate", "tolerance_lu"),
    [("wav", 32_000, 0.5), ("flac", 32_000, 0.5), ("mp3", 32_000, 1.5), ("opus", 48_000, 1.5)],
)
def test_every_format_round_trips(
    speech: np.ndarray, fmt: str, rate: int, tolerance_lu: float
) -> None:
    out = postprocess(speech, SYNTH_RATE, PostprocessSettings(output_format=fmt))
    assert out.rate == rate and out.format == fmt
    data = encode(out)
    decoded, decoded_rate = sf.read(io.BytesIO(data), dtype="float32")
    assert decoded_rate == rate
    assert decoded.ndim == 1
    assert decoded.size / decoded_rate == pytest.approx(out.duration_s, abs=0.06)
    assert _loudness(decoded, decoded_rate) == pytest.approx(-16.0, abs=tolerance_lu)
    info = sf.info(io.BytesIO(data))
    expected = {"wav": "WAV", "flac": "FLAC", "mp3": "MP3", "opus": "OGG"}[fmt]
    assert info.format == expected
    assert EXTENSIONS[fmt] and CONTENT_TYPES[fmt].startswith("audio/")


def test_format_maps() -> None:
    assert EXTENSIONS == {"wav": "wav", "flac": "flac", "mp3": "mp3", "opus": "opus"}
    assert CONTENT_TYPES == {
        "wav": "audio/wav",
        "flac": "audio/flac",
        "mp3": "audio/mpeg",
        "opus": "audio/ogg",
    }


def test_output_rates() -> None:
    assert PostprocessSettings(output_format="opus").output_rate(32_000) == 48_000
    assert PostprocessSettings(output_format="mp3").output_rate(32_000) == 32_000
    assert PostprocessSettings(output_format="mp3").output_rate(96_000) == 48_000
    assert (
        PostprocessSettings(output_format="wav", sample_rate=44_100).output_rate(32_000) == 44_100
    )
    with pytest.raises(ValidationError, match="opus cannot carry 32000"):
        PostprocessSettings(output_format="opus", sample_rate=32_000)


def test_resampled_output(speech: np.ndarray) -> None:
    out = postprocess(speech, SYNTH_RATE, PostprocessSettings(sample_rate=44_100))
    assert out.rate == 44_100
    assert out.loudness_lufs == pytest.approx(-16.0, abs=0.2)
    decoded, rate = sf.read(io.BytesIO(encode(out, "flac")))
    assert rate == 44_100 and decoded.size == out.audio.size


def test_encode_refuses_a_rate_the_format_cannot_carry(speech: np.ndarray) -> None:
    out = postprocess(speech, SYNTH_RATE, PostprocessSettings(output_format="wav"))
    with pytest.raises(ValueError, match="opus cannot carry 32000"):
        encode(out, "opus")


@pytest.mark.parametrize(
    ("audio", "reason"),
    [
        (np.zeros(SYNTH_RATE, np.float32), "silent_audio"),
        (np.zeros(0, np.float32), "silent_audio"),
        # -80 dBFS noise: not digital silence, but below the -70 LUFS gate
        (np.random.default_rng(2).normal(0, 1e-4, SYNTH_RATE).astype(np.float32), "silent_audio"),
        (np.full(SYNTH_RATE, np.nan, np.float32), "non_finite_audio"),
        (np.zeros((SYNTH_RATE, 2), np.float32), "not_mono"),
    ],
    ids=["zeros", "empty", "below-gate", "nan", "stereo"],
)
def test_unusable_input_is_rejected(audio: np.ndarray, reason: str) -> None:
    with pytest.raises(PostprocessError) as info:
        postprocess(audio, SYNTH_RATE)
    assert info.value.reason == reason


def test_a_click_alone_is_too_short() -> None:
    audio = np.zeros(SYNTH_RATE, np.float32)
    audio[10_000:10_800] = 0.5 * np.sin(np.arange(800) / 3)  # 25 ms burst
    with pytest.raises(PostprocessError) as info:
        postprocess(audio, SYNTH_RATE)
    assert info.value.reason == "too_short"
    assert "0.03" in info.value.detail
