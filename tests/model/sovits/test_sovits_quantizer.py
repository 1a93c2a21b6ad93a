"""Residual VQ: nearest codes, decode, and the EMA codebook in training mode."""

from __future__ import annotations

import torch

from voicemill.model.sovits.quantizer import ResidualVectorQuantizer


def _clusters(n_per: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 8, generator=g) * 5
    points = centres.repeat_interleave(n_per, 0) + 0.05 * torch.randn(4 * n_per, 8, generator=g)
    return centres, points.T.unsqueeze(0)  # [1, 8, 4 * n_per]


def test_eval_codes_are_nearest_and_decode_inverts_them() -> None:
    vq = ResidualVectorQuantizer(dim=8, n_q=1, bins=16).eval()
    vq.vq.layers[0]._codebook.embed.normal_()
    x = torch.randn(2, 8, 5)
    quantized, codes, loss = vq(x)
    assert codes.shape == (1, 2, 5) and float(loss) == 0.0
    embed = vq.vq.layers[0]._codebook.embed
    assert torch.equal(codes[0], torch.cdist(x.transpose(1, 2), embed.expand(2, -1, -1)).argmin(-1))
    assert torch.equal(vq.encode(x), codes)
    assert torch.equal(vq.decode(codes), quantized)


def test_training_initialises_by_kmeans_and_tracks_the_data() -> None:
    torch.manual_seed(0)
    centres, x = _clusters()
    vq = ResidualVectorQuantizer(dim=8, n_q=1, bins=4).train()
    codebook = vq.vq.layers[0]._codebook
    assert float(codebook.inited) == 0.0
    for _ in range(3):
        _, codes, loss = vq(x)
    assert float(codebook.inited) == 1.0
    assert codes.unique().numel() == 4  # every cluster got its own code
    # Each learned code sits on one true centre.
    assert float(torch.cdist(codebook.embed, centres).min(1).values.max()) < 0.5
    assert 0.0 < float(loss) < 0.01  # commitment: small but present in training
    x.requires_grad_(True)
    vq(x)[0].sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))  # straight-through estimator
