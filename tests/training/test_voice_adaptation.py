"""Fine-tuning a tiny base on real espeak utterances: exports, reproducibility, bad input."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from voicemill.model.files import write_initial
from voicemill.model.gpt import GPTConfig, Text2SemanticModel, load_model, save_checkpoint
from voicemill.model.sovits import load_s2_generator
from voicemill.training.adapt import AdaptationConfig
from voicemill.training.voice import AdaptationError, BaseCheckpoints, adapt_voice

CONFIG = AdaptationConfig(
    sovits_epochs=2, gpt_epochs=3, batch_size=2, sovits_lr=1e-3, validation_fraction=0.2
)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> BaseCheckpoints:
    paths = write_initial(tmp_path_factory.mktemp("base"), "tiny", seed=0)
    return BaseCheckpoints(paths["s1"], paths["s2G"], paths["s2D"])


@pytest.fixture(scope="module")
def adapted(base: BaseCheckpoints, features, tmp_path_factory: pytest.TempPathFactory):
    return adapt_voice(base, features, CONFIG, tmp_path_factory.mktemp("voice"))


def test_both_stages_run_and_export_official_files(adapted) -> None:
    assert [r.epoch for r in adapted.stages["sovits"].history] == [1, 2]
    assert [r.epoch for r in adapted.stages["gpt"].history] == [1, 2, 3]
    assert adapted.validation_ids and not set(adapted.validation_ids) & set(adapted.train_ids)
    gpt, _ = load_model(adapted.files.s1)
    sovits = load_s2_generator(adapted.files.s2g)
    assert gpt.config.vocab_size - 1 == sovits.cfg.codebook_size


def test_every_saved_epoch_is_a_loadable_checkpoint_pair(adapted, base: BaseCheckpoints) -> None:
    names = [c.name for c in adapted.checkpoints]
    assert names == ["sovits-e001", "sovits-e002", "gpt-e001", "gpt-e002", "gpt-e003"]
    sovits_epochs = [c for c in adapted.checkpoints if c.stage == "sovits"]
    gpt_epochs = [c for c in adapted.checkpoints if c.stage == "gpt"]
    assert all(c.s1 == base.s1 for c in sovits_epochs)  # SoVITS epochs read the base GPT
    assert all(c.s2g == adapted.files.s2g for c in gpt_epochs)  # GPT epochs the best SoVITS
    history = {(r.stage, r.epoch): r.val_loss for s in adapted.stages.values() for r in s.history}
    assert all(c.val_loss == history[(c.stage, c.epoch)] for c in adapted.checkpoints)
    best = adapted.stages["gpt"].best_epoch
    best_file = next(c.s1 for c in gpt_epochs if c.epoch == best)
    exported, _ = load_model(adapted.files.s1)
    at_best, _ = load_model(best_file)
    assert all(
        (a == b).all()
        for a, b in zip(exported.state_dict().values(), at_best.state_dict().values(), strict=True)
    )
    load_s2_generator(sovits_epochs[0].s2g)


def test_same_config_seed_and_data_give_the_same_checkpoints(
    adapted, base: BaseCheckpoints, features, tmp_path: Path
) -> None:
    again = adapt_voice(base, features, CONFIG, tmp_path)
    assert again.files.sha256() == adapted.files.sha256()


def test_a_finished_run_called_again_resumes_instead_of_retraining(
    adapted, base: BaseCheckpoints, features
) -> None:
    workdir = adapted.files.s1.parent.parent
    again = adapt_voice(base, features, CONFIG, workdir)
    assert again.stages["gpt"].resumed_from_epoch == 3
    assert again.files.sha256() == adapted.files.sha256()


def test_bad_bases_and_data_fail_before_any_training(
    base: BaseCheckpoints, features, tmp_path: Path
) -> None:
    corrupt = tmp_path / "s1.ckpt"
    corrupt.write_bytes(base.s1.read_bytes()[:1000])
    with pytest.raises(AdaptationError) as excinfo:
        adapt_voice(dataclasses.replace(base, s1=corrupt), features, CONFIG, tmp_path / "a")
    assert excinfo.value.reason == "base_unusable"

    missing = dataclasses.replace(base, s2g=tmp_path / "nope.pth")
    with pytest.raises(AdaptationError, match="does not exist"):
        adapt_voice(missing, features, CONFIG, tmp_path / "b")

    other = tmp_path / "other_s1.ckpt"  # a GPT for a 1024-code codebook
    big_vocab = dataclasses.replace(GPTConfig.tiny(), vocab_size=1025, eos=1024)
    save_checkpoint(Text2SemanticModel(big_vocab), other, info="other")
    with pytest.raises(AdaptationError) as excinfo:
        adapt_voice(dataclasses.replace(base, s1=other), features, CONFIG, tmp_path / "c")
    assert excinfo.value.reason == "base_mismatch"

    with pytest.raises(AdaptationError) as excinfo:
        adapt_voice(base, features[:1], CONFIG, tmp_path / "d")
    assert excinfo.value.reason == "too_few_utterances"
    assert not (tmp_path / "d" / "sovits").exists()  # nothing was trained
