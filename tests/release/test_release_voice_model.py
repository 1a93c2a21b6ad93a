"""A voice packaged as an MLflow pyfunc model loads and speaks with its frozen presets."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from voicemill.corpus.espeak import EspeakVoice, synthesize
from voicemill.model.files import write_initial
from voicemill.release.profiles import DEFAULT_USE_CASE_PRESETS

REFERENCE_TEXT = (
    "The birch canoe slid on the smooth planks, glue the sheet to the dark blue background."
)


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from voicemill.release.voice_model import package_voice

    root = tmp_path_factory.mktemp("voice")
    files = write_initial(root / "ckpt", "tiny", seed=0)
    audio, rate = synthesize(REFERENCE_TEXT, EspeakVoice("en", "en-us", "m3"))
    reference = root / "reference.wav"
    sf.write(reference, audio, rate)
    return package_voice(
        root / "model",
        s1=files["s1"],
        s2g=files["s2G"],
        reference=reference,
        prompt_text=REFERENCE_TEXT,
        language="en",
        presets=DEFAULT_USE_CASE_PRESETS,
        default_use_case="ivr",
        training_config={"seed": 0},
    )


def _audio(frame: pd.DataFrame, row: int = 0) -> tuple[np.ndarray, int]:
    raw = base64.b64decode(frame["audio_wav_base64"].iloc[row])
    return sf.read(io.BytesIO(raw), dtype="float32")


def test_packaged_voice_loads_and_speaks(packaged: Path) -> None:
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(str(packaged))
    frame = model.predict(pd.DataFrame({"text": ["Hello there.", "Your order has shipped."]}))
    assert list(frame.columns) == ["audio_wav_base64", "duration_s", "sample_rate", "seed"]
    for row in range(2):
        audio, rate = _audio(frame, row)
        assert rate == 32_000 and audio.size > 0
        assert frame["duration_s"].iloc[row] == pytest.approx(audio.size / rate, abs=1e-3)
    assert (frame["seed"] == DEFAULT_USE_CASE_PRESETS["ivr"].seed).all()
    # the frozen preset's seed makes the output repeatable
    again = model.predict(pd.DataFrame({"text": ["Hello there."]}))
    np.testing.assert_array_equal(_audio(again)[0], _audio(frame)[0])


def test_use_case_and_seed_come_from_params(packaged: Path) -> None:
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(str(packaged))
    frame = model.predict(
        pd.DataFrame({"text": ["Hello there."]}), params={"use_case": "audiobook", "seed": 5}
    )
    assert frame["seed"].iloc[0] == 5
    with pytest.raises(ValueError, match="unknown use case 'podcast'"):
        model.predict(pd.DataFrame({"text": ["Hello."]}), params={"use_case": "podcast"})
