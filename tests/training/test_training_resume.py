"""A saved and restored run continues exactly like an uninterrupted one."""

from __future__ import annotations

import pytest
import torch

from voicemill.model.gpt.config import GPTConfig
from voicemill.training.s1_train import S1Item, S1TrainConfig, S1Trainer
from voicemill.training.s2_train import S2TrainConfig, S2Trainer, tiny_s2_config
from voicemill.training.state import load_training_state, save_training_state


def _assert_same_params(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.allclose(x.float(), y.float(), atol=1e-6), name


def test_s1_resume_equals_straight_run(features, tmp_path) -> None:
    g = torch.Generator().manual_seed(1)
    items = [  # random tokens: resumption does not depend on what the GPT learns
        S1Item(f.utterance_id, f.phone_ids, f.bert, torch.randint(0, 64, (20,), generator=g))
        for f in features
    ]
    cfg = S1TrainConfig(batch_size=4)  # 6 items: epochs end mid-run
    straight = S1Trainer(GPTConfig.tiny(), cfg, items, seed=3)
    history = straight.train(20)

    first = S1Trainer(GPTConfig.tiny(), cfg, items, seed=3)
    first.train(10)
    path = save_training_state(first, tmp_path / "s1.pt")
    resumed = S1Trainer(GPTConfig.tiny(), cfg, items, seed=99)  # different init, overwritten
    load_training_state(resumed, path)
    tail = resumed.train(10)

    assert resumed.step == 20
    assert [h["loss"] for h in tail] == pytest.approx([h["loss"] for h in history[10:]], rel=1e-5)
    _assert_same_params(straight.model, resumed.model)


def test_s2_resume_equals_straight_run(features, ssl_extractor, tmp_path) -> None:
    model_cfg = tiny_s2_config(ssl_extractor.dim)
    cfg = S2TrainConfig(lr=1e-3, lr_decay=0.5, batch_size=2)  # 3 batches/epoch
    short = features[:4]
    straight = S2Trainer(model_cfg, cfg, short, seed=5)
    history = straight.train(6)

    first = S2Trainer(model_cfg, cfg, short, seed=5)
    first.train(3)
    path = save_training_state(first, tmp_path / "s2.pt")
    resumed = S2Trainer(model_cfg, cfg, short, seed=7)
    load_training_state(resumed, path)
    tail = resumed.train(3)

    for key in ("mel", "disc", "kl"):
        assert [h[key] for h in tail] == pytest.approx([h[key] for h in history[3:]], rel=1e-4)
    assert resumed.optim_g.param_groups[0]["lr"] == straight.optim_g.param_groups[0]["lr"]
    _assert_same_params(straight.net_g, resumed.net_g)
    _assert_same_params(straight.net_d, resumed.net_d)
