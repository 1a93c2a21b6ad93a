"""s2 (SoVITS) training: generator + discriminator GAN steps on random 32-frame slices.

Follows upstream (FACTS §4, §7): AdamW at lr 1e-4, betas (0.8, 0.99), eps 1e-9; the
text side of the prior encoder (``enc_p.text_embedding``, ``encoder_text``, ``mrte``)
at ``lr * text_low_lr_rate``; ExponentialLR stepped once per epoch; the discriminator
step comes first, then the generator step with adversarial + feature-matching terms.
Items shorter than 0.6 s or longer than 54 s are left out, as upstream's dataset does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from voicemill.model.sovits.config import SoVITSConfig
from voicemill.model.sovits.discriminator import (
    TINY_WIDTH,
    V2_PERIODS,
    V2_WIDTH,
    MultiPeriodDiscriminator,
)
from voicemill.model.sovits.losses import S2Losses
from voicemill.model.sovits.synthesizer import GeneratorOutput, SynthesizerTrn
from voicemill.training.batches import EpochSampler
from voicemill.training.features import UtteranceFeatures

TEXT_SIDE_PREFIXES = ("enc_p.text_embedding.", "enc_p.encoder_text.", "enc_p.mrte.")


class S2TrainConfig(BaseModel):
    """Optimisation settings of the s2 stage; defaults are upstream's ``s2.json``."""

    model_config = ConfigDict(frozen=True)

    lr: float = Field(1e-4, gt=0)
    betas: tuple[float, float] = (0.8, 0.99)
    eps: float = 1e-9
    weight_decay: float = 0.01  # torch AdamW's default, which upstream keeps
    text_low_lr_rate: float = Field(0.4, gt=0)
    lr_decay: float = Field(0.999875, gt=0, le=1)  # per epoch
    batch_size: int = Field(4, ge=1)
    min_duration_s: float = 0.6
    max_duration_s: float = 54.0
    disc_periods: tuple[int, ...] = V2_PERIODS  # () keeps only the waveform-scale one
    # channels of the widest discriminator layers; None: matched to the generator
    # (see `discriminator_width`): 1024 for v2, 128 for the tiny preset
    disc_width: int | None = Field(None, gt=0)


def discriminator_width(model_cfg: SoVITSConfig, train_cfg: S2TrainConfig) -> int:
    """``train_cfg.disc_width``, or by default the tiny discriminator's width for
    generators narrower than v2's (the tiny preset) and the official 1024 otherwise."""
    if train_cfg.disc_width is not None:
        return train_cfg.disc_width
    narrow = model_cfg.upsample_initial_channel < SoVITSConfig.v2().upsample_initial_channel
    return TINY_WIDTH if narrow else V2_WIDTH


def usable(features: Sequence[UtteranceFeatures], cfg: S2TrainConfig) -> list[UtteranceFeatures]:
    return [f for f in features if cfg.min_duration_s <= f.duration_s <= cfg.max_duration_s]


def pad_stack(tensors: Sequence[torch.Tensor], length: int) -> torch.Tensor:
    """Right-pad the last dim of each tensor with zeros to ``length`` and stack."""
    return torch.stack([torch.nn.functional.pad(t, (0, length - t.shape[-1])) for t in tensors])


def collate_s2(items: Sequence[UtteranceFeatures], hop: int) -> dict[str, torch.Tensor]:
    """Right-padded batch: ssl [B, D, T], spec [B, 1025, T], wav [B, 1, T * hop],
    text [B, Tp], with spec_lengths / text_lengths [B]."""
    spec_lengths = torch.tensor([f.spec.shape[1] for f in items])
    text_lengths = torch.tensor([f.phone_ids.numel() for f in items])
    frames, phones = int(spec_lengths.max()), int(text_lengths.max())
    return {
        "ssl": pad_stack([f.ssl for f in items], frames),
        "spec": pad_stack([f.spec for f in items], frames),
        "spec_lengths": spec_lengths,
        "wav": pad_stack([f.wav for f in items], frames * hop).unsqueeze(1),
        "text": pad_stack([f.phone_ids for f in items], phones),
        "text_lengths": text_lengths,
    }


def build_optimizers(
    net_g: SynthesizerTrn, net_d: nn.Module, cfg: S2TrainConfig
) -> tuple[torch.optim.AdamW, torch.optim.AdamW]:
    """Generator optimiser with the text side at the reduced rate, and the D optimiser."""
    text_side, rest = [], []
    for name, param in net_g.named_parameters():
        (text_side if name.startswith(TEXT_SIDE_PREFIXES) else rest).append(param)
    kwargs: dict[str, Any] = {"betas": cfg.betas, "eps": cfg.eps, "weight_decay": cfg.weight_decay}
    optim_g = torch.optim.AdamW(
        [{"params": rest}, {"params": text_side, "lr": cfg.lr * cfg.text_low_lr_rate}],
        lr=cfg.lr,
        **kwargs,
    )
    optim_d = torch.optim.AdamW(net_d.parameters(), lr=cfg.lr, **kwargs)
    return optim_g, optim_d


def forward_s2(
    net_g: SynthesizerTrn, batch: dict[str, torch.Tensor], generator: torch.Generator
) -> GeneratorOutput:
    """The generator's training forward on a ``collate_s2`` batch."""
    return net_g(
        batch["ssl"],
        batch["spec"],
        batch["spec_lengths"],
        batch["text"],
        batch["text_lengths"],
        generator=generator,
    )


def train_step_s2(
    net_g: SynthesizerTrn,
    net_d: MultiPeriodDiscriminator,
    optim_g: torch.optim.Optimizer,
    optim_d: torch.optim.Optimizer,
    losses: S2Losses,
    batch: dict[str, torch.Tensor],
    generator: torch.Generator,
) -> dict[str, float]:
    """One discriminator update, then one generator update, on the same random slices."""
    out = forward_s2(net_g, batch, generator)
    loss_d = losses.discriminator(out, batch["wav"], net_d)
    optim_d.zero_grad(set_to_none=True)
    loss_d.backward()
    optim_d.step()

    gen = losses.generator(out, batch["spec"], batch["wav"], net_d)
    optim_g.zero_grad(set_to_none=True)
    gen.total.backward()  # also leaves grads on net_d; the next D step zeroes them first
    optim_g.step()
    return {
        "disc": loss_d.item(),
        "gen": gen.total.item(),
        "adv": gen.adv.item(),
        "fm": gen.fm.item(),
        "mel": gen.mel.item(),
        "kl": gen.kl.item(),
        "commit": gen.commit.item(),
    }


@dataclasses.dataclass(frozen=True)
class S2Weights:
    """Generator (and optionally discriminator) weights to fine-tune from.

    Exported generators carry no posterior encoder (``enc_q``, training-only): it then
    starts from its random init, as upstream's fine-tuning does. Anything else missing
    or unexpected is an error.
    """

    generator: dict[str, torch.Tensor]
    discriminator: dict[str, torch.Tensor] | None = None

    def load_into(self, net_g: SynthesizerTrn, net_d: nn.Module) -> None:
        missing, unexpected = net_g.load_state_dict(self.generator, strict=False)
        missing = [k for k in missing if not k.startswith("enc_q.")]
        if missing or unexpected:
            raise ValueError(
                f"base generator does not fit: missing {missing[:3]}, unexpected {unexpected[:3]}"
            )
        if self.discriminator is not None:
            net_d.load_state_dict(self.discriminator)


class S2Trainer:
    """Models, optimisers, schedule and data order of one s2 run; resumable by state_dict.

    Each epoch visits the items in a fresh random order drawn from the run's generator,
    which also drives the slice positions and posterior noise, so a run is reproducible
    from its seed and continues identically after a save/load.
    """

    def __init__(
        self,
        model_cfg: SoVITSConfig,
        train_cfg: S2TrainConfig,
        features: Sequence[UtteranceFeatures],
        seed: int = 0,
        init: S2Weights | None = None,
    ) -> None:
        """``init``: start from these weights (fine-tuning) instead of a random init."""
        self.items = usable(features, train_cfg)
        if not self.items:
            raise ValueError("no utterance within the s2 duration limits")
        torch.manual_seed(seed)  # parameter init and the codebook's k-means draws
        self.cfg = train_cfg
        self.net_g = SynthesizerTrn(model_cfg).train()
        self.net_d = MultiPeriodDiscriminator(
            train_cfg.disc_periods, discriminator_width(model_cfg, train_cfg)
        ).train()
        if init is not None:
            init.load_into(self.net_g, self.net_d)
        self.optim_g, self.optim_d = build_optimizers(self.net_g, self.net_d, train_cfg)
        self.sched_g = torch.optim.lr_scheduler.ExponentialLR(self.optim_g, train_cfg.lr_decay)
        self.sched_d = torch.optim.lr_scheduler.ExponentialLR(self.optim_d, train_cfg.lr_decay)
        self.losses = S2Losses(model_cfg)
        self.generator = torch.Generator().manual_seed(seed)
        self.sampler = EpochSampler(len(self.items), train_cfg.batch_size, self.generator)
        self.step = 0

    def _next_batch(self) -> dict[str, torch.Tensor]:
        picks, new_epoch = self.sampler.next()
        if new_epoch:  # upstream decays the learning rate once per epoch
            self.sched_g.step()
            self.sched_d.step()
        return collate_s2([self.items[i] for i in picks], self.net_g.cfg.hop_length)

    def train(self, steps: int) -> list[dict[str, float]]:
        history = []
        for _ in range(steps):
            record = train_step_s2(
                self.net_g,
                self.net_d,
                self.optim_g,
                self.optim_d,
                self.losses,
                self._next_batch(),
                self.generator,
            )
            self.step += 1
            history.append({"step": float(self.step), **record})
        return history

    def state_dict(self) -> dict[str, Any]:
        return {
            "net_g": self.net_g.state_dict(),
            "net_d": self.net_d.state_dict(),
            "optim_g": self.optim_g.state_dict(),
            "optim_d": self.optim_d.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict(),
            "step": self.step,
            "sampler": self.sampler.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net_g.load_state_dict(state["net_g"])
        self.net_d.load_state_dict(state["net_d"])
        self.optim_g.load_state_dict(state["optim_g"])
        self.optim_d.load_state_dict(state["optim_d"])
        self.sched_g.load_state_dict(state["sched_g"])
        self.sched_d.load_state_dict(state["sched_d"])
        self.step = int(state["step"])
        self.sampler.load_state_dict(state["sampler"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])


def tiny_s2_config(ssl_dim: int) -> SoVITSConfig:
    """The tiny s2 preset reading ``ssl_dim``-wide SSL features (384 for whisper tiny.en)."""
    return dataclasses.replace(SoVITSConfig.tiny(), ssl_dim=ssl_dim)


def train_s2(
    model_cfg: SoVITSConfig,
    train_cfg: S2TrainConfig,
    features: Sequence[UtteranceFeatures],
    steps: int,
    seed: int = 0,
) -> tuple[S2Trainer, list[dict[str, float]]]:
    """Train from scratch for ``steps`` steps; returns the trainer and per-step losses."""
    trainer = S2Trainer(model_cfg, train_cfg, features, seed)
    return trainer, trainer.train(steps)
