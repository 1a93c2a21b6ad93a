"""Paired bootstrap of per-prompt metric differences (challenger minus champion).

Both checkpoints synthesize the same fixed prompts, so per-prompt differences are paired
and the prompt-to-prompt variation (some sentences are simply harder) cancels out. The
percentile interval of the mean difference over ``n_resamples`` resamples of prompts is
what a release gate reads: for CER "challenger is not worse" means the upper bound stays
below a margin; for similarity the lower bound stays above one. numpy only, and the
same seed always gives the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from voicemill.evaluation.errors import EvaluationError
from voicemill.evaluation.report import METRICS, UtteranceScores

# Resampled index matrix is generated in blocks of at most this many entries.
_BLOCK_ENTRIES = 2_000_000


class BootstrapResult(BaseModel):
    """Mean of ``a - b`` over pairs and its percentile confidence interval."""

    model_config = ConfigDict(frozen=True)

    metric: str
    n_pairs: int
    mean_difference: float
    ci_low: float
    ci_high: float
    confidence: float
    n_resamples: int
    seed: int

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies entirely on one side of zero."""
        return self.ci_low > 0 or self.ci_high < 0


def paired_bootstrap(
    a: Sequence[UtteranceScores],
    b: Sequence[UtteranceScores],
    metric: str,
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> BootstrapResult:
    """Paired bootstrap of ``metric`` between two evaluations of the same prompts.

    ``a`` (e.g. the challenger) and ``b`` (the champion) are paired by ``prompt_id``;
    the difference is ``a - b``. Raises :class:`EvaluationError` ``unpaired_scores``
    when lengths or prompt ids differ, ``missing_metric`` when a pair lacks the metric.
    """
    if metric not in METRICS:
        raise EvaluationError("unknown_metric", f"{metric!r} is not one of {list(METRICS)}")
    if len(a) != len(b):
        raise EvaluationError("unpaired_scores", f"{len(a)} scores cannot pair with {len(b)}")
    by_id = {s.prompt_id: s for s in b}
    ids = [s.prompt_id for s in a]
    if len(by_id) != len(b) or len(set(ids)) != len(a):
        raise EvaluationError("unpaired_scores", "prompt ids must be unique on each side")
    if set(ids) != set(by_id):
        missing = sorted(set(ids) ^ set(by_id))[:5]
        raise EvaluationError("unpaired_scores", f"prompt ids differ between sides: {missing}")
    values_a: list[float] = []
    values_b: list[float] = []
    for left in a:
        right = by_id[left.prompt_id]
        va, vb = left.metric(metric), right.metric(metric)
        if va is None or vb is None:
            raise EvaluationError(
                "missing_metric", f"prompt {left.prompt_id!r} has no {metric} on both sides"
            )
        values_a.append(va)
        values_b.append(vb)
    return paired_bootstrap_values(
        values_a,
        values_b,
        metric=metric,
        n_resamples=n_resamples,
        seed=seed,
        confidence=confidence,
    )


def paired_bootstrap_values(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    metric: str = "value",
    n_resamples: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> BootstrapResult:
    """Paired bootstrap over two equal-length arrays already in pair order (``a - b``)."""
    left = np.asarray(a, dtype=np.float64)
    right = np.asarray(b, dtype=np.float64)
    if left.ndim != 1 or right.ndim != 1 or left.shape != right.shape:
        raise EvaluationError(
            "unpaired_scores",
            f"need two equal-length 1-D arrays, got {left.shape} and {right.shape}",
        )
    if left.size < 2:
        raise EvaluationError("unpaired_scores", f"need at least 2 pairs, got {left.size}")
    if not (np.all(np.isfinite(left)) and np.all(np.isfinite(right))):
        raise EvaluationError("missing_metric", f"{metric} values contain NaN or infinity")
    if n_resamples < 1:
        raise EvaluationError("invalid_bootstrap", f"n_resamples must be >= 1, got {n_resamples}")
    if not 0 < confidence < 1:
        raise EvaluationError(
            "invalid_bootstrap", f"confidence must be in (0, 1), got {confidence}"
        )

    diffs = left - right
    n = diffs.size
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples, dtype=np.float64)
    block = max(1, _BLOCK_ENTRIES // n)
    for start in range(0, n_resamples, block):
        stop = min(start + block, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = diffs[idx].mean(axis=1)
    alpha = 1.0 - confidence
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return BootstrapResult(
        metric=metric,
        n_pairs=n,
        mean_difference=float(diffs.mean()),
        ci_low=float(low),
        ci_high=float(high),
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
    )
