"""s2 training: batches are right-padded, text-side params train slower, mel loss falls."""

from __future__ import annotations

import statistics

import pytest
import torch

from voicemill.model.sovits.config import SoVITSConfig
from voicemill.model.sovits.discriminator import MultiPeriodDiscriminator
from voicemill.model.sovits.synthesizer import SynthesizerTrn
from voicemill.training.s2_train import (
    S2TrainConfig,
    build_optimizers,
    collate_s2,
    discriminator_width,
    tiny_s2_config,
    usable,
)


def test_collate_right_pads_every_stream(features) -> None:
    items = features[:3]
    batch = collate_s2(items, hop=640)
    frames = max(f.spec.shape[1] for f in items)
    assert batch["spec"].shape == (3, 1025, frames)
    assert batch["wav"].shape == (3, 1, frames * 640)
    assert batch["spec_lengths"].tolist() == [f.spec.shape[1] for f in items]
    short = int(batch["spec_lengths"].argmin())
    n = int(batch["spec_lengths"][short])
    assert torch.equal(batch["ssl"][short, :, :n], items[short].ssl)
    assert not batch["ssl"][short, :, n:].any()
    assert torch.equal(batch["text"][0, : items[0].phone_ids.numel()], items[0].phone_ids)


def test_duration_limits_drop_too_short_items(features) -> None:
    cfg = S2TrainConfig(min_duration_s=1.7)
    kept = usable(features, cfg)
    assert 0 < len(kept) < len(features)
    assert all(f.duration_s >= 1.7 for f in kept)


def test_text_side_parameters_get_the_low_learning_rate() -> None:
    cfg = S2TrainConfig()
    net_g = SynthesizerTrn(tiny_s2_config(384))
    optim_g, optim_d = build_optimizers(net_g, MultiPeriodDiscriminator.tiny(), cfg)
    rest, text_side = optim_g.param_groups
    assert text_side["lr"] == pytest.approx(cfg.lr * 0.4)
    assert rest["lr"] == cfg.lr and optim_g.defaults["eps"] == 1e-9
    assert optim_d.defaults["lr"] == cfg.lr and optim_d.defaults["betas"] == (0.8, 0.99)
    text_ids = {id(p) for p in text_side["params"]}
    assert id(net_g.enc_p.text_embedding.weight) in text_ids
    assert id(net_g.enc_p.encoder_ssl.attn_layers[0].conv_q.weight) not in text_ids
    n_params = sum(len(g["params"]) for g in optim_g.param_groups)
    assert n_params == len(list(net_g.parameters()))


def test_tiny_preset_trains_with_the_tiny_discriminator(s2_run) -> None:
    trainer, _ = s2_run
    assert len(trainer.net_d.discriminators) == 6  # waveform + the five v2 periods
    assert trainer.net_d.width == 128
    assert discriminator_width(SoVITSConfig.v2(), S2TrainConfig()) == 1024
    assert discriminator_width(SoVITSConfig.tiny(), S2TrainConfig(disc_width=256)) == 256


def test_tiny_s2_mel_loss_falls(s2_run) -> None:
    trainer, history = s2_run
    mel = [h["mel"] for h in history]
    assert statistics.mean(mel[-20:]) < 0.8 * statistics.mean(mel[:20])
    assert all(torch.isfinite(torch.tensor([h["disc"], h["gen"]])).all() for h in history)
    assert trainer.net_g.quantizer.vq.layers[0]._codebook.inited.item() == 1.0
