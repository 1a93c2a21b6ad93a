"""Per-utterance score models, their aggregate and the paired bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from voicemill.evaluation import (
    EvaluationError,
    UtteranceScores,
    paired_bootstrap,
    paired_bootstrap_values,
    real_time_factor,
    summarize,
)


def _scores(cer: list[float], similarity: list[float] | None = None) -> list[UtteranceScores]:
    similarity = similarity if similarity is not None else [0.8] * len(cer)
    return [
        UtteranceScores(
            prompt_id=f"p{idx:02d}",
            text=f"prompt {idx}",
            language="zh" if idx % 2 else "en",
            cer=c,
            wer=c * 2,
            similarity=s,
            dnsmos_ovrl=3.0,
            rtf=0.5,
            audio_duration_s=2.0,
        )
        for idx, (c, s) in enumerate(zip(cer, similarity, strict=True))
    ]


CER = [0.0, 0.1, 0.05, 0.3, 0.12, 0.0, 0.2, 0.08, 0.15, 0.02]


def test_identical_inputs_give_zero_difference_and_zero_interval() -> None:
    result = paired_bootstrap(_scores(CER), _scores(CER), "cer", n_resamples=2000, seed=1)
    assert result.mean_difference == 0.0
    assert (result.ci_low, result.ci_high) == (0.0, 0.0)
    assert not result.excludes_zero
    assert result.n_pairs == len(CER) and result.metric == "cer"


def test_constant_shift_gives_an_interval_excluding_zero() -> None:
    worse = [c + 0.05 for c in CER]
    result = paired_bootstrap(_scores(worse), _scores(CER), "cer", n_resamples=2000, seed=1)
    assert result.mean_difference == pytest.approx(0.05)
    assert result.ci_low == pytest.approx(0.05) and result.ci_high == pytest.approx(0.05)
    assert result.excludes_zero
    flipped = paired_bootstrap(_scores(CER), _scores(worse), "cer", n_resamples=2000, seed=1)
    assert flipped.ci_high == pytest.approx(-0.05) and flipped.excludes_zero


def test_noisy_differences_give_an_interval_around_the_mean() -> None:
    rng = np.random.default_rng(7)
    champion = rng.uniform(0.6, 0.9, size=40)
    challenger = champion + rng.normal(0.0, 0.05, size=40)
    result = paired_bootstrap_values(challenger, champion, metric="similarity", seed=3)
    assert result.ci_low < result.mean_difference < result.ci_high
    assert result.ci_high - result.ci_low < 0.1
    assert result.confidence == 0.95 and result.n_resamples == 10_000


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.uniform(size=25), rng.uniform(size=25)
    first = paired_bootstrap_values(a, b, n_resamples=3000, seed=42)
    assert paired_bootstrap_values(a, b, n_resamples=3000, seed=42) == first
    other = paired_bootstrap_values(a, b, n_resamples=3000, seed=43)
    assert (other.ci_low, other.ci_high) != (first.ci_low, first.ci_high)
    assert other.mean_difference == first.mean_difference


def test_pairs_follow_prompt_ids_not_order() -> None:
    a = _scores(CER)
    shifted = _scores([c + 0.1 for c in CER])
    result = paired_bootstrap(list(reversed(shifted)), a, "cer", n_resamples=500)
    assert result.ci_low == pytest.approx(0.1) and result.ci_high == pytest.approx(0.1)


def test_unpaired_or_incomplete_inputs_are_rejected() -> None:
    with pytest.raises(EvaluationError) as info:
        paired_bootstrap(_scores(CER), _scores(CER[:-1]), "cer")
    assert info.value.reason == "unpaired_scores"
    with pytest.raises(EvaluationError) as info:
        paired_bootstrap_values([0.1, 0.2, 0.3], [0.1, 0.2])
    assert info.value.reason == "unpaired_scores"
    renamed = [s.model_copy(update={"prompt_id": "x" + s.prompt_id}) for s in _scores(CER)]
    with pytest.raises(EvaluationError) as info:
        paired_bootstrap(_scores(CER), renamed, "cer")
    assert info.value.reason == "unpaired_scores"
    missing = _scores(CER)
    missing[3] = missing[3].model_copy(update={"similarity": None})
    with pytest.raises(EvaluationError) as info:
        paired_bootstrap(missing, _scores(CER), "similarity")
    assert info.value.reason == "missing_metric"
    with pytest.raises(EvaluationError) as info:
        paired_bootstrap(_scores(CER), _scores(CER), "loudness")
    assert info.value.reason == "unknown_metric"


def test_summary_means_counts_and_primary_metric() -> None:
    scores = _scores([0.1, 0.3, 0.2, 0.4])  # p00 en, p01 zh, p02 en, p03 zh
    scores[0] = scores[0].model_copy(update={"similarity": None})
    summary = summarize(scores)
    assert summary.n_utterances == 4 and summary.total_audio_s == pytest.approx(8.0)
    assert summary.languages == {"en": 2, "zh": 2}
    assert summary.cer.mean == pytest.approx(0.25) and summary.cer.count == 4
    # primary: WER (2x CER) for en prompts p00/p02, CER for zh prompts p01/p03
    assert scores[0].primary_error == pytest.approx(0.2)
    assert scores[1].primary_error == pytest.approx(0.3)
    assert summary.primary_error.mean == pytest.approx((0.2 + 0.3 + 0.4 + 0.4) / 4)
    assert summary.similarity.count == 3 and summary.similarity.mean == pytest.approx(0.8)
    flat = summary.flat_metrics("eval/")
    assert flat["eval/cer_mean"] == pytest.approx(0.25)
    assert flat["eval/similarity_count"] == 3.0
    empty = summarize([])
    assert empty.cer.mean is None and "cer_mean" not in empty.flat_metrics()


def test_score_models_validate_and_rtf() -> None:
    with pytest.raises(ValidationError):
        UtteranceScores(prompt_id="p", text="t", language="fr", audio_duration_s=1.0)
    with pytest.raises(ValidationError):
        UtteranceScores(prompt_id="p", text="t", language="en", cer=-0.1, audio_duration_s=1.0)
    assert real_time_factor(1.5, 3.0) == pytest.approx(0.5)
    with pytest.raises(EvaluationError):
        real_time_factor(1.0, 0.0)
