"""The release gate's decisions on per-prompt scores."""

from __future__ import annotations

import numpy as np
import pytest

from voicemill.evaluation import UtteranceScores
from voicemill.release.gate import GateConfig, evaluate_gate

CFG = GateConfig(max_error=0.3, min_similarity=0.75, min_dnsmos=2.5, n_resamples=2000)


def _scores(wer: list[float], sim: list[float | None], mos: float = 3.0, zh: int = 0):
    rows = [
        UtteranceScores(
            prompt_id=f"en-{i}",
            text="t",
            language="en",
            wer=w,
            cer=w / 2,
            similarity=s,
            dnsmos_ovrl=mos,
            audio_duration_s=2.0,
            level_dbfs=-20.0,
        )
        for i, (w, s) in enumerate(zip(wer, sim, strict=True))
    ]
    rows += [  # Mandarin prompts an English-only judge could not score
        UtteranceScores(
            prompt_id=f"zh-{i}",
            text="t",
            language="zh",
            similarity=0.9,
            dnsmos_ovrl=mos,
            audio_duration_s=2.0,
            level_dbfs=-20.0,
        )
        for i in range(zh)
    ]
    return rows


rng = np.random.default_rng(0)
BASE_WER = list(np.clip(rng.normal(0.2, 0.05, 12), 0, 1))
BASE_SIM = list(np.clip(rng.normal(0.85, 0.02, 12), -1, 1))


def test_first_version_passes_on_absolute_floors() -> None:
    decision = evaluate_gate(_scores(BASE_WER, BASE_SIM, zh=3), None, CFG)
    assert decision.passed and decision.mode == "absolute"
    assert len(decision.checks) == 4  # audible, error, similarity, quality
    bad = evaluate_gate(_scores([0.6] * 12, BASE_SIM), None, CFG)
    assert not bad.passed
    assert [c.name for c in bad.failures()] == ["primary_error <= 0.3"]
    assert "FAILED" in bad.summary() and "mean 0.600 over 12 prompts" in bad.summary()


def test_equal_challenger_is_non_inferior_and_passes() -> None:
    champion = _scores(BASE_WER, BASE_SIM, zh=2)
    challenger = _scores([w + 0.005 for w in BASE_WER], BASE_SIM, zh=2)
    decision = evaluate_gate(challenger, champion, CFG)
    assert decision.passed and decision.mode == "ab" and len(decision.checks) == 6


def test_regressed_challenger_stays_out_even_above_the_floors() -> None:
    champion = _scores(BASE_WER, BASE_SIM)
    worse = _scores([w + 0.08 for w in BASE_WER], BASE_SIM)  # still under max_error 0.3 mostly
    decision = evaluate_gate(worse, champion, CFG)
    assert not decision.passed
    failed = [c.name for c in decision.failures()]
    assert "primary_error vs champion (margin 0.03)" in failed
    (check,) = [c for c in decision.checks if c.name.startswith("primary_error vs")]
    assert check.value is not None and check.value > 0.03

    less_similar = _scores(BASE_WER, [s - 0.06 for s in BASE_SIM])
    assert not evaluate_gate(less_similar, champion, CFG).passed


def test_unscored_metrics_fail_rather_than_pass_blind() -> None:
    only_zh = _scores([], [], zh=4)  # no prompt the judge could score
    decision = evaluate_gate(only_zh, None, CFG)
    (error_check,) = [c for c in decision.checks if c.name.startswith("primary_error")]
    assert not decision.passed and error_check.detail == "no prompt scored"


def test_similarity_can_be_reported_without_gating_on_it() -> None:
    ungated = CFG.model_copy(update={"min_similarity": None})
    champion = _scores(BASE_WER, BASE_SIM)
    unscored = _scores(BASE_WER, [None] * len(BASE_SIM))  # no voiced frames anywhere
    assert not evaluate_gate(unscored, None, CFG).passed  # the default gate refuses it
    decision = evaluate_gate(unscored, None, ungated)
    assert decision.passed and all("similarity" not in c.name for c in decision.checks)
    less_similar = _scores(BASE_WER, [s - 0.06 for s in BASE_SIM])
    assert evaluate_gate(less_similar, champion, ungated).passed
    worse = _scores([w + 0.08 for w in BASE_WER], BASE_SIM)  # error still gated
    assert not evaluate_gate(worse, champion, ungated).passed


def test_gate_config_validates_its_thresholds() -> None:
    with pytest.raises(ValueError):
        GateConfig(min_similarity=2.0)
    with pytest.raises(ValueError):
        GateConfig(confidence=1.0)


def test_one_silent_prompt_fails_the_gate_whatever_the_means() -> None:
    scores = _scores(BASE_WER, BASE_SIM)
    quiet = scores[0].model_copy(update={"level_dbfs": -90.0})
    decision = evaluate_gate([quiet, *scores[1:]], None, CFG)
    assert not decision.passed
    (failure,) = decision.failures()
    assert failure.name.startswith("audible") and "en-0" in failure.detail
    unmeasured = scores[0].model_copy(update={"level_dbfs": None})
    assert not evaluate_gate([unmeasured, *scores[1:]], None, CFG).passed
