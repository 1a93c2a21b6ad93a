"""``GET /v1/voices`` and ``/v1/voices/{name}``: the released voices a key may use.

A voice is a speaker profile (its latest version) with the model that speaks it: the
model's versions and their aliases (``champion``, ``challenger``...), its quality
scores and its frozen use-case presets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool

from voicemill.api.deps import State, synthesize_key
from voicemill.api.errors import ApiError
from voicemill.api.keys import ApiKey
from voicemill.api.schemas import PROFILE_ID, ModelVersionInfo, VoiceInfo, VoiceList
from voicemill.api.state import ServiceState

router = APIRouter(prefix="/v1/voices", tags=["voices"])


def _info(state: ServiceState, profile) -> VoiceInfo:  # profile: StoredProfile
    from voicemill.release.registry import RegistryError, list_versions

    versions: list[ModelVersionInfo] = []
    champion = None
    if profile.model_name:
        try:
            found = list_versions(state.catalog.client, profile.model_name)
        except RegistryError:
            found = []
        for v in found:
            created = datetime.fromtimestamp(v.created_ms / 1000, UTC) if v.created_ms else None
            versions.append(
                ModelVersionInfo(version=v.version, aliases=list(v.aliases), created_at=created)
            )
            if "champion" in v.aliases:
                champion = v.version
    return VoiceInfo(
        name=profile.profile_id,
        speaker=profile.speaker,
        language=profile.language,
        profile_version=profile.version,
        model=profile.model_name,
        champion_version=champion,
        versions=versions,
        quality_scores=dict(profile.quality_scores),
        presets=dict(profile.presets),
    )


def _list(state: ServiceState, key: ApiKey) -> VoiceList:
    from voicemill.release.profiles import list_profiles

    with state.connect() as conn:
        profiles = [
            p for p in list_profiles(conn) if p.model_name and key.allows_voice(p.profile_id)
        ]
    return VoiceList(voices=[_info(state, p) for p in profiles])


def _one(state: ServiceState, key: ApiKey, name: str) -> VoiceInfo:
    from voicemill.errors import RejectedInput
    from voicemill.release.profiles import get_profile

    if not key.allows_voice(name):
        raise ApiError("voice_not_allowed", f"key {key.name!r} may not use voice {name!r}")
    try:
        with state.connect() as conn:
            profile = get_profile(conn, name)
    except RejectedInput as exc:
        raise ApiError("unknown_voice", f"no voice profile {name!r}") from exc
    return _info(state, profile)


@router.get("", response_model=VoiceList, summary="Released voices this key may use.")
async def list_voices(state: State, key: Annotated[ApiKey, Depends(synthesize_key)]) -> VoiceList:
    return await run_in_threadpool(_list, state, key)


@router.get("/{name}", response_model=VoiceInfo, summary="One voice: versions, scores, presets.")
async def get_voice(
    state: State,
    key: Annotated[ApiKey, Depends(synthesize_key)],
    name: Annotated[str, Path(pattern=PROFILE_ID)],
) -> VoiceInfo:
    return await run_in_threadpool(_one, state, key, name)
