"""Fine-tuning a base checkpoint on one speaker: epochs, validation, early stopping, resume.

Each stage (SoVITS first, then the GPT on the adapted SoVITS's semantic tokens) runs in
epochs over the training split. After every epoch it measures the held-out validation
loss, keeps the best weights, and stops once ``patience`` epochs pass without a better
one. Its whole state (trainer, loop bookkeeping, best weights) is written atomically to
the stage's directory every ``save_every_epochs`` epochs, so a run that dies is resumed
from there by simply running it again with the same configuration; a different
configuration refuses to resume rather than mixing two runs.

Validation losses are deterministic: SoVITS uses the mel reconstruction loss of fixed
slices (a seeded generator, no GAN terms), the GPT its teacher-forced cross-entropy per
token, both in eval mode, so an epoch-to-epoch change is the model's and not noise.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from voicemill.model.gpt.model import Text2SemanticModel
from voicemill.model.sovits.losses import S2Losses
from voicemill.model.sovits.synthesizer import SynthesizerTrn
from voicemill.training.features import UtteranceFeatures
from voicemill.training.s1_train import S1Item, collate_s1, forward_s1
from voicemill.training.s2_train import collate_s2, forward_s2

Stage = Literal["sovits", "gpt"]


class AdaptationConfig(BaseModel):
    """What an ML engineer sets for one fine-tuning run (the Launchpad form)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stages: tuple[Stage, ...] = ("sovits", "gpt")
    sovits_epochs: int = Field(8, ge=1, le=10_000)
    gpt_epochs: int = Field(15, ge=1, le=10_000)
    batch_size: int = Field(4, ge=1, le=256)
    sovits_lr: float = Field(1e-4, gt=0, le=1)
    text_low_lr_rate: float = Field(0.4, gt=0, le=1, description="text-side lr factor (s2)")
    gpt_lr: float = Field(0.002, gt=0, le=1)
    seed: int = Field(0, ge=0)
    save_every_epochs: int = Field(1, ge=1)
    patience: int = Field(3, ge=1, description="epochs without a better validation loss")
    validation_fraction: float = Field(0.1, gt=0, lt=0.5)

    @field_validator("stages")
    @classmethod
    def _ordered(cls, stages: tuple[Stage, ...]) -> tuple[Stage, ...]:
        if not stages or len(set(stages)) != len(stages):
            raise ValueError("name each stage once: sovits, gpt or both")
        if stages == ("gpt", "sovits"):
            raise ValueError("sovits comes first: the GPT learns the adapted SoVITS's tokens")
        return stages

    @property
    def fingerprint(self) -> str:
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


def split_validation(
    utterance_ids: Sequence[str], fraction: float, salt: str = "validation"
) -> tuple[list[str], list[str]]:
    """A fixed held-out split: (train ids, validation ids), chosen by hashing each id.

    The same ids always land on the same side, whatever order or run, and adding
    utterances to a dataset never moves an existing one across the split.
    """
    ids = sorted(set(utterance_ids))
    if len(ids) < 2:
        raise ValueError(f"need at least 2 utterances to hold one out, got {len(ids)}")

    def rank(uid: str) -> int:
        return int.from_bytes(hashlib.sha256(f"{salt}\0{uid}".encode()).digest()[:8], "big")

    by_rank = sorted(ids, key=rank)
    # Bucket by hash, then make sure neither side is empty.
    held = [u for u in ids if rank(u) / 2**64 < fraction] or by_rank[:1]
    if len(held) == len(ids):
        held = held[:-1]
    held_set = set(held)
    return [u for u in ids if u not in held_set], sorted(held_set)


# -- validation losses -----------------------------------------------------------------


@torch.no_grad()
def sovits_validation_loss(
    net_g: SynthesizerTrn, items: Sequence[UtteranceFeatures], batch_size: int, seed: int = 0
) -> float:
    """Mean L1 log-mel error of fixed decoded slices (the reconstruction term alone)."""
    losses = S2Losses(net_g.cfg)
    was_training = net_g.training
    net_g.eval()
    generator = torch.Generator().manual_seed(seed)  # the same slices every epoch
    total, count = 0.0, 0
    try:
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            batch = collate_s2(chunk, net_g.cfg.hop_length)
            out = forward_s2(net_g, batch, generator)
            real = losses.real_segment(batch["wav"], out)
            error = torch.nn.functional.l1_loss(losses.log_mel(out.wav_hat), losses.log_mel(real))
            total += float(error) * len(chunk)
            count += len(chunk)
    finally:
        net_g.train(was_training)
    return total / count


@torch.no_grad()
def gpt_validation_loss(
    model: Text2SemanticModel, items: Sequence[S1Item], batch_size: int
) -> float:
    """Teacher-forced cross-entropy per target token (EOS included) over ``items``."""
    was_training = model.training
    model.eval()
    total, targets = 0.0, 0
    try:
        for start in range(0, len(items), batch_size):
            batch = collate_s1(items[start : start + batch_size])
            out = forward_s1(model, batch)
            total += float(out.loss)
            targets += int((batch["semantic_lens"] + 1).sum())
    finally:
        model.train(was_training)
    return total / targets


# -- the epoch loop --------------------------------------------------------------------


class EpochTrainer(Protocol):
    """What the loop needs of a stage's trainer (S2Trainer, S1Trainer)."""

    def train(self, steps: int) -> list[dict[str, float]]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class EpochRecord(BaseModel):
    stage: Stage
    epoch: int  # 1-based
    step: int  # optimizer steps so far in this stage
    train_loss: float  # mean of the epoch's per-step ``loss_key`` values
    val_loss: float
    best: bool  # the best validation loss so far
    seconds: float
    saved: bool = False  # this epoch's weights were kept as a checkpoint


@dataclass(frozen=True)
class StageResult:
    stage: Stage
    history: list[EpochRecord]
    best_epoch: int
    best_val_loss: float
    stopped_early: bool
    resumed_from_epoch: int  # 0 for a fresh start
    best_weights: Path  # the best epoch's model state dict (torch.save)
    saved_weights: dict[int, Path]  # epoch -> that epoch's model state dict, every save point


class ResumeMismatch(ValueError):
    """A saved stage state belongs to another configuration."""


def run_stage(
    stage: Stage,
    trainer: EpochTrainer,
    *,
    model: torch.nn.Module,
    epochs: int,
    steps_per_epoch: int,
    loss_key: str,
    validate: Callable[[], float],
    patience: int,
    save_every_epochs: int,
    workdir: Path,
    fingerprint: str,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> StageResult:
    """Train ``epochs`` epochs (or until early stopping), resuming from ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    state_path, best_path = workdir / "state.pt", workdir / "best.pt"
    history: list[EpochRecord] = []
    best_val, best_epoch, resumed = float("inf"), 0, 0
    if state_path.exists():
        saved = torch.load(state_path, weights_only=True)
        if saved["fingerprint"] != fingerprint:
            raise ResumeMismatch(
                f"{state_path} holds a {stage} run of another configuration or data; "
                "remove it (or use a new run directory) to start over"
            )
        trainer.load_state_dict(saved["trainer"])
        history = [EpochRecord.model_validate(r) for r in saved["history"]]
        best_val, best_epoch = saved["best_val"], saved["best_epoch"]
        resumed = len(history)

    def since_best() -> int:
        return len(history) - best_epoch

    stopped_early = since_best() >= patience and resumed > 0
    while len(history) < epochs and not stopped_early:
        started = time.perf_counter()
        epoch = len(history) + 1
        steps = trainer.train(steps_per_epoch)
        val = validate()
        improved = val < best_val
        if improved:
            best_val, best_epoch = val, epoch
            _save_atomic(model.state_dict(), best_path)
        stopped_early = epoch - best_epoch >= patience and epoch < epochs
        saved = stopped_early or epoch == epochs or epoch % save_every_epochs == 0
        if saved:  # before the state that lists it, so a resumed run never misses one
            _save_atomic(model.state_dict(), epoch_weights_path(workdir, epoch))
        record = EpochRecord(
            stage=stage,
            epoch=epoch,
            step=int(steps[-1]["step"]),
            train_loss=sum(s[loss_key] for s in steps) / len(steps),
            val_loss=val,
            best=improved,
            seconds=time.perf_counter() - started,
            saved=saved,
        )
        history.append(record)
        if improved or saved:
            state = {
                "trainer": trainer.state_dict(),
                "history": [r.model_dump() for r in history],
                "best_val": best_val,
                "best_epoch": best_epoch,
                "fingerprint": fingerprint,
            }
            _save_atomic(state, state_path)
        if on_epoch is not None:
            on_epoch(record)
    return StageResult(
        stage=stage,
        history=history,
        best_epoch=best_epoch,
        best_val_loss=best_val,
        stopped_early=stopped_early,
        resumed_from_epoch=resumed,
        best_weights=best_path,
        saved_weights={r.epoch: epoch_weights_path(workdir, r.epoch) for r in history if r.saved},
    )


def epoch_weights_path(workdir: Path, epoch: int) -> Path:
    """Where ``run_stage`` keeps the weights of a saved epoch."""
    return workdir / "epochs" / f"e{epoch:03d}.pt"


def _save_atomic(obj: Any, path: Path) -> None:
    """torch.save to a temp file, then rename: a crash mid-write keeps the old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def steps_per_epoch(n_items: int, batch_size: int) -> int:
    return -(-n_items // batch_size)
