"""The release gate: does a challenger earn ``champion``?

Every challenger must clear absolute floors (mean intelligibility error, speaker
similarity and DNSMOS over the benchmark prompts); the first version of a voice is
judged on those alone. When a champion exists, the challenger must also be
*non-inferior* to it on the same prompts: for the per-prompt paired differences
(challenger - champion) the bootstrap confidence interval must stay within the
configured margins — the error may not be worse by more than ``error_margin``, the
similarity not lower by more than ``similarity_margin``. Non-inferiority rather than
"significantly better", so a retrain that is as good as the champion can ship, while a
noisy small win never masks a real regression.

Every prompt must also be audible (longer than ``min_audio_s``, louder than
``min_level_dbfs``), in every mode and under any thresholds: empty or silent audio
reads as an error rate of exactly 1.0 and a meaningless similarity, which lenient
thresholds (the demo's) would otherwise let through.

A metric a prompt could not be scored on (e.g. Mandarin prompts with an English-only
ASR judge) is left out of that metric's comparison; a metric with no scored prompt at
all fails its check, since nothing measured is nothing earned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from voicemill.evaluation import UtteranceScores, inaudible_prompts, paired_bootstrap_values


class GateConfig(BaseModel):
    """Thresholds of the gate. Defaults suit production voices; the demo overrides them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_error: float = Field(0.3, ge=0, description="mean WER (en) / CER (zh) ceiling")
    min_similarity: float | None = Field(
        0.75,
        ge=-1,
        le=1,
        description="speaker-similarity floor; None reports similarity without gating on it "
        "(for voices the speaker encoder cannot score yet, e.g. a barely trained tiny test "
        "voice whose output has no voiced frames; never for a production voice)",
    )
    min_dnsmos: float = Field(2.5, ge=0, le=5)
    error_margin: float = Field(0.03, ge=0, description="how much worse than champion is OK")
    similarity_margin: float = Field(0.03, ge=0)
    confidence: float = Field(0.95, gt=0, lt=1)
    n_resamples: int = Field(10_000, ge=100)
    seed: int = Field(0, ge=0)
    min_level_dbfs: float = Field(
        -50.0, ge=-100, le=0, description="every prompt's RMS level at least this"
    )
    min_audio_s: float = Field(0.3, ge=0.05, description="every prompt's audio at least this")


class GateCheck(BaseModel):
    name: str
    passed: bool
    value: float | None  # the measured mean, or the CI bound that decided an A/B check
    threshold: float
    detail: str


class GateDecision(BaseModel):
    passed: bool
    mode: Literal["absolute", "ab"]
    checks: list[GateCheck]

    def failures(self) -> list[GateCheck]:
        return [c for c in self.checks if not c.passed]

    def summary(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        lines = [f"gate {verdict} ({self.mode})"]
        lines += [f"  {'ok ' if c.passed else 'NO '} {c.name}: {c.detail}" for c in self.checks]
        return "\n".join(lines)


def _values(scores: Sequence[UtteranceScores], metric: str) -> dict[str, float]:
    return {s.prompt_id: v for s in scores if (v := s.metric(metric)) is not None}


def _floor(
    scores: Sequence[UtteranceScores], metric: str, threshold: float, higher_is_better: bool
) -> GateCheck:
    values = list(_values(scores, metric).values())
    name = f"{metric} {'>=' if higher_is_better else '<='} {threshold:g}"
    if not values:
        return GateCheck(
            name=name, passed=False, value=None, threshold=threshold, detail="no prompt scored"
        )
    mean = sum(values) / len(values)
    passed = mean >= threshold if higher_is_better else mean <= threshold
    detail = f"mean {mean:.3f} over {len(values)} prompts"
    return GateCheck(name=name, passed=passed, value=mean, threshold=threshold, detail=detail)


def _audible(scores: Sequence[UtteranceScores], cfg: GateConfig) -> GateCheck:
    silent = inaudible_prompts(scores, cfg.min_level_dbfs, cfg.min_audio_s)
    name = f"audible (>= {cfg.min_audio_s:g} s, >= {cfg.min_level_dbfs:g} dBFS)"
    if not scores:
        detail = "no prompt scored"
    elif silent:
        detail = f"{len(silent)} of {len(scores)} prompts silent or empty: {', '.join(silent[:5])}"
    else:
        detail = f"all {len(scores)} prompts"
    return GateCheck(
        name=name,
        passed=bool(scores) and not silent,
        value=float(len(silent)),
        threshold=0.0,
        detail=detail,
    )


def _non_inferior(
    challenger: Sequence[UtteranceScores],
    champion: Sequence[UtteranceScores],
    metric: str,
    margin: float,
    higher_is_better: bool,
    cfg: GateConfig,
) -> GateCheck:
    ours, theirs = _values(challenger, metric), _values(champion, metric)
    shared = sorted(ours.keys() & theirs.keys())
    name = f"{metric} vs champion (margin {margin:g})"
    if len(shared) < 2:
        detail = f"{len(shared)} prompts scored on both sides; need at least 2"
        return GateCheck(name=name, passed=False, value=None, threshold=margin, detail=detail)
    result = paired_bootstrap_values(
        [ours[p] for p in shared],
        [theirs[p] for p in shared],
        metric=metric,
        n_resamples=cfg.n_resamples,
        seed=cfg.seed,
        confidence=cfg.confidence,
    )
    # The worst plausible difference for the challenger decides.
    bound = result.ci_low if higher_is_better else result.ci_high
    passed = bound >= -margin if higher_is_better else bound <= margin
    detail = (
        f"challenger - champion = {result.mean_difference:+.3f} "
        f"[{result.ci_low:+.3f}, {result.ci_high:+.3f}] at {cfg.confidence:.0%} "
        f"over {result.n_pairs} prompts"
    )
    return GateCheck(name=name, passed=passed, value=bound, threshold=margin, detail=detail)


def evaluate_gate(
    challenger: Sequence[UtteranceScores],
    champion: Sequence[UtteranceScores] | None,
    cfg: GateConfig,
) -> GateDecision:
    """Absolute floors always; paired non-inferiority against ``champion`` when given."""
    gate_similarity = cfg.min_similarity is not None
    checks = [
        _audible(challenger, cfg),
        _floor(challenger, "primary_error", cfg.max_error, higher_is_better=False),
        _floor(challenger, "dnsmos_ovrl", cfg.min_dnsmos, higher_is_better=True),
    ]
    if gate_similarity:
        checks.insert(2, _floor(challenger, "similarity", cfg.min_similarity, True))
    if champion is not None:
        checks.append(
            _non_inferior(challenger, champion, "primary_error", cfg.error_margin, False, cfg)
        )
        if gate_similarity:
            checks.append(
                _non_inferior(challenger, champion, "similarity", cfg.similarity_margin, True, cfg)
            )
    return GateDecision(
        passed=all(c.passed for c in checks),
        mode="absolute" if champion is None else "ab",
        checks=checks,
    )
