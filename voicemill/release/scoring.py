"""Scoring checkpoints of a speaker: on the benchmark prompts, or on its own evaluation set.

The voice is prepared from a held-out utterance of the speaker when one lasts 3-10 s
(a training clip otherwise), the held-out utterances are the similarity references,
and every prompt is synthesized with a fixed preset and seed, so two checkpoints scored
here are compared prompt by prompt on exactly the same inputs.

Two prompt sets: the benchmark (``quality/benchmark_prompts.yaml``, the release
yardstick, for the exported voice) and the speaker's evaluation set (the texts of its
held-out utterances, cheap enough to score every saved checkpoint of a run).
:class:`CheckpointScorer` loads the judge, speaker encoder and DNSMOS once for all.
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
from voicemill.synthesis.types import InferencePreset

if TYPE_CHECKING:
    import pandas as pd

    from voicemill.evaluation.runner import Prompt
    from voicemill.quality.benchmark import BenchmarkSet
    from voicemill.text.lexicon import Lexicon

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
class SpeakerPrompt:
    """A held-out utterance's text as an evaluation prompt (fits ``runner.Prompt``)."""

    id: str
    text: str
    language: str


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


def speaker_prompts(
    held_out: Sequence[HeldOutUtterance], reference: HeldOutUtterance, limit: int
) -> list[SpeakerPrompt]:
    """The speaker's fixed evaluation set: up to ``limit`` held-out texts, by utterance id.

    The held-out split is fixed per dataset, so the set is too; the voice prompt's own
    text is left out (reading back the prompt would flatter every checkpoint).
    """
    chosen = sorted(
        (u for u in held_out if u.utterance_id != reference.utterance_id),
        key=lambda u: u.utterance_id,
    )[:limit]
    return [SpeakerPrompt(u.utterance_id, u.text, u.language) for u in chosen]


class CheckpointScorer:
    """Scores checkpoints of one speaker against its held-out clips (see module docstring).

    The voice prompt comes from ``held_out`` when one lasts 3-10 s, else from
    ``prompt_candidates`` (e.g. training clips); similarity is always measured against
    the held-out clips. fp32 by default: scores must not depend on which CPU ran them.
    """

    def __init__(
        self,
        held_out: Sequence[HeldOutUtterance],
        *,
        prompt_candidates: Sequence[HeldOutUtterance] = (),
        ssl_dir: Path | None = None,
        lexicon: Lexicon | None = None,
        precision: str = "fp32",
        judge_model: str | None = None,
    ) -> None:
        from voicemill.evaluation import AsrJudge, DnsmosScorer, SpeakerEncoder

        try:
            self.reference = pick_reference(held_out)
        except ScoringError:
            if not prompt_candidates:
                raise
            self.reference = pick_reference(prompt_candidates)  # a training clip as the prompt
        others = [u for u in held_out if u.utterance_id != self.reference.utterance_id]
        self.held_out = list(held_out)
        self._references = [_read(u.audio_path) for u in others or [self.reference]]
        self._ssl_dir, self._lexicon, self._precision = ssl_dir, lexicon, precision
        self._judge = AsrJudge(judge_model, cpu_threads=1)
        self._encoder = SpeakerEncoder()
        self._dnsmos = DnsmosScorer()

    def score(
        self,
        s1: Path,
        s2g: Path,
        prompts: Sequence[Prompt],
        presets: Sequence[InferencePreset],
        keep_samples: int = 3,
    ) -> EvaluationRun:
        """Synthesize ``prompts`` (each with its preset) with this checkpoint and score them."""
        from voicemill.synthesis import SynthesisEngine

        engine = SynthesisEngine.from_paths(
            s1, s2g, ssl=self._ssl_dir, lexicon=self._lexicon, precision=self._precision
        )
        ref = self.reference
        voice = engine.prepare_voice(ref.audio_path, ref.text, ref.language)
        return evaluate_prompts(
            lambda text, preset, language: engine.synthesize(text, voice, preset, language),
            prompts,
            presets,
            self._references,
            judge=self._judge,
            encoder=self._encoder,
            dnsmos=self._dnsmos,
            keep_samples=keep_samples,
        )


def score_benchmark(
    scorer: CheckpointScorer,
    s1: Path,
    s2g: Path,
    benchmark: BenchmarkSet,
    max_new_tokens: int = 500,
) -> ScoredCheckpoint:
    """Every benchmark prompt synthesized with its own preset and seed, then scored."""
    presets = [
        benchmark.preset_for(p).model_copy(update={"max_new_tokens": max_new_tokens})
        for p in benchmark.prompts
    ]
    run = scorer.score(s1, s2g, benchmark.prompts, presets)
    return ScoredCheckpoint(run, scorer.reference, benchmark.fingerprint)


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
    """One checkpoint on the benchmark, with a scorer of its own (see CheckpointScorer)."""
    from voicemill.quality.benchmark import BENCHMARK_FILE, load_benchmark

    benchmark = load_benchmark(benchmark_path or BENCHMARK_FILE)
    scorer = CheckpointScorer(
        held_out,
        prompt_candidates=prompt_candidates,
        ssl_dir=ssl_dir,
        lexicon=benchmark.load_lexicon(),
        precision=precision,
        judge_model=judge_model,
    )
    return score_benchmark(scorer, s1, s2g, benchmark, max_new_tokens)


def _read(path: Path) -> tuple[np.ndarray, int]:
    audio, rate = sf.read(path, dtype="float32", always_2d=False)
    return audio, rate
