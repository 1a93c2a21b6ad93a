"""What upstream's loaders need from an s2G file: complete s2.json sections, header tags.

Upstream's inference code reads ``hps.data.n_speakers`` from every generator file, and
its reader accepts a two-byte version tag (``00`` v1 … ``06`` v2ProPlus) in place of
the zip magic ``PK``. These tests pin both on our side; tests/parity runs upstream's
own loaders on our files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from voicemill.commands.checkpoint import checkpoint
from voicemill.model.errors import CheckpointError
from voicemill.model.files import detect
from voicemill.model.sovits.checkpoint import (
    HParams,
    atomic_save,
    load_s2_generator,
    read_s2_generator,
    write_s2_generator,
)
from voicemill.model.sovits.config import SoVITSConfig
from voicemill.model.sovits.synthesizer import SynthesizerTrn, drop_enc_q

CFG = SoVITSConfig.tiny()
# Every key of the official configs/s2.json "data" and "model" sections.
S2_JSON_DATA = {"max_wav_value", "sampling_rate", "filter_length", "hop_length", "win_length",
                "n_mel_channels", "mel_fmin", "mel_fmax", "add_blank", "n_speakers",
                "cleaned_text"}  # fmt: skip
S2_JSON_MODEL = {"inter_channels", "hidden_channels", "filter_channels", "n_heads", "n_layers",
                 "kernel_size", "p_dropout", "resblock", "resblock_kernel_sizes",
                 "resblock_dilation_sizes", "upsample_rates", "upsample_initial_channel",
                 "upsample_kernel_sizes", "n_layers_q", "use_spectral_norm", "gin_channels",
                 "semantic_frame_rate", "freeze_quantizer"}  # fmt: skip


@pytest.fixture(scope="module")
def model() -> SynthesizerTrn:
    torch.manual_seed(0)
    model = SynthesizerTrn(CFG)
    codebook = model.quantizer.vq.layers[0]._codebook
    codebook.embed.normal_()  # codes and decoded frames then depend on it
    codebook.inited.fill_(1.0)
    return model


@pytest.fixture
def written(tmp_path: Path, model: SynthesizerTrn) -> Path:
    path = tmp_path / "voice.pth"
    write_s2_generator(path, model.state_dict(), CFG, "3epoch_30iteration")
    return path


def _tagged(path: Path, tag: bytes, out: Path) -> Path:
    out.write_bytes(tag + path.read_bytes()[2:])
    return out


@pytest.mark.parametrize("config", [SoVITSConfig.v2(), SoVITSConfig.tiny()])
def test_hparams_carry_the_whole_s2_json_data_and_model_sections(config: SoVITSConfig) -> None:
    hps = config.to_hparams()
    assert hps["data"].keys() >= S2_JSON_DATA and hps["model"].keys() >= S2_JSON_MODEL
    assert hps["data"]["n_speakers"] == 300 and hps["data"]["max_wav_value"] == 32768.0
    assert hps["data"]["add_blank"] is True and hps["model"]["use_spectral_norm"] is False
    assert hps["model"]["version"] == "v2"
    assert SoVITSConfig.from_hparams(hps) == config


def test_written_file_has_n_speakers_and_keeps_a_files_own_values(
    written: Path, tmp_path: Path, model: SynthesizerTrn
) -> None:
    ckpt = read_s2_generator(written)
    assert ckpt.hparams["data"]["n_speakers"] == 300

    # A file of ours from before this field existed: rewriting it adds the field.
    old = CFG.to_hparams()
    del old["data"]["n_speakers"]
    legacy = tmp_path / "legacy.pth"
    weight = {k: v.half() for k, v in drop_enc_q(model.state_dict()).items()}
    atomic_save({"weight": weight, "config": HParams(**old), "info": "x"}, legacy)
    ckpt = read_s2_generator(legacy)
    assert "n_speakers" not in ckpt.hparams["data"]
    assert ckpt.config.to_hparams()["data"]["n_speakers"] == 300

    # A value the file states wins over the default.
    custom = CFG.to_hparams()
    custom["data"]["n_speakers"] = 5
    assert SoVITSConfig.from_hparams(custom).to_hparams()["data"]["n_speakers"] == 5


def test_v2_tagged_file_loads_and_decodes_like_the_plain_one(written: Path, tmp_path: Path) -> None:
    tagged = _tagged(written, b"01", tmp_path / "tagged.pth")
    plain_ckpt, tagged_ckpt = read_s2_generator(written), read_s2_generator(tagged)
    assert tagged_ckpt.config == plain_ckpt.config and tagged_ckpt.info == plain_ckpt.info
    assert all(torch.equal(tagged_ckpt.weight[k], v) for k, v in plain_ckpt.weight.items())

    g = torch.Generator().manual_seed(5)
    ssl = torch.randn(1, CFG.ssl_dim, 16, generator=g)
    phones = torch.randint(0, CFG.n_symbols, (1, 9), generator=g)
    refer = torch.rand(1, CFG.spec_channels, 30, generator=g)
    outputs = []
    for path in (written, tagged):
        net = load_s2_generator(path)
        codes = net.extract_latent(ssl)
        wav = net.decode(codes, phones, refer, generator=torch.Generator().manual_seed(1))
        outputs.append((codes, wav))
    assert torch.equal(outputs[0][0], outputs[1][0])
    assert torch.equal(outputs[0][1], outputs[1][1])


@pytest.mark.parametrize(
    ("tag", "version"),
    [(b"02", "v3"), (b"03", "v3"), (b"04", "v4"), (b"05", "v2Pro"), (b"06", "v2ProPlus")],
)
def test_newer_tags_are_recognised_and_refused(
    written: Path, tmp_path: Path, tag: bytes, version: str
) -> None:
    tagged = _tagged(written, tag, tmp_path / "tagged.pth")
    assert detect(tagged).version == version
    with pytest.raises(CheckpointError) as err:
        read_s2_generator(tagged)
    assert err.value.reason == "unsupported_version" and version in err.value.detail


def test_v1_tag_on_v1_weights_is_refused(tmp_path: Path, model: SynthesizerTrn) -> None:
    weight = drop_enc_q(model.state_dict())
    weight["enc_p.text_embedding.weight"] = torch.zeros(322, CFG.hidden_channels)  # v1 symbols
    plain = tmp_path / "v1.pth"
    write_s2_generator(plain, weight, CFG, "x")
    tagged = _tagged(plain, b"00", tmp_path / "v1_tagged.pth")
    assert detect(tagged).version == "v1"
    with pytest.raises(CheckpointError) as err:
        read_s2_generator(tagged)
    assert err.value.reason == "unsupported_version" and "v1" in err.value.detail


def test_v1_and_v2_tags_defer_to_the_weights_like_upstream(written: Path, tmp_path: Path) -> None:
    """Upstream rebuilds a 00/01-tagged model from its text embedding; so do we."""
    v2_weights_v1_tag = _tagged(written, b"00", tmp_path / "odd.pth")
    assert detect(v2_weights_v1_tag).version == "v2"
    assert read_s2_generator(v2_weights_v1_tag).config == CFG


@pytest.mark.parametrize("tag", [b"07", b"PX", b"\x00\x00"])
def test_unknown_tags_are_not_checkpoints(written: Path, tmp_path: Path, tag: bytes) -> None:
    with pytest.raises(CheckpointError) as err:
        read_s2_generator(_tagged(written, tag, tmp_path / "odd.pth"))
    assert err.value.reason == "not_a_checkpoint"


def test_inspect_accepts_a_v2_tagged_file_and_names_refused_tags(
    written: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    tagged = _tagged(written, b"01", tmp_path / "tagged.pth")
    result = runner.invoke(checkpoint, ["inspect", str(tagged)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert {"part: s2G", "version: v2", "preset: tiny (matches)"} <= set(lines)

    v3 = _tagged(written, b"02", tmp_path / "v3.pth")
    result = runner.invoke(checkpoint, ["inspect", str(v3)])
    assert result.exit_code == 2
    assert "version: v3" in result.output.splitlines()
    assert "error: unsupported_version:" in result.output
