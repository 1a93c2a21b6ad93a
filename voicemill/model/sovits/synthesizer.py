"""The SoVITS v2 generator (``SynthesizerTrn``): semantic tokens + phonemes -> waveform.

Submodule names and parameter shapes follow the official s2G checkpoints exactly, so
their state dicts load with ``strict=True`` (after :func:`drop_enc_q` for exports, which
lack the posterior encoder).

Noise: ``decode`` samples the prior as ``m_p + eps * exp(logs_p) * noise_scale`` with
``eps`` drawn from ``generator`` (default noise_scale 0.5, as upstream); the same
generator seed gives the same waveform, and ``noise_scale=0`` is fully deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from voicemill.model.sovits.commons import rand_slice_segments, remove_weight_norm, sequence_mask
from voicemill.model.sovits.config import SoVITSConfig
from voicemill.model.sovits.flow import ResidualCouplingBlock
from voicemill.model.sovits.hifigan import Generator
from voicemill.model.sovits.posterior_encoder import PosteriorEncoder
from voicemill.model.sovits.quantizer import ResidualVectorQuantizer
from voicemill.model.sovits.reference_encoder import MelStyleEncoder
from voicemill.model.sovits.text_encoder import TextEncoder


@dataclass
class GeneratorOutput:
    """What one training step of the generator produces (frames are 50 Hz)."""

    wav_hat: torch.Tensor  # [B, 1, segment_size] decoded random slice
    ids_slice: torch.Tensor  # [B] start frame of each slice
    y_mask: torch.Tensor  # [B, 1, T]
    z_p: torch.Tensor  # [B, inter, T] posterior latent pushed through the flow
    m_p: torch.Tensor  # [B, inter, T] prior mean
    logs_p: torch.Tensor  # [B, inter, T] prior log-std
    logs_q: torch.Tensor  # [B, inter, T] posterior log-std
    commit_loss: torch.Tensor  # [] quantiser commitment (0 when the quantiser is frozen)


class SynthesizerTrn(nn.Module):
    def __init__(self, cfg: SoVITSConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or SoVITSConfig.v2()
        self.cfg = cfg
        inter, hidden, gin = cfg.inter_channels, cfg.hidden_channels, cfg.gin_channels
        self.enc_p = TextEncoder(cfg)
        self.dec = Generator(
            inter,
            cfg.resblock_kernel_sizes,
            cfg.resblock_dilation_sizes,
            cfg.upsample_rates,
            cfg.upsample_initial_channel,
            cfg.upsample_kernel_sizes,
            gin,
        )
        self.enc_q = PosteriorEncoder(cfg.spec_channels, inter, hidden, 5, 1, cfg.enc_q_layers, gin)
        self.flow = ResidualCouplingBlock(inter, hidden, 5, 1, 4, cfg.n_flows, gin)
        self.ref_enc = MelStyleEncoder(cfg.ref_enc_bins, gin, hidden_dim=cfg.ref_enc_hidden)
        self.ssl_proj = nn.Conv1d(cfg.ssl_dim, cfg.ssl_dim, 2, stride=2)  # 50 Hz -> 25 Hz
        self.quantizer = ResidualVectorQuantizer(dim=cfg.ssl_dim, n_q=1, bins=cfg.codebook_size)

    def train(self, mode: bool = True) -> SynthesizerTrn:
        """A frozen quantiser (the upstream default) stays in eval mode: no EMA updates."""
        super().train(mode)
        if self.cfg.freeze_quantizer:
            self.ssl_proj.eval()
            self.quantizer.eval()
        return self

    def _quantize(self, ssl: torch.Tensor, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        # ssl: [B, 768, T50] -> quantised [B, 768, frames] at 50 Hz, commitment loss [].
        # Nearest upsampling to the spectrogram's frame count: x2 when T50 == frames is even.
        quantized, _, commit_loss = self.quantizer(self.ssl_proj(ssl))  # [B, 768, T25]
        return F.interpolate(quantized, size=frames, mode="nearest"), commit_loss

    def reference_style(
        self, refer_spec: torch.Tensor, refer_lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Linear spectrogram [B, 1025, Tr] -> style vector ``ge`` [B, gin, 1]."""
        if refer_lengths is None:
            refer_lengths = torch.full(
                (refer_spec.size(0),), refer_spec.size(2), device=refer_spec.device
            )
        mask = sequence_mask(refer_lengths, refer_spec.size(2)).unsqueeze(1).to(refer_spec.dtype)
        return self.ref_enc(refer_spec * mask, mask)

    def forward(
        self,
        ssl: torch.Tensor,
        spec: torch.Tensor,
        spec_lengths: torch.Tensor,
        text: torch.Tensor,
        text_lengths: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> GeneratorOutput:
        """Training pass: decode a random ``segment_frames`` slice of the posterior latent.

        ssl: HuBERT [B, 768, T50]; spec: linear spectrogram [B, 1025, T] of the same audio
        (also its own style reference); text: phone ids [B, Tp].
        """
        ge = self.reference_style(spec, spec_lengths)  # [B, gin, 1]
        if self.cfg.freeze_quantizer:
            with torch.no_grad():
                quantized, commit_loss = self._quantize(ssl, spec.size(2))
        else:
            quantized, commit_loss = self._quantize(ssl, spec.size(2))
        m_p, logs_p, _ = self.enc_p(quantized, spec_lengths, text, text_lengths, ge)
        z, _, logs_q, y_mask = self.enc_q(spec, spec_lengths, ge, generator=generator)
        z_p = self.flow(z, y_mask, ge)
        z_slice, ids_slice = rand_slice_segments(
            z, spec_lengths, self.cfg.segment_frames, generator=generator
        )
        wav_hat = self.dec(z_slice, ge)  # [B, 1, segment_size]
        return GeneratorOutput(wav_hat, ids_slice, y_mask, z_p, m_p, logs_p, logs_q, commit_loss)

    @torch.inference_mode()
    def extract_latent(self, ssl: torch.Tensor) -> torch.Tensor:
        """HuBERT features [B, 768, T50] -> semantic codes [n_q=1, B, T25]."""
        return self.quantizer.encode(self.ssl_proj(ssl))

    @torch.inference_mode()
    def decode(
        self,
        codes: torch.Tensor,
        text: torch.Tensor,
        refer_spec: torch.Tensor | Sequence[torch.Tensor],
        noise_scale: float = 0.5,
        speed: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Codes [1, B, T25] + phone ids [B, Tp] + reference spec(s) [B, 1025, Tr] -> wav.

        Returns [B, 1, 2 * T25 * hop] at speed 1. Several references average their ``ge``.
        """
        refs = [refer_spec] if isinstance(refer_spec, torch.Tensor) else list(refer_spec)
        ge = torch.stack([self.reference_style(r) for r in refs]).mean(0)  # [B, gin, 1]
        quantized = self.quantizer.decode(codes)  # [B, 768, T25]
        quantized = F.interpolate(quantized, scale_factor=2, mode="nearest")  # [B, 768, T50]
        b = quantized.size(0)
        y_lengths = torch.full((b,), quantized.size(2), device=codes.device)
        text_lengths = torch.full((b,), text.size(1), device=codes.device)
        m_p, logs_p, y_mask = self.enc_p(quantized, y_lengths, text, text_lengths, ge, speed)
        eps = torch.randn(m_p.shape, generator=generator, dtype=m_p.dtype, device=m_p.device)
        z_p = m_p + eps * torch.exp(logs_p) * noise_scale
        z = self.flow(z_p, y_mask, ge, reverse=True)
        dec_dtype = self.dec.conv_pre.weight.dtype  # bf16 when a faster precision is applied
        wav = self.dec((z * y_mask).to(dec_dtype), ge.to(dec_dtype))
        return wav.float()  # [B, 1, T50 * hop]

    def prepare_for_inference(self) -> SynthesizerTrn:
        """Eval mode with weight norm folded into plain weights (faster; not for training)."""
        self.eval()
        remove_weight_norm(self)
        return self


def drop_enc_q(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The exported-checkpoint view of a generator state dict (no posterior encoder)."""
    return {k: v for k, v in state_dict.items() if not k.startswith("enc_q.")}
