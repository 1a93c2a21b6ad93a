"""Building blocks of the s1 GPT: embeddings, sinusoidal positions, post-norm attention layers.

Attribute names mirror the official state dict (``word_embeddings``, ``alpha``,
``self_attn.in_proj_weight``, ``linear1``, ``norm1`` …) so checkpoints load strictly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class TokenEmbedding(nn.Module):
    """A lookup table wrapped so its weight is named ``word_embeddings.weight``."""

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.word_embeddings(ids)  # [B, T] -> [B, T, C]


def sinusoids(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer sinusoids, sin on even and cos on odd channels: [T] -> [T, dim]."""
    freqs = torch.exp(
        torch.arange(0, dim, 2, device=positions.device, dtype=torch.float32)
        * (-math.log(10000.0) / dim)
    )
    angles = positions.to(torch.float32)[:, None] * freqs[None, :]  # [T, dim/2]
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)  # interleave


class SinePositionalEncoding(nn.Module):
    """``x + alpha * pe[start:start+T]`` with a learnable scalar ``alpha`` (no x scaling).

    Each stream (text, audio) owns one and counts its positions from 0, so a sequence's
    encoding never depends on how much padding the other stream carries.
    """

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.dim = dim
        self.alpha = nn.Parameter(torch.ones(1))
        self.dropout = nn.Dropout(dropout)
        self._table = torch.empty(0, dim)  # fp32 [T_known, C]; grown on demand, not saved

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        end = start + x.shape[1]
        pe = self._known(end, x.device)[start:end].to(x.dtype)  # [T, C]
        return self.dropout(x + self.alpha * pe)  # [B, T, C]

    def at(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """x [B, 1, C] with row b at its own position ``positions[b]`` -> [B, 1, C].

        For continuous batching, where every row is at a different step. The same table
        entries as ``forward(x_b, positions[b])``, so each row's result is bitwise the same.
        """
        end = int(positions.max()) + 1  # a device sync; decoding syncs every step anyway
        pe = self._known(end, x.device)[positions].to(x.dtype)  # [B, C]
        return self.dropout(x + self.alpha * pe[:, None])

    def _known(self, end: int, device: torch.device) -> torch.Tensor:
        """The fp32 table [T_known >= end, C] on ``device``."""
        if self._table.shape[0] < end or self._table.device != device:
            known = max(end, 2 * self._table.shape[0])  # doubling: decoding grows by one
            self._table = sinusoids(torch.arange(known, device=device), self.dim)
        return self._table


@dataclass
class KVCache:
    """Preallocated per-layer keys/values, each [B, H, S_max, Dh]; ``length`` slots are filled.

    Decoding writes one slot per step instead of concatenating, so memory is allocated once.
    Attention runs in the cache's dtype, which may be wider than the weights' (fp32 with
    bf16 weights: CPU bf16 kernels are slow at these tiny per-step matmuls).
    """

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    length: int = 0

    @classmethod
    def allocate(
        cls,
        n_layers: int,
        batch: int,
        n_heads: int,
        max_len: int,
        head_dim: int,
        *,
        dtype: torch.dtype,
        device: torch.device,
    ) -> KVCache:
        shape = (batch, n_heads, max_len, head_dim)
        return cls(
            keys=[torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)],
            values=[torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)],
        )

    def select(self, rows: torch.Tensor) -> None:
        """Keep only the given batch rows (used when finished rows leave the batch)."""
        self.keys = [k.index_select(0, rows) for k in self.keys]
        self.values = [v.index_select(0, rows) for v in self.values]

    def update(
        self, layer: int, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write a chunk k, v [B, H, T, Dh] after the filled slots -> all filled + new slots."""
        end = self.length + k.shape[2]
        self.keys[layer][:, :, self.length : end] = k
        self.values[layer][:, :, self.length : end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def advance(self, t: int) -> None:
        """Count the ``t`` slots every layer has just written."""
        self.length += t


@dataclass
class RowKVCache:
    """A one-token step over rows that each have their own fill length (continuous batching).

    keys/values [B, H, S_max, Dh], contiguous (the first B rows of a decoder's cache); row b has
    ``lengths[b]`` [B] filled slots, and this step writes its token's K/V at that slot.
    Attention reads the first ``span`` slots (at least ``max(lengths) + 1``) of every row,
    so the caller's mask must hide each row's slots past its own length.
    """

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    lengths: torch.Tensor
    span: int

    def __post_init__(self) -> None:
        # Row b, head h writes slot lengths[b]: its index among the [B*H*S_max] Dh-vectors
        # of a contiguous cache, computed once for all layers (one index_copy_ per layer).
        b, h, s_max, _ = self.keys[0].shape
        heads = torch.arange(b * h, device=self.lengths.device).view(b, h)  # [B, H]
        self._slots = (heads * s_max + self.lengths[:, None]).flatten()  # [B*H]

    def update(
        self, layer: int, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """k, v [B, H, 1, Dh] written at each row's length -> [B, H, span, Dh] each."""
        b, h, t, dh = k.shape
        if t != 1:
            raise ValueError("a RowKVCache step takes one token per row")
        keys, values = self.keys[layer], self.values[layer]
        keys.view(-1, dh).index_copy_(0, self._slots, k.reshape(b * h, dh).to(keys.dtype))
        values.view(-1, dh).index_copy_(0, self._slots, v.reshape(b * h, dh).to(values.dtype))
        return keys[:, :, : self.span], values[:, :, : self.span]

    def advance(self, t: int) -> None:
        self.lengths += t


class SelfAttention(nn.Module):
    """Multi-head self-attention with fused ``in_proj`` weights (nn.MultiheadAttention layout)."""

    def __init__(self, dim: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.dropout = dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        cache: KVCache | RowKVCache | None = None,
        layer: int = 0,
    ) -> torch.Tensor:
        """x [B, T, C]; mask [B, 1, T, S]: bool (True = may attend) or additive float;
        S = T, or the slots the cache's ``update`` returns."""
        b, t, c = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)  # [B, T, 3C]
        q, k, v = qkv.view(b, t, 3, self.n_heads, c // self.n_heads).permute(2, 0, 3, 1, 4)
        if cache is not None:  # write this chunk into its slots, attend over all filled ones
            k, v = cache.update(layer, k, v)
            q = q.to(k.dtype)  # attention runs in the cache's dtype (fp32 for bf16 weights)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )  # [B, H, T, Dh]
        return self.out_proj(y.transpose(1, 2).reshape(b, t, c).to(x.dtype))


class TransformerLayer(nn.Module):
    """Post-norm layer: ``x = LN1(x + MHA(x)); x = LN2(x + W2·ReLU(W1·x))``."""

    def __init__(self, dim: int, n_heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = SelfAttention(dim, n_heads, dropout)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, cache: KVCache | RowKVCache | None, layer: int
    ) -> torch.Tensor:
        x = self.norm1(x + self.dropout(self.self_attn(x, mask, cache, layer)))
        ffn = self.linear2(self.dropout(F.relu(self.linear1(x))))
        return self.norm2(x + self.dropout(ffn))  # [B, T, C]


class TransformerStack(nn.Module):
    """The layer list (``h.layers.N``); no final norm, as upstream."""

    def __init__(self, n_layers: int, dim: int, n_heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerLayer(dim, n_heads, ffn_dim, dropout) for _ in range(n_layers)
        )

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, cache: KVCache | RowKVCache | None = None
    ) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x, mask, cache, i)
        if cache is not None:
            cache.advance(x.shape[1])
        return x  # [B, T, C]
