"""`voicemill checkpoint init` writes official-format files that `inspect` accepts unchanged."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result

from voicemill.commands.checkpoint import checkpoint
from voicemill.model.errors import CheckpointError
from voicemill.model.files import build_models, initial_file_names
from voicemill.model.gpt import read_checkpoint
from voicemill.model.sovits import (
    drop_enc_q,
    read_s2_discriminator,
    read_s2_generator,
    write_s2_generator,
)

SEED = 3


def _cli(*args: str | Path) -> Result:
    return CliRunner().invoke(checkpoint, [str(a) for a in args])


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("init")
    result = _cli("init", "--version", "v2", "--preset", "tiny", "--out", out, "--seed", SEED)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("part", ["s1", "s2G", "s2D"])
def test_inspect_reports_a_clean_match_for_each_initial_file(out: Path, part: str) -> None:
    result = _cli("inspect", out / initial_file_names("tiny")[part])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"part: {part}" in lines
    assert "version: v2" in lines
    assert "preset: tiny (matches)" in lines  # the tiny s2D is the narrow discriminator
    assert {"missing: 0", "unexpected: 0", "mis-shaped: 0", "dtypes: float16"} <= set(lines)


def test_initial_files_load_back_bit_exactly(out: Path) -> None:
    gpt, generator, discriminator = build_models("tiny", SEED)
    names = initial_file_names("tiny")
    stored = {
        "s1": read_checkpoint(out / names["s1"]).state_dict,
        "s2G": read_s2_generator(out / names["s2G"]).weight,
        "s2D": read_s2_discriminator(out / names["s2D"]),
    }
    expected = {
        "s1": gpt.state_dict(),
        "s2G": drop_enc_q(generator.state_dict()),
        "s2D": discriminator.state_dict(),
    }
    for part, state in expected.items():
        assert list(stored[part]) == list(state), part
        for name, tensor in state.items():
            assert torch.equal(stored[part][name], tensor.half()), f"{part} {name}"


def test_truncated_file_exits_2(out: Path, tmp_path: Path) -> None:
    data = (out / initial_file_names("tiny")["s2G"]).read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[: len(data) // 2])
    result = _cli("inspect", cut)
    assert result.exit_code == 2
    assert "error: truncated_checkpoint:" in result.output


def test_foreign_files_exit_2(tmp_path: Path) -> None:
    plain = tmp_path / "plain.pth"
    plain.write_bytes(pickle.dumps({"weight": {"a": 1}}) * 10)
    tensors = tmp_path / "other.pth"
    torch.save({"state": {"conv.weight": torch.zeros(2)}}, tensors)
    code = tmp_path / "code.pth"
    torch.save({"weight": {"x": torch.zeros(2)}, "hook": Path("x")}, code)  # a non-allowed class
    results = {p.name: _cli("inspect", p) for p in (plain, tensors, code)}
    assert {r.exit_code for r in results.values()} == {2}
    assert "error: not_a_checkpoint:" in results["plain.pth"].output
    assert "error: foreign_checkpoint:" in results["other.pth"].output
    assert "error: foreign_checkpoint:" in results["code.pth"].output


def test_pro_header_is_recognised_but_unsupported(out: Path, tmp_path: Path) -> None:
    data = (out / initial_file_names("tiny")["s2G"]).read_bytes()
    pro = tmp_path / "pro.pth"
    pro.write_bytes(b"05" + data[2:])
    result = _cli("inspect", pro)
    assert result.exit_code == 2
    assert "version: v2Pro" in result.output.splitlines()
    assert "error: unsupported_version:" in result.output


def test_missing_and_misshaped_tensors_are_listed(out: Path, tmp_path: Path) -> None:
    ckpt = read_s2_generator(out / initial_file_names("tiny")["s2G"])
    weight = dict(ckpt.weight)
    del weight["dec.ups.0.bias"]
    weight["dec.conv_pre.weight"] = torch.zeros(64, 16, 5)
    damaged = tmp_path / "damaged.pth"
    write_s2_generator(damaged, weight, ckpt.config, "x")
    result = _cli("inspect", damaged)
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert "preset: tiny (closest)" in lines
    assert lines[lines.index("missing: 1") + 1] == "  dec.ups.0.bias"
    assert "unexpected: 0" in lines
    i = lines.index("mis-shaped: 1")
    assert lines[i + 1] == "  dec.conv_pre.weight expected [64, 16, 7] found [64, 16, 5]"


def test_discriminator_reader_refuses_a_generator(out: Path) -> None:
    with pytest.raises(CheckpointError) as exc:
        read_s2_discriminator(out / initial_file_names("tiny")["s2G"])
    assert exc.value.reason == "foreign_checkpoint"
