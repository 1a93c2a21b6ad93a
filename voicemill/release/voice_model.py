"""A trained voice as an MLflow pyfunc model: checkpoints in, speech out.

The packaged model holds everything needed to speak with the voice, as artifacts: the
s1/s2G checkpoints, the reference clip and its transcript, the lexicon, the frozen
presets per use case and the training config. ``mlflow.pyfunc.load_model`` on a
registered version (``models:/<name>@champion``) therefore synthesizes exactly what the
release gate measured. Input: a DataFrame with ``text`` (and optionally ``language``);
``params`` pick the use case preset and may override its seed. Output: one row per
input with a base64 WAV (16-bit, 32 kHz), its duration and the seed used.

mlflow is imported here at module level because the model class must subclass
``PythonModel``; import this module only inside asset bodies and commands.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from voicemill.synthesis.types import InferencePreset

SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "text"), ColSpec("string", "language", required=False)]),
    outputs=Schema(
        [
            ColSpec("string", "audio_wav_base64"),
            ColSpec("double", "duration_s"),
            ColSpec("long", "sample_rate"),
            ColSpec("long", "seed"),
        ]
    ),
    params=ParamSchema([ParamSpec("use_case", "string", ""), ParamSpec("seed", "long", -1)]),
)


class VoiceModel(mlflow.pyfunc.PythonModel):
    """Loads the engine once per process; each predict call synthesizes every row."""

    def load_context(self, context: Any) -> None:
        from voicemill.synthesis import SynthesisEngine
        from voicemill.text.lexicon import load_lexicon

        artifacts = context.artifacts
        manifest = json.loads(Path(artifacts["voice"]).read_text(encoding="utf-8"))
        lexicon = load_lexicon(artifacts["lexicon"]) if "lexicon" in artifacts else None
        self.engine = SynthesisEngine.from_paths(
            artifacts["s1"],
            artifacts["s2G"],
            ssl=manifest.get("ssl_dir"),
            lexicon=lexicon,
            precision=manifest.get("precision", "fp32"),
        )
        self.voice = self.engine.prepare_voice(
            Path(artifacts["reference"]), manifest.get("prompt_text"), manifest["language"]
        )
        self.presets = {
            name: InferencePreset.model_validate(p) for name, p in manifest["presets"].items()
        }
        self.default_use_case = manifest["default_use_case"]
        self.language = manifest["language"]

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        import soundfile as sf

        params = params or {}
        use_case = params.get("use_case") or self.default_use_case
        if use_case not in self.presets:
            raise ValueError(
                f"unknown use case {use_case!r}; this voice has {sorted(self.presets)}"
            )
        preset = self.presets[use_case]
        if int(params.get("seed", -1)) >= 0:
            preset = preset.model_copy(update={"seed": int(params["seed"])})
        rows = []
        languages = model_input.get("language")
        for i, text in enumerate(model_input["text"]):
            language = languages.iloc[i] if languages is not None else None
            result = self.engine.synthesize(
                str(text), self.voice, preset, language if isinstance(language, str) else "auto"
            )
            buffer = io.BytesIO()
            sf.write(buffer, result.audio, result.sample_rate, format="WAV", subtype="PCM_16")
            rows.append(
                {
                    "audio_wav_base64": base64.b64encode(buffer.getvalue()).decode("ascii"),
                    "duration_s": result.duration_s,
                    "sample_rate": result.sample_rate,
                    "seed": result.seed,
                }
            )
        return pd.DataFrame(rows)


def package_voice(
    out_dir: Path,
    *,
    s1: Path,
    s2g: Path,
    reference: Path,
    prompt_text: str | None,
    language: str,
    presets: dict[str, InferencePreset],
    default_use_case: str,
    lexicon: Path | None = None,
    training_config: dict[str, Any] | None = None,
    ssl_dir: Path | None = None,
) -> Path:
    """Write the pyfunc model directory (``MLmodel`` + artifacts) to ``out_dir``.

    The directory is what gets logged to a run and registered; it is self-contained.
    """
    if default_use_case not in presets:
        raise ValueError(f"default use case {default_use_case!r} is not among {sorted(presets)}")
    staging = out_dir.parent / f".{out_dir.name}.inputs"
    staging.mkdir(parents=True, exist_ok=True)
    manifest = {
        "language": language,
        "prompt_text": prompt_text,
        "presets": {k: v.model_dump(mode="json") for k, v in presets.items()},
        "default_use_case": default_use_case,
        "ssl_dir": str(ssl_dir) if ssl_dir else None,
        "training_config": training_config or {},
    }
    voice_file = staging / "voice.json"
    voice_file.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    artifacts = {
        "s1": str(s1),
        "s2G": str(s2g),
        "reference": str(reference),
        "voice": str(voice_file),
    }
    if lexicon is not None:
        artifacts["lexicon"] = str(lexicon)
    mlflow.pyfunc.save_model(
        path=str(out_dir),
        python_model=VoiceModel(),
        artifacts=artifacts,
        signature=SIGNATURE,
        pip_requirements=["voicemill"],  # the platform's own package; no inference pass
    )
    return out_dir
