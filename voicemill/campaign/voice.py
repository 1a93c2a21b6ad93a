"""The voice a campaign speaks with: profile → preset → champion model version → engine.

A campaign names a speaker profile and a use case. When its partition first starts, the
profile's latest version, that use case's frozen preset and the model's ``champion``
version are pinned (see ``audit.pin_voice``), so every recipient of the campaign hears
the same voice even if a new champion is crowned mid-way. The registered model version
is fetched from MLflow once per machine (``voices/<name>/<version>``), its files checked
against the hashes recorded at release, and loaded from those files (never by
unpickling the pyfunc model; see :mod:`voicemill.release.voice_files`): the same
checkpoints and reference the gate measured.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voicemill.campaign.errors import CampaignError
from voicemill.errors import RejectedInput
from voicemill.synthesis.types import InferencePreset

if TYPE_CHECKING:
    import psycopg
    from mlflow import MlflowClient

    from voicemill.release.profiles import StoredProfile
    from voicemill.release.voice_files import ReleasedVoice
    from voicemill.synthesis import SynthesisEngine
    from voicemill.synthesis.engine import Voice


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


_LOADED: dict[tuple[str, str, str], tuple[SynthesisEngine, Voice]] = {}
_LOADING = threading.Lock()  # `voicemill worker --concurrency N` runs steps on threads


def load_voice(release: ReleasedVoice) -> tuple[SynthesisEngine, Voice]:
    """The engine and prepared voice of a verified release: once per process, so the
    shards of a campaign that run in one process share them (two kept at most)."""
    key = (release.name, release.version, str(release.s1))
    with _LOADING:
        if key not in _LOADED:
            while len(_LOADED) >= 2:
                _LOADED.pop(next(iter(_LOADED)))
            _LOADED[key] = _load(release)
        return _LOADED[key]


def _load(release: ReleasedVoice) -> tuple[SynthesisEngine, Voice]:
    """Load on the configured device and threads (``VOICEMILL_CAMPAIGN_DEVICE``/``_THREADS``)."""
    import torch

    from voicemill.release.voice_files import load_engine
    from voicemill.settings import get_settings

    settings = get_settings()
    if settings.campaign_threads:  # a machine shared with the serving workers
        torch.set_num_threads(settings.campaign_threads)
    device = settings.campaign_device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return load_engine(release, device=device)
