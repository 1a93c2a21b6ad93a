"""A released voice without training: a randomly initialized ``tiny`` model, registered.

Benchmarks and tests of what happens *after* release (campaign delivery, serving) need a
champion voice and its speaker profile, not a good one; training one would only cost
minutes. This packages the tiny initial checkpoints with an espeak-ng reference clip
exactly as ``voice_release`` packages a trained voice, registers the version, promotes
it to ``champion`` and saves the profile, all through the real registry and database.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from voicemill.synthesis.types import InferencePreset

if TYPE_CHECKING:
    from voicemill.model.files import Preset

REFERENCE_TEXT = "The birch canoe slid on the smooth planks of the old dock."


def register_tiny_voice(
    root: Path,
    profile_id: str,
    presets: dict[str, InferencePreset],
    *,
    seed: int = 0,
    size: Preset = "tiny",
) -> str:
    """Register a random voice as ``voice-<profile_id>``'s champion; returns the version.

    ``presets`` become the profile's frozen presets (cap ``max_new_tokens``: a random
    GPT rarely stops on its own). ``size`` ``v2`` gives the full-size official
    structure (for benchmarks), with a random CN-HuBERT-base structure as its SSL
    extractor (the v2 s2 model reads 768-d features; the bundled Whisper gives 384).
    Needs espeak-ng for the reference clip.
    """
    import soundfile as sf

    from voicemill.corpus.espeak import EspeakVoice, synthesize
    from voicemill.db.catalog import connect
    from voicemill.model.files import write_initial
    from voicemill.orchestration.resources import MlflowResource
    from voicemill.release.profiles import SpeakerProfile, save_profile
    from voicemill.release.records import sha256_file
    from voicemill.release.registry import promote, register_voice
    from voicemill.release.voice_files import release_tags
    from voicemill.release.voice_model import package_voice

    files = write_initial(root / "initial", size, seed=seed)
    reference = root / "reference.wav"
    audio, rate = synthesize(REFERENCE_TEXT, EspeakVoice("en", "en-us", "m3"))
    sf.write(reference, audio, rate)
    default_use_case = next(iter(presets))
    package = package_voice(
        root / "package",
        s1=files["s1"],
        s2g=files["s2G"],
        reference=reference,
        prompt_text=REFERENCE_TEXT,
        language="en",
        presets=presets,
        default_use_case=default_use_case,
        ssl_dir=_random_hubert(root / "hubert", seed) if size == "v2" else None,
    )
    name = f"voice-{profile_id}"
    mlflow = MlflowResource()
    with mlflow.tracker(f"voices/{profile_id}").run("tiny-random") as run:
        run.log_dir(package, "voice")
        source, run_id = f"{run.artifact_uri}/voice", run.run_id
    client = mlflow.client()
    with connect() as conn:
        version = register_voice(
            client,
            conn,
            name=name,
            source=source,
            run_id=run_id,
            actor="tiny_voice",
            tags=release_tags(package),
        ).version
        promote(client, conn, name=name, version=version, actor="tiny_voice", reason="fixture")
        save_profile(
            conn,
            SpeakerProfile(
                profile_id=profile_id,
                speaker=profile_id,
                language="en",
                reference_sha256=sha256_file(reference),
                reference_uri=reference.as_uri(),
                prompt_text=REFERENCE_TEXT,
                model_name=name,
                presets=presets,
            ),
        )
    return version


def _random_hubert(folder: Path, seed: int) -> Path:
    """chinese-hubert-base's structure (768-d, 12 layers) with random weights."""
    import torch
    import transformers

    torch.manual_seed(seed)
    transformers.HubertModel(transformers.HubertConfig()).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(folder)
    return folder
