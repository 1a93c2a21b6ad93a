"""Public request/response types of the synthesis engine (pydantic, no torch)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

MODEL_SAMPLE_RATE = 32_000
SAMPLES_PER_TOKEN = 2 * 640  # one 25 Hz semantic token = two 50 Hz frames of 640 samples


class InferencePreset(BaseModel):
    """Sampling and rendering knobs; defaults are upstream ``api_v2.py``'s (FACTS §8)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    top_k: int = Field(15, ge=1)
    top_p: float = Field(1.0, gt=0, le=1)
    temperature: float = Field(1.0, gt=0)
    repetition_penalty: float = Field(1.35, gt=0)
    speed: float = Field(1.0, gt=0, description="Speech rate; >1 is faster (shorter audio).")
    seed: int = Field(-1, ge=-1, description="-1 draws a fresh seed (reported in the result).")
    noise_scale: float = Field(0.5, ge=0, description="SoVITS prior noise (decode default).")
    batch_size: int = Field(1, ge=1, description="Text segments decoded together by the GPT.")
    fragment_interval_s: float = Field(0.3, ge=0, description="Silence between segments.")
    max_new_tokens: int = Field(
        1500, ge=1, le=1500, description="Token cap per segment (1500 = 60 s, upstream's)."
    )


class SegmentTiming(BaseModel):
    """Where one text segment's speech lies in the output audio."""

    text: str
    start_s: float
    end_s: float
    tokens: int  # semantic tokens the GPT produced for it (25 per second at speed 1)


class SynthesisResult(BaseModel):
    """Mono float32 audio in [-1, 1] at 32 kHz plus per-segment timings."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    audio: np.ndarray
    sample_rate: int = MODEL_SAMPLE_RATE
    segments: list[SegmentTiming]
    seed: int  # the seed actually used, so a random draw can be reproduced

    @property
    def duration_s(self) -> float:
        return self.audio.shape[0] / self.sample_rate
