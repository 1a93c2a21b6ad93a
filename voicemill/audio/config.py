"""Configuration of standardization and segmentation, as plain pydantic models.

Kept apart from the signal code so that importing a config (the Dagster
launchpad does, at definitions load) costs no scipy, soxr or torch.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class StandardizeConfig(BaseModel):
    """Targets and rejection thresholds of standardization."""

    model_rate: int = Field(32000, gt=0, description="GPT-SoVITS model sample rate.")
    ssl_rate: int = Field(16000, gt=0, description="Rate for SSL features, VAD and ASR.")
    target_lufs: float = -20.0
    true_peak_ceiling_dbtp: float = -1.0
    clip_threshold: float = Field(0.999, gt=0, description="|sample| counted as clipped.")
    max_clipping_ratio: float = Field(0.01, ge=0, description="Above: heavy_clipping.")
    min_duration_s: float = Field(0.5, ge=0)
    silence_lufs: float = Field(-60.0, description="Input loudness below this: silent.")


class SegmentationConfig(BaseModel):
    """VAD hysteresis, duration limits and per-segment quality gates."""

    threshold: float = Field(0.5, gt=0, lt=1)
    neg_threshold: float = Field(0.35, gt=0, lt=1)
    min_silence_s: float = Field(0.3, ge=0)
    min_duration_s: float = Field(1.0, ge=0)
    max_duration_s: float = Field(15.0, gt=0)
    pad_s: float = Field(0.15, ge=0)
    max_clipping_ratio: float = Field(0.001, ge=0)
    min_snr_db: float = 15.0
    merge_gap_s: float = Field(1.0, ge=0, description="Longest pause a short region merges over.")
    noise_context_s: float = Field(5.0, gt=0, description="Reach of the local noise floor.")
