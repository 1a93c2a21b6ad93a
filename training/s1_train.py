"""s1 (text-to-semantic GPT) training on the semantic tokens of an s2 model.

Tokens come from the s2 generator's ``extract_latent`` (``ssl_proj`` -> codebook) as in
upstream's ``6-name2semantic`` step, so the GPT learns the codebook the s2 decoder reads.
Filters follow FACTS §3: at most ``max_sec * 25`` tokens and ``max_sec * 25 / 2.5``
phones, 3-25 phones per second. The loss is the model's summed cross-entropy; upstream
optimises it with ScaledAdam at a locked lr of 0.002 — we use AdamW at that constant lr
(ScaledAdam is not implemented here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from voicemill.model.gpt.config import GPTConfig
from voicemill.model.gpt.model import Text2SemanticModel, TrainOutput
from voicemill.model.sovits.synthesizer import SynthesizerTrn
from voicemill.training.batches import EpochSampler
from voicemill.training.features import UtteranceFeatures
from voicemill.training.s2_train import pad_stack

SEMANTIC_RATE = 25  # tokens per second


class S1TrainConfig(BaseModel):
    """Optimisation and data-filter settings of the s1 stage."""

    model_config = ConfigDict(frozen=True)

    lr: float = Field(0.002, gt=0)
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.01
    batch_size: int = Field(4, ge=1)
    max_sec: float = 54.0
    min_phones_per_s: float = 3.0
    max_phones_per_s: float = 25.0


@dataclass(frozen=True)
class S1Item:
    utterance_id: str
    phone_ids: torch.Tensor  # [Tp] long
    bert: torch.Tensor  # [1024, Tp]
    semantic: torch.Tensor  # [T25] long


def semantic_tokens(net_g: SynthesizerTrn, ssl: torch.Tensor) -> torch.Tensor:
    """SSL features [D, T50] -> semantic codes [T50 // 2] (single codebook stage)."""
    return net_g.extract_latent(ssl.unsqueeze(0))[0, 0].clone()


def build_s1_items(
    features: Sequence[UtteranceFeatures], net_g: SynthesizerTrn, cfg: S1TrainConfig
) -> list[S1Item]:
    """Tokenise every utterance and keep those within upstream's length/rate limits."""
    items = []
    for f in features:
        n_phones = f.phone_ids.numel()
        rate = n_phones / f.duration_s
        if n_phones > cfg.max_sec * SEMANTIC_RATE / 2.5:
            continue
        if not cfg.min_phones_per_s <= rate <= cfg.max_phones_per_s:
            continue
        semantic = semantic_tokens(net_g, f.ssl)
        if semantic.numel() > cfg.max_sec * SEMANTIC_RATE:
            continue
        items.append(S1Item(f.utterance_id, f.phone_ids, f.bert, semantic))
    return items


def collate_s1(items: Sequence[S1Item]) -> dict[str, torch.Tensor]:
    """Right-padded batch: phone_ids [B, Tx], bert [B, 1024, Tx], semantic [B, Ty],
    with phone_lens / semantic_lens [B] (the model never reads the padding)."""
    phone_lens = torch.tensor([i.phone_ids.numel() for i in items])
    semantic_lens = torch.tensor([i.semantic.numel() for i in items])
    tx, ty = int(phone_lens.max()), int(semantic_lens.max())
    return {
        "phone_ids": pad_stack([i.phone_ids for i in items], tx),
        "phone_lens": phone_lens,
        "bert": pad_stack([i.bert for i in items], tx),
        "semantic": pad_stack([i.semantic for i in items], ty),
        "semantic_lens": semantic_lens,
    }


def forward_s1(model: Text2SemanticModel, batch: dict[str, torch.Tensor]) -> TrainOutput:
    """The GPT's teacher-forced forward on a ``collate_s1`` batch."""
    return model(
        batch["phone_ids"],
        batch["phone_lens"],
        batch["bert"],
        batch["semantic"],
        batch["semantic_lens"],
    )


def train_step_s1(
    model: Text2SemanticModel, optim: torch.optim.Optimizer, batch: dict[str, torch.Tensor]
) -> dict[str, float]:
    out = forward_s1(model, batch)
    optim.zero_grad(set_to_none=True)
    out.loss.backward()
    optim.step()
    targets = int((batch["semantic_lens"] + 1).sum())  # each sequence also predicts EOS
    return {"loss": out.loss.item() / targets, "accuracy": out.accuracy.item()}


class S1Trainer:
    """Model, optimiser and data order of one s1 run; resumable by state_dict.

    ``history`` losses are per target token (the summed loss over the batch's tokens),
    so batches of different lengths compare.
    """

    def __init__(
        self,
        model_cfg: GPTConfig,
        train_cfg: S1TrainConfig,
        items: Sequence[S1Item],
        seed: int = 0,
        init: Mapping[str, torch.Tensor] | None = None,
    ) -> None:
        """``init``: start from this state dict (fine-tuning) instead of a random init."""
        if not items:
            raise ValueError("no utterance passed the s1 filters")
        torch.manual_seed(seed)  # parameter init; dropout draws from the global stream
        self.items = list(items)
        self.model = Text2SemanticModel(model_cfg).train()
        if init is not None:
            self.model.load_state_dict(init)  # strict: the base must be this architecture
        self.optim = torch.optim.AdamW(
            self.model.parameters(),
            lr=train_cfg.lr,
            betas=train_cfg.betas,
            weight_decay=train_cfg.weight_decay,
        )
        self.generator = torch.Generator().manual_seed(seed)
        self.sampler = EpochSampler(len(self.items), train_cfg.batch_size, self.generator)
        self.step = 0

    def train(self, steps: int) -> list[dict[str, float]]:
        history = []
        for _ in range(steps):
            picks, _ = self.sampler.next()
            record = train_step_s1(
                self.model, self.optim, collate_s1([self.items[i] for i in picks])
            )
            self.step += 1
            history.append({"step": float(self.step), **record})
        return history

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optim": self.optim.state_dict(),
            "step": self.step,
            "sampler": self.sampler.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optim.load_state_dict(state["optim"])
        self.step = int(state["step"])
        self.sampler.load_state_dict(state["sampler"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])


def train_s1(
    model_cfg: GPTConfig,
    train_cfg: S1TrainConfig,
    items: Sequence[S1Item],
    steps: int,
    seed: int = 0,
) -> tuple[S1Trainer, list[dict[str, float]]]:
    """Train from scratch for ``steps`` steps; returns the trainer and per-step losses."""
    trainer = S1Trainer(model_cfg, train_cfg, items, seed)
    return trainer, trainer.train(steps)
