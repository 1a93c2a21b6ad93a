"""Non-causal WaveNet stack (gated dilated convolutions) shared by enc_q and the flow."""

from __future__ import annotations

import torch
from torch import nn

from voicemill.model.sovits.commons import weight_norm


class WN(nn.Module):
    """Gated residual stack conditioned on a global vector ``g`` [B, gin, 1]."""

    def __init__(
        self,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        gin_channels: int,
        p_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        assert kernel_size % 2 == 1
        self.hidden_channels = hidden_channels
        self.n_layers = n_layers
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        self.drop = nn.Dropout(p_dropout)
        h = hidden_channels
        for i in range(n_layers):
            dilation = dilation_rate**i
            padding = (kernel_size * dilation - dilation) // 2
            self.in_layers.append(
                weight_norm(nn.Conv1d(h, 2 * h, kernel_size, dilation=dilation, padding=padding))
            )
            # The last layer only feeds the skip path, so it has half the outputs.
            res_skip_channels = 2 * h if i < n_layers - 1 else h
            self.res_skip_layers.append(weight_norm(nn.Conv1d(h, res_skip_channels, 1)))
        self.cond_layer = weight_norm(nn.Conv1d(gin_channels, 2 * h * n_layers, 1))

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        # x: [B, H, T]; x_mask: [B, 1, T]; g: [B, gin, 1]
        h = self.hidden_channels
        g = self.cond_layer(g)  # [B, 2H * n_layers, 1]
        output = torch.zeros_like(x)
        for i, (in_layer, res_skip_layer) in enumerate(
            zip(self.in_layers, self.res_skip_layers, strict=True)
        ):
            a = in_layer(x) + g[:, 2 * h * i : 2 * h * (i + 1)]
            acts = self.drop(torch.tanh(a[:, :h]) * torch.sigmoid(a[:, h:]))
            res_skip = res_skip_layer(acts)
            if i < self.n_layers - 1:
                x = (x + res_skip[:, :h]) * x_mask
                output = output + res_skip[:, h:]
            else:
                output = output + res_skip
        return output * x_mask  # [B, H, T]
