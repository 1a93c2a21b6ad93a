"""The synthesis engine: text + a 3-10 s reference voice -> 32 kHz speech (GPT-SoVITS v2)."""

from voicemill.synthesis.engine import SynthesisEngine
from voicemill.synthesis.errors import SynthesisError
from voicemill.synthesis.types import InferencePreset, SegmentTiming, SynthesisResult
from voicemill.synthesis.voice import Voice

__all__ = [
    "InferencePreset",
    "SegmentTiming",
    "SynthesisEngine",
    "SynthesisError",
    "SynthesisResult",
    "Voice",
]
