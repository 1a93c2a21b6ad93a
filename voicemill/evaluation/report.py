"""Typed per-utterance scores, their aggregate, and the real-time factor.

These are what every checkpoint evaluation produces and what the release gate and the
nightly regression compare; they carry no audio, so they serialize to JSON as is.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from voicemill.evaluation.errors import EvaluationError
from voicemill.evaluation.intelligibility import PRIMARY_METRIC

# Per-utterance numeric fields that can be aggregated, compared and plotted.
METRICS: tuple[str, ...] = (
    "cer",
    "wer",
    "primary_error",
    "similarity",
    "dnsmos_ovrl",
    "rtf",
    "audio_duration_s",
)


class UtteranceScores(BaseModel):
    """All scores of one synthesized evaluation prompt. A metric that could not be
    computed (e.g. no held-out references for similarity) is ``None``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt_id: str = Field(min_length=1)
    text: str
    language: Literal["en", "zh"]
    cer: float | None = Field(None, ge=0)
    wer: float | None = Field(None, ge=0)
    similarity: float | None = Field(None, ge=-1, le=1)
    dnsmos_ovrl: float | None = Field(None, ge=0, le=5)
    rtf: float | None = Field(None, ge=0)
    audio_duration_s: float = Field(ge=0)
    level_dbfs: float | None = Field(
        None, le=0, description="RMS level of the audio (digital silence: -120); None if empty"
    )
    hypothesis: str | None = None  # what the ASR judge heard, for inspection

    @property
    def primary_error(self) -> float | None:
        """WER for English, CER for Mandarin (see :data:`PRIMARY_METRIC`)."""
        return getattr(self, PRIMARY_METRIC[self.language])

    def metric(self, name: str) -> float | None:
        """The value of one of :data:`METRICS` by name."""
        if name not in METRICS:
            raise EvaluationError("unknown_metric", f"{name!r} is not one of {list(METRICS)}")
        return getattr(self, name)


SILENCE_DBFS = -120.0


def level_dbfs(audio: object) -> float | None:
    """RMS level of ``audio`` in dBFS, floored at :data:`SILENCE_DBFS`; None when empty."""
    import numpy as np

    samples = np.asarray(audio, dtype=np.float64)
    if samples.size == 0:
        return None
    rms = float(np.sqrt(np.mean(np.square(samples))))
    return max(SILENCE_DBFS, 20.0 * math.log10(rms)) if rms > 0 else SILENCE_DBFS


def inaudible_prompts(
    scores: Sequence[UtteranceScores], min_level_dbfs: float, min_audio_s: float
) -> list[str]:
    """Prompts whose audio is empty, shorter than ``min_audio_s`` or quieter than
    ``min_level_dbfs`` (or whose level was never measured): such audio says nothing,
    whatever an error rate near 1.0 or a similarity of noise would let through."""
    return [
        s.prompt_id
        for s in scores
        if s.audio_duration_s < min_audio_s or s.level_dbfs is None or s.level_dbfs < min_level_dbfs
    ]


class MetricSummary(BaseModel):
    """Mean over the utterances that have the metric, and how many do."""

    model_config = ConfigDict(frozen=True)

    mean: float | None
    count: int


class EvaluationSummary(BaseModel):
    """Aggregate of one checkpoint's evaluation set."""

    model_config = ConfigDict(frozen=True)

    n_utterances: int
    total_audio_s: float
    languages: dict[str, int]
    cer: MetricSummary
    wer: MetricSummary
    primary_error: MetricSummary
    similarity: MetricSummary
    dnsmos_ovrl: MetricSummary
    rtf: MetricSummary

    def flat_metrics(self, prefix: str = "") -> dict[str, float]:
        """``{"cer_mean": .., "cer_count": .., ..., "n_utterances": ..}`` for metric
        loggers; means that are ``None`` (no utterance had the metric) are left out."""
        out: dict[str, float] = {
            f"{prefix}n_utterances": float(self.n_utterances),
            f"{prefix}total_audio_s": self.total_audio_s,
        }
        for name in ("cer", "wer", "primary_error", "similarity", "dnsmos_ovrl", "rtf"):
            stats: MetricSummary = getattr(self, name)
            out[f"{prefix}{name}_count"] = float(stats.count)
            if stats.mean is not None:
                out[f"{prefix}{name}_mean"] = stats.mean
        return out


def summarize(scores: Sequence[UtteranceScores]) -> EvaluationSummary:
    """Means (over utterances that have each metric) and counts."""

    def stats(name: str) -> MetricSummary:
        values = [v for s in scores if (v := s.metric(name)) is not None]
        return MetricSummary(
            mean=math.fsum(values) / len(values) if values else None, count=len(values)
        )

    return EvaluationSummary(
        n_utterances=len(scores),
        total_audio_s=math.fsum(s.audio_duration_s for s in scores),
        languages=dict(sorted(Counter(s.language for s in scores).items())),
        cer=stats("cer"),
        wer=stats("wer"),
        primary_error=stats("primary_error"),
        similarity=stats("similarity"),
        dnsmos_ovrl=stats("dnsmos_ovrl"),
        rtf=stats("rtf"),
    )


def real_time_factor(processing_s: float, audio_duration_s: float) -> float:
    """Seconds of compute per second of audio produced (< 1 is faster than real time)."""
    if not audio_duration_s > 0:
        raise EvaluationError(
            "audio_too_short", f"real-time factor of {audio_duration_s!r} s of audio is undefined"
        )
    if not processing_s >= 0:
        raise EvaluationError("invalid_timing", f"processing time {processing_s!r} s is invalid")
    return processing_s / audio_duration_s
