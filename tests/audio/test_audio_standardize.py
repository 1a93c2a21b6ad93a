"""Standardization: rates, loudness, ceiling, rejections, sidecar, file/array agreement."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from voicemill.audio.errors import AudioError
from voicemill.audio.frames import load_frames
from voicemill.audio.loudness import TruePeakMeter
from voicemill.audio.standardize import StandardizeConfig, standardize_array, standardize_file

RATE = 22050


def _read(path: Path) -> tuple[np.ndarray, int]:
    audio, rate = sf.read(path, dtype="float64")
    return audio, rate


def test_outputs_have_the_standard_rates_and_loudness(tmp_path: Path, speech: np.ndarray) -> None:
    src = tmp_path / "in.flac"
    stereo = np.stack([0.2 * speech, 0.1 * speech], axis=1)  # quiet: gain goes up
    sf.write(src, stereo, RATE, subtype="PCM_24")
    model, ssl, frames = tmp_path / "out/m.wav", tmp_path / "out/s.wav", tmp_path / "out/f.npz"
    m = standardize_file(src, model, ssl, frames)

    duration = speech.size / RATE
    assert (m.source_sample_rate, m.source_channels, m.source_subtype) == (RATE, 2, "PCM_24")
    assert m.duration_s == pytest.approx(duration)
    for path, rate in ((model, 32000), (ssl, 16000)):
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (rate, 1, "PCM_16")
        assert info.frames == pytest.approx(duration * rate, abs=2)
    assert not m.peak_limited and m.gain_db > 0
    assert m.output_lufs == pytest.approx(-20.0, abs=0.5)
    audio, rate = _read(model)
    assert pyloudnorm.Meter(rate).integrated_loudness(audio) == pytest.approx(-20.0, abs=0.5)
    assert m.output_true_peak_dbtp <= -1.0
    assert m.clipping_ratio == 0.0
    assert m.snr_db > 40  # espeak speech between digital silence

    sidecar = load_frames(frames)
    assert sidecar.hop_s == pytest.approx(0.01)
    assert len(sidecar) == pytest.approx(duration / 0.01, abs=1)
    assert sidecar.energy_db.max() > -30 and sidecar.energy_db.min() <= -90
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["f.npz", "m.wav", "s.wav"]


def test_gain_is_reduced_to_respect_the_true_peak_ceiling(
    speech: np.ndarray, standardize: Callable
) -> None:
    spiky = 0.05 * speech.copy()
    spiky[RATE : RATE + 40] = 0.9  # a loud click amid quiet speech
    out = standardize(spiky)
    audio, rate = _read(out.model)
    meter = TruePeakMeter(rate)
    meter.process(audio.astype(np.float32))
    assert meter.true_peak_dbtp() <= -1.0 + 0.01  # + PCM_16 rounding
    m = out.measurements
    assert m.peak_limited
    assert m.output_true_peak_dbtp <= -1.0
    assert m.output_lufs < -20.5  # could not reach the target without breaking the ceiling


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda s: np.zeros(RATE * 2, dtype=np.float32), "silent"),
        (lambda s: 1e-4 * np.random.default_rng(0).standard_normal(RATE * 2), "silent"),
        (lambda s: np.clip(s * 30.0, -1.0, 1.0), "heavy_clipping"),
        (lambda s: s[: int(0.3 * RATE)], "too_short"),
    ],
    ids=["digital_zero", "below_silence_lufs", "clipped", "short"],
)
def test_unusable_recordings_are_rejected_without_outputs(
    tmp_path: Path, speech: np.ndarray, make: Callable, reason: str
) -> None:
    src = tmp_path / "in.wav"
    sf.write(src, make(speech), RATE, subtype="FLOAT")
    out = tmp_path / "out"
    with pytest.raises(AudioError) as caught:
        standardize_file(src, out / "m.wav", out / "s.wav", out / "f.npz")
    assert caught.value.reason == reason
    assert not out.exists() or list(out.iterdir()) == []  # no partial or temp files left


def test_decode_reasons_pass_through(tmp_path: Path) -> None:
    src = tmp_path / "notes.wav"
    src.write_text("not audio\n" * 100)
    with pytest.raises(AudioError) as caught:
        standardize_file(src, tmp_path / "m.wav", tmp_path / "s.wav", tmp_path / "f.npz")
    assert caught.value.reason == "not_audio"


def test_light_clipping_is_measured_per_frame(speech: np.ndarray, standardize: Callable) -> None:
    x = 0.3 * speech.copy()
    x[RATE * 2 : RATE * 2 + 100] = 1.0  # 100 clipped samples at 2.0 s
    out = standardize(x)
    m = out.measurements
    assert m.clipping_ratio == pytest.approx(100 / x.size, rel=0.01)
    frames = load_frames(out.frames)
    clipped = np.flatnonzero(frames.clip_fraction > 0)
    assert clipped.min() == 200 and clipped.max() == 200  # 100 samples < one 10 ms frame
    assert frames.clip_fraction[200] == pytest.approx(100 / round(RATE * 0.01), rel=0.01)


def test_snr_orders_noisy_below_clean(speech: np.ndarray, standardize: Callable) -> None:
    rng = np.random.default_rng(5)
    noise = rng.standard_normal(speech.size).astype(np.float32)
    snrs = []
    for level in (0.0, 0.002, 0.03):
        snrs.append(standardize(0.3 * speech + level * noise).measurements.snr_db)
    assert snrs[0] > snrs[1] > snrs[2]
    assert snrs[2] < 20


def test_array_and_file_versions_agree(tmp_path: Path, speech: np.ndarray) -> None:
    stereo = np.stack([0.5 * speech, 0.25 * speech], axis=1)
    src = tmp_path / "in.wav"
    sf.write(src, stereo, RATE, subtype="FLOAT")
    from_file = standardize_file(src, tmp_path / "m.wav", tmp_path / "s.wav", tmp_path / "f.npz")
    in_memory = standardize_array(stereo, RATE)

    mem = in_memory.measurements.model_dump(exclude={"source_subtype", "source_container"})
    fil = from_file.model_dump(exclude={"source_subtype", "source_container"})
    assert mem.keys() == fil.keys()
    for key, value in fil.items():
        assert mem[key] == pytest.approx(value, abs=1e-3), key
    model, _ = _read(tmp_path / "m.wav")
    ssl, _ = _read(tmp_path / "s.wav")
    assert in_memory.model_audio.dtype == np.float32
    np.testing.assert_allclose(in_memory.model_audio, model, atol=1 / 16384)
    np.testing.assert_allclose(in_memory.ssl_audio, ssl, atol=1 / 16384)
    sidecar = load_frames(tmp_path / "f.npz")
    np.testing.assert_allclose(in_memory.frames.energy_db, sidecar.energy_db, atol=0.5)


def test_array_accepts_int16_and_checks_its_input(speech: np.ndarray) -> None:
    pcm = np.round(0.5 * speech * 32767).astype(np.int16)
    result = standardize_array(pcm, RATE, StandardizeConfig(target_lufs=-23.0))
    assert result.measurements.output_lufs == pytest.approx(-23.0, abs=0.5)
    assert result.ssl_audio.size == pytest.approx(speech.size * 16000 / RATE, abs=2)
    bad = speech.copy()
    bad[10] = np.nan
    with pytest.raises(AudioError, match="non_finite_samples"):
        standardize_array(bad, RATE)


def test_clip_fractions_are_exact_across_block_boundaries() -> None:
    rate = 8000  # the in-memory blocks are 10 s long: frame 1000 starts the second block
    rng = np.random.default_rng(9)
    x = np.clip(0.1 * rng.standard_normal(rate * 12), -0.5, 0.5).astype(np.float32)
    x[rate * 10 - 40 : rate * 10 + 40] = -1.0  # last 40 samples of frame 999, first 40 of 1000
    result = standardize_array(x, rate, StandardizeConfig(max_clipping_ratio=0.5))
    fractions = result.frames.clip_fraction
    assert fractions.size == 1200
    assert np.flatnonzero(fractions).tolist() == [999, 1000]
    assert fractions[999] == pytest.approx(0.5) and fractions[1000] == pytest.approx(0.5)
    assert result.measurements.clipping_ratio == pytest.approx(80 / x.size)
