"""Training forward and losses of the s2 stage, on the tiny preset."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from voicemill.model.sovits.config import SoVITSConfig
from voicemill.model.sovits.discriminator import MultiPeriodDiscriminator
from voicemill.model.sovits.losses import (
    S2Losses,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    kl_loss,
)
from voicemill.model.sovits.spectrogram import mel_filterbank, spectrogram
from voicemill.model.sovits.synthesizer import SynthesizerTrn

FRAMES = 10


def _batch(cfg: SoVITSConfig) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    t = torch.arange(FRAMES * cfg.hop_length) / cfg.sampling_rate
    wav = (0.3 * torch.sin(2 * torch.pi * torch.tensor([[220.0], [330.0]]) * t)).unsqueeze(1)
    return {
        "wav": wav,  # [2, 1, 6400]
        "spec": spectrogram(wav, cfg.filter_length, cfg.hop_length, cfg.win_length),
        "ssl": torch.randn(2, cfg.ssl_dim, FRAMES, generator=g),
        "text": torch.randint(0, cfg.n_symbols, (2, 5), generator=g),
    }


def _forward(model: SynthesizerTrn, b: dict[str, torch.Tensor]):
    lengths = torch.tensor([FRAMES, FRAMES - 2])
    return model(
        b["ssl"],
        b["spec"],
        lengths,
        b["text"],
        torch.tensor([5, 4]),
        generator=torch.Generator().manual_seed(0),
    )


def test_spectrogram_frames_and_slaney_filterbank() -> None:
    spec = spectrogram(torch.zeros(1, 20480), 2048, 640, 2048)
    assert spec.shape == (1, 1025, 32)  # a 32-frame training segment
    fb = mel_filterbank(32000, 2048, 128)
    assert fb.shape == (128, 1025)
    assert bool((fb.sum(1) > 0).all())  # no empty filter
    # Slaney normalisation: each triangle has area ~ 2 / bandwidth_hz * bandwidth_hz / 2 = 1
    # in Hz units, i.e. sum(weights) * bin_width_hz ~= 1.
    area = fb.sum(1) * (16000 / 1024)
    assert torch.allclose(area[40:], torch.ones(88, dtype=fb.dtype), atol=0.05)


def test_loss_functions_on_known_values() -> None:
    ones, zeros = [torch.ones(2, 3)], [torch.zeros(2, 3)]
    assert float(discriminator_loss(ones, zeros)) == 0.0
    assert float(discriminator_loss(zeros, ones)) == 2.0
    assert float(generator_adversarial_loss(zeros)) == 1.0
    assert float(feature_matching_loss([[torch.ones(4)]], [[torch.zeros(4)]])) == 2.0
    z = torch.randn(1, 4, 6)
    mask = torch.ones(1, 1, 6)
    same = kl_loss(z, torch.zeros_like(z), z, torch.zeros_like(z), mask)
    # Equal distributions leave the -0.5 per channel; the mean is over frames only.
    assert abs(float(same) + 0.5 * 4) < 1e-6
    wider_prior = kl_loss(z, torch.zeros_like(z), z, torch.ones_like(z), mask)
    assert float(wider_prior) > float(same)


def test_generator_output_shapes_and_frozen_quantizer() -> None:
    torch.manual_seed(0)
    cfg = dataclasses.replace(SoVITSConfig.tiny(), freeze_quantizer=True)
    model = SynthesizerTrn(cfg).train()
    codebook = model.quantizer.vq.layers[0]._codebook
    codebook.embed.normal_()
    before = codebook.embed.clone()
    assert not model.quantizer.training and model.enc_p.training
    b = _batch(cfg)
    out = _forward(model, b)
    assert out.wav_hat.shape == (2, 1, cfg.segment_size)
    assert out.m_p.shape == out.z_p.shape == (2, cfg.inter_channels, FRAMES)
    assert out.ids_slice.tolist()[1] == 0  # row 1 is exactly one segment long
    assert 0 <= out.ids_slice.tolist()[0] <= FRAMES - cfg.segment_frames
    losses = S2Losses(cfg).generator(out, b["spec"], b["wav"])
    losses.total.backward()
    assert torch.equal(codebook.embed, before)  # no EMA update
    assert float(losses.commit) == 0.0
    assert model.ssl_proj.weight.grad is None
    assert model.enc_p.text_embedding.weight.grad is not None


def test_discriminator_logits_and_feature_maps() -> None:
    torch.manual_seed(0)
    disc = MultiPeriodDiscriminator().eval()
    y = torch.randn(1, 1, 1280)
    with torch.inference_mode():
        real, fake, real_maps, _ = disc(y, y)
    assert len(real) == 6 and len(real_maps[0]) == 7 and len(real_maps[1]) == 6
    assert all(torch.equal(r, f) for r, f in zip(real, fake, strict=True))
    assert real_maps[2][0].shape[-1] == 3  # period-3 view


def test_tiny_discriminator_is_the_v2_structure_narrower() -> None:
    torch.manual_seed(0)
    v2, tiny = MultiPeriodDiscriminator.v2(), MultiPeriodDiscriminator.tiny()
    v2_state, tiny_state = v2.state_dict(), tiny.state_dict()
    assert list(tiny_state) == list(v2_state)  # same periods, layers and names
    for name, t in tiny_state.items():  # same kernels; channels scaled (1 stays 1)
        assert t.shape[2:] == v2_state[name].shape[2:], name
    n_tiny = sum(p.numel() for p in tiny.parameters())
    assert n_tiny < sum(p.numel() for p in v2.parameters()) / 50
    y = torch.randn(1, 1, 1280)
    with torch.inference_mode():
        real_v2, _, maps_v2, _ = v2(y, y)
        real_tiny, _, maps_tiny, _ = tiny.eval()(y, y)
    assert [r.shape for r in real_tiny] == [r.shape for r in real_v2]
    assert [len(m) for m in maps_tiny] == [len(m) for m in maps_v2]
    with pytest.raises(ValueError, match="multiple of 64"):
        MultiPeriodDiscriminator(width=100)


def test_tiny_generator_loss_decreases_on_a_fixed_batch() -> None:
    torch.manual_seed(0)
    cfg = dataclasses.replace(SoVITSConfig.tiny(), segment_size=4 * 640)  # cheaper steps
    model = SynthesizerTrn(cfg).train()
    losses = S2Losses(cfg)
    b = _batch(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    history = []
    for _ in range(15):
        out = _forward(model, b)
        total = losses.generator(out, b["spec"], b["wav"]).total
        opt.zero_grad()
        total.backward()
        opt.step()
        history.append(total.item())
    assert all(torch.isfinite(torch.tensor(history)))
    assert history[-1] < 0.7 * history[0]


def test_adversarial_terms_train_both_sides() -> None:
    torch.manual_seed(0)
    cfg = dataclasses.replace(SoVITSConfig.tiny(), segment_size=2 * 640)
    model, disc = SynthesizerTrn(cfg).train(), MultiPeriodDiscriminator.tiny()
    losses = S2Losses(cfg)
    b = _batch(cfg)
    out = _forward(model, b)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=1e-4)
    d_losses = []
    for _ in range(3):
        loss_d = losses.discriminator(out, b["wav"], disc)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        d_losses.append(loss_d.item())
    assert d_losses[-1] < d_losses[0]
    assert model.dec.conv_pre.weight.grad is None  # the generated audio was detached

    g = losses.generator(out, b["spec"], b["wav"], disc)
    assert g.adv.item() > 0 and g.fm.item() > 0
    assert torch.allclose(g.total, g.adv + g.fm + g.mel + g.kl + g.commit)
    g.total.backward()
    assert model.dec.conv_pre.weight.grad is not None
