"""Residual vector quantiser with an EMA codebook (the 25 Hz semantic tokens).

v2 uses a single stage (n_q = 1) of 1024 codes over the 768-d projected HuBERT
features; the code ids are the semantic tokens that the GPT stage predicts. Codes are
the nearest codebook entry in L2. In training mode (and only then) the codebook
follows the encoder by exponential moving averages, is k-means initialised from the
first batch, and replaces rarely used codes with batch vectors; GPT-SoVITS fine-tuning
freezes it (eval mode), which also makes the commitment loss zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class EuclideanCodebook(nn.Module):
    def __init__(
        self,
        dim: int,
        codebook_size: int,
        decay: float = 0.99,
        epsilon: float = 1e-5,
        threshold_ema_dead_code: float = 2.0,
        kmeans_iters: int = 50,
    ) -> None:
        super().__init__()
        self.codebook_size = codebook_size
        self.decay = decay
        self.epsilon = epsilon
        self.threshold_ema_dead_code = threshold_ema_dead_code
        self.kmeans_iters = kmeans_iters
        self.register_buffer("inited", torch.zeros(1))  # float flag, as stored upstream
        self.register_buffer("cluster_size", torch.zeros(codebook_size))
        self.register_buffer("embed", torch.zeros(codebook_size, dim))
        self.register_buffer("embed_avg", torch.zeros(codebook_size, dim))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """[N, D] -> [N] index of the nearest code (squared L2)."""
        embed = self.embed.to(x.dtype)
        dist = x.pow(2).sum(1, keepdim=True) - 2 * x @ embed.t() + embed.pow(2).sum(1)
        return dist.argmin(dim=1)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return F.embedding(codes, self.embed)

    @torch.no_grad()
    def _kmeans_init(self, x: torch.Tensor) -> None:
        means = x[torch.randint(0, x.size(0), (self.codebook_size,), device=x.device)]
        counts = torch.zeros(self.codebook_size, device=x.device)
        for _ in range(self.kmeans_iters):
            assign = torch.cdist(x, means).argmin(dim=1)
            counts = torch.bincount(assign, minlength=self.codebook_size).to(x.dtype)
            sums = torch.zeros_like(means).index_add_(0, assign, x)
            used = counts > 0
            means[used] = sums[used] / counts[used].unsqueeze(1)
        self.embed.copy_(means)
        # embed_avg tracks per-code sums, so start it consistent with the counts.
        self.embed_avg.copy_(means * counts.unsqueeze(1))
        self.cluster_size.copy_(counts)
        self.inited.fill_(1.0)

    @torch.no_grad()
    def _ema_update(self, x: torch.Tensor, codes: torch.Tensor) -> None:
        onehot = F.one_hot(codes, self.codebook_size).to(x.dtype)  # [N, K]
        self.cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(onehot.t() @ x, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (
            (self.cluster_size + self.epsilon) / (n + self.codebook_size * self.epsilon) * n
        )  # Laplace smoothing keeps empty clusters finite
        self.embed.copy_(self.embed_avg / smoothed.unsqueeze(1))
        dead = self.cluster_size < self.threshold_ema_dead_code
        if dead.any():
            picks = torch.randint(0, x.size(0), (int(dead.sum()),), device=x.device)
            self.embed[dead] = x[picks]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # x: [N, D] -> (quantized [N, D], codes [N])
        if self.training and not bool(self.inited.item()):
            self._kmeans_init(x.detach().float())
        codes = self.encode(x)
        quantized = self.decode(codes).to(x.dtype)
        if self.training:
            self._ema_update(x.detach().float(), codes)
        return quantized, codes


class VectorQuantization(nn.Module):
    """One quantiser stage with a straight-through gradient and commitment loss."""

    def __init__(self, dim: int, codebook_size: int, commitment_weight: float = 1.0) -> None:
        super().__init__()
        self.commitment_weight = commitment_weight
        self._codebook = EuclideanCodebook(dim, codebook_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # x: [B, D, T] -> (quantized [B, D, T], codes [B, T], loss [])
        b, d, t = x.shape
        flat = x.transpose(1, 2).reshape(b * t, d)
        quantized, codes = self._codebook(flat)
        quantized = quantized.view(b, t, d).transpose(1, 2)
        loss = x.new_zeros(())
        if self.training:
            quantized = x + (quantized - x).detach()
            loss = F.mse_loss(quantized.detach(), x) * self.commitment_weight
        return quantized, codes.view(b, t), loss


class ResidualVectorQuantization(nn.Module):
    def __init__(self, n_q: int, dim: int, codebook_size: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(VectorQuantization(dim, codebook_size) for _ in range(n_q))


class ResidualVectorQuantizer(nn.Module):
    """Each stage quantises what the previous stages left over."""

    def __init__(self, dim: int = 768, n_q: int = 1, bins: int = 1024) -> None:
        super().__init__()
        self.vq = ResidualVectorQuantization(n_q, dim, bins)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # x: [B, D, T] -> (quantized [B, D, T], codes [n_q, B, T], mean commitment loss [])
        residual = x
        quantized_out = torch.zeros_like(x)
        codes, losses = [], []
        for layer in self.vq.layers:
            quantized, layer_codes, loss = layer(residual)
            residual = residual - quantized
            quantized_out = quantized_out + quantized
            codes.append(layer_codes)
            losses.append(loss)
        return quantized_out, torch.stack(codes), torch.stack(losses).mean()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """[B, D, T] -> codes [n_q, B, T] (no codebook update)."""
        b, d, t = x.shape
        residual = x.transpose(1, 2).reshape(b * t, d)
        codes = []
        for layer in self.vq.layers:
            layer_codes = layer._codebook.encode(residual)
            residual = residual - layer._codebook.decode(layer_codes).to(residual.dtype)
            codes.append(layer_codes.view(b, t))
        return torch.stack(codes)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [n_q, B, T] -> [B, D, T], the sum of the stages' code vectors."""
        out = sum(
            layer._codebook.decode(stage_codes)
            for layer, stage_codes in zip(self.vq.layers, codes, strict=False)
        )
        assert isinstance(out, torch.Tensor)
        return out.transpose(1, 2)
