"""VITS-style transformer encoder with windowed relative-position attention.

Channels-first throughout (``[B, C, T]``), 1x1 convolutions as projections, post-norm
residual blocks. Used by the text encoder (three stacks) and, without the relative
window, by the MRTE cross-attention.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm(nn.Module):
    """LayerNorm over the channel axis of a [B, C, T] tensor (parameters gamma/beta)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.transpose(1, 2), (x.size(1),), self.gamma, self.beta, self.eps)
        return x.transpose(1, 2)


class MultiHeadAttention(nn.Module):
    """Multi-head attention; with ``window_size`` adds relative-position key/value terms.

    Relative embeddings cover offsets -window..+window and are shared across heads;
    offsets outside the window contribute nothing.
    """

    def __init__(
        self,
        channels: int,
        out_channels: int,
        n_heads: int,
        p_dropout: float = 0.0,
        window_size: int | None = None,
    ) -> None:
        super().__init__()
        assert channels % n_heads == 0
        self.n_heads = n_heads
        self.k_channels = channels // n_heads
        self.window_size = window_size
        if window_size is not None:
            scale = self.k_channels**-0.5
            n_rel = 2 * window_size + 1
            self.emb_rel_k = nn.Parameter(torch.randn(1, n_rel, self.k_channels) * scale)
            self.emb_rel_v = nn.Parameter(torch.randn(1, n_rel, self.k_channels) * scale)
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, out_channels, 1)
        self.drop = nn.Dropout(p_dropout)
        for conv in (self.conv_q, self.conv_k, self.conv_v):
            nn.init.xavier_uniform_(conv.weight)

    def forward(
        self, x: torch.Tensor, c: torch.Tensor, attn_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        # x: queries [B, C, Tq]; c: keys/values [B, C, Tk]; attn_mask: [B, 1, Tq, Tk] (1 = keep)
        b, _, t_q = x.shape
        t_k = c.size(2)
        q = self.conv_q(x).view(b, self.n_heads, self.k_channels, t_q).transpose(2, 3)
        k = self.conv_k(c).view(b, self.n_heads, self.k_channels, t_k).transpose(2, 3)
        v = self.conv_v(c).view(b, self.n_heads, self.k_channels, t_k).transpose(2, 3)
        q = q / math.sqrt(self.k_channels)  # [B, H, Tq, D]
        scores = q @ k.transpose(-2, -1)  # [B, H, Tq, Tk]
        if self.window_size is not None:
            assert t_q == t_k, "relative attention is self-attention only"
            index, inside = self._relative_index(t_q, x.device, q.dtype)
            rel_logits = q @ self.emb_rel_k.unsqueeze(0).transpose(-2, -1)  # [B, H, T, 2w+1]
            rel_logits = torch.gather(rel_logits, 3, index.expand(b, self.n_heads, -1, -1))
            scores = scores + rel_logits * inside
        if attn_mask is not None:
            scores = scores.masked_fill(attn_mask == 0, -1e4)
        p = self.drop(torch.softmax(scores, dim=-1))
        out = p @ v  # [B, H, Tq, D]
        if self.window_size is not None:
            # Sum the attention weights that fall on each relative offset, then mix
            # the per-offset value embeddings: [B, H, T, 2w+1] @ [1, 2w+1, D].
            p_rel = torch.zeros(
                *p.shape[:3], 2 * self.window_size + 1, dtype=p.dtype, device=p.device
            )
            p_rel.scatter_add_(3, index.expand(b, self.n_heads, -1, -1), p * inside)
            out = out + p_rel @ self.emb_rel_v.unsqueeze(0)
        out = out.transpose(2, 3).reshape(b, -1, t_q)  # [B, C, Tq]
        return self.conv_o(out)

    def _relative_index(
        self, t: int, device: torch.device, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Offset index j - i + w clamped to the table, and where it is really inside it."""
        w = self.window_size
        assert w is not None
        pos = torch.arange(t, device=device)
        offset = pos.view(1, -1) - pos.view(-1, 1)  # [T, T]
        inside = (offset.abs() <= w).to(dtype)
        index = (offset + w).clamp(0, 2 * w)
        return index.view(1, 1, t, t), inside.view(1, 1, t, t)


class FFN(nn.Module):
    """Two masked 'same'-padded convolutions with ReLU between them."""

    def __init__(
        self, channels: int, filter_channels: int, kernel_size: int, p_dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.conv_1 = nn.Conv1d(channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, channels, kernel_size)
        self.drop = nn.Dropout(p_dropout)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        return F.pad(x, ((k - 1) // 2, k // 2))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.drop(torch.relu(self.conv_1(self._pad(x * mask))))
        return self.conv_2(self._pad(x * mask)) * mask


class Encoder(nn.Module):
    """Post-norm transformer stack: x = LN(x + attn(x)); x = LN(x + ffn(x))."""

    def __init__(
        self,
        hidden_channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int,
        p_dropout: float,
        window_size: int = 4,
    ) -> None:
        super().__init__()
        self.attn_layers = nn.ModuleList()
        self.norm_layers_1 = nn.ModuleList()
        self.ffn_layers = nn.ModuleList()
        self.norm_layers_2 = nn.ModuleList()
        for _ in range(n_layers):
            self.attn_layers.append(
                MultiHeadAttention(
                    hidden_channels, hidden_channels, n_heads, p_dropout, window_size=window_size
                )
            )
            self.norm_layers_1.append(LayerNorm(hidden_channels))
            self.ffn_layers.append(FFN(hidden_channels, filter_channels, kernel_size, p_dropout))
            self.norm_layers_2.append(LayerNorm(hidden_channels))
        self.drop = nn.Dropout(p_dropout)

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        # x: [B, C, T]; x_mask: [B, 1, T]
        attn_mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1)  # [B, 1, T, T]
        x = x * x_mask
        for attn, norm_1, ffn, norm_2 in zip(
            self.attn_layers,
            self.norm_layers_1,
            self.ffn_layers,
            self.norm_layers_2,
            strict=True,
        ):
            x = norm_1(x + self.drop(attn(x, x, attn_mask)))
            x = norm_2(x + self.drop(ffn(x, x_mask)))
        return x * x_mask
