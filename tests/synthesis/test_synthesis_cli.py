"""``voicemill synth`` end to end on tiny random checkpoints and the bundled SSL encoder."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf
from click.testing import CliRunner

from voicemill.commands.synth import synth
from voicemill.model.gpt import save_checkpoint
from voicemill.model.sovits import write_s2_generator

WHISPER_DIM = 384  # the offline default SSL extractor (Whisper tiny.en encoder)


@pytest.fixture
def files(tmp_path: Path, make_models, make_clip) -> list[str]:
    """Common arguments: tiny s1/s2 checkpoints (s2 sized for Whisper) and a 4 s reference."""
    gpt, sovits = make_models(ssl_dim=WHISPER_DIM, prepare=False)
    s1, s2, ref = tmp_path / "tiny.ckpt", tmp_path / "tiny.pth", tmp_path / "ref.wav"
    save_checkpoint(gpt, s1, info="GPT-e1")
    write_s2_generator(s2, sovits.state_dict(), sovits.cfg, "0epoch_0iteration")
    sf.write(ref, make_clip(4.0), 24000, subtype="PCM_16")
    return ["--s1", str(s1), "--s2", str(s2), "--ref", str(ref), "--max-new-tokens", "20"]


def test_synth_writes_a_32k_wav(files: list[str], tmp_path: Path) -> None:
    out = tmp_path / "out" / "speech.wav"
    args = [*files, "--prompt-text", "Hello there, this is me.", "--text",
            "Hello world. 你好，世界。", "--out", str(out), "--seed", "3"]  # fmt: skip
    result = CliRunner().invoke(synth, args)
    assert result.exit_code == 0, result.output
    audio, rate = sf.read(out)
    assert rate == 32000
    assert audio.shape == (2 * 20 * 2 * 640 + round(0.3 * 32000),)  # 2 segments x 20 tokens
    assert "seed 3" in result.output


def test_synth_reports_a_bad_reference(files: list[str], tmp_path: Path, make_clip) -> None:
    short = tmp_path / "short.wav"
    sf.write(short, make_clip(2.0), 24000, subtype="PCM_16")
    args = [*files, "--ref", str(short), "--text", "Hello.", "--out", str(tmp_path / "x.wav")]
    result = CliRunner().invoke(synth, args)
    assert result.exit_code != 0
    assert "reference_too_short" in result.output
    assert not (tmp_path / "x.wav").exists()
