"""Multi-period discriminator (``s2D``): one waveform-scale + five period discriminators.

Each sub-discriminator returns its logits and the feature maps used by the
feature-matching loss.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from voicemill.model.sovits.commons import get_padding, weight_norm

LRELU_SLOPE = 0.1
V2_PERIODS = (2, 3, 5, 7, 11)

Features = list[torch.Tensor]


class DiscriminatorS(nn.Module):
    """Grouped 1-D convolutions over the raw waveform."""

    def __init__(self) -> None:
        super().__init__()
        specs = [  # (in, out, kernel, stride, groups)
            (1, 16, 15, 1, 1),
            (16, 64, 41, 4, 4),
            (64, 256, 41, 4, 16),
            (256, 1024, 41, 4, 64),
            (1024, 1024, 41, 4, 256),
            (1024, 1024, 5, 1, 1),
        ]
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv1d(i, o, k, s, groups=g, padding=k // 2)) for i, o, k, s, g in specs
        )
        self.conv_post = weight_norm(nn.Conv1d(1024, 1, 3, 1, padding=1))

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, Features]:
        # y: [B, 1, S] -> logits [B, N], feature maps
        fmap: Features = []
        for conv in self.convs:
            y = F.leaky_relu(conv(y), LRELU_SLOPE)
            fmap.append(y)
        y = self.conv_post(y)
        fmap.append(y)
        return y.flatten(1), fmap


class DiscriminatorP(nn.Module):
    """2-D convolutions over the waveform folded into rows of ``period`` samples."""

    def __init__(self, period: int, kernel_size: int = 5, stride: int = 3) -> None:
        super().__init__()
        self.period = period
        pad = (get_padding(kernel_size), 0)
        channels = [1, 32, 128, 512, 1024]
        convs = [
            nn.Conv2d(i, o, (kernel_size, 1), (stride, 1), padding=pad)
            for i, o in itertools.pairwise(channels)
        ]
        convs.append(nn.Conv2d(1024, 1024, (kernel_size, 1), 1, padding=pad))
        self.convs = nn.ModuleList(weight_norm(c) for c in convs)
        self.conv_post = weight_norm(nn.Conv2d(1024, 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, Features]:
        # y: [B, 1, S] -> [B, 1, S / period, period] (reflect-padded to a whole period)
        b, c, s = y.shape
        if s % self.period:
            pad = self.period - s % self.period
            y = F.pad(y, (0, pad), mode="reflect")
            s += pad
        y = y.view(b, c, s // self.period, self.period)
        fmap: Features = []
        for conv in self.convs:
            y = F.leaky_relu(conv(y), LRELU_SLOPE)
            fmap.append(y)
        y = self.conv_post(y)
        fmap.append(y)
        return y.flatten(1), fmap


class MultiPeriodDiscriminator(nn.Module):
    def __init__(self, periods: Sequence[int] = V2_PERIODS) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(
            [DiscriminatorS(), *(DiscriminatorP(p) for p in periods)]
        )

    def forward(
        self, y: torch.Tensor, y_hat: torch.Tensor
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[Features], list[Features]]:
        """Real and generated waveforms [B, 1, S] -> logits and feature maps of each."""
        real_logits, fake_logits, real_fmaps, fake_fmaps = [], [], [], []
        for d in self.discriminators:
            logits, fmap = d(y)
            real_logits.append(logits)
            real_fmaps.append(fmap)
            logits, fmap = d(y_hat)
            fake_logits.append(logits)
            fake_fmaps.append(fmap)
        return real_logits, fake_logits, real_fmaps, fake_fmaps
