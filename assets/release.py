"""Release assets: score a fine-tuned voice, register it, gate it, crown it.

``voice_evaluation`` scores every saved checkpoint of the training run on the speaker's
evaluation set (its held-out texts), then the exported voice on the benchmark prompts,
and logs the scores, samples and plots to the training run in MLflow. ``voice_release``
registers it as the ``challenger``. The blocking check ``challenger_earns_champion``
runs the release gate against the current ``champion`` (absolute floors for a first
version), and only when it passes does ``voice_champion`` move the alias and update
the speaker profile. Thresholds are launchpad config; the demo passes its own.
"""

import json
import warnings
from pathlib import Path

import dagster as dg
from pydantic import Field

from voicemill.assets.voices import GROUP, voice_model
from voicemill.orchestration.partitions import datasets_partitions
from voicemill.orchestration.resources import (
    BaseModelResource,
    DatasetStorage,
    MlflowResource,
    PostgresResource,
)
from voicemill.release.gate import GateConfig

SCORES_ARTIFACT = "evaluation/scores.json"
DEFAULT_USE_CASE = "ivr"


def model_name(dataset_id: str) -> str:
    return f"voice-{dataset_id}"


class EvaluationConfig(dg.Config):
    benchmark: str | None = Field(
        default=None, description="Benchmark prompt file; empty = quality/benchmark_prompts.yaml."
    )
    judge_model: str | None = Field(
        default=None, description="faster-whisper model name or dir; empty = bundled tiny.en."
    )
    max_new_tokens: int = Field(500, ge=25, le=1500, description="Token cap per prompt segment.")
    samples: int = Field(3, ge=0, description="Benchmark audio samples logged to MLflow.")
    checkpoint_prompts: int = Field(
        4, ge=0, description="Held-out texts each saved checkpoint reads; 0 = skip checkpoints."
    )


class GateCheckConfig(dg.Config, GateConfig):
    """Release thresholds; see voicemill.release.gate.GateConfig."""


@dg.asset(
    partitions_def=datasets_partitions,
    group_name=GROUP,
    deps=[voice_model],
    kinds={"mlflow"},
    description="Every saved checkpoint scored on the speaker's held-out texts, then the "
    "exported voice on the benchmark prompts: intelligibility (ASR judge CER/WER), speaker "
    "similarity, DNSMOS, real-time factor.",
)
def voice_evaluation(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,
    base: BaseModelResource,
    storage: DatasetStorage,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    import pandas as pd
    import soundfile as sf

    from voicemill.evaluation import plot_prompt_scores, summarize
    from voicemill.quality.benchmark import BENCHMARK_FILE, load_benchmark
    from voicemill.release.records import read_record, voice_dir, write_record
    from voicemill.release.scoring import CheckpointScorer, manifest_clips, score_benchmark

    dataset_id = context.partition_key
    folder = voice_dir(base.root, dataset_id)
    model = read_record(folder / "model.json", "voice_model")
    manifest = pd.read_parquet(storage.layout(dataset_id).manifest_path)
    clips = manifest_clips(manifest)
    benchmark = load_benchmark(Path(config.benchmark) if config.benchmark else BENCHMARK_FILE)
    scorer = CheckpointScorer(
        [clips[u] for u in model["validation_ids"] if u in clips],
        prompt_candidates=[clips[u] for u in model["train_ids"] if u in clips],
        ssl_dir=Path(model["ssl_dir"]) if model.get("ssl_dir") else None,
        lexicon=benchmark.load_lexicon(),
        judge_model=config.judge_model,
    )
    out = folder / "evaluation"
    out.mkdir(parents=True, exist_ok=True)
    tracker = mlflow.tracker(f"voices/{dataset_id}")
    checkpoint_table = _score_saved_checkpoints(
        context, config, scorer, model.get("checkpoints", []), out, tracker, model
    )
    scored = score_benchmark(
        scorer, Path(model["s1"]), Path(model["s2G"]), benchmark, config.max_new_tokens
    )
    run = scored.run
    summary = summarize(run.scores)
    plot = plot_prompt_scores(
        run.scores, "primary_error", out / "scores.png", title=f"{dataset_id}: error per prompt"
    )
    with tracker.run(run_id=model["mlflow_run_id"]) as tracked:
        tracked.log_metrics(summary.flat_metrics("eval/"))
        tracked.log_dict([s.model_dump() for s in run.scores], SCORES_ARTIFACT)
        tracked.log_dict(
            {
                "benchmark_fingerprint": scored.benchmark_fingerprint,
                "reference": scored.reference.utterance_id,
                "skipped": run.skipped,
            },
            "evaluation/context.json",
        )
        tracked.log_file(plot, "evaluation")
        for prompt_id, audio in list(run.samples.items())[: config.samples]:
            sample = out / f"{prompt_id}.wav"
            sf.write(sample, audio, run.sample_rate, subtype="PCM_16")
            tracked.log_file(sample, "evaluation/samples")
    record = {
        "model_sha256": model["sha256"],
        "mlflow_run_id": model["mlflow_run_id"],
        "benchmark_fingerprint": scored.benchmark_fingerprint,
        "reference": {
            "utterance_id": scored.reference.utterance_id,
            "audio_path": scored.reference.audio_path,
            "text": scored.reference.text,
            "language": scored.reference.language,
        },
        "scores": [s.model_dump() for s in run.scores],
        "summary": summary.flat_metrics(),
        "skipped": run.skipped,
    }
    write_record(folder / "evaluation.json", record)
    flat = summary.flat_metrics()
    context.log.info(
        "evaluation of "
        + dataset_id
        + ": "
        + ", ".join(f"{k}={v:.3f}" for k, v in flat.items() if k.endswith("_mean"))
    )
    return dg.MaterializeResult(
        metadata={
            **{
                k: dg.MetadataValue.float(round(v, 4))
                for k, v in flat.items()
                if k.endswith("_mean")
            },
            "prompts": dg.MetadataValue.int(len(run.scores)),
            "skipped": dg.MetadataValue.json(run.skipped),
            "scores_plot": dg.MetadataValue.path(str(plot)),
            **checkpoint_table,
            "mlflow_run_id": model["mlflow_run_id"],
        }
    )


_CHECKPOINT_METRICS = ("primary_error", "similarity", "dnsmos_ovrl")


def _score_saved_checkpoints(context, config, scorer, checkpoints, out: Path, tracker, model):
    """Each saved checkpoint on the speaker's evaluation set: metrics (step = its place in
    the run), one sample and a plot in MLflow; a table for the asset's metadata."""
    import soundfile as sf

    from voicemill.evaluation import plot_loss_curve, summarize
    from voicemill.release.scoring import speaker_prompts
    from voicemill.synthesis.types import InferencePreset

    prompts = speaker_prompts(scorer.held_out, scorer.reference, config.checkpoint_prompts)
    if not checkpoints or not prompts:
        context.log.info("no saved checkpoint or held-out text to score per checkpoint")
        return {}
    preset = InferencePreset(seed=0, max_new_tokens=config.max_new_tokens)
    rows = []
    with tracker.run(run_id=model["mlflow_run_id"]) as tracked:
        for step, checkpoint in enumerate(checkpoints, start=1):
            run = scorer.score(
                Path(checkpoint["s1"]),
                Path(checkpoint["s2G"]),
                prompts,
                [preset] * len(prompts),
                keep_samples=1,
            )
            means = {
                k: v for k, v in summarize(run.scores).flat_metrics().items() if k.endswith("_mean")
            }
            tracked.log_metrics({f"checkpoint/{k}": v for k, v in means.items()}, step=step)
            for audio in run.samples.values():
                sample = out / f"checkpoint-{checkpoint['name']}.wav"
                sf.write(sample, audio, run.sample_rate, subtype="PCM_16")
                tracked.log_file(sample, "evaluation/checkpoints")
            rows.append({"step": step, **checkpoint, **means, "skipped": run.skipped})
            skipped = f" (not scored: {run.skipped})" if run.skipped else ""
            context.log.info(
                f"checkpoint {checkpoint['name']}: "
                + ", ".join(f"{k}={v:.3f}" for k, v in means.items())
                + skipped
            )
        steps = [r["step"] for r in rows]
        curves = {
            metric: (steps, [r.get(f"{metric}_mean", float("nan")) for r in rows])
            for metric in _CHECKPOINT_METRICS
        }
        plot = plot_loss_curve(
            curves,
            out / "checkpoints.png",
            title="saved checkpoints on held-out texts",
            xlabel="checkpoint (SoVITS epochs, then GPT epochs)",
            ylabel="score",
        )
        tracked.log_file(plot, "evaluation")
        tracked.log_dict(
            [{k: str(v) if isinstance(v, Path) else v for k, v in r.items()} for r in rows],
            "evaluation/checkpoints.json",
        )
    header = "| checkpoint | val loss | " + " | ".join(_CHECKPOINT_METRICS) + " |"
    lines = [header, "|" + " --- |" * (2 + len(_CHECKPOINT_METRICS))]
    for r in rows:
        cells = [f"{r.get(f'{m}_mean', float('nan')):.3f}" for m in _CHECKPOINT_METRICS]
        lines.append(f"| {r['name']} | {r['val_loss']:.4f} | " + " | ".join(cells) + " |")
    return {
        "checkpoints": dg.MetadataValue.md("\n".join(lines)),
        "checkpoints_plot": dg.MetadataValue.path(str(plot)),
    }


@dg.asset(
    partitions_def=datasets_partitions,
    group_name=GROUP,
    deps=[voice_evaluation],
    kinds={"mlflow"},
    description="The evaluated voice logged as an MLflow pyfunc model and registered as "
    "the challenger (checkpoints, reference, prompt, presets and config as artifacts).",
)
def voice_release(
    context: dg.AssetExecutionContext,
    base: BaseModelResource,
    postgres: PostgresResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    from voicemill.release.profiles import DEFAULT_USE_CASE_PRESETS
    from voicemill.release.records import read_record, voice_dir, write_record
    from voicemill.release.registry import RegistryError, list_versions, register_voice
    from voicemill.release.voice_files import release_tags
    from voicemill.release.voice_model import package_voice

    dataset_id = context.partition_key
    folder = voice_dir(base.root, dataset_id)
    model = read_record(folder / "model.json", "voice_model")
    evaluation = read_record(folder / "evaluation.json", "voice_evaluation")
    name = model_name(dataset_id)
    client = mlflow.client()
    try:  # re-materializing the same training run registers nothing new
        existing = [v for v in list_versions(client, name) if v.run_id == model["mlflow_run_id"]]
    except RegistryError:
        existing = []
    if existing:
        version = existing[0]
    else:
        reference = evaluation["reference"]
        package = package_voice(
            folder / "release" / model["mlflow_run_id"],
            s1=Path(model["s1"]),
            s2g=Path(model["s2G"]),
            reference=Path(reference["audio_path"]),
            prompt_text=reference["text"],
            language=reference["language"],
            presets=DEFAULT_USE_CASE_PRESETS,
            default_use_case=DEFAULT_USE_CASE,
            training_config=model["config"],
            ssl_dir=Path(model["ssl_dir"]) if model.get("ssl_dir") else None,
        )
        tracker = mlflow.tracker(f"voices/{dataset_id}")
        with tracker.run(run_id=model["mlflow_run_id"]) as tracked:
            tracked.log_dir(package, "voice")
            source = f"{tracked.artifact_uri}/voice"
        with postgres.connect() as conn:
            version = register_voice(
                client,
                conn,
                name=name,
                source=source,
                run_id=model["mlflow_run_id"],
                actor=f"dagster:{context.run_id[:8]}",
                tags={
                    "dataset": dataset_id,
                    "config_sha256": model["config_sha256"][:16],
                    "benchmark_fingerprint": evaluation["benchmark_fingerprint"][:16],
                    **release_tags(package),  # what serving checks before loading
                },
            )
    write_record(
        folder / "release.json",
        {"model_name": name, "version": version.version, "mlflow_run_id": model["mlflow_run_id"]},
    )
    context.log.info(f"{name} version {version.version} is the challenger")
    return dg.MaterializeResult(
        metadata={
            "model_name": name,
            "version": version.version,
            "aliases": dg.MetadataValue.json(list(version.aliases)),
        }
    )


def _champion_scores(client, name: str, version: str, fingerprint: str):  # -> list | None
    """The champion's per-prompt scores from its run, if scored on the same benchmark."""
    import tempfile

    from voicemill.evaluation import UtteranceScores

    mv = client.get_model_version(name, version)
    with tempfile.TemporaryDirectory() as tmp:
        context_file = client.download_artifacts(mv.run_id, "evaluation/context.json", tmp)
        scored_on = json.loads(Path(context_file).read_text())["benchmark_fingerprint"]
        if scored_on != fingerprint:
            return None
        scores_file = client.download_artifacts(mv.run_id, SCORES_ARTIFACT, tmp)
        return [
            UtteranceScores.model_validate(s) for s in json.loads(Path(scores_file).read_text())
        ]


with warnings.catch_warnings():
    warnings.simplefilter("ignore", category=dg.PreviewWarning)

    @dg.asset_check(
        asset=voice_release,
        partitions_def=datasets_partitions,
        blocking=True,
        description="Release gate: absolute floors, and paired-bootstrap non-inferiority "
        "against the current champion on the benchmark prompts.",
    )
    def challenger_earns_champion(
        context: dg.AssetCheckExecutionContext,
        config: GateCheckConfig,
        base: BaseModelResource,
        postgres: PostgresResource,
        mlflow: MlflowResource,
    ) -> dg.AssetCheckResult:
        from voicemill.evaluation import UtteranceScores
        from voicemill.release.gate import GateConfig, evaluate_gate
        from voicemill.release.records import read_record, voice_dir
        from voicemill.release.registry import CHAMPION, alias_version, record_gate_verdict

        dataset_id = context.partition_key
        folder = voice_dir(base.root, dataset_id)
        release = read_record(folder / "release.json", "voice_release")
        evaluation = read_record(folder / "evaluation.json", "voice_evaluation")
        name, version = release["model_name"], release["version"]
        client = mlflow.client()
        champion = alias_version(client, name, CHAMPION)
        challenger = [UtteranceScores.model_validate(s) for s in evaluation["scores"]]
        champion_scores = None
        if champion is not None and champion != version:
            champion_scores = _champion_scores(
                client, name, champion, evaluation["benchmark_fingerprint"]
            )
            if champion_scores is None:
                return dg.AssetCheckResult(
                    passed=False,
                    metadata={
                        "reason": f"champion {champion} was scored on another benchmark "
                        "version; re-evaluate it before comparing"
                    },
                )
        decision = evaluate_gate(
            challenger, champion_scores, GateConfig.model_validate(config.model_dump())
        )
        context.log.info(decision.summary())
        if champion != version:  # voice_champion promotes only on a recorded pass
            with postgres.connect() as conn:
                record_gate_verdict(
                    conn,
                    name=name,
                    version=version,
                    passed=decision.passed,
                    actor=f"dagster:{context.run.run_id[:8]}",
                    reason="; ".join(c.name for c in decision.failures()) or "passed",
                    details=decision.model_dump(mode="json"),
                )
        return dg.AssetCheckResult(
            passed=decision.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "mode": decision.mode,
                "challenger": version,
                "champion": champion or "-",
                "checks": dg.MetadataValue.md(decision.summary()),
            },
        )


@dg.asset(
    partitions_def=datasets_partitions,
    group_name=GROUP,
    deps=[voice_release],
    kinds={"mlflow", "postgres"},
    description="The challenger promoted to champion (only after the gate passed) and the "
    "speaker profile updated with its reference, presets and scores.",
)
def voice_champion(
    context: dg.AssetExecutionContext,
    base: BaseModelResource,
    postgres: PostgresResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    from voicemill.release.profiles import (
        DEFAULT_USE_CASE_PRESETS,
        ProfileError,
        SpeakerProfile,
        get_profile,
        record_evaluation,
        save_profile,
    )
    from voicemill.release.records import read_record, sha256_file, voice_dir
    from voicemill.release.registry import CHAMPION, alias_version, gate_verdict, promote

    dataset_id = context.partition_key
    folder = voice_dir(base.root, dataset_id)
    release = read_record(folder / "release.json", "voice_release")
    evaluation = read_record(folder / "evaluation.json", "voice_evaluation")
    name, version = release["model_name"], release["version"]
    client = mlflow.client()
    reference = evaluation["reference"]
    scores = {k: v for k, v in evaluation["summary"].items() if k.endswith("_mean")}
    with postgres.connect() as conn:
        try:  # presets an operator tuned (voicemill profiles set-preset) carry over
            presets = get_profile(conn, dataset_id).presets
        except ProfileError:
            presets = DEFAULT_USE_CASE_PRESETS
        previous = alias_version(client, name, CHAMPION)
        # Materialized alone (or after release.json was rewritten), the asset must not
        # promote what the gate did not pass: the verdict is re-read for this version.
        if previous != version and gate_verdict(conn, name, version) is not True:
            raise dg.Failure(
                f"gate_not_passed: {name} v{version} has no passing release-gate verdict; "
                "run challenger_earns_champion (job train_voice) on it first",
                allow_retries=False,
            )
        if previous != version:
            promote(
                client,
                conn,
                name=name,
                version=version,
                actor=f"dagster:{context.run_id[:8]}",
                reason="release gate passed",
                details={"scores": scores},
            )
        profile = save_profile(
            conn,
            SpeakerProfile(
                profile_id=dataset_id,
                speaker=dataset_id,
                language=reference["language"],
                reference_sha256=sha256_file(Path(reference["audio_path"])),
                reference_uri=Path(reference["audio_path"]).as_uri(),
                prompt_text=reference["text"],
                model_name=name,
                presets=presets,
            ),
        )
        record_evaluation(conn, profile.profile_id, profile.version, version, scores)
    context.log.info(f"{name}: champion {previous or '-'} -> {version}")
    return dg.MaterializeResult(
        metadata={
            "model_name": name,
            "champion": version,
            "previous_champion": previous or "-",
            "profile_version": dg.MetadataValue.int(profile.version),
        }
    )
