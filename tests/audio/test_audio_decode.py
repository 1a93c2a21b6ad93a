"""Decoding: every common format and depth streams correctly; bad files get their reason."""

from __future__ import annotations

import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicemill.audio.decode import iter_blocks, open_blocks, probe
from voicemill.audio.errors import AudioError


def _tone(rate: int, seconds: float = 1.0, channels: int = 1, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    cols = [amp * np.sin(2 * np.pi * (220.0 * (c + 1)) * t) for c in range(channels)]
    return np.stack(cols, axis=1).astype(np.float32)


def _decode_all(path: Path, block_seconds: float = 0.25) -> np.ndarray:
    return np.concatenate(list(iter_blocks(path, block_seconds=block_seconds)))


# (format, subtype, extension, rate, max abs error against the written signal)
LOSSLESS = [
    ("WAV", "PCM_U8", "wav", 8000, 1 / 64),
    ("WAV", "PCM_16", "wav", 11025, 1e-4),
    ("WAV", "PCM_24", "wav", 44100, 1e-6),
    ("WAV", "PCM_32", "wav", 96000, 1e-6),
    ("WAV", "FLOAT", "wav", 48000, 0.0),
    ("WAV", "DOUBLE", "wav", 22050, 1e-7),
    ("FLAC", "PCM_S8", "flac", 16000, 1 / 64),
    ("FLAC", "PCM_16", "flac", 32000, 1e-4),
    ("FLAC", "PCM_24", "flac", 96000, 1e-6),
]


@pytest.mark.parametrize(("fmt", "subtype", "ext", "rate", "tolerance"), LOSSLESS)
def test_lossless_formats_decode_exactly(
    tmp_path: Path, fmt: str, subtype: str, ext: str, rate: int, tolerance: float
) -> None:
    x = _tone(rate, 0.8, channels=2)
    path = tmp_path / f"a.{ext}"
    sf.write(path, x, rate, format=fmt, subtype=subtype)
    info = probe(path)
    assert (info.sample_rate, info.channels, info.frames) == (rate, 2, x.shape[0])
    assert info.subtype == subtype
    y = _decode_all(path)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.abs(y - x).max() <= tolerance


@pytest.mark.parametrize(
    ("fmt", "subtype", "ext", "rate"),
    [
        ("MP3", "MPEG_LAYER_III", "mp3", 44100),
        ("OGG", "VORBIS", "ogg", 22050),
        ("OGG", "OPUS", "opus", 48000),
    ],
)
def test_lossy_formats_keep_the_signal(
    tmp_path: Path, fmt: str, subtype: str, ext: str, rate: int
) -> None:
    x = _tone(rate, 1.5)
    path = tmp_path / f"a.{ext}"
    sf.write(path, x, rate, format=fmt, subtype=subtype)
    info = probe(path)
    assert info.sample_rate == rate and info.channels == 1
    y = _decode_all(path)[:, 0]
    assert abs(y.size - x.shape[0]) < 0.05 * rate
    # Same loudness and the same 220 Hz tone, whatever the codec's delay.
    assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(x**2)), rel=0.1)
    spectrum = np.abs(np.fft.rfft(y))
    assert np.fft.rfftfreq(y.size, 1 / rate)[np.argmax(spectrum)] == pytest.approx(220, abs=3)


def test_96k_six_channels_streams_in_blocks(tmp_path: Path) -> None:
    rate = 96000
    x = _tone(rate, 2.0, channels=6, amp=0.1)
    path = tmp_path / "surround.wav"
    sf.write(path, x, rate, subtype="PCM_24")
    info, blocks = open_blocks(path, block_seconds=0.5)
    assert (info.sample_rate, info.channels) == (rate, 6)
    parts = list(blocks)
    assert len(parts) == 4
    assert all(p.shape == (rate // 2, 6) for p in parts)
    np.testing.assert_allclose(np.concatenate(parts), x, atol=1e-6)


def test_m4a_falls_back_to_ffmpeg(tmp_path: Path) -> None:
    rate = 44100
    wav, m4a = tmp_path / "a.wav", tmp_path / "a.m4a"
    sf.write(wav, _tone(rate, 1.0, channels=2), rate)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", "aac", str(m4a)], check=True
    )
    info = probe(m4a)
    assert info.subtype == "aac" and "mp4" in info.container
    assert (info.sample_rate, info.channels) == (rate, 2)
    y = _decode_all(m4a)
    assert y.shape[1] == 2 and abs(y.shape[0] - rate) < 0.05 * rate
    assert np.sqrt(np.mean(y**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


def test_truncated_wav_data_decodes_what_exists(tmp_path: Path) -> None:
    rate = 16000
    x = _tone(rate, 1.0)
    full, cut = tmp_path / "full.wav", tmp_path / "cut.wav"
    sf.write(full, x, rate, subtype="PCM_16")
    data = full.read_bytes()
    cut.write_bytes(data[: 44 + 2 * 6000])  # header says 16000 frames, 6000 exist
    y = _decode_all(cut)
    assert y.shape[0] == 6000
    np.testing.assert_allclose(y[:, 0], x[:6000, 0], atol=1e-4)


def _bad_file(tmp_path: Path, kind: str) -> Path:
    rng = np.random.default_rng(1234)
    rate = 16000
    good_wav, good_flac = tmp_path / "good.wav", tmp_path / "good.flac"
    sf.write(good_wav, _tone(rate, 1.0), rate, subtype="PCM_16")
    sf.write(good_flac, 0.3 * rng.standard_normal((rate * 2, 1)), rate, subtype="PCM_16")
    path = tmp_path / f"bad-{kind}"
    if kind == "empty":
        path = path.with_suffix(".wav")
        path.write_bytes(b"")
    elif kind == "wav_cut_in_header":
        path = path.with_suffix(".wav")
        path.write_bytes(good_wav.read_bytes()[:30])
    elif kind == "random_bytes":
        path = path.with_suffix(".wav")
        path.write_bytes(b"\x00" + rng.integers(0, 256, 20000, dtype=np.uint8).tobytes())
    elif kind == "text":
        path = path.with_suffix(".flac")
        path.write_text("this is not audio at all\n" * 40)
    elif kind == "jpeg":
        path = path.with_suffix(".wav")
        path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(4000))
    elif kind == "flac_cut":
        path = path.with_suffix(".flac")
        data = good_flac.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "flac_garbage":
        path = path.with_suffix(".flac")
        data = good_flac.read_bytes()
        garbage = rng.integers(0, 256, len(data) - 200, dtype=np.uint8).tobytes()
        path.write_bytes(data[:200] + garbage)
    elif kind == "one_sample":
        path = path.with_suffix(".wav")
        sf.write(path, np.array([0.5], dtype=np.float32), rate, subtype="PCM_16")
    elif kind in ("nan", "inf"):
        path = path.with_suffix(".wav")
        x = _tone(rate, 1.0)
        x[12345, 0] = np.nan if kind == "nan" else np.inf
        sf.write(path, x, rate, subtype="FLOAT")
    elif kind == "missing":
        path = path.with_suffix(".wav")
    return path


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("empty", "empty_file"),
        ("wav_cut_in_header", "corrupt_audio"),
        ("random_bytes", "not_audio"),
        ("text", "not_audio"),
        ("jpeg", "not_audio"),
        ("flac_cut", "corrupt_audio"),
        ("flac_garbage", "corrupt_audio"),
        ("one_sample", "too_short"),
        ("nan", "non_finite_samples"),
        ("inf", "non_finite_samples"),
        ("missing", "file_not_found"),
    ],
)
def test_bad_inputs_raise_their_reason(tmp_path: Path, kind: str, reason: str) -> None:
    path = _bad_file(tmp_path, kind)
    with pytest.raises(AudioError) as caught:
        _decode_all(path)
    assert caught.value.reason == reason
    assert str(path.name) in caught.value.detail


def test_min_duration_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "short.wav"
    sf.write(path, _tone(16000, 0.3), 16000)
    assert probe(path).duration_s == pytest.approx(0.3)
    with pytest.raises(AudioError, match="too_short"):
        probe(path, min_duration_s=0.5)


def test_audio_error_is_readable_and_survives_pickling() -> None:
    error = AudioError("corrupt_audio", "x.flac: lost sync")
    assert str(error) == "corrupt_audio: x.flac: lost sync"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, copy.detail) == ("corrupt_audio", "x.flac: lost sync")
