"""The v2 generator and discriminator match the official tensor names and shapes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from voicemill.model.sovits.config import SoVITSConfig
from voicemill.model.sovits.discriminator import MultiPeriodDiscriminator
from voicemill.model.sovits.synthesizer import SynthesizerTrn, drop_enc_q

DATA = Path(__file__).resolve().parents[2] / "data" / "gpt_sovits"


def _shape(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text))


def _ours(module: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in module.state_dict().items()]


@pytest.fixture(scope="module")
def v2_generator() -> SynthesizerTrn:
    torch.manual_seed(0)
    return SynthesizerTrn(SoVITSConfig.v2())


def test_generator_names_shapes_and_order_equal_official_table(
    v2_generator: SynthesizerTrn,
) -> None:
    rows = [line.split("\t") for line in (DATA / "s2G_v2_state_dict.tsv").read_text().splitlines()]
    expected = [(name, _shape(shape)) for name, shape, *_ in rows]
    assert len(expected) == 776
    assert _ours(v2_generator) == expected


def test_generator_parameter_counts_match_facts(v2_generator: SynthesizerTrn) -> None:
    # FACTS: v2 52.9M parameters, 42.4M without enc_q.
    sd = v2_generator.state_dict()
    total = sum(v.numel() for v in sd.values())
    exported = sum(v.numel() for v in drop_enc_q(sd).values())
    assert round(total / 1e6, 1) == 52.9
    assert round(exported / 1e6, 1) == 42.4


def test_discriminator_matches_collapsed_official_table() -> None:
    # Rows read "name<TAB>shape<TAB>(xK like pattern)": K tensors share the pattern in
    # which every numeric path component is N; the row shows the first one's shape.
    expected = {}
    for line in (DATA / "s2D_v2_state_dict_collapsed.tsv").read_text().splitlines():
        name, shape, note = line.split("\t")
        count, pattern = re.fullmatch(r"\(x(\d+) like (\S+)\)", note).groups()
        expected[pattern] = (name, _shape(shape), int(count))

    groups: dict[str, tuple[str, tuple[int, ...], int]] = {}
    for name, shape in _ours(MultiPeriodDiscriminator()):
        pattern = re.sub(r"(?<=\.)\d+(?=\.|$)", "N", name)
        first_name, first_shape, count = groups.get(pattern, (name, shape, 0))
        groups[pattern] = (first_name, first_shape, count + 1)
    assert groups == expected
