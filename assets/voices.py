"""Voice assets: base model, features, fine-tuning, evaluation, registration, promotion.

Thin wrappers: the work lives in ``voicemill.training`` (features, ``adapt_voice``),
``voicemill.release`` (scoring, gate, registry, profiles) and ``voicemill.tracking``
(MLflow). Assets hand files to each other through small JSON records (see
``voicemill.release.records``); every training or evaluation run is an MLflow run
tagged with its Dagster run, dataset, config hash and code version.
"""

import warnings
from pathlib import Path

import dagster as dg
from pydantic import Field

from voicemill.assets.manifest import training_manifest
from voicemill.orchestration.partitions import datasets_partitions
from voicemill.orchestration.resources import (
    BaseModelResource,
    DatasetStorage,
    MlflowResource,
)

GROUP = "voices"
RETRY = dg.RetryPolicy(max_retries=1, delay=5)  # training resumes from its last epoch


class BaseModelConfig(dg.Config):
    """Pretraining of the offline ``tiny`` base (used only when no base files are set)."""

    datasets: list[str] = Field(
        default_factory=list, description="Datasets to pretrain on; empty = every prepared one."
    )
    sovits_epochs: int = Field(20, ge=1)
    gpt_epochs: int = Field(30, ge=1)
    batch_size: int = Field(4, ge=1)
    sovits_lr: float = Field(2e-3, gt=0)
    gpt_lr: float = Field(2e-3, gt=0)
    seed: int = Field(0, ge=0)
    patience: int = Field(5, ge=1)


class AdaptationLaunchConfig(dg.Config):
    """What an ML engineer sets for one fine-tuning run (validated before any compute)."""

    stages: list[str] = Field(default_factory=lambda: ["sovits", "gpt"])
    sovits_epochs: int = 8
    gpt_epochs: int = 15
    batch_size: int = 4
    sovits_lr: float = 1e-4
    text_low_lr_rate: float = 0.4
    gpt_lr: float = 0.002
    seed: int = 0
    save_every_epochs: int = 1
    patience: int = 3
    validation_fraction: float = 0.1


def _ssl(base: BaseModelResource):
    from voicemill.features.ssl import load_ssl

    return load_ssl(base.hubert_dir)


def _read_manifests(storage: DatasetStorage, dataset_ids: list[str]):
    import pandas as pd

    frames = []
    for dataset_id in dataset_ids:
        path = storage.layout(dataset_id).manifest_path
        if path.is_file():
            frames.append(pd.read_parquet(path))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@dg.asset(
    group_name=GROUP,
    deps=[training_manifest],
    pool="gpu",
    retry_policy=RETRY,
    kinds={"pytorch", "mlflow"},
    description="Base s1/s2 checkpoints: the configured official files, or a tiny base "
    "pretrained on the prepared datasets when none are configured.",
)
def base_model(
    context: dg.AssetExecutionContext,
    config: BaseModelConfig,
    base: BaseModelResource,
    storage: DatasetStorage,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    from voicemill.model.files import write_initial
    from voicemill.release.records import base_record_path, sha256_file, write_record
    from voicemill.training.adapt import AdaptationConfig
    from voicemill.training.voice import BaseCheckpoints, adapt_voice

    record_path = base_record_path(base.root)
    if base.configured:
        files = BaseCheckpoints(
            Path(base.s1_path), Path(base.s2g_path), Path(base.s2d_path) if base.s2d_path else None
        )
        _validate_base(files)
        record = {"source": "configured", "s1": files.s1, "s2G": files.s2g, "s2D": files.s2d}
    else:
        datasets = config.datasets or sorted(
            context.instance.get_dynamic_partitions(datasets_partitions.name)
        )
        manifest = _read_manifests(storage, datasets)
        if manifest.empty:
            raise dg.Failure(
                f"no prepared dataset among {datasets}: run prepare_dataset first "
                "(or configure the base_model resource with official checkpoint files)",
                allow_retries=False,
            )
        features = _features(context, manifest, base, storage)
        workdir = base.root / "base" / "pretrain"
        initial = write_initial(workdir / "initial", "tiny", seed=config.seed)
        cfg = AdaptationConfig(
            sovits_epochs=config.sovits_epochs,
            gpt_epochs=config.gpt_epochs,
            batch_size=config.batch_size,
            sovits_lr=config.sovits_lr,
            gpt_lr=config.gpt_lr,
            seed=config.seed,
            patience=config.patience,
        )
        tracker = mlflow.tracker("base")
        with tracker.run("tiny-base", tags=mlflow.dagster_tags(context), resume=True) as run:
            run.log_params({**cfg.model_dump(), "datasets": ",".join(datasets)})
            result = adapt_voice(
                BaseCheckpoints(initial["s1"], initial["s2G"], initial["s2D"]),
                features,
                cfg,
                workdir,
                on_epoch=_epoch_logger(context, run),
            )
            run_id = run.run_id
        files = result.files
        record = {
            "source": "pretrained",
            "s1": files.s1,
            "s2G": files.s2g,
            "s2D": files.s2d,
            "datasets": datasets,
            "utterances": len(features),
            "mlflow_run_id": run_id,
        }
    record["ssl_dir"] = base.hubert_dir
    record["sha256"] = {
        k: sha256_file(Path(record[k])) for k in ("s1", "s2G", "s2D") if record.get(k)
    }
    write_record(record_path, record)
    return dg.MaterializeResult(
        metadata={
            "source": record["source"],
            "s1": dg.MetadataValue.path(str(record["s1"])),
            "s2G": dg.MetadataValue.path(str(record["s2G"])),
            "sha256": dg.MetadataValue.json(record["sha256"]),
        }
    )


def _checked_manifest(storage: DatasetStorage, dataset_id: str):
    """The dataset's training manifest, refused before any compute unless it passes its
    expectation suite (whatever run last checked it): training never sees bad data."""
    import pandas as pd

    from voicemill.quality.manifest_suite import ManifestThresholds, validate_manifest

    path = storage.layout(dataset_id).manifest_path
    if not path.is_file():
        raise dg.Failure(
            f"dataset {dataset_id!r} has no training manifest: register it and run "
            "prepare_dataset first",
            allow_retries=False,
        )
    manifest = pd.read_parquet(path)
    if manifest.empty:
        raise dg.Failure(
            f"dataset {dataset_id} has no accepted utterance to train on", allow_retries=False
        )
    validation = validate_manifest(manifest, ManifestThresholds())
    if not validation.success:
        failed = [f"{o.expectation}({o.column or 'table'})" for o in validation.failed]
        raise dg.Failure(
            f"manifest of {dataset_id} fails its expectations; not training: {failed}",
            metadata={"failed_expectations": dg.MetadataValue.json(failed)},
            allow_retries=False,
        )
    return manifest


def _validate_base(files) -> None:
    from voicemill.errors import RejectedInput
    from voicemill.model.gpt import read_checkpoint
    from voicemill.model.sovits import read_s2_discriminator, read_s2_generator

    try:
        read_checkpoint(files.s1)
        read_s2_generator(files.s2g)
        if files.s2d is not None:
            read_s2_discriminator(files.s2d)
    except (RejectedInput, FileNotFoundError) as exc:
        raise dg.Failure(f"base checkpoint unusable: {exc}", allow_retries=False) from exc


def _features(context, manifest, base: BaseModelResource, storage: DatasetStorage):
    import time

    from voicemill.model.sovits.config import SoVITSConfig
    from voicemill.settings import get_settings
    from voicemill.training.features import prepare_features

    started = time.perf_counter()
    bert = None
    if base.bert_dir:
        from voicemill.features.bert import BertFeatureExtractor

        bert = BertFeatureExtractor(base.bert_dir)
    # Only the STFT settings are read here, and they are the same at every v2 size.
    features, computed = prepare_features(
        manifest, get_settings().home_dir / "features", _ssl(base), SoVITSConfig.v2(), bert
    )
    context.log.info(
        f"features: {len(features)} utterances, {computed} computed, "
        f"{len(features) - computed} from cache, {time.perf_counter() - started:.1f} s"
    )
    return features


def _epoch_logger(context, run):
    def log(record) -> None:
        run.log_metrics(
            {
                f"{record.stage}/train_loss": record.train_loss,
                f"{record.stage}/val_loss": record.val_loss,
            },
            step=record.epoch,
        )
        best = " (best)" if record.best else ""
        context.log.info(
            f"{record.stage} epoch {record.epoch} step {record.step}: train "
            f"{record.train_loss:.4f} val {record.val_loss:.4f}{best} [{record.seconds:.1f} s]"
        )

    return log


@dg.asset(
    partitions_def=datasets_partitions,
    group_name=GROUP,
    deps=[training_manifest],
    kinds={"pytorch"},
    description="Phonemes, word2ph, BERT and SSL features of every manifest utterance, "
    "cached by content: unchanged utterances are never recomputed.",
)
def voice_features(
    context: dg.AssetExecutionContext, base: BaseModelResource, storage: DatasetStorage
) -> dg.MaterializeResult:

    manifest = _checked_manifest(storage, context.partition_key)
    features = _features(context, manifest, base, storage)
    frames = sum(f.spec.shape[1] for f in features)
    return dg.MaterializeResult(
        metadata={
            "utterances": dg.MetadataValue.int(len(features)),
            "frames_50hz": dg.MetadataValue.int(int(frames)),
            "phones": dg.MetadataValue.int(int(sum(f.phone_ids.numel() for f in features))),
        }
    )


with warnings.catch_warnings():
    warnings.simplefilter("ignore", category=dg.PreviewWarning)

    @dg.asset(
        partitions_def=datasets_partitions,
        group_name=GROUP,
        deps=[voice_features, base_model],
        pool="gpu",
        retry_policy=RETRY,
        kinds={"pytorch", "mlflow"},
        description="SoVITS then GPT fine-tuned from the base on this speaker; best epoch "
        "by validation loss, exported in the official formats; resumes after a crash.",
    )
    def voice_model(
        context: dg.AssetExecutionContext,
        config: AdaptationLaunchConfig,
        base: BaseModelResource,
        storage: DatasetStorage,
        mlflow: MlflowResource,
    ) -> dg.MaterializeResult:
        import yaml
        from pydantic import ValidationError

        from voicemill.data.manifest import manifest_hash
        from voicemill.release.records import (
            MissingRecord,
            base_record_path,
            read_record,
            voice_dir,
            write_record,
        )
        from voicemill.tracking import code_version, run_tags
        from voicemill.training.adapt import AdaptationConfig
        from voicemill.training.voice import AdaptationError, BaseCheckpoints, adapt_voice

        dataset_id = context.partition_key
        try:
            cfg = AdaptationConfig.model_validate(config.model_dump())
        except ValidationError as exc:
            raise dg.Failure(f"invalid adaptation config: {exc}", allow_retries=False) from exc
        manifest = _checked_manifest(storage, dataset_id)
        try:
            base_record = read_record(base_record_path(base.root), "base_model")
        except MissingRecord as exc:
            raise dg.Failure(exc.detail, allow_retries=False) from exc
        files = BaseCheckpoints(
            Path(base_record["s1"]),
            Path(base_record["s2G"]),
            Path(base_record["s2D"]) if base_record.get("s2D") else None,
        )
        features = _features(context, manifest, base, storage)
        data_hash = manifest_hash(manifest)
        run_name = f"{dataset_id}-{cfg.fingerprint[:8]}-{data_hash[:8]}"
        workdir = voice_dir(base.root, dataset_id) / "runs" / run_name
        workdir.mkdir(parents=True, exist_ok=True)
        config_file = workdir / "adaptation.yaml"
        config_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=True))
        tags = {
            **run_tags(dataset=dataset_id, code_version=code_version(), config=cfg.model_dump()),
            **mlflow.dagster_tags(context),
            "voicemill.manifest_sha256": data_hash,
        }
        tracker = mlflow.tracker(f"voices/{dataset_id}")
        with tracker.run(run_name, tags=tags, resume=True) as run:
            run.log_params({**cfg.model_dump(), "manifest_sha256": data_hash[:16]})
            run.log_file(config_file, "config")
            try:
                result = adapt_voice(
                    files, features, cfg, workdir, on_epoch=_epoch_logger(context, run)
                )
            except AdaptationError as exc:
                raise dg.Failure(f"{exc.reason}: {exc.detail}", allow_retries=False) from exc
            plot = _loss_plot(result, workdir / "loss.png")
            run.log_file(plot, "plots")
            hashes = result.files.sha256()
            run.log_dict(hashes, "checkpoints.json")
            split = {"train_ids": result.train_ids, "validation_ids": result.validation_ids}
            run.log_dict(split, "split.json")  # the held-out clips nightly regressions reuse
            run_id = run.run_id
        record = {
            "dataset": dataset_id,
            "s1": result.files.s1,
            "s2G": result.files.s2g,
            "s2D": result.files.s2d,
            "sha256": hashes,
            "config": cfg.model_dump(mode="json"),
            "config_sha256": cfg.fingerprint,
            "manifest_sha256": data_hash,
            "base_sha256": base_record["sha256"],
            "ssl_dir": base_record.get("ssl_dir"),
            "train_ids": result.train_ids,
            "validation_ids": result.validation_ids,
            "checkpoints": [
                {
                    "name": c.name,
                    "stage": c.stage,
                    "epoch": c.epoch,
                    "val_loss": c.val_loss,
                    "s1": c.s1,
                    "s2G": c.s2g,
                }
                for c in result.checkpoints
            ],
            "mlflow_run_id": run_id,
        }
        write_record(voice_dir(base.root, dataset_id) / "model.json", record)
        best = {s: r.best_val_loss for s, r in result.stages.items()}
        return dg.MaterializeResult(
            metadata={
                "mlflow_run_id": run_id,
                "best_val_loss": dg.MetadataValue.json(best),
                "epochs": dg.MetadataValue.json(
                    {stage: len(r.history) for stage, r in result.stages.items()}
                ),
                "saved_checkpoints": dg.MetadataValue.int(len(result.checkpoints)),
                "resumed_from_epoch": dg.MetadataValue.json(
                    {stage: r.resumed_from_epoch for stage, r in result.stages.items()}
                ),
                "checkpoint_sha256": dg.MetadataValue.json(hashes),
                "loss_curves": dg.MetadataValue.path(str(plot)),
                "run_dir": dg.MetadataValue.path(str(workdir)),
            }
        )


def _loss_plot(result, path: Path) -> Path:
    from voicemill.evaluation import plot_loss_curve

    curves = {}
    for stage, stage_result in result.stages.items():
        epochs = [r.epoch for r in stage_result.history]
        curves[f"{stage} train"] = (epochs, [r.train_loss for r in stage_result.history])
        curves[f"{stage} val"] = (epochs, [r.val_loss for r in stage_result.history])
    plot_loss_curve(curves, path, title="fine-tuning", xlabel="epoch", ylabel="loss", log_y=True)
    return path
