"""Official s1 ``.ckpt`` files (``GPT_weights_v2*/*.ckpt``, ``s1v3.ckpt``, …).

A file is a ``torch.save`` dict ``{"weight": {"model.<name>": fp16 tensor}, "config": the
s1 YAML as nested dicts, "info": "GPT-e{N}"}``. The ``model.`` prefix comes from upstream's
Lightning wrapper; `Text2SemanticModel` has no such wrapper, so it is added on save and
stripped on read here. Reading accepts fp16 or fp32 weights and loads strictly.
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from voicemill.model.errors import CheckpointError
from voicemill.model.gpt.config import GPTConfig
from voicemill.model.gpt.model import Text2SemanticModel

PREFIX = "model."
MODEL_KEYS = ("vocab_size", "phoneme_vocab_size", "embedding_dim", "hidden_dim", "head",
              "n_layer", "EOS")  # fmt: skip


@dataclass(frozen=True)
class GPTCheckpoint:
    config: GPTConfig
    state_dict: dict[str, torch.Tensor]  # module names (no prefix), dtype as stored
    max_sec: int  # data.max_sec: upstream caps prompt + output length with it
    top_k: int  # inference.top_k
    info: str | None  # e.g. "GPT-e15"; absent in some pretrained files
    raw_config: dict[str, Any]  # the whole stored config, for round-tripping unknown keys


def config_to_dict(config: GPTConfig, *, max_sec: int = 54, top_k: int = 15) -> dict[str, Any]:
    """The upstream-style nested config (the subset of `s1longer-v2.yaml` inference reads).

    ``dropout`` is written as 0 like the official YAML: upstream ignores the key (its
    layers hard-code 0.1), and reading a file always yields the `GPTConfig` default.
    """
    return {
        "model": {
            "vocab_size": config.vocab_size,
            "phoneme_vocab_size": config.phoneme_vocab_size,
            "embedding_dim": config.embedding_dim,
            "hidden_dim": config.hidden_dim,
            "head": config.n_heads,
            "linear_units": config.ffn_dim,
            "n_layer": config.n_layers,
            "dropout": 0,
            "EOS": config.eos,
        },
        "data": {"max_sec": max_sec, "pad_val": config.eos},
        "inference": {"top_k": top_k},
    }


def config_from_dict(raw: Mapping[str, Any]) -> GPTConfig:
    model = raw.get("model")
    if not isinstance(model, Mapping) or any(k not in model for k in MODEL_KEYS):
        raise CheckpointError("not_s1_checkpoint", f"config['model'] lacks one of {MODEL_KEYS}")
    try:
        return GPTConfig(
            embedding_dim=int(model["embedding_dim"]),
            hidden_dim=int(model["hidden_dim"]),
            n_heads=int(model["head"]),
            n_layers=int(model["n_layer"]),
            phoneme_vocab_size=int(model["phoneme_vocab_size"]),
            vocab_size=int(model["vocab_size"]),
            eos=int(model["EOS"]),
        )
    except (TypeError, ValueError) as exc:
        raise CheckpointError("unsupported_variant", f"model config {dict(model)}: {exc}") from exc


def save_checkpoint(
    model: Text2SemanticModel,
    path: str | Path,
    *,
    info: str,
    max_sec: int = 54,
    top_k: int = 15,
) -> None:
    """Write an official-format s1 checkpoint (fp16 weights) that upstream can load."""
    weight = OrderedDict(
        (PREFIX + name, tensor.detach().to("cpu", torch.float16))
        for name, tensor in model.state_dict().items()
    )
    config = config_to_dict(model.config, max_sec=max_sec, top_k=top_k)
    torch.save({"weight": weight, "config": config, "info": info}, Path(path))


def read_checkpoint(path: str | Path) -> GPTCheckpoint:
    """Read and validate an s1 checkpoint without building a model."""
    path = Path(path)
    try:
        # weights_only: official files hold only dicts, tensors, strings and numbers.
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise CheckpointError("unreadable", f"{path}: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise CheckpointError("not_s1_checkpoint", f"{path}: holds a {type(raw).__name__}")
    weight, config = raw.get("weight"), raw.get("config")
    if not isinstance(weight, Mapping) or not isinstance(config, Mapping):
        raise CheckpointError(
            "not_s1_checkpoint", f"{path}: needs 'weight' and 'config' dicts, has {list(raw)}"
        )
    if f"{PREFIX}ar_predict_layer.weight" not in weight:
        sample = ", ".join(list(weight)[:3])
        raise CheckpointError("not_s1_checkpoint", f"{path}: no s1 weights (keys: {sample} …)")
    state = {}
    for name, tensor in weight.items():
        if not name.startswith(PREFIX) or not torch.is_tensor(tensor):
            raise CheckpointError("weights_mismatch", f"{path}: unexpected entry {name!r}")
        if not tensor.is_floating_point():
            raise CheckpointError("weights_mismatch", f"{path}: {name} is {tensor.dtype}")
        state[name.removeprefix(PREFIX)] = tensor
    data, inference, info = config.get("data", {}), config.get("inference", {}), raw.get("info")
    return GPTCheckpoint(
        config=config_from_dict(config),
        state_dict=state,
        max_sec=int(data.get("max_sec", 54)),
        top_k=int(inference.get("top_k", 15)),
        info=info if isinstance(info, str) else None,
        raw_config=dict(config),
    )


def load_model(
    path: str | Path, *, dtype: torch.dtype = torch.float32
) -> tuple[Text2SemanticModel, GPTCheckpoint]:
    """Build the model the file describes and load its weights strictly (in eval mode)."""
    ckpt = read_checkpoint(path)
    with torch.device("meta"):  # no random init: every parameter comes from the file
        model = Text2SemanticModel(ckpt.config)
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    found = {name: tuple(t.shape) for name, t in ckpt.state_dict.items()}
    if expected != found:
        missing = sorted(expected.keys() - found.keys())[:3]
        extra = sorted(found.keys() - expected.keys())[:3]
        wrong = [n for n in expected.keys() & found.keys() if expected[n] != found[n]][:3]
        raise CheckpointError(
            "weights_mismatch",
            f"{path}: weights disagree with its config (missing {missing}, unexpected {extra}, "
            f"wrong shape {wrong})",
        )
    model.load_state_dict(ckpt.state_dict, strict=True, assign=True)
    return model.to(dtype).eval(), ckpt
