"""A released voice read from its files, checked against the hashes recorded at release.

A registered voice version is an MLflow pyfunc directory. ``mlflow.pyfunc.load_model``
would unpickle its ``python_model.pkl``, and anyone who can write the registry's
artifact store could put code there; so synthesis never loads it that way. Instead:

1. :func:`fetch_release` downloads the version's directory once per machine;
2. :func:`open_release` reads the MLmodel file's artifact list (YAML) and ``voice.json``
   (JSON), and checks every artifact file (s1, s2G, reference clip, voice.json) against
   the sha256 recorded as a tag of the model version when it was registered
   (:func:`release_tags`; tags live in the registry's database, not next to the files);
3. the engine loads the checkpoints through our weights-only readers.

A version registered without hashes is refused (``unverified_voice``: release it
again); a file whose hash differs is refused (``tampered_voice``).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from voicemill.errors import RejectedInput
from voicemill.release.records import sha256_file
from voicemill.synthesis.types import InferencePreset

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from voicemill.synthesis import SynthesisEngine
    from voicemill.synthesis.engine import Voice

# The pyfunc artifacts a voice is made of (see voice_model.package_voice), and the tag
# that records each one's sha256 on the registered model version.
ARTIFACTS = ("s1", "s2G", "reference", "voice")
TAG_PREFIX = "sha256."


class VoiceFileError(RejectedInput):
    """Reasons: ``unverified_voice``, ``tampered_voice``, ``broken_voice``."""


class VoiceManifest(BaseModel):
    """``voice.json``: how the voice was packaged (prompt, presets, features)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    language: str
    prompt_text: str | None = None
    presets: dict[str, InferencePreset] = Field(min_length=1)
    default_use_case: str
    ssl_dir: str | None = None


@dataclass(frozen=True)
class ReleasedVoice:
    """A verified release: its files and manifest."""

    name: str
    version: str
    s1: Path
    s2G: Path
    reference: Path
    manifest: VoiceManifest


def release_tags(package: Path) -> dict[str, str]:
    """Tags to register with a packaged voice: the sha256 of each of its artifact files."""
    return {TAG_PREFIX + name: sha256_file(path) for name, path in _artifacts(package).items()}


def fetch_release(client: MlflowClient, name: str, version: str, root: Path) -> Path:
    """The registered version's pyfunc directory, downloaded once into ``root``."""
    target = root / name / version
    if (target / "MLmodel").is_file():
        return target
    source = client.get_model_version(name, version)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        downloaded = Path(client.download_artifacts(source.run_id, "voice", tmp))
        try:
            downloaded.rename(target)  # atomic: a concurrent fetch of the same version wins
        except OSError:
            if not (target / "MLmodel").is_file():
                shutil.rmtree(target, ignore_errors=True)
                downloaded.rename(target)
    return target


def open_release(client: MlflowClient, name: str, version: str, root: Path) -> ReleasedVoice:
    """Fetch a registered version and check its files against its release hashes."""
    package = fetch_release(client, name, version, root)
    tags = client.get_model_version(name, version).tags or {}
    files = _artifacts(package)
    for artifact, path in files.items():
        expected = tags.get(TAG_PREFIX + artifact)
        if expected is None:
            raise VoiceFileError(
                "unverified_voice",
                f"{name} version {version} was registered without the sha256 of its "
                f"{artifact!r} file; release it again (train_voice) to serve it",
            )
        if sha256_file(path) != expected:
            raise VoiceFileError(
                "tampered_voice",
                f"{name} version {version}: {path.name} is not the file that was released",
            )
    import json

    try:
        manifest = VoiceManifest.model_validate(json.loads(files["voice"].read_text("utf-8")))
    except ValueError as exc:
        raise VoiceFileError("broken_voice", f"{name} version {version}: {exc}") from exc
    return ReleasedVoice(name, version, files["s1"], files["s2G"], files["reference"], manifest)


def load_engine(
    release: ReleasedVoice, *, precision: str = "fp32", device: str = "cpu"
) -> tuple[SynthesisEngine, Voice]:
    """The engine for a verified release and its voice prepared from the released clip."""
    from voicemill.synthesis import SynthesisEngine

    manifest = release.manifest
    engine = SynthesisEngine.from_paths(
        release.s1, release.s2G, ssl=manifest.ssl_dir, precision=precision, device=device
    )
    voice = engine.prepare_voice(release.reference, manifest.prompt_text, manifest.language)
    return engine, voice


def _artifacts(package: Path) -> dict[str, Path]:
    """The artifact files the package's MLmodel lists, by name (YAML, never unpickled)."""
    import yaml

    try:
        mlmodel: dict[str, Any] = yaml.safe_load((package / "MLmodel").read_text("utf-8"))
        listed = mlmodel["flavors"]["python_function"]["artifacts"]
        files = {name: (package / listed[name]["path"]).resolve() for name in ARTIFACTS}
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise VoiceFileError("broken_voice", f"{package}: no readable voice artifacts") from exc
    for name, path in files.items():
        if not path.is_relative_to(package.resolve()) or not path.is_file():
            raise VoiceFileError("broken_voice", f"{package}: artifact {name!r} is missing")
    return files
