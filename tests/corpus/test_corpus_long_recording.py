from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicemill.corpus import write_long_recording
from voicemill.corpus.sentences import sentence_pool


def test_duration_sentences_and_transcript(tmp_path: Path) -> None:
    info = write_long_recording(tmp_path / "long.flac", 0.05, with_transcript=True)
    header = sf.info(tmp_path / "long.flac")
    assert (header.samplerate, header.channels, header.frames) == (16000, 1, 180 * 16000)
    assert info.duration_s == pytest.approx(180.0)
    # 180 s of ~1.5-4 s sentences with 0.8-2.0 s pauses.
    assert 25 <= info.n_sentences <= 80
    assert info.transcript_path is not None
    lines = info.transcript_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == info.n_sentences
    assert set(lines) <= set(sentence_pool("en"))
    audio, _ = sf.read(tmp_path / "long.flac", dtype="float32")
    assert 0.1 < np.abs(audio).max() < 1.0
    assert np.abs(audio[-8000:]).max() == 0  # ends in silence, not mid-sentence


def _peak_bytes(path: Path, hours: float) -> int:
    tracemalloc.start()
    try:
        write_long_recording(path, hours)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_written_blockwise_in_bounded_memory(tmp_path: Path) -> None:
    write_long_recording(tmp_path / "warm-up.flac", 0.001)  # imports and caches
    short = _peak_bytes(tmp_path / "short.flac", 0.01)
    long = _peak_bytes(tmp_path / "long.flac", 0.1)
    whole_file = 0.1 * 3600 * 16000 * 4  # the long file as one float32 array
    assert long < whole_file / 8
    assert long < 1.25 * short  # memory does not grow with the duration


def test_deterministic_per_seed_and_honours_sample_rate(tmp_path: Path) -> None:
    a = write_long_recording(tmp_path / "a.flac", 0.005, sample_rate=22050, seed=1)
    b = write_long_recording(tmp_path / "b.flac", 0.005, sample_rate=22050, seed=1)
    c = write_long_recording(tmp_path / "c.flac", 0.005, sample_rate=22050, seed=2)
    assert a.transcript_path is None and not (tmp_path / "a.txt").exists()
    assert sf.info(a.path).samplerate == 22050
    first, second, third = (sf.read(x.path)[0] for x in (a, b, c))
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, third)
