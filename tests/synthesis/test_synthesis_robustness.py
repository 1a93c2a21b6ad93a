"""Long mixed-language input goes through the whole engine without errors."""

from __future__ import annotations

import numpy as np

from voicemill.synthesis import InferencePreset, SynthesisEngine
from voicemill.synthesis.types import SAMPLES_PER_TOKEN

SENTENCES = [
    "今天天气很好，我们去公园散步吧。",
    "The quick brown fox jumps over the lazy dog, doesn't it?",
    "我在2024年3月15日买了3.5公斤苹果，花了128元。",
    "Meet me at 10:30 at the café on 5th Avenue; bring the USB-C cable!",
    "这个API的response time大概是200ms左右。",
    "Well... I think so — maybe (or maybe not)?!",
    "他说：“你好吗？” 我说：“我很好，谢谢！”",
    "GPT-SoVITS clones voices from about one minute of data.",
]


def test_two_thousand_characters_of_mixed_text(engine: SynthesisEngine, reference) -> None:
    text = ""
    i = 0
    while len(text) < 2000:
        text += SENTENCES[i % len(SENTENCES)] + " "
        i += 1
    text = text[:2000]
    voice = engine.prepare_voice(reference, "Hello there, this is my voice.", "en")
    preset = InferencePreset(seed=1, max_new_tokens=12, batch_size=8)
    result = engine.synthesize(text, voice, preset)
    assert len(result.segments) >= 20
    assert np.isfinite(result.audio).all() and np.abs(result.audio).max() <= 1.0
    tokens = sum(s.tokens for s in result.segments)
    gaps = round(0.3 * 32000) * (len(result.segments) - 1)
    assert result.audio.size == tokens * SAMPLES_PER_TOKEN + gaps
