"""Inference path: semantic codes out of HuBERT features, waveform out of codes."""

from __future__ import annotations

import pytest
import torch

from voicemill.model.sovits.config import SoVITSConfig
from voicemill.model.sovits.synthesizer import SynthesizerTrn

T50, T25, N_PHONES = 12, 6, 7


@pytest.fixture(scope="module")
def tiny() -> SynthesizerTrn:
    torch.manual_seed(0)
    model = SynthesizerTrn(SoVITSConfig.tiny()).eval()
    # A codebook that is not all zeros, so codes depend on the input.
    model.quantizer.vq.layers[0]._codebook.embed.normal_()
    return model


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    phones = torch.randint(0, 732, (2, N_PHONES), generator=g)
    refer = torch.rand(2, 1025, 20, generator=g)
    return phones, refer


def test_extract_latent_returns_nearest_codes(tiny: SynthesizerTrn) -> None:
    ssl = torch.randn(2, tiny.ssl_proj.in_channels, T50)
    codes = tiny.extract_latent(ssl)
    assert codes.shape == (1, 2, T25) and codes.dtype == torch.int64
    projected = tiny.ssl_proj(ssl).detach().transpose(1, 2)  # [B, T25, C]
    embed = tiny.quantizer.vq.layers[0]._codebook.embed
    brute = torch.cdist(projected, embed.expand(2, -1, -1)).argmin(-1)
    assert torch.equal(codes[0], brute)


def test_decode_length_and_seeded_determinism(tiny: SynthesizerTrn) -> None:
    phones, refer = _inputs()
    codes = torch.randint(0, 64, (1, 2, T25))

    def run(seed: int, **kwargs: float) -> torch.Tensor:
        return tiny.decode(
            codes, phones, refer, generator=torch.Generator().manual_seed(seed), **kwargs
        )

    wav = run(1)
    assert wav.shape == (2, 1, 2 * T25 * 640)
    assert wav.abs().max() <= 1.0  # tanh output
    assert torch.equal(wav, run(1))
    assert not torch.equal(wav, run(2))  # the seed drives the prior noise
    assert torch.equal(run(1, noise_scale=0.0), run(2, noise_scale=0.0))
    assert run(1, speed=2.0).shape[-1] < wav.shape[-1]


def test_several_references_average_their_style(tiny: SynthesizerTrn) -> None:
    phones, refer = _inputs()
    codes = torch.randint(0, 64, (1, 2, T25))
    other = torch.rand(2, 1025, 15)
    both = tiny.decode(codes, phones, [refer, other], noise_scale=0.0)
    one = tiny.decode(codes, phones, refer, noise_scale=0.0)
    assert both.shape == one.shape and not torch.equal(both, one)


def test_folding_weight_norm_keeps_the_output() -> None:
    torch.manual_seed(0)
    model = SynthesizerTrn(SoVITSConfig.tiny()).eval()
    phones, refer = _inputs()
    codes = torch.randint(0, 64, (1, 2, T25))
    before = model.decode(codes, phones, refer, noise_scale=0.0)
    model.prepare_for_inference()
    assert not any(k.endswith("weight_g") for k in model.state_dict())
    after = model.decode(codes, phones, refer, noise_scale=0.0)
    torch.testing.assert_close(after, before, atol=1e-5, rtol=0)
