"""Prior text encoder (``enc_p``): semantic frames + phonemes -> prior mean/log-std.

The 50 Hz quantised SSL stream and the phoneme sequence are encoded separately,
fused by the MRTE under the reference style ``ge``, encoded again, and projected
to the flow's prior statistics.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from voicemill.model.sovits.attentions import Encoder
from voicemill.model.sovits.commons import sequence_mask
from voicemill.model.sovits.config import SoVITSConfig
from voicemill.model.sovits.mrte import MRTE


class TextEncoder(nn.Module):
    def __init__(self, cfg: SoVITSConfig) -> None:
        super().__init__()
        h, f = cfg.hidden_channels, cfg.filter_channels
        self.out_channels = cfg.inter_channels
        self.ssl_proj = nn.Conv1d(cfg.ssl_dim, h, 1)
        heads, k, p = cfg.n_heads, cfg.kernel_size, cfg.p_dropout
        self.encoder_ssl = Encoder(h, f, heads, cfg.n_layers // 2, k, p)
        self.encoder_text = Encoder(h, f, heads, cfg.n_layers, k, p)
        self.text_embedding = nn.Embedding(cfg.n_symbols, h)
        self.mrte = MRTE(h, cfg.gin_channels, cfg.mrte_heads)
        self.encoder2 = Encoder(h, f, heads, cfg.n_layers // 2, k, p)
        self.proj = nn.Conv1d(h, 2 * cfg.inter_channels, 1)

    def forward(
        self,
        y: torch.Tensor,
        y_lengths: torch.Tensor,
        text: torch.Tensor,
        text_lengths: torch.Tensor,
        ge: torch.Tensor,
        speed: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # y: quantised SSL [B, 768, T]; text: phone ids [B, Tp]; ge: [B, gin, 1]
        # -> m_p [B, inter, T'], logs_p [B, inter, T'], y_mask [B, 1, T'] (T' = T unless speed != 1)
        y_mask = sequence_mask(y_lengths, y.size(2)).unsqueeze(1).to(y.dtype)  # [B, 1, T]
        y = self.encoder_ssl(self.ssl_proj(y * y_mask) * y_mask, y_mask)  # [B, H, T]
        text_mask = sequence_mask(text_lengths, text.size(1)).unsqueeze(1).to(y.dtype)
        t = self.text_embedding(text).transpose(1, 2)  # [B, H, Tp]
        t = self.encoder_text(t * text_mask, text_mask)
        y = self.mrte(y, y_mask, t, text_mask, ge)
        y = self.encoder2(y * y_mask, y_mask)
        if speed != 1.0:
            # Resample the hidden sequence in time: speed > 1 makes it shorter.
            y = F.interpolate(y, size=int(y.size(-1) / speed) + 1, mode="linear")
            y_mask = F.interpolate(y_mask, size=y.size(-1), mode="nearest")
        stats = self.proj(y) * y_mask
        m_p, logs_p = stats.split(self.out_channels, dim=1)
        return m_p, logs_p, y_mask
