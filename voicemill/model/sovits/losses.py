"""Training objectives of the s2 stage (VITS losses on a 32-frame slice).

Generator total = adv (LSGAN) + 2 * feature matching + c_mel * L1(log-mel)
+ commitment + c_kl * KL(posterior through the flow || text prior).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from voicemill.model.sovits.commons import slice_segments
from voicemill.model.sovits.config import SoVITSConfig
from voicemill.model.sovits.discriminator import Features, MultiPeriodDiscriminator
from voicemill.model.sovits.spectrogram import mel_filterbank, spec_to_log_mel, spectrogram
from voicemill.model.sovits.synthesizer import GeneratorOutput


def discriminator_loss(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    """LSGAN: real logits towards 1, generated towards 0, summed over discriminators."""
    terms = [torch.mean((1 - r) ** 2) + torch.mean(f**2) for r, f in zip(real, fake, strict=True)]
    return torch.stack(terms).sum()


def generator_adversarial_loss(fake: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([torch.mean((1 - f) ** 2) for f in fake]).sum()


def feature_matching_loss(real: list[Features], fake: list[Features]) -> torch.Tensor:
    """2 * sum of L1 distances between real (detached) and generated feature maps."""
    terms = [
        torch.mean(torch.abs(r.detach() - g))
        for real_maps, fake_maps in zip(real, fake, strict=True)
        for r, g in zip(real_maps, fake_maps, strict=True)
    ]
    return 2 * torch.stack(terms).sum()


def kl_loss(
    z_p: torch.Tensor,
    logs_q: torch.Tensor,
    m_p: torch.Tensor,
    logs_p: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    """KL(q || p) per valid frame, with q's sample z_p already pushed through the flow."""
    kl = logs_p - logs_q - 0.5 + 0.5 * (z_p - m_p) ** 2 * torch.exp(-2.0 * logs_p)
    return torch.sum(kl * mask) / torch.sum(mask)


@dataclass
class GeneratorLosses:
    total: torch.Tensor
    adv: torch.Tensor
    fm: torch.Tensor
    mel: torch.Tensor
    kl: torch.Tensor
    commit: torch.Tensor


class S2Losses:
    """Computes the mel and GAN terms for a generator step and the discriminator loss."""

    def __init__(self, cfg: SoVITSConfig) -> None:
        self.cfg = cfg
        self.filterbank = mel_filterbank(
            cfg.sampling_rate, cfg.filter_length, cfg.n_mel_channels, cfg.mel_fmin, cfg.mel_fmax
        )

    def real_segment(self, wav: torch.Tensor, out: GeneratorOutput) -> torch.Tensor:
        """The ground-truth waveform slice [B, 1, segment_size] under ``out.ids_slice``."""
        return slice_segments(wav, out.ids_slice * self.cfg.hop_length, self.cfg.segment_size)

    def log_mel(self, wav: torch.Tensor) -> torch.Tensor:
        c = self.cfg
        return spec_to_log_mel(
            spectrogram(wav, c.filter_length, c.hop_length, c.win_length), self.filterbank
        )

    def generator(
        self,
        out: GeneratorOutput,
        spec: torch.Tensor,
        wav: torch.Tensor,
        disc: MultiPeriodDiscriminator | None = None,
    ) -> GeneratorLosses:
        """Generator objective for a forward pass on (spec [B, 1025, T], wav [B, 1, T * hop]).

        ``disc=None`` leaves out the adversarial terms. With a discriminator, its
        parameters receive gradients too: zero them before the discriminator step.
        """
        c = self.cfg
        # Real mel from the full spectrogram's slice, generated mel from the decoded audio.
        y_mel = slice_segments(
            spec_to_log_mel(spec, self.filterbank), out.ids_slice, c.segment_frames
        )
        mel = torch.nn.functional.l1_loss(self.log_mel(out.wav_hat), y_mel) * c.c_mel
        kl = kl_loss(out.z_p, out.logs_q, out.m_p, out.logs_p, out.y_mask) * c.c_kl
        adv = fm = out.wav_hat.new_zeros(())
        if disc is not None:
            _, fake, real_maps, fake_maps = disc(self.real_segment(wav, out), out.wav_hat)
            adv = generator_adversarial_loss(fake)
            fm = feature_matching_loss(real_maps, fake_maps)
        total = adv + fm + mel + kl + out.commit_loss
        return GeneratorLosses(total, adv, fm, mel, kl, out.commit_loss)

    def discriminator(
        self, out: GeneratorOutput, wav: torch.Tensor, disc: MultiPeriodDiscriminator
    ) -> torch.Tensor:
        """LSGAN loss on the real slice vs the (detached) generated one."""
        real, fake, _, _ = disc(self.real_segment(wav, out), out.wav_hat.detach())
        return discriminator_loss(real, fake)
