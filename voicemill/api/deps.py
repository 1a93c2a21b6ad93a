"""Typed dependencies of the routes: the service state, the caller's key, admission."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from voicemill.api.errors import ApiError
from voicemill.api.keys import ApiKey, consume, verify_key
from voicemill.api.state import ServiceState
from voicemill.errors import RejectedInput

_bearer = HTTPBearer(auto_error=False, description="An API key: `voicemill keys create`.")


def get_state(request: Request) -> ServiceState:
    return request.app.state.service


State = Annotated[ServiceState, Depends(get_state)]


def _authenticate(
    request: Request,
    state: ServiceState,
    credentials: HTTPAuthorizationCredentials | None,
    scope: str,
) -> ApiKey:
    if credentials is None or not credentials.credentials:
        raise ApiError(
            "missing_api_key",
            "send an API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    with state.connect() as conn:
        key = verify_key(conn, credentials.credentials)
    if key is None:  # never echo what was sent
        raise ApiError(
            "invalid_api_key",
            "the API key is unknown or revoked",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.audit.note(key_id=key.key_id)
    if not key.allows_scope(scope):
        raise ApiError("scope_not_allowed", f"key {key.name!r} lacks the {scope!r} scope")
    return key


def _key_with(scope: str) -> Callable[..., ApiKey]:
    """A dependency: the caller's key, which must hold ``scope``."""

    def dependency(
        request: Request,
        state: State,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> ApiKey:
        return _authenticate(request, state, credentials, scope)

    dependency.__name__ = f"{scope}_key"
    return dependency


synthesize_key = _key_with("synthesize")
jobs_key = _key_with("jobs")
admin_key = _key_with("admin")


def admit(state: ServiceState, key: ApiKey, profile_id: str, chars: int) -> None:
    """The key may use this voice and has room for ``chars`` more characters this minute."""
    if not key.allows_voice(profile_id):
        raise ApiError("voice_not_allowed", f"key {key.name!r} may not use voice {profile_id!r}")
    try:
        with state.connect() as conn:
            admission = consume(conn, key, chars)
    except RejectedInput as exc:
        raise ApiError(exc.reason, exc.detail) from exc
    if not admission.allowed:
        limit = admission.limit or "rate_limited"
        what = "requests" if limit == "rate_limited" else "characters"
        raise ApiError(
            limit,
            f"key {key.name!r} is over its {what} per minute; retry in {admission.retry_after_s} s",
            headers={"Retry-After": str(admission.retry_after_s or 1)},
        )


def require_json(request: Request) -> None:
    """JSON routes take ``Content-Type: application/json`` only (415 otherwise)."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError("unsupported_media_type", "send the body as application/json")
