"""The adaptation epoch loop: held-out split, validation, early stopping, resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from voicemill.training.adapt import (
    AdaptationConfig,
    EpochRecord,
    ResumeMismatch,
    run_stage,
    sovits_validation_loss,
    split_validation,
    steps_per_epoch,
)
from voicemill.training.s2_train import S2TrainConfig, S2Trainer, S2Weights, tiny_s2_config


def test_validation_split_is_fixed_disjoint_and_stable_under_growth() -> None:
    ids = [f"utt{i:03d}" for i in range(60)]
    train, val = split_validation(ids, 0.1)
    assert set(train) | set(val) == set(ids) and not set(train) & set(val)
    assert 1 <= len(val) <= 15
    assert split_validation(list(reversed(ids)), 0.1) == (train, val)  # order-free
    grown_train, grown_val = split_validation([*ids, *(f"new{i}" for i in range(40))], 0.1)
    assert set(val) <= set(grown_val) and set(train) <= set(grown_train)
    assert split_validation(["a", "b"], 0.01)[1] != []  # never an empty side
    with pytest.raises(ValueError, match="at least 2"):
        split_validation(["only"], 0.1)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"stages": ("gpt", "sovits")}, "sovits comes first"),
        ({"stages": ()}, "name each stage once"),
        ({"batch_size": 0}, "greater than or equal to 1"),
        ({"sovits_lr": -1.0}, "greater than 0"),
        ({"patience": 0}, "greater than or equal to 1"),
        ({"epochs": 3}, "Extra inputs"),
    ],
)
def test_invalid_configs_are_refused(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AdaptationConfig(**fields)


def test_config_fingerprint_follows_every_field() -> None:
    base = AdaptationConfig()
    assert base.fingerprint == AdaptationConfig().fingerprint
    assert base.fingerprint != AdaptationConfig(seed=1).fingerprint


def _s2_stage(features, ssl_dim: int, workdir: Path, epochs: int, fingerprint: str = "f"):
    model_cfg = tiny_s2_config(ssl_dim)
    train, val = features[:4], features[4:]
    trainer = S2Trainer(model_cfg, S2TrainConfig(lr=1e-3, batch_size=2), train, seed=5)
    return run_stage(
        "sovits",
        trainer,
        model=trainer.net_g,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch(len(train), 2),
        loss_key="mel",
        validate=lambda: sovits_validation_loss(trainer.net_g, val, batch_size=2),
        patience=10,
        save_every_epochs=1,
        workdir=workdir,
        fingerprint=fingerprint,
    )


def test_a_stopped_stage_resumes_to_the_same_result(features, ssl_extractor, tmp_path) -> None:
    straight = _s2_stage(features, ssl_extractor.dim, tmp_path / "straight", epochs=3)
    assert [r.epoch for r in straight.history] == [1, 2, 3]
    assert straight.history[-1].step == 6 and straight.resumed_from_epoch == 0
    assert straight.best_weights.exists()
    assert sorted(straight.saved_weights) == [1, 2, 3]  # save_every_epochs=1
    assert all(path.exists() for path in straight.saved_weights.values())
    assert straight.best_val_loss == min(r.val_loss for r in straight.history)

    interrupted = tmp_path / "interrupted"
    _s2_stage(features, ssl_extractor.dim, interrupted, epochs=1)  # the run "dies" here
    resumed = _s2_stage(features, ssl_extractor.dim, interrupted, epochs=3)
    assert resumed.resumed_from_epoch == 1
    assert [r.val_loss for r in resumed.history] == pytest.approx(
        [r.val_loss for r in straight.history], rel=1e-5
    )
    with pytest.raises(ResumeMismatch, match="another configuration"):
        _s2_stage(features, ssl_extractor.dim, interrupted, epochs=3, fingerprint="other")


class _CountingTrainer:
    def __init__(self) -> None:
        self.step = 0

    def train(self, steps: int) -> list[dict[str, float]]:
        self.step += steps
        return [{"step": float(self.step), "loss": 1.0}]

    def state_dict(self) -> dict:
        return {"step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.step = state["step"]


def test_early_stopping_keeps_the_best_epoch(tmp_path) -> None:
    losses = iter([3.0, 2.0, 2.5, 2.4, 2.6, 1.0])  # best at epoch 2, then 3 worse epochs
    seen: list[EpochRecord] = []
    result = run_stage(
        "gpt",
        _CountingTrainer(),
        model=torch.nn.Linear(2, 2),
        epochs=6,
        steps_per_epoch=5,
        loss_key="loss",
        validate=lambda: next(losses),
        patience=3,
        save_every_epochs=10,
        workdir=tmp_path,
        fingerprint="f",
        on_epoch=seen.append,
    )
    assert result.stopped_early and result.best_epoch == 2 and result.best_val_loss == 2.0
    assert [r.epoch for r in seen] == [1, 2, 3, 4, 5]
    assert [r.best for r in seen] == [True, True, False, False, False]
    # save_every_epochs=10 > epochs: only the epoch it stopped at is kept as a checkpoint
    assert list(result.saved_weights) == [5] and [r.saved for r in seen][-1]
    # Running it again resumes a finished stage: nothing more is trained.
    again = run_stage(
        "gpt",
        _CountingTrainer(),
        model=torch.nn.Linear(2, 2),
        epochs=6,
        steps_per_epoch=5,
        loss_key="loss",
        validate=lambda: pytest.fail("a finished stage must not train again"),
        patience=3,
        save_every_epochs=10,
        workdir=tmp_path,
        fingerprint="f",
    )
    assert again.stopped_early and len(again.history) == 5


def test_fine_tuning_starts_from_the_base_weights(features, ssl_extractor) -> None:
    model_cfg = tiny_s2_config(ssl_extractor.dim)
    cfg = S2TrainConfig(batch_size=2)
    base = S2Trainer(model_cfg, cfg, features, seed=1)
    exported = {k: v for k, v in base.net_g.state_dict().items() if not k.startswith("enc_q.")}
    tuned = S2Trainer(model_cfg, cfg, features, seed=2, init=S2Weights(exported))
    for name, tensor in exported.items():
        assert torch.equal(tuned.net_g.state_dict()[name], tensor), name
    broken = {**exported, "not.a.tensor": torch.zeros(1)}
    with pytest.raises(ValueError, match="unexpected"):
        S2Trainer(model_cfg, cfg, features, seed=2, init=S2Weights(broken))
