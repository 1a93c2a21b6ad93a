"""Segmentation: Silero VAD + hysteresis, split/merge rules, per-segment quality gates."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicemill.audio.errors import AudioError
from voicemill.audio.frames import FrameFeatures
from voicemill.audio.segment import (
    Segment,
    SegmentationConfig,
    read_segment,
    segment_probabilities,
    segment_recording,
    write_segment,
)
from voicemill.audio.standardize import StandardizeConfig, standardize_file
from voicemill.audio.vad import WINDOW_S

RATE = 22050


def _segments(out, config: SegmentationConfig | None = None) -> list[Segment]:
    return segment_recording(out.ssl, out.frames, config)


@pytest.fixture(scope="module")
def four_sentences(tmp_path_factory: pytest.TempPathFactory, compose: Callable, sentences):
    """Four sentences with 1.5 s pauses, standardized once for the module."""
    rec = compose([1.0, sentences[0], 1.5, sentences[1], 1.5, sentences[2], 1.5, sentences[3], 1.0])
    folder = tmp_path_factory.mktemp("four")
    src = folder / "src.wav"
    sf.write(src, 0.5 * rec.audio, RATE, subtype="PCM_16")
    paths = (folder / "m.wav", folder / "s.wav", folder / "f.npz")
    standardize_file(src, *paths)
    return rec, paths


def test_four_sentences_give_four_segments_around_the_speech(four_sentences) -> None:
    rec, (_model, ssl, frames) = four_sentences
    segments = segment_recording(ssl, frames)
    assert [s.index for s in segments] == [0, 1, 2, 3]
    duration = sf.info(ssl).duration
    for seg, (start, end) in zip(segments, rec.spans, strict=True):
        assert abs(seg.start_s - start) <= 0.3 and abs(seg.end_s - end) <= 0.3
        assert seg.start_s <= start + 0.1 and seg.end_s >= end - 0.1  # the speech is inside
        assert seg.rejection is None
        assert seg.snr_db > 40 and seg.clipping_ratio == 0.0 and seg.speech_prob > 0.7
        assert seg.duration_s == pytest.approx(seg.end_s - seg.start_s)
    assert segments[0].start_s >= 0 and segments[-1].end_s <= duration
    assert all(a.end_s <= b.start_s for a, b in pairwise(segments))


def test_write_and_read_segment_slices(four_sentences, tmp_path: Path) -> None:
    _rec, (model, ssl, frames) = four_sentences
    seg = segment_recording(ssl, frames)[1]
    out = tmp_path / "clips" / "seg1.wav"
    write_segment(model, seg, out)
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.subtype) == (32000, 1, "PCM_16")
    assert info.frames == pytest.approx(seg.duration_s * 32000, abs=1)
    written, _ = sf.read(out, dtype="float32")
    whole, _ = sf.read(model, dtype="float32")
    start = round(seg.start_s * 32000)
    np.testing.assert_array_equal(written, whole[start : start + written.size])

    at16k = read_segment(ssl, seg, 16000)
    assert at16k.dtype == np.float32
    assert at16k.size == pytest.approx(seg.duration_s * 16000, abs=1)
    from_model = read_segment(model, seg, 16000)  # resampled on the fly
    n = min(at16k.size, from_model.size)
    assert np.corrcoef(at16k[:n], from_model[:n])[0, 1] > 0.99


def test_long_region_is_split_under_max_duration(
    compose: Callable, sentences, standardize: Callable
) -> None:
    # 0.15 s pauses are shorter than min_silence_s: VAD sees one ~11 s region.
    rec = compose(
        [0.5, sentences[0], 0.15, sentences[1], 0.15, sentences[2], 0.15, sentences[3], 0.5]
    )
    out = standardize(0.5 * rec.audio)
    one = _segments(out)
    assert len(one) == 1 and one[0].duration_s > 10

    config = SegmentationConfig(max_duration_s=5.0)
    parts = _segments(out, config)
    assert len(parts) >= 3
    assert all(p.rejection is None for p in parts)
    assert all(config.min_duration_s <= p.duration_s <= config.max_duration_s for p in parts)
    # Contiguous pieces of the one region: together they still cover all the speech.
    assert all(abs(a.end_s - b.start_s) < 1e-6 for a, b in pairwise(parts))
    assert parts[0].start_s <= rec.spans[0][0] and parts[-1].end_s >= rec.spans[-1][1] - 0.1
    # The cuts fall in the short pauses between sentences, not inside words.
    pauses = [(a[1], b[0]) for a, b in pairwise(rec.spans)]
    for cut in (p.end_s for p in parts[:-1]):
        assert any(lo - 0.05 <= cut <= hi + 0.05 for lo, hi in pauses), cut


def test_isolated_short_utterance_is_rejected_but_a_close_one_is_merged(
    compose: Callable, sentences, standardize: Callable
) -> None:
    isolated = compose([1.0, sentences[0], 2.5, "Yes.", 2.5, sentences[1], 1.0])
    segs = _segments(standardize(0.5 * isolated.audio))
    assert [s.rejection for s in segs] == [None, "too_short", None]
    assert segs[1].duration_s < 1.0
    yes_start, yes_end = isolated.spans[1]
    assert segs[1].start_s <= yes_start + 0.1 and segs[1].end_s >= yes_end - 0.1

    close = compose([1.0, sentences[0], 0.6, "Yes.", 2.5, sentences[1], 1.0])
    segs = _segments(standardize(0.5 * close.audio))
    assert [s.rejection for s in segs] == [None, None]
    assert segs[0].end_s >= close.spans[1][1] - 0.1  # "Yes." joined the first sentence


def test_noise_flags_segments_noisy_where_it_is(
    compose: Callable, sentences, standardize: Callable
) -> None:
    rec = compose([1.0, sentences[0], 1.5, sentences[1], 1.5, sentences[2], 1.5, sentences[3], 1.0])
    rng = np.random.default_rng(11)
    noise = 0.04 * rng.standard_normal(rec.audio.size).astype(np.float32)

    everywhere = _segments(standardize(0.5 * rec.audio + noise))
    assert len(everywhere) == 4
    assert [s.rejection for s in everywhere] == ["noisy"] * 4
    assert all(s.snr_db < 15 for s in everywhere)

    # Noise switched on in the pause between sentences 2 and 3: only the later ones suffer.
    switch = round((rec.spans[1][1] + 0.75) * RATE)
    noise[:switch] = 0.0
    halfway = _segments(standardize(0.5 * rec.audio + noise))
    assert [s.rejection for s in halfway] == [None, None, "noisy", "noisy"]


def test_clipped_sentence_is_flagged(compose: Callable, sentences, standardize: Callable) -> None:
    rec = compose([1.0, sentences[0], 1.5, sentences[1], 1.5, sentences[2], 1.0])
    x = 0.3 * rec.audio
    start, end = (round(t * RATE) for t in rec.spans[1])
    x[start:end] = np.clip(x[start:end] * 8.0, -1.0, 1.0)
    out = standardize(x, config=StandardizeConfig(max_clipping_ratio=0.05))
    segs = _segments(out)
    assert [s.rejection for s in segs] == [None, "clipped", None]
    assert segs[1].clipping_ratio > 0.001 and segs[0].clipping_ratio == 0.0
    # The segment's ratio comes from the source: it accounts for all clipped samples.
    total_clipped = out.measurements.clipping_ratio * x.size
    segment_clipped = segs[1].clipping_ratio * segs[1].duration_s * RATE
    assert segment_clipped == pytest.approx(total_clipped, rel=0.02)


def test_noise_without_speech_gives_no_segments(standardize: Callable) -> None:
    rng = np.random.default_rng(2)
    out = standardize(0.05 * rng.standard_normal(RATE * 5).astype(np.float32))
    assert _segments(out) == []


def test_vad_needs_16k_audio(tmp_path: Path) -> None:
    path = tmp_path / "a32k.wav"
    sf.write(path, np.zeros(32000, dtype=np.float32), 32000)
    frames = tmp_path / "f.npz"
    FrameFeatures(0.01, np.zeros(100, np.float32), np.zeros(100, np.float32)).save(frames)
    with pytest.raises(AudioError) as caught:
        segment_recording(path, frames)
    assert caught.value.reason == "unsupported_sample_rate"


def test_missing_recording_is_reported(tmp_path: Path) -> None:
    frames = tmp_path / "f.npz"
    FrameFeatures(0.01, np.zeros(10, np.float32), np.zeros(10, np.float32)).save(frames)
    with pytest.raises(AudioError) as caught:
        segment_recording(tmp_path / "nope.wav", frames)
    assert caught.value.reason == "file_not_found"
    with pytest.raises(AudioError) as caught:
        segment_recording(tmp_path / "nope.wav", tmp_path / "nope.npz")
    assert caught.value.reason == "bad_frames_sidecar"


def test_loading_the_vad_keeps_torch_thread_count() -> None:
    # silero_vad sets torch.set_num_threads(1) on import; a fresh process shows whether we undo it.
    script = (
        "import numpy as np, torch\n"
        "torch.set_num_threads(2)\n"
        "from voicemill.audio.vad import speech_probabilities_array\n"
        "p = speech_probabilities_array(np.zeros(16000, np.float32))\n"
        "print(torch.get_num_threads(), p.size)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["2", "32"]


# --- the model-free rules, on made-up probabilities --------------------------------


def _probs(*runs: tuple[int, float]) -> np.ndarray:
    """Runs of (windows, probability); one window is 32 ms."""
    return np.concatenate([np.full(n, p, np.float32) for n, p in runs])


def _flat_frames(duration_s: float) -> FrameFeatures:
    n = round(duration_s / 0.01)
    return FrameFeatures(0.01, np.zeros(n, np.float32), np.full(n, -30.0, np.float32))


def test_hysteresis_bridges_short_dips_and_uncertain_stretches() -> None:
    # silence, speech, 0.19 s dip (< min_silence_s), speech, 1 s at 0.4 (between thresholds),
    # speech, silence: all one region.
    probs = _probs((30, 0.0), (60, 0.9), (6, 0.1), (60, 0.9), (31, 0.4), (30, 0.9), (30, 0.0))
    duration = probs.size * WINDOW_S
    segs = segment_probabilities(probs, _flat_frames(duration), duration)
    assert len(segs) == 1
    assert segs[0].start_s == pytest.approx(30 * WINDOW_S - 0.15)
    assert segs[0].end_s == pytest.approx(217 * WINDOW_S + 0.15)
    assert segs[0].speech_prob == pytest.approx(np.mean(probs[30:217]))


def test_hysteresis_ends_after_min_silence_and_pads_within_the_file() -> None:
    probs = _probs((60, 0.9), (16, 0.1), (60, 0.9))  # a 0.51 s pause splits
    duration = probs.size * WINDOW_S
    segs = segment_probabilities(probs, _flat_frames(duration), duration)
    assert len(segs) == 2
    assert segs[0].start_s == 0.0 and segs[1].end_s == pytest.approx(duration)
    assert segs[0].end_s == pytest.approx(60 * WINDOW_S + 0.15)
    assert segs[1].start_s == pytest.approx(76 * WINDOW_S - 0.15)


def test_close_neighbours_share_the_gap_instead_of_overlapping() -> None:
    probs = _probs((60, 0.9), (6, 0.1), (60, 0.9))  # a 0.19 s pause < 2 * pad_s
    duration = probs.size * WINDOW_S
    config = SegmentationConfig(min_silence_s=0.15)
    segs = segment_probabilities(probs, _flat_frames(duration), duration, config)
    assert len(segs) == 2
    assert segs[0].end_s == pytest.approx(segs[1].start_s)
    assert segs[0].end_s == pytest.approx(63 * WINDOW_S)


def test_unsplittable_region_is_rejected_too_long() -> None:
    probs = _probs((10, 0.0), (100, 0.95), (10, 0.0))  # 3.2 s of speech
    duration = probs.size * WINDOW_S
    config = SegmentationConfig(min_duration_s=2.0, max_duration_s=3.0, pad_s=0.0)
    segs = segment_probabilities(probs, _flat_frames(duration), duration, config)
    assert [s.rejection for s in segs] == ["too_long"]
