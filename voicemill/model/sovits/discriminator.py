"""Multi-period discriminator (``s2D``): one waveform-scale + five period discriminators.

Each sub-discriminator returns its logits and the feature maps used by the
feature-matching loss.

``width`` is the channel count of the widest layers (official v2: 1024). Every layer's
channels and every grouped convolution's group count scale with it (groups rounded down
to a common divisor of the in/out channels, at least one), so a narrower discriminator
keeps the same periods, kernels, strides and depth: the same structure at a fraction of
the cost. ``TINY_WIDTH`` (128) goes with the tiny s2 preset.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from voicemill.model.sovits.commons import get_padding, weight_norm

LRELU_SLOPE = 0.1
V2_PERIODS = (2, 3, 5, 7, 11)
V2_WIDTH = 1024
TINY_WIDTH = 128
WIDTH_STEP = 64  # the narrowest official layer has 16 channels: 16 * 64 / 1024 = 1

Features = list[torch.Tensor]


class DiscriminatorS(nn.Module):
    """Grouped 1-D convolutions over the raw waveform."""

    def __init__(self, width: int = V2_WIDTH) -> None:
        super().__init__()
        specs = [  # (in, out, kernel, stride, groups) at the official width 1024
            (1, 16, 15, 1, 1),
            (16, 64, 41, 4, 4),
            (64, 256, 41, 4, 16),
            (256, 1024, 41, 4, 64),
            (1024, 1024, 41, 4, 256),
            (1024, 1024, 5, 1, 1),
        ]
        i = 1  # the waveform
        convs = []
        for _, o, k, s, g in specs:
            o = _scaled(o, width)
            g = math.gcd(max(1, _scaled(g, width)), i, o)  # exact at widths divisible by 256
            convs.append(weight_norm(nn.Conv1d(i, o, k, s, groups=g, padding=k // 2)))
            i = o
        self.convs = nn.ModuleList(convs)
        self.conv_post = weight_norm(nn.Conv1d(i, 1, 3, 1, padding=1))

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, Features]:
        # y: [B, 1, S] -> logits [B, N], feature maps
        return _conv_stack(self.convs, self.conv_post, y)


def _conv_stack(
    convs: nn.ModuleList, conv_post: nn.Module, y: torch.Tensor
) -> tuple[torch.Tensor, Features]:
    """Leaky-ReLU convolutions, then the 1-channel post conv; every map is kept for the
    feature-matching loss. Returns flattened logits [B, N] and the maps."""
    fmap: Features = []
    for conv in convs:
        y = F.leaky_relu(conv(y), LRELU_SLOPE)
        fmap.append(y)
    y = conv_post(y)
    fmap.append(y)
    return y.flatten(1), fmap


class DiscriminatorP(nn.Module):
    """2-D convolutions over the waveform folded into rows of ``period`` samples."""

    def __init__(
        self, period: int, kernel_size: int = 5, stride: int = 3, width: int = V2_WIDTH
    ) -> None:
        super().__init__()
        self.period = period
        pad = (get_padding(kernel_size), 0)
        channels = [1, *(_scaled(c, width) for c in (32, 128, 512, 1024))]
        convs = [
            nn.Conv2d(i, o, (kernel_size, 1), (stride, 1), padding=pad)
            for i, o in itertools.pairwise(channels)
        ]
        convs.append(nn.Conv2d(width, width, (kernel_size, 1), 1, padding=pad))
        self.convs = nn.ModuleList(weight_norm(c) for c in convs)
        self.conv_post = weight_norm(nn.Conv2d(width, 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, Features]:
        # y: [B, 1, S] -> [B, 1, S / period, period] (reflect-padded to a whole period)
        b, c, s = y.shape
        if s % self.period:
            pad = self.period - s % self.period
            y = F.pad(y, (0, pad), mode="reflect")
            s += pad
        return _conv_stack(self.convs, self.conv_post, y.view(b, c, s // self.period, self.period))


class MultiPeriodDiscriminator(nn.Module):
    """The waveform-scale discriminator plus one per period, all ``width`` channels wide."""

    def __init__(self, periods: Sequence[int] = V2_PERIODS, width: int = V2_WIDTH) -> None:
        super().__init__()
        if width <= 0 or width % WIDTH_STEP:
            raise ValueError(f"width must be a positive multiple of {WIDTH_STEP}, not {width}")
        self.width = width
        self.discriminators = nn.ModuleList(
            [DiscriminatorS(width), *(DiscriminatorP(p, width=width) for p in periods)]
        )

    @classmethod
    def v2(cls) -> MultiPeriodDiscriminator:
        """The official v2 ``s2D`` (46.7M parameters)."""
        return cls()

    @classmethod
    def tiny(cls) -> MultiPeriodDiscriminator:
        """Same periods and layers at 1/8 of the channels: goes with ``SoVITSConfig.tiny()``."""
        return cls(width=TINY_WIDTH)

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


def _scaled(channels: int, width: int) -> int:
    """An official (width 1024) channel or group count at ``width``."""
    return channels * width // V2_WIDTH
