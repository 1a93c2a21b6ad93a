"""Posterior encoder ``enc_q`` (training only): linear spectrogram -> latent z.

It sees the target audio, so its z is what the decoder learns to vocode and what the
flow maps onto the text prior. Upstream exports drop it from inference checkpoints.
"""

from __future__ import annotations

import torch
from torch import nn

from voicemill.model.sovits.commons import sequence_mask
from voicemill.model.sovits.wavenet import WN


class PosteriorEncoder(nn.Module):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        gin_channels: int,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.pre = nn.Conv1d(in_channels, hidden_channels, 1)
        self.enc = WN(hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels)
        self.proj = nn.Conv1d(hidden_channels, 2 * out_channels, 1)

    def forward(
        self,
        spec: torch.Tensor,
        lengths: torch.Tensor,
        g: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        # spec: [B, 1025, T]; g: [B, gin, 1] -> z, m_q, logs_q [B, inter, T]; mask [B, 1, T]
        mask = sequence_mask(lengths, spec.size(2)).unsqueeze(1).to(spec.dtype)
        h = self.enc(self.pre(spec) * mask, mask, g)
        m, logs = (self.proj(h) * mask).split(self.out_channels, dim=1)
        noise = torch.randn(m.shape, generator=generator, dtype=m.dtype, device=m.device)
        z = (m + noise * torch.exp(logs)) * mask
        return z, m, logs, mask
