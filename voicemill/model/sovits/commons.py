"""Small helpers shared by the s2 modules: masks, segment slicing, weight norm."""

from __future__ import annotations

import warnings

import torch
from torch import nn


def sequence_mask(lengths: torch.Tensor, max_length: int | None = None) -> torch.Tensor:
    """[B] lengths -> [B, T] bool mask, True inside each sequence."""
    if max_length is None:
        max_length = int(lengths.max())
    positions = torch.arange(max_length, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


def get_padding(kernel_size: int, dilation: int = 1) -> int:
    """'Same' padding for an odd kernel."""
    return (kernel_size * dilation - dilation) // 2


def init_weights(module: nn.Module, std: float = 0.01) -> None:
    """HiFi-GAN initialisation: N(0, 0.01) on conv weights."""
    if isinstance(module, nn.Conv1d | nn.ConvTranspose1d):
        module.weight.data.normal_(0.0, std)


def weight_norm(module: nn.Module) -> nn.Module:
    """Old-style weight norm: the official checkpoints store ``weight_g``/``weight_v``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return nn.utils.weight_norm(module)


def remove_weight_norm(model: nn.Module) -> int:
    """Fold every ``weight_g``/``weight_v`` pair back into ``weight``; returns how many."""
    folded = 0
    for module in model.modules():
        if hasattr(module, "weight_g") and hasattr(module, "weight_v"):
            nn.utils.remove_weight_norm(module)
            folded += 1
    return folded


def slice_segments(x: torch.Tensor, starts: torch.Tensor, size: int) -> torch.Tensor:
    """[B, C, T] -> [B, C, size], one window per row starting at ``starts[b]``."""
    index = starts.view(-1, 1, 1) + torch.arange(size, device=x.device).view(1, 1, -1)
    return torch.gather(x, 2, index.expand(x.size(0), x.size(1), size))


def rand_slice_segments(
    x: torch.Tensor, lengths: torch.Tensor, size: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random ``size``-frame window inside each row's valid length: ([B, C, size], [B])."""
    max_start = (lengths - size).clamp(min=0)
    u = torch.rand(lengths.shape, generator=generator, device=lengths.device)
    starts = (u * (max_start + 1).to(u.dtype)).long().clamp(max=x.size(2) - size)
    return slice_segments(x, starts, size), starts
