"""Errors the service answers with: a stable ``code``, a status, a message.

Every failure becomes ``{"error": {"code", "message", "request_id"}}`` with the status
of its code, so clients branch on ``code`` (stable, snake_case) and never parse text.
Domain errors (:class:`voicemill.errors.RejectedInput`) carry their ``reason`` through
as the code; the table below gives each code its HTTP status.
"""

from __future__ import annotations

from http import HTTPStatus

from voicemill.errors import RejectedInput

# Codes by status. A code not listed is a 400: bad input is the common case.
_STATUS_OF: dict[str, int] = {
    **dict.fromkeys(("missing_api_key", "invalid_api_key"), 401),
    **dict.fromkeys(("scope_not_allowed", "voice_not_allowed"), 403),
    **dict.fromkeys(
        (
            "unknown_voice",
            "unknown_model",
            "unknown_model_version",
            "unknown_job",
            "unknown_key",
            "not_found",
        ),
        404,
    ),
    "method_not_allowed": 405,
    "not_acceptable": 406,
    **dict.fromkeys(("no_champion", "key_name_taken"), 409),
    "body_too_large": 413,
    "unsupported_media_type": 415,
    **dict.fromkeys(("invalid_request", "text_too_long", "nothing_to_say"), 422),
    **dict.fromkeys(("rate_limited", "char_limit"), 429),
    "internal_error": 500,
    **dict.fromkeys(("not_ready", "voice_unavailable"), 503),
}


class ApiError(RejectedInput):
    """A request the service refuses; ``status`` from the code unless given.

    ``headers`` travel with the response (``Retry-After`` on a 429).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(code, message)
        self.status = status or status_of(code)
        self.headers = headers or {}


def status_of(code: str) -> int:
    return _STATUS_OF.get(code, HTTPStatus.BAD_REQUEST)


def from_rejected(exc: RejectedInput) -> ApiError:
    """A domain refusal (bad text, unknown profile...) as the service's error."""
    if isinstance(exc, ApiError):
        return exc
    return ApiError(exc.reason, exc.detail)
