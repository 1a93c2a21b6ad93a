"""Scoring one checkpoint of a speaker on the benchmark prompts.

The voice is prepared from a held-out utterance of the speaker when one lasts 3-10 s
(a training clip otherwise), the held-out utterances are the similarity references,
and every benchmark prompt is synthesized with its own preset and fixed seed, so two
checkpoints scored here are compared prompt by prompt on exactly the same inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from voicemill.errors import RejectedInput
from voicemill.evaluation.runner import EvaluationRun, evaluate_prompts

if TYPE_CHECKING:
    import pandas as pd

REFERENCE_MIN_S, REFERENCE_MAX_S = 3.0, 10.0


class ScoringError(RejectedInput):
    """Reasons: ``no_reference_utterance``, ``too_few_references``."""


@dataclass(frozen=True)
class HeldOutUtterance:
    utterance_id: str
    audio_path: Path
    text: str
    language: str
    duration_s: float


@dataclass(frozen=True)
class ScoredCheckpoint:
    run: EvaluationRun
    reference: HeldOutUtterance  # the clip the voice was prepared from
    benchmark_fingerprint: str


def manifest_clips(manifest: pd.DataFrame) -> dict[str, HeldOutUtterance]:
    """Every manifest utterance as a clip, by utterance id."""
    return {
        r.utterance_id: HeldOutUtterance(
            r.utterance_id, Path(r.audio_path), r.text, r.language, r.duration_s
        )
        for r in manifest.itertuples(index=False)
    }


def pick_reference(held_out: Sequence[HeldOutUtterance]) -> HeldOutUtterance:
    """The held-out clip closest to 6 s within 3-10 s (ties: lowest id): a stable choice."""
    usable = [u for u in held_out if REFERENCE_MIN_S <= u.duration_s <= REFERENCE_MAX_S]
    if not usable:
        raise ScoringError(
            "no_reference_utterance",
            f"none of {len(held_out)} held-out utterances lasts 3-10 s; a voice prompt needs one",
        )
    return min(usable, key=lambda u: (abs(u.duration_s - 6.0), u.utterance_id))


def score_checkpoint(
    s1: Path,
    s2g: Path,
    held_out: Sequence[HeldOutUtterance],
    *,
    prompt_candidates: Sequence[HeldOutUtterance] = (),
    benchmark_path: Path | None = None,
    ssl_dir: Path | None = None,
    precision: str = "fp32",
    judge_model: str | None = None,
    max_new_tokens: int = 500,
) -> ScoredCheckpoint:
    """Synthesize the benchmark with this checkpoint and score it (see module docstring).

    The voice prompt comes from ``held_out`` when one lasts 3-10 s, else from
    ``prompt_candidates`` (e.g. training clips); similarity is always measured against
    the held-out clips.

    fp32 by default: scores must not depend on which CPU the evaluation ran on.
    """
    from voicemill.evaluation import AsrJudge, DnsmosScorer, SpeakerEncoder
    from voicemill.quality.benchmark import BENCHMARK_FILE, load_benchmark
    from voicemill.synthesis import SynthesisEngine

    benchmark = load_benchmark(benchmark_path or BENCHMARK_FILE)
    try:
        reference = pick_reference(held_out)
    except ScoringError:
        if not prompt_candidates:
            raise
        reference = pick_reference(prompt_candidates)  # a training clip as the prompt
    others = [u for u in held_out if u.utterance_id != reference.utterance_id] or [reference]
    engine = SynthesisEngine.from_paths(
        s1, s2g, ssl=ssl_dir, lexicon=benchmark.load_lexicon(), precision=precision
    )
    voice = engine.prepare_voice(reference.audio_path, reference.text, reference.language)
    presets = [
        benchmark.preset_for(p).model_copy(update={"max_new_tokens": max_new_tokens})
        for p in benchmark.prompts
    ]
    references = [_read(u.audio_path) for u in others]
    run = evaluate_prompts(
        lambda text, preset, language: engine.synthesize(text, voice, preset, language),
        benchmark.prompts,
        presets,
        references,
        judge=AsrJudge(judge_model, cpu_threads=1),
        encoder=SpeakerEncoder(),
        dnsmos=DnsmosScorer(),
    )
    return ScoredCheckpoint(run, reference, benchmark.fingerprint)


def _read(path: Path) -> tuple[np.ndarray, int]:
    audio, rate = sf.read(path, dtype="float32", always_2d=False)
    return audio, rate
