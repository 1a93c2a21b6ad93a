"""The engine at reduced precision: same lengths and seeding rules as fp32, close audio."""

from __future__ import annotations

import numpy as np
import pytest

from voicemill.model.precision import Precision, cpu_supports_bf16
from voicemill.synthesis import InferencePreset, SynthesisEngine

TEXT = "Hello world. 你好，世界。"
PRESET = InferencePreset(seed=11, max_new_tokens=12)


@pytest.mark.skipif(not cpu_supports_bf16(), reason="CPU has no bf16 arithmetic")
@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_reduced_precision_engine_is_seeded_and_sized_like_fp32(
    precision: str, make_models, make_ssl, reference
) -> None:
    exact = SynthesisEngine(*make_models(), make_ssl())
    fast = SynthesisEngine(*make_models(), make_ssl(), precision=precision)
    assert exact.precision is Precision.FP32 and fast.precision is Precision(precision)
    voice = fast.prepare_voice(reference, "Hello there, this is a test.", "en")
    first, again = fast.synthesize(TEXT, voice, PRESET), fast.synthesize(TEXT, voice, PRESET)
    np.testing.assert_array_equal(first.audio, again.audio)
    baseline = exact.synthesize(
        TEXT, exact.prepare_voice(reference, "Hello there, this is a test.", "en"), PRESET
    )
    assert [s.tokens for s in first.segments] == [s.tokens for s in baseline.segments]
    assert first.audio.shape == baseline.audio.shape and first.audio.dtype == np.float32
    assert np.isfinite(first.audio).all() and np.abs(first.audio).max() <= 1.0
