"""``/v1/keys``: API keys issued, listed and revoked over HTTP (the ``admin`` scope).

The same operations as ``voicemill keys``, for deployments where no one has a shell
next to the database. Keys live in PostgreSQL and are read on every request, so a key
created or revoked through one replica holds at the next request through any other.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from fastapi.concurrency import run_in_threadpool

from voicemill.api.deps import State, admin_key, require_json
from voicemill.api.errors import ApiError
from voicemill.api.keys import ApiKey, create_key, list_keys, revoke_key
from voicemill.api.schemas import KeyCreate, KeyCreated, KeyInfo, KeyList
from voicemill.api.state import ServiceState

router = APIRouter(prefix="/v1/keys", tags=["keys"])


def _info(key: ApiKey) -> KeyInfo:
    return KeyInfo.model_validate(key.model_dump())


def _create(state: ServiceState, body: KeyCreate) -> KeyCreated:
    with state.connect() as conn:
        key, plaintext = create_key(
            conn, body.name, body.scopes, body.voices, body.rpm, body.chars_per_min
        )
    return KeyCreated(**_info(key).model_dump(), key=plaintext)


def _list(state: ServiceState, include_revoked: bool) -> KeyList:
    with state.connect() as conn:
        return KeyList(keys=[_info(k) for k in list_keys(conn, include_revoked)])


def _revoke(state: ServiceState, name: str) -> bool:
    with state.connect() as conn:
        return revoke_key(conn, name)


@router.post(
    "",
    status_code=201,
    response_model=KeyCreated,
    dependencies=[Depends(require_json)],
    summary="Issue a key (shown once).",
)
async def create(
    body: KeyCreate, state: State, _: Annotated[ApiKey, Depends(admin_key)]
) -> KeyCreated:
    return await run_in_threadpool(_create, state, body)


@router.get("", response_model=KeyList, summary="Every key, without secrets.")
async def list_all(
    state: State, _: Annotated[ApiKey, Depends(admin_key)], include_revoked: bool = False
) -> KeyList:
    return await run_in_threadpool(_list, state, include_revoked)


@router.delete("/{name}", status_code=204, summary="Revoke the live key of that name.")
async def revoke(
    state: State,
    _: Annotated[ApiKey, Depends(admin_key)],
    name: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")],
) -> Response:
    if not await run_in_threadpool(_revoke, state, name):
        raise ApiError("unknown_key", f"no live key named {name!r}")
    return Response(status_code=204)
