"""Multi-reference timbre encoder (MRTE): fuses text into the SSL stream.

The SSL (semantic) frames query the phoneme sequence by cross-attention, and the
reference-speaker vector ``ge`` is added, so the content stream carries both what
is said and whose timbre it should have.
"""

from __future__ import annotations

import torch
from torch import nn

from voicemill.model.sovits.attentions import MultiHeadAttention


class MRTE(nn.Module):
    def __init__(self, content_channels: int, hidden_size: int, n_heads: int) -> None:
        super().__init__()
        self.cross_attention = MultiHeadAttention(hidden_size, hidden_size, n_heads)
        self.c_pre = nn.Conv1d(content_channels, hidden_size, 1)
        self.text_pre = nn.Conv1d(content_channels, hidden_size, 1)
        self.c_post = nn.Conv1d(hidden_size, content_channels, 1)

    def forward(
        self,
        ssl_enc: torch.Tensor,
        ssl_mask: torch.Tensor,
        text: torch.Tensor,
        text_mask: torch.Tensor,
        ge: torch.Tensor,
    ) -> torch.Tensor:
        # ssl_enc: [B, C, T]; ssl_mask: [B, 1, T]; text: [B, C, Tp]; text_mask: [B, 1, Tp]
        # ge: [B, hidden, 1] -> [B, C, T]
        attn_mask = text_mask.unsqueeze(2) * ssl_mask.unsqueeze(-1)  # [B, 1, T, Tp]
        ssl_h = self.c_pre(ssl_enc * ssl_mask)  # [B, hidden, T]
        text_h = self.text_pre(text * text_mask)  # [B, hidden, Tp]
        x = self.cross_attention(ssl_h * ssl_mask, text_h * text_mask, attn_mask) + ssl_h + ge
        return self.c_post(x * ssl_mask)
