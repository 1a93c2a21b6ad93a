"""Official s2 generator .pth files: read, write, and refuse what we cannot run."""

from __future__ import annotations

import sys
import types
import zipfile
from pathlib import Path

import pytest
import torch

from voicemill.model.sovits.checkpoint import (
    CheckpointError,
    HParams,
    load_s2_generator,
    read_s2_generator,
    write_s2_generator,
)
from voicemill.model.sovits.config import SoVITSConfig
from voicemill.model.sovits.synthesizer import SynthesizerTrn

CFG = SoVITSConfig.tiny()


@pytest.fixture(scope="module")
def state_dict() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return SynthesizerTrn(CFG).state_dict()


@pytest.fixture
def written(tmp_path: Path, state_dict: dict[str, torch.Tensor]) -> Path:
    path = tmp_path / "voice_e8_s100.pth"
    write_s2_generator(path, state_dict, CFG, "8epoch_100iteration")
    return path


@pytest.fixture
def upstream_utils(monkeypatch: pytest.MonkeyPatch) -> type:
    """A stand-in for upstream's ``utils`` module and its HParams class."""

    class UpstreamHParams:
        def __init__(self, **kwargs: object) -> None:
            for k, v in kwargs.items():
                setattr(self, k, UpstreamHParams(**v) if isinstance(v, dict) else v)

        def __getitem__(self, key: str) -> object:
            return getattr(self, key)

    UpstreamHParams.__module__, UpstreamHParams.__qualname__ = "utils", "HParams"
    module = types.ModuleType("utils")
    module.HParams = UpstreamHParams
    monkeypatch.setitem(sys.modules, "utils", module)
    return UpstreamHParams


def _archive(path: Path) -> dict[str, bytes]:
    """Every record of the zip except the per-save random serialization id."""
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if not n.endswith("serialization_id")}


def test_round_trip_is_bit_exact(
    written: Path, tmp_path: Path, state_dict: dict[str, torch.Tensor]
) -> None:
    ckpt = read_s2_generator(written)
    assert ckpt.info == "8epoch_100iteration"
    assert ckpt.config == CFG
    expected = {k: v.half() for k, v in state_dict.items() if not k.startswith("enc_q.")}
    assert ckpt.weight.keys() == expected.keys()
    assert all(torch.equal(ckpt.weight[k], v) for k, v in expected.items())
    again = tmp_path / "again.pth"
    write_s2_generator(again, ckpt.weight, ckpt.config, ckpt.info or "")
    assert _archive(again) == _archive(written)
    model = SynthesizerTrn(ckpt.config)
    missing, unexpected = model.load_state_dict(ckpt.weight, strict=False)
    assert unexpected == [] and missing and all(k.startswith("enc_q.") for k in missing)


def test_hparams_pickle_as_upstream_utils_class(written: Path, upstream_utils: type) -> None:
    with zipfile.ZipFile(written) as z:
        pkl = next(n for n in z.namelist() if n.endswith("data.pkl"))
        assert b"cutils\nHParams\n" in z.read(pkl)
    # What upstream sees: its own class, with attribute access into nested sections.
    loaded = torch.load(written, weights_only=False)
    assert type(loaded["config"]) is upstream_utils
    assert loaded["config"].data.hop_length == 640
    assert loaded["config"]["model"].upsample_rates == [10, 8, 8]


def test_reads_a_file_written_with_upstream_hparams(
    tmp_path: Path, upstream_utils: type, state_dict: dict[str, torch.Tensor]
) -> None:
    path = tmp_path / "upstream.pth"
    weight = {k: v.half() for k, v in state_dict.items() if not k.startswith("enc_q.")}
    raw = SoVITSConfig.v2().to_hparams()
    raw["data"]["max_wav_value"] = 32768.0
    raw["name"] = "voice"
    hps = upstream_utils(**raw)
    torch.save({"weight": weight, "config": hps, "info": "1epoch_9iteration"}, path)
    ckpt = read_s2_generator(path)
    assert ckpt.config == SoVITSConfig.v2()
    assert ckpt.hparams["train"]["c_mel"] == 45.0
    assert ckpt.config.to_hparams() == raw  # keys we do not model survive a rewrite


def test_hparams_has_attribute_dict_semantics() -> None:
    hps = HParams(data={"sampling_rate": 32000}, info="x")
    assert hps.data.sampling_rate == hps["data"]["sampling_rate"] == 32000
    assert "info" in hps and len(hps) == 2
    assert hps.to_dict() == {"data": {"sampling_rate": 32000}, "info": "x"}


def test_truncated_and_foreign_files_are_clear_errors(written: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.pth"
    cut.write_bytes(written.read_bytes()[: written.stat().st_size // 2])
    with pytest.raises(CheckpointError) as err:
        read_s2_generator(cut)
    assert err.value.reason == "truncated_checkpoint"

    text = tmp_path / "notes.pth"
    text.write_text("these are not weights, just some notes " * 4)
    with pytest.raises(CheckpointError) as err:
        read_s2_generator(text)
    assert err.value.reason == "not_a_checkpoint"

    other = tmp_path / "other.pth"
    torch.save({"state": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError) as err:
        read_s2_generator(other)
    assert err.value.reason == "foreign_checkpoint"


def test_newer_versions_are_refused_as_not_supported_yet(
    written: Path, tmp_path: Path, state_dict: dict[str, torch.Tensor]
) -> None:
    tagged = tmp_path / "pro_tagged.pth"
    tagged.write_bytes(b"05" + written.read_bytes()[2:])  # v2Pro header variant
    with pytest.raises(CheckpointError) as err:
        read_s2_generator(tagged)
    assert err.value.reason == "unsupported_version"
    assert "v2Pro" in err.value.detail and "not supported yet" in err.value.detail

    pro = dict(state_dict, **{"sv_emb.weight": torch.zeros(1024, 20480)})  # v2Pro-shaped
    plain = tmp_path / "pro_plain.pth"
    write_s2_generator(plain, pro, CFG, "0epoch_0iteration")
    with pytest.raises(CheckpointError, match="v2Pro s2 checkpoints are not supported yet"):
        read_s2_generator(plain)


def test_load_for_inference_folds_weight_norm_and_decodes(written: Path, tmp_path: Path) -> None:
    model = load_s2_generator(written)
    assert not model.training
    assert not any(k.endswith(("weight_g", "weight_v")) for k in model.state_dict())
    wav = model.decode(
        torch.zeros(1, 1, 3, dtype=torch.long),
        torch.zeros(1, 4, dtype=torch.long),
        torch.rand(1, 1025, 10),
        noise_scale=0.0,
    )
    assert wav.shape == (1, 1, 3 * 2 * 640) and bool(torch.isfinite(wav).all())

    ckpt = read_s2_generator(written)
    del ckpt.weight["dec.conv_pre.weight"]
    broken = tmp_path / "broken.pth"
    write_s2_generator(broken, ckpt.weight, ckpt.config, "x")
    with pytest.raises(CheckpointError) as err:
        load_s2_generator(broken)
    assert err.value.reason == "incompatible_weights" and "dec.conv_pre.weight" in err.value.detail
