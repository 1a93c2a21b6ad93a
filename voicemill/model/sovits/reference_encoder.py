"""Reference (style) encoder ``ref_enc``: linear spectrogram -> speaker/style vector ``ge``.

A Mel-style encoder: per-frame MLP, two gated temporal convolutions, one
self-attention layer, and a masked time average. v2 reads only the first 704 of
the 1025 linear-frequency bins.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class LinearNorm(nn.Module):
    """Xavier-initialised Linear (kept as a wrapper: the weights live under ``.fc``)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_dim, out_dim)
        nn.init.xavier_uniform_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


class ConvNorm(nn.Module):
    """'Same'-padded Conv1d (weights under ``.conv``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Conv1dGLU(nn.Module):
    """Residual gated convolution: x + dropout(a * sigmoid(b))."""

    def __init__(self, channels: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = ConvNorm(channels, 2 * channels, kernel_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.conv1(x).chunk(2, dim=1)
        return x + self.dropout(a * torch.sigmoid(b))


class StyleAttention(nn.Module):
    """Residual multi-head self-attention, batch-first, scores scaled by sqrt(d_model)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.w_qs = nn.Linear(d_model, d_model)
        self.w_ks = nn.Linear(d_model, d_model)
        self.w_vs = nn.Linear(d_model, d_model)
        self.fc = nn.Linear(d_model, d_model)
        self.temperature = math.sqrt(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_padding: torch.Tensor) -> torch.Tensor:
        # x: [B, T, D]; key_padding: [B, T] (True = padding)
        b, t, d = x.shape

        def heads(proj: nn.Linear) -> torch.Tensor:
            return proj(x).view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2)

        q, k, v = heads(self.w_qs), heads(self.w_ks), heads(self.w_vs)  # [B, H, T, d/H]
        scores = q @ k.transpose(-2, -1) / self.temperature  # [B, H, T, T]
        scores = scores.masked_fill(key_padding[:, None, None, :], float("-inf"))
        p = self.dropout(torch.softmax(scores, dim=-1))
        out = (p @ v).transpose(1, 2).reshape(b, t, d)
        return self.dropout(self.fc(out)) + x


class MelStyleEncoder(nn.Module):
    def __init__(
        self,
        n_bins: int,
        style_dim: int,
        hidden_dim: int = 128,
        kernel_size: int = 5,
        n_heads: int = 2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.n_bins = n_bins
        self.spectral = nn.Sequential(
            LinearNorm(n_bins, hidden_dim),
            nn.Mish(),
            nn.Dropout(dropout),
            LinearNorm(hidden_dim, hidden_dim),
            nn.Mish(),
            nn.Dropout(dropout),
        )
        self.temporal = nn.Sequential(
            Conv1dGLU(hidden_dim, kernel_size, dropout),
            Conv1dGLU(hidden_dim, kernel_size, dropout),
        )
        self.slf_attn = StyleAttention(hidden_dim, n_heads, dropout)
        self.fc = LinearNorm(hidden_dim, style_dim)

    def forward(self, spec: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # spec: linear spectrogram [B, >= n_bins, T]; mask: [B, 1, T] -> ge [B, style_dim, 1]
        spec = spec[:, : self.n_bins] * mask
        padding = mask.squeeze(1) == 0  # [B, T]
        x = self.spectral(spec.transpose(1, 2))  # [B, T, hidden]
        x = self.temporal(x.transpose(1, 2)).transpose(1, 2)
        x = x.masked_fill(padding.unsqueeze(-1), 0.0)
        x = self.fc(self.slf_attn(x, padding))  # [B, T, style]
        x = x.masked_fill(padding.unsqueeze(-1), 0.0)
        lengths = (~padding).sum(1, keepdim=True).clamp(min=1).to(x.dtype)
        return (x.sum(1) / lengths).unsqueeze(-1)
