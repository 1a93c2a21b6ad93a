"""The voice a campaign speaks with: profile → preset → champion model version → engine.

A campaign names a speaker profile and a use case. When its partition first starts, the
profile's latest version, that use case's frozen preset and the model's ``champion``
version are pinned (see ``audit.pin_voice``), so every recipient of the campaign hears
the same voice even if a new champion is crowned mid-way. The registered model version
is fetched from MLflow once per machine (``voices/<name>/<version>``) and loaded as the
pyfunc voice it was released as: the same checkpoints and reference the gate measured.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicemill.campaign.errors import CampaignError
from voicemill.errors import RejectedInput
from voicemill.synthesis.types import InferencePreset

if TYPE_CHECKING:
    import psycopg
    from mlflow import MlflowClient

    from voicemill.release.profiles import StoredProfile
    from voicemill.release.voice_model import VoiceModel


@dataclass(frozen=True)
class ChosenVoice:
    """What a campaign would pin if it started now."""

    profile: StoredProfile
    use_case: str
    preset: InferencePreset
    model_name: str
    model_version: str


def choose_voice(
    conn: psycopg.Connection, client: MlflowClient, profile_id: str, use_case: str
) -> ChosenVoice:
    """The profile's latest version, its preset for ``use_case`` and its model's champion.

    Raises :class:`CampaignError` ``unknown_voice_profile``, ``unknown_use_case`` or
    ``no_champion`` with what to do about it.
    """
    from voicemill.release.profiles import get_profile
    from voicemill.release.registry import CHAMPION, alias_version

    try:
        profile = get_profile(conn, profile_id)
        preset = profile.preset(use_case)
    except RejectedInput as exc:
        reason = "unknown_voice_profile" if exc.reason == "unknown_profile" else exc.reason
        raise CampaignError(reason, exc.detail) from exc
    if not profile.model_name:
        raise CampaignError(
            "no_champion", f"speaker profile {profile_id!r} names no registered voice model"
        )
    version = alias_version(client, profile.model_name, CHAMPION)  # None if unregistered
    if version is None:
        raise CampaignError(
            "no_champion",
            f"voice {profile.model_name!r} has no champion: release one (train_voice) or "
            f"promote a version (voicemill models promote {profile.model_name} VERSION)",
        )
    return ChosenVoice(profile, use_case, preset, profile.model_name, version)


def fetch_voice(client: MlflowClient, name: str, version: str, root: Path) -> Path:
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


@lru_cache(maxsize=2)
def load_voice(package: Path) -> VoiceModel:
    """The pyfunc voice with its engine loaded and its reference prepared: once per
    process, so the shards of a campaign that run in one process share it."""
    import mlflow.pyfunc

    model: Any = mlflow.pyfunc.load_model(str(package))
    return model.unwrap_python_model()
