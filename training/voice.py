"""One speaker's voice from a base checkpoint: SoVITS then GPT fine-tuning, exported.

The inputs are official-format base files (pretrained on disk, or the tiny base the
platform pretrains offline) and the speaker's cached features; the outputs are
official-format files again (s1 ``.ckpt``, s2G/s2D ``.pth``), so a voice trained here
loads in any GPT-SoVITS tool: the best epochs in ``export/``, and every saved epoch in
``export/checkpoints/`` as a pair the evaluation can synthesize with (a SoVITS epoch
with the base GPT, a GPT epoch with the best SoVITS). Everything is checked before the
first step: the base files must read, fit each other and fit the features, and both
splits must be non-empty.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import torch

from voicemill.errors import RejectedInput
from voicemill.model.gpt.checkpoint import read_checkpoint, save_checkpoint
from voicemill.model.sovits.checkpoint import (
    read_s2_discriminator,
    read_s2_generator,
    write_s2_discriminator,
    write_s2_generator,
)
from voicemill.training.adapt import (
    AdaptationConfig,
    EpochRecord,
    Stage,
    StageResult,
    gpt_validation_loss,
    run_stage,
    sovits_validation_loss,
    split_validation,
    steps_per_epoch,
)
from voicemill.training.features import UtteranceFeatures
from voicemill.training.s1_train import S1TrainConfig, S1Trainer, build_s1_items
from voicemill.training.s2_train import S2TrainConfig, S2Trainer, S2Weights, usable

T = TypeVar("T")


class AdaptationError(RejectedInput):
    """Reasons: ``base_unusable``, ``base_mismatch``, ``too_few_utterances``."""


@dataclass(frozen=True)
class BaseCheckpoints:
    """Official-format base files; ``s2d`` is optional (the discriminator then starts fresh)."""

    s1: Path
    s2g: Path
    s2d: Path | None = None


@dataclass(frozen=True)
class VoiceFiles:
    s1: Path
    s2g: Path
    s2d: Path | None

    def sha256(self) -> dict[str, str]:
        files = {"s1": self.s1, "s2G": self.s2g} | ({"s2D": self.s2d} if self.s2d else {})
        return {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in files.items()}


@dataclass(frozen=True)
class SavedCheckpoint:
    """One saved epoch as a synthesizable (s1, s2G) pair of official-format files."""

    stage: Stage
    epoch: int
    val_loss: float
    s1: Path
    s2g: Path

    @property
    def name(self) -> str:
        return f"{self.stage}-e{self.epoch:03d}"


@dataclass(frozen=True)
class AdaptationResult:
    files: VoiceFiles
    stages: dict[str, StageResult] = field(default_factory=dict)
    checkpoints: list[SavedCheckpoint] = field(default_factory=list)  # in training order
    train_ids: list[str] = field(default_factory=list)
    validation_ids: list[str] = field(default_factory=list)


def adapt_voice(
    base: BaseCheckpoints,
    features: Sequence[UtteranceFeatures],
    cfg: AdaptationConfig,
    workdir: Path,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> AdaptationResult:
    """Fine-tune ``base`` on ``features``; resumable by calling again with the same workdir.

    Stages not in ``cfg.stages`` pass the base through unchanged. The exports go to
    ``workdir/export``.
    """
    s2 = _read(read_s2_generator, base.s2g)
    s1 = _read(read_checkpoint, base.s1)
    codes = s1.config.vocab_size - 1
    if codes != s2.config.codebook_size:
        raise AdaptationError(
            "base_mismatch",
            f"base s1 emits {codes} codes but the base s2 codebook has "
            f"{s2.config.codebook_size}: {base.s1.name} and {base.s2g.name} are not a pair",
        )
    ssl_dims = {f.ssl.shape[0] for f in features}
    if ssl_dims and ssl_dims != {s2.config.ssl_dim}:
        raise AdaptationError(
            "base_mismatch",
            f"features carry {sorted(ssl_dims)}-d SSL but the base s2 reads "
            f"{s2.config.ssl_dim}-d: extract features with the base's SSL model",
        )
    bert_dims = {f.bert.shape[0] for f in features}
    if bert_dims and bert_dims != {s1.config.bert_dim}:
        raise AdaptationError(
            "base_mismatch",
            f"features carry {sorted(bert_dims)}-d BERT but the base s1 projects "
            f"{s1.config.bert_dim}-d: use the BERT model the base was trained with",
        )
    by_id = {f.utterance_id: f for f in features}
    if len(by_id) < 2:
        raise AdaptationError(
            "too_few_utterances", f"{len(by_id)} usable utterances; fine-tuning needs at least 2"
        )
    train_ids, val_ids = split_validation(list(by_id), cfg.validation_fraction)
    train = [by_id[u] for u in train_ids]
    val = [by_id[u] for u in val_ids]
    export = workdir / "export"
    saved = export / "checkpoints"
    saved.mkdir(parents=True, exist_ok=True)
    stages: dict[str, StageResult] = {}
    checkpoints: list[SavedCheckpoint] = []
    info = f"voicemill {cfg.fingerprint[:12]}"

    s2_cfg = S2TrainConfig(
        lr=cfg.sovits_lr, text_low_lr_rate=cfg.text_low_lr_rate, batch_size=cfg.batch_size
    )
    try:
        s2_trainer = S2Trainer(
            s2.config,
            s2_cfg,
            train,
            seed=cfg.seed,
            init=S2Weights(s2.weight, _read_discriminator(base)),
        )
    except ValueError as exc:  # no usable utterance, or a base that does not fit
        raise AdaptationError(
            "base_mismatch" if "base" in str(exc) else "too_few_utterances", str(exc)
        ) from exc
    net_g, net_d = s2_trainer.net_g, s2_trainer.net_d
    if "sovits" in cfg.stages:
        val_s2 = usable(val, s2_cfg)
        if not val_s2:
            raise AdaptationError(
                "too_few_utterances", "no validation utterance within the s2 duration limits"
            )
        result = run_stage(
            "sovits",
            s2_trainer,
            model=net_g,
            epochs=cfg.sovits_epochs,
            steps_per_epoch=steps_per_epoch(len(s2_trainer.items), cfg.batch_size),
            loss_key="mel",
            validate=lambda: sovits_validation_loss(net_g, val_s2, cfg.batch_size, cfg.seed),
            patience=cfg.patience,
            save_every_epochs=cfg.save_every_epochs,
            workdir=workdir / "sovits",
            fingerprint=_fingerprint(cfg, train_ids, base),
            on_epoch=on_epoch,
        )
        for epoch, weights in result.saved_weights.items():
            path = saved / f"s2G-e{epoch:03d}.pth"
            write_s2_generator(path, torch.load(weights, weights_only=True), s2.config, info)
            checkpoints.append(
                SavedCheckpoint("sovits", epoch, _val_loss(result, epoch), base.s1, path)
            )
        net_g.load_state_dict(torch.load(result.best_weights, weights_only=True))
        stages["sovits"] = result
    write_s2_generator(export / "s2G.pth", net_g.state_dict(), s2.config, info)
    write_s2_discriminator(export / "s2D.pth", net_d.state_dict())

    net_g.eval()
    s1_cfg = S1TrainConfig(lr=cfg.gpt_lr, batch_size=cfg.batch_size)
    with torch.no_grad():
        train_items = build_s1_items(train, net_g, s1_cfg)
        val_items = build_s1_items(val, net_g, s1_cfg)
    if not train_items:
        raise AdaptationError(
            "too_few_utterances", "no training utterance passed the s1 length filters"
        )
    s1_trainer = S1Trainer(s1.config, s1_cfg, train_items, seed=cfg.seed, init=s1.state_dict)
    gpt = s1_trainer.model
    if "gpt" in cfg.stages:
        if not val_items:
            raise AdaptationError(
                "too_few_utterances", "no validation utterance passed the s1 length filters"
            )
        result = run_stage(
            "gpt",
            s1_trainer,
            model=gpt,
            epochs=cfg.gpt_epochs,
            steps_per_epoch=steps_per_epoch(len(train_items), cfg.batch_size),
            loss_key="loss",
            validate=lambda: gpt_validation_loss(gpt, val_items, cfg.batch_size),
            patience=cfg.patience,
            save_every_epochs=cfg.save_every_epochs,
            workdir=workdir / "gpt",
            # the GPT learns the adapted SoVITS's tokens: its run depends on them
            fingerprint=_fingerprint(cfg, train_ids, base, export / "s2G.pth"),
            on_epoch=on_epoch,
        )
        for epoch, weights in result.saved_weights.items():
            gpt.load_state_dict(torch.load(weights, weights_only=True))
            path = saved / f"s1-e{epoch:03d}.ckpt"
            save_checkpoint(gpt, path, info=info, max_sec=s1.max_sec, top_k=s1.top_k)
            checkpoints.append(
                SavedCheckpoint("gpt", epoch, _val_loss(result, epoch), path, export / "s2G.pth")
            )
        gpt.load_state_dict(torch.load(result.best_weights, weights_only=True))
        stages["gpt"] = result
    save_checkpoint(gpt, export / "s1.ckpt", info=info, max_sec=s1.max_sec, top_k=s1.top_k)
    files = VoiceFiles(export / "s1.ckpt", export / "s2G.pth", export / "s2D.pth")
    return AdaptationResult(files, stages, checkpoints, train_ids, val_ids)


def _val_loss(result: StageResult, epoch: int) -> float:
    return next(r.val_loss for r in result.history if r.epoch == epoch)


def _read(reader: Callable[[Path], T], path: Path) -> T:
    """Read a base file; any failure is a clear ``base_unusable`` before compute starts."""
    if not Path(path).is_file():
        raise AdaptationError("base_unusable", f"base checkpoint {path} does not exist")
    try:
        return reader(path)
    except RejectedInput as exc:
        raise AdaptationError("base_unusable", f"{exc.reason}: {exc.detail}") from exc


def _read_discriminator(base: BaseCheckpoints) -> dict[str, torch.Tensor] | None:
    return None if base.s2d is None else _read(read_s2_discriminator, base.s2d)


def _fingerprint(cfg: AdaptationConfig, train_ids: Sequence[str], *files: object) -> str:
    """Config + data + base (and upstream stage output) identify a resumable stage run."""
    digest = hashlib.sha256(cfg.fingerprint.encode())
    digest.update("\0".join(train_ids).encode())
    for item in files:
        paths = [item.s1, item.s2g, item.s2d] if isinstance(item, BaseCheckpoints) else [item]
        for path in paths:
            if path is not None:
                digest.update(Path(path).read_bytes())
    return digest.hexdigest()
