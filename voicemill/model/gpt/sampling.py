"""Next-token sampling for the s1 GPT, in the official order.

repetition penalty → top-p → temperature → top-k → softmax → ``argmax(p / Exp(1))``.
The last step is an exact sample from ``p`` (exponential race), and drawing the noise from a
seeded per-row generator makes a row's tokens independent of its batch mates.
"""

from __future__ import annotations

import torch


def logits_to_probs(
    logits: torch.Tensor,
    previous: torch.Tensor,
    *,
    top_k: int,
    top_p: float,
    temperature: float,
    repetition_penalty: float,
) -> torch.Tensor:
    """logits [B, V], previous tokens [B, T] (prompt included) -> probabilities [B, V]."""
    logits = logits.clone()
    if repetition_penalty != 1.0 and previous.shape[1]:
        seen = logits.gather(1, previous)
        seen = torch.where(seen < 0, seen * repetition_penalty, seen / repetition_penalty)
        logits.scatter_(1, previous, seen)
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        drop = cumulative > top_p
        drop[:, 0] = False  # always keep the most likely token
        logits.masked_fill_(drop.scatter(1, order, drop), float("-inf"))
    logits = logits / max(temperature, 1e-5)
    if top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # [B, 1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return logits.softmax(-1)


def sample(probs: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
    """One token per row [B] from probs [B, V]; row i draws its noise from generators[i]."""
    noise = torch.stack(
        [torch.empty_like(probs[0]).exponential_(1.0, generator=g) for g in generators]
    )
    return (probs / noise).argmax(-1)
