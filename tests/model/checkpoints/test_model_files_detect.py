"""`detect` names part and version; resume files round-trip; v2 layouts match official tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from voicemill.model.errors import CheckpointError
from voicemill.model.files import ModelFile, detect, read_resume, write_resume
from voicemill.model.layout import compare_to_layout, expected_layout, fit_preset
from voicemill.model.sovits import MultiPeriodDiscriminator, SoVITSConfig, SynthesizerTrn

DATA = Path(__file__).resolve().parents[2] / "data" / "gpt_sovits"


def _table(name: str, prefix: str = "") -> dict[str, tuple[int, ...]]:
    rows = [line.split("\t") for line in (DATA / name).read_text().splitlines()]
    return {n.removeprefix(prefix): tuple(int(d) for d in re.findall(r"\d+", s)) for n, s in rows}


def _z(*shape: int) -> torch.Tensor:
    return torch.zeros(shape)


S2G = {"enc_p.ssl_proj.bias": _z(2), "dec.conv_pre.weight": _z(512, 1, 1)}
PLUS = {**S2G, "sv_emb.weight": _z(2), "dec.conv_pre.weight": _z(768)}
CASES = [
    ({"weight": {"model.ar_text_embedding.word_embeddings.weight": _z(512, 2)}}, "s1", "v1"),
    ({"weight": {"model.ar_text_embedding.word_embeddings.weight": _z(732, 2)}}, "s1", "v2"),
    ({"weight": {**S2G, "enc_p.text_embedding.weight": _z(322, 2)}}, "s2G", "v1"),
    ({"weight": {**S2G, "sv_emb.weight": _z(2, 2)}}, "s2G", "v2Pro"),
    ({"weight": PLUS}, "s2G", "v2ProPlus"),
    ({"weight": {**S2G, "cfm.proj.weight": _z(2)}}, "s2G", "v3"),
    ({"weight": {f"discriminators.{i}.conv_post.bias": _z(1) for i in range(8)}}, "s2D", "v2Pro"),
    ({"model": {"enc_p.x": _z(1)}, "iteration": 3, "optimizer": {}, "learning_rate": 1e-4},
     "resume_G", "unknown"),
]  # fmt: skip


@pytest.mark.parametrize(("obj", "part", "version"), CASES)
def test_detect_reads_part_and_version_from_keys_and_shapes(
    tmp_path: Path, obj: dict, part: str, version: str
) -> None:
    torch.save(obj, tmp_path / "f.pth")
    found = detect(tmp_path / "f.pth")
    assert (found.part, found.version) == (part, version)


def test_header_bytes_override_shapes(tmp_path: Path) -> None:
    torch.save({"weight": {**S2G, "enc_p.text_embedding.weight": _z(732, 2)}}, tmp_path / "f")
    data = (tmp_path / "f").read_bytes()
    (tmp_path / "f").write_bytes(b"04" + data[2:])
    assert detect(tmp_path / "f").version == "v4"


def test_unrelated_state_dict_is_foreign(tmp_path: Path) -> None:
    torch.save({"weight": {"encoder.weight": _z(2)}}, tmp_path / "f.pth")
    with pytest.raises(CheckpointError) as exc:
        detect(tmp_path / "f.pth")
    assert exc.value.reason == "foreign_checkpoint"


def test_resume_files_round_trip_and_fit_their_layout(tmp_path: Path) -> None:
    torch.manual_seed(0)
    generator, discriminator = SynthesizerTrn(SoVITSConfig.tiny()), MultiPeriodDiscriminator()
    opt_g = torch.optim.AdamW(generator.parameters(), lr=1e-4)
    sum(p.sum() for p in generator.parameters()).backward()
    opt_g.step()  # populates exp_avg / exp_avg_sq
    opt_d = torch.optim.AdamW(discriminator.parameters(), lr=1e-4)
    write_resume(tmp_path / "G_8.pth", generator, opt_g, iteration=8, learning_rate=1e-4)
    write_resume(tmp_path / "D_8.pth", discriminator, opt_d, iteration=8, learning_rate=1e-4)

    back = read_resume(tmp_path / "G_8.pth")
    assert (back.iteration, back.learning_rate) == (8, 1e-4)
    state = generator.state_dict()
    assert list(back.model) == list(state)
    assert all(torch.equal(back.model[k], v) for k, v in state.items())
    restored = torch.optim.AdamW(generator.parameters(), lr=1e-4)
    restored.load_state_dict(back.optimizer)
    first = next(iter(opt_g.state.values()))
    assert torch.equal(restored.state_dict()["state"][0]["exp_avg"], first["exp_avg"])

    for name, part, preset in (("G_8.pth", "resume_G", "tiny"), ("D_8.pth", "resume_D", "v2")):
        found = detect(tmp_path / name)
        assert (found.part, found.version, found.info) == (part, "v2", "8")
        fit, diff = fit_preset(found)
        assert (fit, diff.matches) == (preset, True)  # resume G keeps enc_q
        assert found.dtypes == ["float32"]


def test_v2_layouts_equal_the_official_tables() -> None:
    s2g = _table("s2G_v2_state_dict.tsv")
    assert expected_layout("s2G", "v2") == s2g
    assert expected_layout("s1", "v2") == _table("s1_v2_state_dict.tsv", prefix="model.")
    s2d = expected_layout("s2D", "v2")
    assert sum(torch.Size(s).numel() for s in s2d.values()) == 46_747_132
    # an official-size export (no enc_q) on meta fits the v2 preset exactly
    meta = {k: torch.empty(s, device="meta") for k, s in s2g.items() if not k.startswith("enc_q.")}
    preset, diff = fit_preset(ModelFile(Path("x"), "s2G", "v2", meta, None))
    assert (preset, diff.matches) == ("v2", True)
    del meta["flow.flows.0.pre.bias"]
    diff = compare_to_layout(meta, s2g)
    assert "flow.flows.0.pre.bias" in diff.missing
    assert len(diff.missing) == 1 + sum(k.startswith("enc_q.") for k in s2g)
