"""PNG plots of per-prompt scores and loss curves, and the package's import hygiene."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from voicemill.evaluation import (
    EvaluationError,
    UtteranceScores,
    plot_loss_curve,
    plot_prompt_scores,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path) -> bool:
    data = path.read_bytes()
    return data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR" and data[-8:-4] == b"IEND"


def test_prompt_scores_plot_is_a_png(tmp_path: Path) -> None:
    scores = [
        UtteranceScores(
            prompt_id=f"prompt_{idx}",
            text="t",
            language="en",
            cer=0.1 * idx,
            similarity=None if idx == 2 else 0.8,
            audio_duration_s=1.0,
        )
        for idx in range(5)
    ]
    out = plot_prompt_scores(scores, "cer", tmp_path / "plots" / "cer.png", title="CER")
    assert out == tmp_path / "plots" / "cer.png"
    assert _is_png(out)
    assert _is_png(plot_prompt_scores(scores, "similarity", tmp_path / "sim.png"))
    with pytest.raises(EvaluationError):
        plot_prompt_scores([], "cer", tmp_path / "none.png")


def test_loss_curve_plot_is_a_png(tmp_path: Path) -> None:
    steps = list(range(0, 200, 10))
    curves = {
        "train": (steps, [1.0 / (1 + s / 50) for s in steps]),
        "val": (steps[::4], [1.1 / (1 + s / 60) for s in steps[::4]]),
    }
    out = plot_loss_curve(curves, tmp_path / "loss.png", title="GPT loss", log_y=True)
    assert _is_png(out) and out.stat().st_size > 1000
    with pytest.raises(EvaluationError):
        plot_loss_curve({"train": ([0, 1], [1.0])}, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_importing_the_package_loads_no_heavy_library() -> None:
    heavy = ["torch", "faster_whisper", "resemblyzer", "speechmos", "matplotlib", "onnxruntime"]
    code = (
        "import sys, voicemill.evaluation\n"
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == ""
