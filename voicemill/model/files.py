"""Recognising any GPT-SoVITS model file, and the s2 resume checkpoints.

Users hand us files by path, not by kind, so :func:`detect` works out which part (s1,
exported s2G, pretrained s2D, training-resume G/D) and which version a file is from its
header bytes, top-level keys and tensor shapes, without building a model.

Resume checkpoints (``logs_s2_v2/G_*.pth``, ``D_*.pth``) follow upstream's
``utils.save_checkpoint``: ``{"model": fp32 state dict, "iteration", "optimizer":
optimizer state dict, "learning_rate"}``; upstream's s2 trainer stores the epoch as
``iteration``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import torch

from voicemill.model.errors import CheckpointError
from voicemill.model.gpt import GPTConfig, Text2SemanticModel, save_checkpoint
from voicemill.model.sovits import (
    MultiPeriodDiscriminator,
    SoVITSConfig,
    SynthesizerTrn,
    write_s2_discriminator,
    write_s2_generator,
)
from voicemill.model.sovits.checkpoint import atomic_save, load_s2_file, resolve_version

Part = Literal["s1", "s2G", "s2D", "resume_G", "resume_D"]
Preset = Literal["v2", "tiny"]
Version = Literal["v1", "v2", "v2Pro", "v2ProPlus", "v3", "v4", "unknown"]
S1_PREFIX = "model."
RESUME_KEYS = ("model", "iteration", "optimizer", "learning_rate")
# rows of the phoneme embedding (s1: ar_text_embedding, s2G: enc_p.text_embedding)
S1_VOCAB: dict[int | None, Version] = {512: "v1", 732: "v2"}
S2_SYMBOLS: dict[int | None, Version] = {322: "v1", 732: "v2"}
# v1 and v2 share the 6-discriminator MPD; v2Pro and v2ProPlus its 8-discriminator one.
MPD_SIZES: dict[int, Version] = {6: "v2", 8: "v2Pro"}


@dataclass(frozen=True)
class ModelFile:
    path: Path
    part: Part
    version: Version
    state_dict: dict[str, torch.Tensor]  # module names (s1: without "model."), dtype as stored
    info: str | None  # exported files' "info"; a resume file's iteration as text

    @property
    def tensor_count(self) -> int:
        return len(self.state_dict)

    @property
    def parameter_count(self) -> int:
        """Elements of every stored tensor (buffers such as the VQ codebook included)."""
        return sum(t.numel() for t in self.state_dict.values())

    @property
    def dtypes(self) -> list[str]:
        return sorted({str(t.dtype).removeprefix("torch.") for t in self.state_dict.values()})


@dataclass(frozen=True)
class ResumeCheckpoint:
    model: dict[str, torch.Tensor]
    iteration: int
    optimizer: dict[str, Any]
    learning_rate: float


def detect(path: str | os.PathLike[str]) -> ModelFile:
    """Identify a model file; CheckpointError for truncated, foreign or unknown files."""
    path = Path(path)
    obj, header_version = load_s2_file(path)
    if not isinstance(obj, Mapping):
        raise CheckpointError("not_a_checkpoint", f"{path}: holds a {type(obj).__name__}")
    if isinstance(obj.get("model"), Mapping) and "iteration" in obj:
        state = _tensors(path, obj["model"])
        part: Part = "resume_D" if _is_discriminator(state) else "resume_G"
        info: str | None = str(obj["iteration"])
    elif isinstance(obj.get("weight"), Mapping):
        state = _tensors(path, obj["weight"])
        if state and all(k.startswith(S1_PREFIX) for k in state):
            part, state = "s1", {k.removeprefix(S1_PREFIX): v for k, v in state.items()}
        else:
            part = "s2D" if _is_discriminator(state) else "s2G"
        info = None if obj.get("info") is None else str(obj["info"])
    else:
        raise CheckpointError(
            "foreign_checkpoint", f"{path}: no 'weight' or 'model' state dict (keys {list(obj)})"
        )
    if part in ("s2G", "resume_G") and not any(k.startswith("enc_p.") for k in state):
        sample = ", ".join(list(state)[:3])
        raise CheckpointError("foreign_checkpoint", f"{path}: no GPT-SoVITS weights ({sample} …)")
    version = cast(Version, resolve_version(header_version, _version(part, state)))
    return ModelFile(path, part, version, state, info)


def build_models(
    preset: Preset, seed: int
) -> tuple[Text2SemanticModel, SynthesizerTrn, MultiPeriodDiscriminator]:
    """Randomly initialised s1, s2G and s2D, reproducible from ``seed``."""
    torch.manual_seed(seed)
    gpt = Text2SemanticModel(getattr(GPTConfig, preset)())
    config = getattr(SoVITSConfig, preset)()
    return gpt, SynthesizerTrn(config), getattr(MultiPeriodDiscriminator, preset)()


def initial_file_names(preset: Preset) -> dict[Part, str]:
    """Upstream-style names, with the preset (the tiny s2D is narrower than v2's)."""
    return {
        "s1": f"s1v2-{preset}.ckpt",
        "s2G": f"s2G-v2-{preset}.pth",
        "s2D": f"s2D-v2-{preset}.pth",
    }


def write_initial(out: Path, preset: Preset, seed: int) -> dict[Part, Path]:
    """Write fresh s1/s2G/s2D files in the official formats (the start of a from-scratch run)."""
    gpt, generator, discriminator = build_models(preset, seed)
    out.mkdir(parents=True, exist_ok=True)
    paths = {part: out / name for part, name in initial_file_names(preset).items()}
    save_checkpoint(gpt, paths["s1"], info="GPT-e0")
    write_s2_generator(paths["s2G"], generator.state_dict(), generator.cfg, "0epoch_0iteration")
    write_s2_discriminator(paths["s2D"], discriminator.state_dict())
    return paths


def write_resume(
    path: str | os.PathLike[str],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    iteration: int,
    learning_rate: float,
) -> None:
    """Save a G or D training state that upstream's ``load_checkpoint`` resumes from."""
    obj = {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "iteration": iteration,
        "optimizer": optimizer.state_dict(),
        "learning_rate": learning_rate,
    }
    atomic_save(obj, Path(path))


def read_resume(path: str | os.PathLike[str]) -> ResumeCheckpoint:
    obj, _ = load_s2_file(path)
    if not isinstance(obj, Mapping) or any(k not in obj for k in RESUME_KEYS):
        keys = list(obj) if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError("foreign_checkpoint", f"{path}: needs {RESUME_KEYS}, has {keys}")
    if not isinstance(obj["model"], Mapping) or not isinstance(obj["optimizer"], Mapping):
        raise CheckpointError("foreign_checkpoint", f"{path}: 'model'/'optimizer' are not dicts")
    return ResumeCheckpoint(
        model=_tensors(Path(path), obj["model"]),
        iteration=int(obj["iteration"]),
        optimizer=dict(obj["optimizer"]),
        learning_rate=float(obj["learning_rate"]),
    )


def _tensors(path: Path, state: Mapping[Any, Any]) -> dict[str, torch.Tensor]:
    bad = [k for k, v in state.items() if not (isinstance(k, str) and torch.is_tensor(v))]
    if bad or not state:
        raise CheckpointError("foreign_checkpoint", f"{path}: not a state dict ({bad[:3]})")
    return dict(state)


def _is_discriminator(state: Mapping[str, torch.Tensor]) -> bool:
    return all(k.startswith("discriminators.") for k in state)


def _version(part: Part, state: Mapping[str, torch.Tensor]) -> Version:
    """Shape-based version (files without a header tag, or with a v1/v2 one)."""
    if part == "s1":
        return S1_VOCAB.get(_rows(state, "ar_text_embedding.word_embeddings.weight"), "unknown")
    if part in ("s2D", "resume_D"):
        return MPD_SIZES.get(len({k.split(".")[1] for k in state}), "unknown")
    if any(k.startswith("cfm.") for k in state):
        return "v3"  # an untagged CFM generator; v4's pretrained file also reads as v3
    if "sv_emb.weight" in state:
        return "v2ProPlus" if _rows(state, "dec.conv_pre.weight") == 768 else "v2Pro"
    return S2_SYMBOLS.get(_rows(state, "enc_p.text_embedding.weight"), "unknown")


def _rows(state: Mapping[str, torch.Tensor], name: str) -> int | None:
    tensor = state.get(name)
    return None if tensor is None or tensor.dim() == 0 else tensor.shape[0]
