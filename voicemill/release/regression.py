"""Nightly regression: does a champion still score what it scored when it was released?

Synthesis is seeded and runs in fp32, so a healthy champion reproduces its registration
scores; drift means something under it changed (libraries, the judge, the benchmark's
lexicon, hardware numerics). The comparison is per metric over the prompts scored both
times: intelligibility error may not rise, and similarity and DNSMOS may not fall, by
more than their tolerances; and every prompt must still be audible (a champion that
now says nothing regresses, whatever its error rate was at release).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from voicemill.evaluation import UtteranceScores, inaudible_prompts

# metric -> +1 when higher is worse (an error rate), -1 when higher is better
_DIRECTION = {"primary_error": 1, "similarity": -1, "dnsmos_ovrl": -1}


class RegressionTolerance(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    primary_error: float = Field(0.02, description="allowed rise of mean WER/CER")
    similarity: float = Field(0.02, description="allowed fall of mean similarity")
    dnsmos_ovrl: float = Field(0.1, description="allowed fall of mean DNSMOS")
    min_level_dbfs: float = Field(-50.0, description="every prompt's RMS level at least this")
    min_audio_s: float = Field(0.3, description="every prompt's audio at least this long")


class RegressionResult(BaseModel):
    scores: dict[str, float]  # metric -> mean now
    baseline: dict[str, float]  # metric -> mean at registration, same prompts
    drift: dict[str, float]  # now - baseline
    regressed: list[str]  # metrics beyond tolerance
    prompts: int

    @property
    def passed(self) -> bool:
        return not self.regressed


def compare_to_baseline(
    current: Sequence[UtteranceScores],
    baseline: Sequence[UtteranceScores],
    tolerance: RegressionTolerance,
) -> RegressionResult:
    """Mean of each metric over the prompts that have it in both evaluations."""
    before = {s.prompt_id: s for s in baseline}
    scores, base, drift, regressed = {}, {}, {}, []
    shared = [s for s in current if s.prompt_id in before]
    for metric, direction in _DIRECTION.items():
        pairs = [
            (now, then)
            for s in shared
            if (now := s.metric(metric)) is not None
            and (then := before[s.prompt_id].metric(metric)) is not None
        ]
        if not pairs:
            continue
        scores[metric] = sum(n for n, _ in pairs) / len(pairs)
        base[metric] = sum(t for _, t in pairs) / len(pairs)
        drift[metric] = scores[metric] - base[metric]
        if direction * drift[metric] > getattr(tolerance, metric):
            regressed.append(metric)
    if not current or inaudible_prompts(current, tolerance.min_level_dbfs, tolerance.min_audio_s):
        regressed.append("audible")
    return RegressionResult(
        scores=scores, baseline=base, drift=drift, regressed=regressed, prompts=len(shared)
    )
