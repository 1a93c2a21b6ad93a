"""s1 training on the trained tiny s2's semantic tokens: batches and a falling loss."""

from __future__ import annotations

import statistics

import pytest
import torch

from voicemill.model.gpt.config import GPTConfig
from voicemill.training.s1_train import (
    S1TrainConfig,
    build_s1_items,
    collate_s1,
    semantic_tokens,
    train_s1,
)


@pytest.fixture(scope="module")
def items(features, s2_run):
    trainer, _ = s2_run
    return build_s1_items(features, trainer.net_g, S1TrainConfig())


def test_tokens_are_25hz_codes_of_the_s2_codebook(features, s2_run, items) -> None:
    net_g = s2_run[0].net_g
    assert len(items) == len(features)
    for f, item in zip(features, items, strict=True):
        assert item.semantic.numel() == f.ssl.shape[1] // 2
        assert int(item.semantic.max()) < net_g.cfg.codebook_size
    assert len(torch.cat([i.semantic for i in items]).unique()) > 1  # a learnt codebook
    assert torch.equal(semantic_tokens(net_g, features[0].ssl), items[0].semantic)


def test_phone_rate_filter_drops_fast_readings(features, s2_run) -> None:
    rates = {f.utterance_id: f.phone_ids.numel() / f.duration_s for f in features}
    limit = sorted(rates.values())[len(rates) // 2]
    kept = build_s1_items(features, s2_run[0].net_g, S1TrainConfig(max_phones_per_s=limit))
    assert 0 < len(kept) < len(features)
    assert all(rates[i.utterance_id] <= limit for i in kept)


def test_collate_right_pads_phones_bert_and_semantic(items) -> None:
    batch = collate_s1(items[:3])
    lens = batch["semantic_lens"].tolist()
    assert lens == [i.semantic.numel() for i in items[:3]]
    assert batch["semantic"].shape == (3, max(lens))
    assert batch["bert"].shape == (3, 1024, int(batch["phone_lens"].max()))
    for row, item in enumerate(items[:3]):
        assert torch.equal(batch["semantic"][row, : lens[row]], item.semantic)
        assert torch.equal(batch["phone_ids"][row, : item.phone_ids.numel()], item.phone_ids)


def test_tiny_gpt_loss_falls(items) -> None:
    _, history = train_s1(GPTConfig.tiny(), S1TrainConfig(batch_size=3), items, 100, seed=0)
    loss = [h["loss"] for h in history]
    assert statistics.mean(loss[-20:]) < 0.8 * statistics.mean(loss[:20])
