"""The evaluation run on real speech: clean speech of the speaker scores well, noise badly."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
import pytest
import soxr

from voicemill.evaluation import AsrJudge, DnsmosScorer, SpeakerEncoder
from voicemill.evaluation.runner import evaluate_prompts, scoring_language
from voicemill.synthesis.types import InferencePreset, SegmentTiming, SynthesisResult

REFERENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
)


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str
    language: str


PROMPTS = [
    Prompt("en-1", "Please call me back tomorrow morning.", "en"),
    Prompt("en-2", "I have 3 cats and 2 dogs.", "en"),
    Prompt("mixed", "我们的 app 今天更新了。", "auto"),
]


@pytest.fixture(scope="module")
def scorers() -> tuple[AsrJudge, SpeakerEncoder, DnsmosScorer]:
    return AsrJudge(cpu_threads=1), SpeakerEncoder(), DnsmosScorer()


def _result(audio: np.ndarray, rate: int) -> SynthesisResult:
    audio32 = soxr.resample(audio, rate, 32_000).astype(np.float32)
    timing = SegmentTiming(text="", start_s=0.0, end_s=audio32.size / 32_000, tokens=0)
    return SynthesisResult(audio=audio32, segments=[timing], seed=0)


def test_speaker_speech_scores_better_than_noise(speak, scorers) -> None:
    judge, encoder, dnsmos = scorers
    references = [speak(text, "m3") for text in REFERENCES]
    presets = [InferencePreset(seed=1)] * len(PROMPTS)

    def espeak_m3(text: str, preset: InferencePreset, language: str) -> SynthesisResult:
        return _result(*speak(text, "zh" if language != "en" else "m3"))

    def noise(text: str, preset: InferencePreset, language: str) -> SynthesisResult:
        rng = np.random.default_rng(preset.seed)
        return _result((0.1 * rng.standard_normal(32_000 * 2)).astype(np.float32), 32_000)

    good = evaluate_prompts(
        espeak_m3, PROMPTS, presets, references, judge=judge, encoder=encoder, dnsmos=dnsmos
    )
    bad = evaluate_prompts(
        noise,
        PROMPTS,
        presets,
        references,
        judge=judge,
        encoder=encoder,
        dnsmos=dnsmos,
        keep_samples=1,
    )
    assert [s.prompt_id for s in good.scores] == ["en-1", "en-2", "mixed"]
    assert list(good.samples) == ["en-1", "en-2", "mixed"] and list(bad.samples) == ["en-1"]
    english_good = [s for s in good.scores if s.language == "en"]
    english_bad = [s for s in bad.scores if s.language == "en"]
    assert all(s.wer is not None and s.wer <= 0.2 for s in english_good)
    assert all(s.wer is not None and s.wer >= 0.8 for s in english_bad)
    assert min(s.similarity for s in english_good) > max(s.similarity for s in english_bad) + 0.2
    assert min(s.dnsmos_ovrl for s in english_good) > max(s.dnsmos_ovrl for s in english_bad)
    assert all(s.rtf is not None and s.rtf >= 0 for s in good.scores)
    # The English-only judge cannot hear the mixed prompt: recorded, not fatal.
    mixed = good.scores[-1]
    assert mixed.language == "zh" and mixed.cer is None and mixed.similarity is not None
    assert good.skipped["intelligibility"] == ["mixed: no judge for zh"]


def test_scoring_language_follows_the_script() -> None:
    assert scoring_language("Hello there", "en") == "en"
    assert scoring_language("你好", "zh") == "zh"
    assert scoring_language("我们的 app", "auto") == "zh"
    assert scoring_language("The app", "auto") == "en"


def test_without_held_out_references_the_run_refuses_to_start(scorers) -> None:
    judge, encoder, dnsmos = scorers
    from voicemill.evaluation import EvaluationError

    with pytest.raises(EvaluationError) as excinfo:
        evaluate_prompts(
            lambda *a: pytest.fail("nothing may be synthesized"),
            PROMPTS,
            [InferencePreset(seed=1)] * 3,
            [],
            judge=judge,
            encoder=encoder,
            dnsmos=dnsmos,
        )
    assert excinfo.value.reason == "empty_reference"


@pytest.mark.parametrize("kind", ["silent", "empty"])
def test_silent_or_empty_audio_fails_every_gate_the_demos_included(speak, scorers, kind) -> None:
    """Scored for real: silence reads as WER 1.0, which the demo's lenient error ceiling
    (1.05) once let through; the audibility check stops it under any thresholds."""
    from pathlib import Path

    import yaml

    from voicemill.release.gate import GateConfig, evaluate_gate
    from voicemill.release.regression import RegressionTolerance, compare_to_baseline

    judge, encoder, dnsmos = scorers
    references = [speak(text, "m3") for text in REFERENCES]
    prompts = PROMPTS[:2]
    presets = [InferencePreset(seed=1)] * len(prompts)
    samples = 32_000 * 2 if kind == "silent" else 0

    def mute(text: str, preset: InferencePreset, language: str) -> SynthesisResult:
        return _result(np.zeros(samples, dtype=np.float32), 32_000)

    def espeak_m3(text: str, preset: InferencePreset, language: str) -> SynthesisResult:
        return _result(*speak(text, "m3"))

    run = dict(judge=judge, encoder=encoder, dnsmos=dnsmos)
    bad = evaluate_prompts(mute, prompts, presets, references, **run).scores
    good = evaluate_prompts(espeak_m3, prompts, presets, references, **run).scores
    demo_path = Path(__file__).resolve().parents[2] / "quality" / "demo_release.yaml"
    demo = GateConfig(**yaml.safe_load(demo_path.read_text())["gate"], n_resamples=200)
    for cfg in (demo, GateConfig(n_resamples=200)):
        decision = evaluate_gate(bad, None, cfg)
        assert not decision.passed
        assert any(c.name.startswith("audible") for c in decision.failures())
        assert not evaluate_gate(bad, good, cfg).passed  # against a champion too
    assert evaluate_gate(good, None, demo).checks[0].passed  # real speech is audible
    regression = compare_to_baseline(bad, good, RegressionTolerance())
    assert "audible" in regression.regressed and not regression.passed


BENCH = (
    "Please call me back tomorrow morning.",
    "The train leaves at seven every evening.",
    "We will send the parcel to your new address.",
    "Thank you for waiting, an agent will answer soon.",
    "Your appointment has been moved to Friday.",
    "The library opens early on weekdays.",
    "Remember to bring your ticket and a pen.",
    "It was raining when we reached the harbour.",
)


def test_a_genuinely_worse_challenger_is_stopped_by_the_default_gate(
    speak, scorers, platform_home
) -> None:
    """Scored for real (ASR judge, speaker encoder, DNSMOS): the champion is the
    speaker's clean voice; the challenger is the same voice through a noisy channel
    (about 10 dB SNR: measured here it still clears the error and similarity floors,
    WER 0.29 and similarity 0.75, so only the comparison can tell). The default gate, A/B
    against the champion's scores, must stop it on the paired bootstrap, pass the
    champion against itself, and the audit must keep the statistics that decided."""
    from voicemill.db.catalog import connect
    from voicemill.release.audit import alias_history
    from voicemill.release.gate import GateConfig, evaluate_gate
    from voicemill.release.registry import gate_verdict, record_gate_verdict

    judge, encoder, dnsmos = scorers
    references = [speak(text, "m3") for text in REFERENCES]
    prompts = [Prompt(f"en-{i}", text, "en") for i, text in enumerate(BENCH)]
    presets = [InferencePreset(seed=i) for i in range(len(prompts))]

    def clean(text: str, preset: InferencePreset, language: str) -> SynthesisResult:
        return _result(*speak(text, "m3"))

    def noisy(text: str, preset: InferencePreset, language: str) -> SynthesisResult:
        audio, rate = speak(text, "m3")
        rng = np.random.default_rng(preset.seed)
        noise = rng.standard_normal(audio.size).astype(np.float32) * 0.3 * float(np.std(audio))
        return _result(np.clip(audio + noise, -1, 1).astype(np.float32), rate)

    run = dict(judge=judge, encoder=encoder, dnsmos=dnsmos)
    champion = evaluate_prompts(clean, prompts, presets, references, **run).scores
    challenger = evaluate_prompts(noisy, prompts, presets, references, **run).scores
    cfg = GateConfig()  # production defaults: floors, margins, 95 %, 10,000 resamples
    decision = evaluate_gate(challenger, champion, cfg)
    assert not decision.passed and decision.mode == "ab"
    ab_failures = [c for c in decision.failures() if "vs champion" in c.name]
    assert ab_failures, decision.summary()  # the comparison itself stops it
    same = evaluate_gate(champion, champion, cfg)
    assert all(c.passed for c in same.checks if "vs champion" in c.name), same.summary()

    name = f"voice-gate-{uuid.uuid4().hex[:6]}"
    with connect() as conn:
        record_gate_verdict(
            conn, name=name, version="2", passed=decision.passed, actor="test",
            reason="; ".join(c.name for c in decision.failures()),
            details=decision.model_dump(mode="json"),
        )  # fmt: skip
        assert gate_verdict(conn, name, "2") is False
        (event,) = alias_history(conn, name)
    stored = {c["name"]: c for c in event["details"]["checks"]}
    for check in ab_failures:
        assert stored[check.name]["value"] == pytest.approx(check.value)  # the CI bound
        assert "at 95%" in stored[check.name]["detail"]
