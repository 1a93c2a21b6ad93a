"""Windowed relative-position attention against a direct per-pair computation."""

from __future__ import annotations

import math

import torch

from voicemill.model.sovits.attentions import Encoder, MultiHeadAttention


def _naive(attn: MultiHeadAttention, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # x: [1, C, T]; mask: [T, T]; loops over every (query, key) pair.
    h, d, w = attn.n_heads, attn.k_channels, attn.window_size
    t = x.size(2)
    q, k, v = (conv(x)[0].view(h, d, t) for conv in (attn.conv_q, attn.conv_k, attn.conv_v))
    ek, ev = attn.emb_rel_k[0], attn.emb_rel_v[0]  # [2w+1, D]
    out = torch.zeros(h, d, t)
    for head in range(h):
        scores = torch.full((t, t), -1e4)
        for i in range(t):
            for j in range(t):
                if mask[i, j]:
                    s = q[head, :, i] @ k[head, :, j]
                    if abs(j - i) <= w:
                        s = s + q[head, :, i] @ ek[j - i + w]
                    scores[i, j] = s / math.sqrt(d)
        p = torch.softmax(scores, dim=-1)
        for i in range(t):
            for j in range(t):
                rel = ev[j - i + w] if abs(j - i) <= w else 0
                out[head, :, i] += p[i, j] * (v[head, :, j] + rel)
    return attn.conv_o(out.reshape(1, h * d, t))


def test_relative_attention_matches_the_pairwise_definition() -> None:
    torch.manual_seed(0)
    attn = MultiHeadAttention(8, 8, n_heads=2, window_size=2).eval()
    x = torch.randn(1, 8, 7)
    valid = torch.tensor([1, 1, 1, 1, 1, 0, 0], dtype=torch.float)
    mask = valid[None, :] * valid[:, None]  # [T, T]
    with torch.no_grad():
        ours = attn(x, x, mask.view(1, 1, 7, 7))
        expected = _naive(attn, x, mask)
    torch.testing.assert_close(ours[..., :5], expected[..., :5], atol=1e-5, rtol=1e-5)


def test_encoder_ignores_padded_frames() -> None:
    torch.manual_seed(0)
    enc = Encoder(8, 16, n_heads=2, n_layers=2, kernel_size=3, p_dropout=0.0).eval()
    x = torch.randn(1, 8, 6)
    mask = torch.tensor([[[1, 1, 1, 1, 0, 0]]], dtype=torch.float)
    noisy = x.clone()
    noisy[..., 4:] = 100.0  # garbage in the padding
    with torch.no_grad():
        a, b = enc(x, mask), enc(noisy, mask)
    torch.testing.assert_close(a, b)
    assert float(a[..., 4:].abs().max()) == 0.0
