"""Building blocks: silence trimming, noise mixing and the MP3 fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicemill.corpus import formats
from voicemill.corpus.espeak import EspeakVoice
from voicemill.corpus.recording import add_noise, compose_recording, pink_noise, trim_silence


def test_trim_silence_keeps_only_the_loud_part() -> None:
    sr = 16000
    tone = 0.5 * np.sin(2 * np.pi * 220 * np.arange(sr) / sr)
    audio = np.concatenate([np.zeros(sr // 2), tone, np.zeros(sr // 4)]).astype(np.float32)
    trimmed = trim_silence(audio, sr)
    assert abs(len(trimmed) - sr) <= 2 * round(0.005 * sr)
    assert trim_silence(np.zeros(sr, dtype=np.float32), sr).size == 0


def test_composed_recording_and_noise_at_the_requested_snr() -> None:
    rng = np.random.default_rng(0)
    voice = EspeakVoice("en", "en-us", "f1")
    clean = compose_recording(["Read verse out loud for pleasure.", "Mend the coat."], voice, rng)
    assert np.abs(clean.audio[: clean.sentences[0].start]).max() == 0
    assert np.abs(clean.audio[clean.sentences[0].start : clean.sentences[0].end]).max() > 0.1
    noisy = add_noise(clean, 10.0, rng)
    mask = clean.speech_mask()
    mixed = noisy.audio.astype(np.float64)
    # Inside the spans is speech plus noise, outside noise alone: the ratio is (S + N) / N.
    ratio = np.mean(mixed[mask] ** 2) / np.mean(mixed[~mask] ** 2)
    assert 10 * np.log10(ratio - 1) == pytest.approx(10.0, abs=1.0)
    assert np.abs(noisy.audio).max() == pytest.approx(np.abs(clean.audio).max(), rel=1e-3)


def test_pink_noise_has_unit_rms_and_more_low_than_high_energy() -> None:
    noise = pink_noise(1 << 16, np.random.default_rng(1))
    assert np.sqrt(np.mean(noise**2)) == pytest.approx(1.0)
    spectrum = np.abs(np.fft.rfft(noise)) ** 2
    assert spectrum[10:1000].mean() > 10 * spectrum[-1000:].mean()


def test_mp3_falls_back_to_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "soundfile_writes_mp3", lambda: False)
    mp3 = next(f for f in formats.DEMO_FORMATS if f.container == "MP3")
    sr = 22050
    audio = (0.3 * np.sin(2 * np.pi * 300 * np.arange(2 * sr) / sr)).astype(np.float32)
    formats.write_audio(tmp_path / "x.mp3", audio, sr, mp3)
    info = sf.info(tmp_path / "x.mp3")
    assert info.format == "MP3" and info.samplerate == mp3.sample_rate
    assert info.duration == pytest.approx(2.0, abs=0.06)
