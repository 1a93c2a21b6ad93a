"""Scoring a voice: synthesize a fixed prompt set and measure every utterance.

Each prompt is synthesized with its own preset (fixed seed) and scored for
intelligibility (when the judge can hear its language), similarity to the speaker's
held-out real utterances, DNSMOS and real-time factor. A score that cannot be computed
for one prompt (audio too short for DNSMOS, a language the judge does not speak) is left
empty with the reason recorded, and the rest of the evaluation goes on.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

import numpy as np

from voicemill.evaluation.errors import EvaluationError
from voicemill.evaluation.intelligibility import AsrJudge
from voicemill.evaluation.quality import DnsmosScorer
from voicemill.evaluation.report import UtteranceScores, level_dbfs, real_time_factor
from voicemill.evaluation.similarity import SpeakerEncoder, speaker_centroid
from voicemill.synthesis.types import InferencePreset, SynthesisResult

_HANZI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
T = TypeVar("T")


class Prompt(Protocol):
    """What an evaluation prompt carries (``quality.benchmark.BenchmarkPrompt`` fits)."""

    id: str
    text: str
    language: str


class Synthesizer(Protocol):
    """``SynthesisEngine.synthesize`` bound to one prepared voice."""

    def __call__(self, text: str, preset: InferencePreset, language: str) -> SynthesisResult: ...


@dataclass(frozen=True)
class EvaluationRun:
    scores: list[UtteranceScores]
    samples: dict[str, np.ndarray]  # prompt id -> 32 kHz audio of the first few prompts
    sample_rate: int
    skipped: dict[str, list[str]] = field(default_factory=dict)  # metric -> reasons


def scoring_language(text: str, language: str) -> Literal["en", "zh"]:
    """Mandarin when the prompt is Mandarin or contains hanzi (CER), else English (WER)."""
    return "zh" if language == "zh" or _HANZI.search(text) else "en"


def evaluate_prompts(
    synthesize: Synthesizer,
    prompts: Sequence[Prompt],
    presets: Sequence[InferencePreset],
    references: Sequence[tuple[np.ndarray, int]],
    *,
    judge: AsrJudge | None,
    encoder: SpeakerEncoder,
    dnsmos: DnsmosScorer | None,
    keep_samples: int = 3,
) -> EvaluationRun:
    """Synthesize and score ``prompts`` (each with the preset at the same index).

    ``references``: held-out real recordings of the speaker, (audio, rate) each.
    """
    if len(prompts) != len(presets):
        raise EvaluationError("unpaired_scores", f"{len(prompts)} prompts, {len(presets)} presets")
    if not references:
        raise EvaluationError(
            "empty_reference", "speaker similarity needs held-out recordings of the speaker"
        )
    centroid = speaker_centroid(encoder.embed_many(references))
    scores: list[UtteranceScores] = []
    samples: dict[str, np.ndarray] = {}
    skipped: dict[str, list[str]] = {}
    rate = 32_000
    for prompt, preset in zip(prompts, presets, strict=True):
        started = time.perf_counter()
        result = synthesize(prompt.text, preset, prompt.language)
        elapsed = time.perf_counter() - started
        audio, rate = result.audio, result.sample_rate
        language = scoring_language(prompt.text, prompt.language)
        fields: dict[str, object] = {}
        if judge is not None and judge.supports(language):
            heard = _scored(
                skipped,
                "intelligibility",
                prompt.id,
                judge.judge,
                audio,
                rate,
                prompt.text,
                language,
            )
            if heard is not None:
                fields.update(cer=heard.cer, wer=heard.wer, hypothesis=heard.hypothesis)
        else:
            skipped.setdefault("intelligibility", []).append(
                f"{prompt.id}: no judge for {language}"
            )
        embedding = _scored(skipped, "similarity", prompt.id, encoder.embed, audio, rate)
        if embedding is not None:
            fields["similarity"] = float(embedding @ centroid)
        if dnsmos is not None:
            mos = _scored(skipped, "dnsmos", prompt.id, dnsmos.score, audio, rate)
            if mos is not None:
                fields["dnsmos_ovrl"] = mos.ovrl
        duration = audio.shape[0] / rate
        scores.append(
            UtteranceScores(
                prompt_id=prompt.id,
                text=prompt.text,
                language=language,
                rtf=real_time_factor(elapsed, duration) if duration > 0 else None,
                audio_duration_s=duration,
                level_dbfs=level_dbfs(audio),
                **fields,
            )
        )
        if len(samples) < keep_samples:
            samples[prompt.id] = audio
    return EvaluationRun(scores, samples, rate, skipped)


def _scored(
    skipped: dict[str, list[str]],
    metric: str,
    prompt_id: str,
    score: Callable[..., T],
    *args: object,
) -> T | None:
    """``score(*args)``, or None with the reason noted when this prompt cannot be scored."""
    try:
        return score(*args)
    except EvaluationError as exc:
        skipped.setdefault(metric, []).append(f"{prompt_id}: {exc.reason}")
        return None
