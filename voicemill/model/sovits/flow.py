"""Normalising flow between the posterior latent and the text prior.

Mean-only affine coupling layers (volume preserving, so no log-determinant term)
alternate with channel flips; ``reverse=True`` maps prior samples to decoder input.
"""

from __future__ import annotations

import torch
from torch import nn

from voicemill.model.sovits.wavenet import WN


class ResidualCouplingLayer(nn.Module):
    """Shift the second half of the channels by a WaveNet function of the first half."""

    def __init__(
        self,
        channels: int,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        gin_channels: int,
    ) -> None:
        super().__init__()
        assert channels % 2 == 0
        self.half = channels // 2
        self.pre = nn.Conv1d(self.half, hidden_channels, 1)
        self.enc = WN(hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels)
        self.post = nn.Conv1d(hidden_channels, self.half, 1)
        # Start as the identity map.
        nn.init.zeros_(self.post.weight)
        nn.init.zeros_(self.post.bias)

    def forward(
        self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor, reverse: bool = False
    ) -> torch.Tensor:
        # x: [B, C, T]; x_mask: [B, 1, T]; g: [B, gin, 1]
        x0, x1 = x.split(self.half, dim=1)
        h = self.enc(self.pre(x0) * x_mask, x_mask, g)
        shift = self.post(h) * x_mask
        x1 = (x1 - shift) * x_mask if reverse else (x1 + shift) * x_mask
        return torch.cat([x0, x1], dim=1)


class Flip(nn.Module):
    """Reverse the channel order so the next coupling transforms the other half."""

    def forward(
        self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor, reverse: bool = False
    ) -> torch.Tensor:
        return torch.flip(x, [1])


class ResidualCouplingBlock(nn.Module):
    def __init__(
        self,
        channels: int,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        n_flows: int,
        gin_channels: int,
    ) -> None:
        super().__init__()
        self.flows = nn.ModuleList()
        for _ in range(n_flows):
            self.flows.append(
                ResidualCouplingLayer(
                    channels, hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels
                )
            )
            self.flows.append(Flip())

    def forward(
        self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor, reverse: bool = False
    ) -> torch.Tensor:
        flows = reversed(self.flows) if reverse else self.flows
        for flow in flows:
            x = flow(x, x_mask, g, reverse=reverse)
        return x
