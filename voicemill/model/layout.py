"""Which tensors a model file should hold, and how a given file differs from that.

Expected layouts come from our own modules built on the ``meta`` device, so the v2 sizes
cost no memory and can never drift from what :mod:`voicemill.model` actually loads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import torch

from voicemill.model.errors import CheckpointError
from voicemill.model.files import ModelFile, Part, Preset
from voicemill.model.gpt import GPTConfig, Text2SemanticModel
from voicemill.model.sovits import MultiPeriodDiscriminator, SoVITSConfig, SynthesizerTrn

Shape = tuple[int, ...]
PRESETS: tuple[Preset, ...] = ("v2", "tiny")
SUPPORTED_VERSIONS = ("v2",)


@dataclass(frozen=True)
class LayoutDiff:
    missing: list[str]
    unexpected: list[str]
    misshaped: list[tuple[str, Shape, Shape]]  # (name, expected, found)

    @property
    def matches(self) -> bool:
        return not (self.missing or self.unexpected or self.misshaped)

    @property
    def size(self) -> int:
        return len(self.missing) + len(self.unexpected) + len(self.misshaped)


def compare_to_layout(
    state_dict: Mapping[str, torch.Tensor], expected: Mapping[str, Shape]
) -> LayoutDiff:
    found = {name: tuple(t.shape) for name, t in state_dict.items()}
    return LayoutDiff(
        missing=[n for n in expected if n not in found],
        unexpected=[n for n in found if n not in expected],
        misshaped=[(n, s, found[n]) for n, s in expected.items() if n in found and found[n] != s],
    )


@cache
def expected_layout(part: Part, preset: Preset) -> Mapping[str, Shape]:
    """Names and shapes our module for ``part`` has at ``preset``, ``enc_q`` included.

    Cached and shared between callers: treat it as read-only.

    Discriminators (s2D, resume_D) have the v2 periods at both presets; the tiny one is
    ``MultiPeriodDiscriminator.tiny()`` (narrower channels).
    """
    with torch.device("meta"):
        if part == "s1":
            model: torch.nn.Module = Text2SemanticModel(getattr(GPTConfig, preset)())
        elif part in ("s2G", "resume_G"):
            model = SynthesizerTrn(getattr(SoVITSConfig, preset)())
        else:
            model = getattr(MultiPeriodDiscriminator, preset)()
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def fit_preset(file: ModelFile) -> tuple[Preset, LayoutDiff]:
    """The preset whose layout is closest to the file's (exact when ``diff.matches``).

    Exported generators without any ``enc_q.*`` tensor are compared without the posterior
    encoder, which upstream drops on export; pretrained ones that keep it are compared with it.
    """
    if file.version not in SUPPORTED_VERSIONS:
        raise CheckpointError(
            "unsupported_version",
            f"{file.path}: {file.version} {file.part} files are not implemented (only v2)",
        )
    keep_enc_q = file.part != "s2G" or any(k.startswith("enc_q.") for k in file.state_dict)
    diffs = []
    for preset in PRESETS:
        expected = expected_layout(file.part, preset)
        if not keep_enc_q:
            expected = {k: v for k, v in expected.items() if not k.startswith("enc_q.")}
        diffs.append((preset, compare_to_layout(file.state_dict, expected)))
    return min(diffs, key=lambda pd: pd[1].size)
