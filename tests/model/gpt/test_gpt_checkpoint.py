"""Official s1 `.ckpt` writing and reading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from voicemill.model.gpt.checkpoint import (
    CheckpointError,
    config_from_dict,
    config_to_dict,
    load_model,
    read_checkpoint,
    save_checkpoint,
)
from voicemill.model.gpt.config import GPTConfig
from voicemill.model.gpt.model import Text2SemanticModel


@pytest.fixture(scope="module")
def model() -> Text2SemanticModel:
    torch.manual_seed(0)
    return Text2SemanticModel(GPTConfig.tiny())


def test_write_then_read_is_bit_exact_fp16(model: Text2SemanticModel, tmp_path: Path):
    path = tmp_path / "voice-e15.ckpt"
    save_checkpoint(model, path, info="GPT-e15")
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"weight", "config", "info"}
    assert all(
        k.startswith("model.") and v.dtype == torch.float16 for k, v in raw["weight"].items()
    )
    assert raw["config"]["model"]["head"] == 4 and raw["config"]["data"]["max_sec"] == 54

    ckpt = read_checkpoint(path)
    assert ckpt.config == model.config and ckpt.info == "GPT-e15" and ckpt.top_k == 15
    for name, tensor in model.state_dict().items():
        assert torch.equal(ckpt.state_dict[name], tensor.half())

    loaded, _ = load_model(path)
    assert not loaded.training
    for name, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, model.state_dict()[name].half().float())


def test_reads_fp32_weights(model: Text2SemanticModel, tmp_path: Path):
    path = tmp_path / "fp32.ckpt"
    weight = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save({"weight": weight, "config": config_to_dict(model.config)}, path)
    loaded, ckpt = load_model(path)
    assert ckpt.info is None
    assert torch.equal(loaded.ar_predict_layer.weight, model.ar_predict_layer.weight)


def test_truncated_file_is_unreadable(model: Text2SemanticModel, tmp_path: Path):
    path = tmp_path / "cut.ckpt"
    save_checkpoint(model, path, info="GPT-e1")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(path)
    assert err.value.reason == "unreadable" and "cut.ckpt" in err.value.detail


@pytest.mark.parametrize(
    "content",
    [
        {"weight": {"enc_p.text_embedding.weight": torch.zeros(2, 2)}, "config": {}},
        {"model": {}, "iteration": 3},
        torch.zeros(3),
    ],
    ids=["sovits-weights", "resume-dict", "bare-tensor"],
)
def test_foreign_file_is_not_s1(content, tmp_path: Path):
    path = tmp_path / "other.pth"
    torch.save(content, path)
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(path)
    assert err.value.reason == "not_s1_checkpoint"


def test_config_disagreeing_with_weights(model: Text2SemanticModel, tmp_path: Path):
    path = tmp_path / "lying.ckpt"
    weight = {f"model.{k}": v.half() for k, v in model.state_dict().items()}
    config = config_to_dict(GPTConfig(embedding_dim=128, hidden_dim=128, n_heads=4, n_layers=3))
    torch.save({"weight": weight, "config": config}, path)
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    assert err.value.reason == "weights_mismatch" and "h.layers.2" in err.value.detail


def test_unsupported_variant(model: Text2SemanticModel, tmp_path: Path):
    path = tmp_path / "odd.ckpt"
    config = config_to_dict(model.config)
    config["model"]["head"] = 7  # 128 is not divisible by 7
    weight = {f"model.{k}": v.half() for k, v in model.state_dict().items()}
    torch.save({"weight": weight, "config": config}, path)
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(path)
    assert err.value.reason == "unsupported_variant"


def test_official_v2_config_maps_to_v2_preset():
    official = {
        "model": {"vocab_size": 1025, "phoneme_vocab_size": 732, "embedding_dim": 512,
                  "hidden_dim": 512, "head": 16, "linear_units": 2048, "n_layer": 24,
                  "dropout": 0, "EOS": 1024},
        "data": {"max_sec": 54, "pad_val": 1024},
        "inference": {"top_k": 15},
    }  # fmt: skip
    assert config_from_dict(official) == GPTConfig.v2()
    assert config_to_dict(GPTConfig.v2()) == official
