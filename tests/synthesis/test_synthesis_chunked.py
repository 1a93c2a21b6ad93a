"""Token-chunked vocoding on tiny random models: when chunks come, what they add up to."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voicemill.synthesis import InferencePreset, SynthesisEngine
from voicemill.synthesis.chunked import ChunkedVocoder, ChunkPlan
from voicemill.synthesis.types import SAMPLES_PER_TOKEN

QUIET = InferencePreset(seed=3, noise_scale=0.0)  # no prior noise: context is the only change


@pytest.fixture
def setup(engine: SynthesisEngine, reference):
    voice = engine.prepare_voice(reference, "Hello there.", "en")
    segment = engine.segments("This is a sentence that will be spoken in chunks.", "en")[0]
    tokens = torch.randint(0, 1024, (150,), generator=torch.Generator().manual_seed(1)).tolist()
    return engine, voice, segment, tokens


def _vocoder(setup, preset: InferencePreset = QUIET, plan: ChunkPlan | None = None):
    engine, voice, segment, _ = setup
    calls: list[int] = []

    def vocode(window: torch.Tensor, noise_seed: int) -> np.ndarray:
        calls.append(window.numel())
        return engine.vocode(segment, window, voice, preset, noise_seed)

    return ChunkedVocoder(vocode, noise_seed=11, plan=plan), calls


def _stream(vocoder: ChunkedVocoder, tokens: list[int]) -> list[tuple[int, np.ndarray]]:
    """Push tokens one by one as a decoder emits them: (tokens so far, piece) per chunk."""
    out = []
    for n in range(1, len(tokens) + 1):
        for piece in vocoder.push(tokens[:n], finished=n == len(tokens)):
            out.append((n, piece))
    return out


def test_first_audio_needs_only_the_first_chunk_and_its_lookahead(setup) -> None:
    plan = ChunkPlan()
    vocoder, calls = _vocoder(setup, plan=plan)
    pieces = _stream(vocoder, setup[3])
    first_n, first = pieces[0]
    assert first_n == plan.first + plan.lookahead  # not the segment's 150 tokens
    assert first.shape[0] == plan.first * SAMPLES_PER_TOKEN
    sizes = [p.shape[0] // SAMPLES_PER_TOKEN for _, p in pieces]
    assert sizes == [6, 12, 24, 48, 48, 12]  # doubling up to `size`, then the rest
    assert max(calls) == plan.window  # windows never grow past the steady-state length
    assert calls.count(plan.window) >= 2  # the steady state repeats one shape


def test_chunks_add_up_to_the_whole_decode(setup) -> None:
    engine, voice, segment, tokens = setup
    whole = engine.decode_tokens(segment, torch.tensor(tokens), voice, QUIET, 0)
    audio = np.concatenate([p for _, p in _stream(_vocoder(setup)[0], tokens)])
    assert audio.shape == whole.shape
    snr = 10 * np.log10(np.sum(whole**2) / np.sum((audio - whole) ** 2))
    assert snr > 30, f"chunked audio drifts from the whole decode: {snr:.1f} dB"
    # Without the context windows the seams show: much further from the whole decode.
    bare = ChunkPlan(left=0, lookahead=0, fade=0)
    seams = np.concatenate([p for _, p in _stream(_vocoder(setup, plan=bare)[0], tokens)])
    bare_snr = 10 * np.log10(np.sum(whole**2) / np.sum((seams - whole) ** 2))
    assert bare_snr < snr - 3


def test_boundaries_depend_on_tokens_not_on_when_they_are_pushed(setup) -> None:
    """A worker that reaches this segment late pushes many tokens at once: same audio."""
    preset = InferencePreset(seed=3)  # with prior noise: seeded per window
    _, _, _, tokens = setup
    steady = np.concatenate([p for _, p in _stream(_vocoder(setup, preset)[0], tokens)])
    late, _ = _vocoder(setup, preset)
    burst = late.push(tokens[:100], finished=False) + late.push(tokens, finished=True)
    np.testing.assert_array_equal(np.concatenate(burst), steady)


def test_a_segment_shorter_than_the_first_chunk_comes_whole(setup) -> None:
    vocoder, calls = _vocoder(setup)
    tokens = setup[3][:4]
    pieces = _stream(vocoder, tokens)
    assert [n for n, _ in pieces] == [4] and calls == [4]
    assert pieces[0][1].shape[0] == 4 * SAMPLES_PER_TOKEN
    assert vocoder.push(tokens, finished=True) == []  # nothing is sent twice


def test_gain_only_falls_and_keeps_audio_in_range(setup) -> None:
    engine, voice, segment, tokens = setup

    def loud(window: torch.Tensor, noise_seed: int) -> np.ndarray:
        audio = engine.vocode(segment, window, voice, QUIET, noise_seed)
        return audio * (3.0 / max(1e-6, float(np.abs(audio).max())))

    vocoder = ChunkedVocoder(loud, noise_seed=0)
    audio = np.concatenate([p for _, p in _stream(vocoder, tokens)])
    assert np.abs(audio).max() <= 1.0 + 1e-6
    assert 0 < vocoder.gain < 1
