"""Per-request bookkeeping around every route: request id, body limit, metrics, audit.

Pure ASGI (not Starlette's BaseHTTPMiddleware) so streamed responses pass through
untouched and the request is only "done" when its last byte has been sent: that is
when latency is measured and the audit row is written.

- The request id is the client's ``X-Request-ID`` (or its W3C ``traceparent``'s trace
  id) or a new one; it goes into a context variable (every log line), the
  ``X-Request-ID`` response header and the audit row.
- A body over the limit is refused with 413 before the route reads it (declared
  length), or as soon as it passes the limit (chunked bodies).
- Routes fill ``request.state.audit`` (:class:`RequestAudit`) with what they know.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from voicemill.api.context import choose_request_id, request_id_var
from voicemill.api.errors import ApiError

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from voicemill.api.state import ServiceState

log = logging.getLogger("voicemill.api.requests")

AUDITED_PREFIX = "/v1/"


@dataclass
class RequestAudit:
    """What one request did, noted as it goes; one ``api_requests`` row at the end.

    Routes :meth:`note` the fields of :class:`voicemill.api.audit.RequestRecord` they
    know (key id, voice, model, preset, text, cache, audio seconds, error code); the
    middleware adds the rest (route, status, timings, client).
    """

    request_id: str
    method: str
    path: str
    received_at: datetime
    started: float
    route: str = "unmatched"
    user_agent: str | None = None
    first_audio_at: float | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    def note(self, **facts: Any) -> None:
        self.facts.update(facts)

    def mark_first_audio(self) -> None:
        if self.first_audio_at is None:
            self.first_audio_at = time.perf_counter()


class RequestMiddleware:
    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = choose_request_id(headers.get("x-request-id"), headers.get("traceparent"))
        token = request_id_var.set(request_id)
        audit = RequestAudit(
            request_id=request_id,
            method=scope["method"],
            path=scope["path"],
            received_at=datetime.now(UTC),
            started=time.perf_counter(),
            user_agent=headers.get("user-agent", "")[:200] or None,
        )
        scope.setdefault("state", {})["audit"] = audit
        limit = self.state.settings.api_max_body_bytes
        status = 500
        finished = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, finished
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True

        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            from voicemill.api.app import error_response

            response = error_response(
                ApiError("body_too_large", f"the body is over the {limit}-byte limit")
            )
            audit.note(error_code="body_too_large")
            await response(scope, receive, send_with_id)
        else:
            received = 0

            async def bounded_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise ApiError("body_too_large", f"the body is over the {limit}-byte limit")
                return message

            started_response = False

            async def send_tracked(message: Message) -> None:
                nonlocal started_response
                started_response = started_response or message["type"] == "http.response.start"
                await send_with_id(message)

            try:
                await self.app(scope, bounded_receive, send_tracked)
            except Exception:  # a bug: answer in the service's shape, with the request id
                log.exception("unhandled error")
                audit.note(error_code="internal_error")
                if not started_response:
                    from voicemill.api.app import error_response

                    response = error_response(
                        ApiError("internal_error", "the service failed; see its log")
                    )
                    await response(scope, receive, send_with_id)
            finally:
                route = scope.get("route")
                audit.route = getattr(route, "path", None) or "unmatched"
        try:
            await self._finish(audit, status, finished)
        finally:
            request_id_var.reset(token)

    async def _finish(self, audit: RequestAudit, status: int, finished: bool) -> None:
        elapsed = time.perf_counter() - audit.started
        metrics = self.state.metrics
        metrics.requests.labels(audit.route, str(status)).inc()
        metrics.latency.labels(audit.route).observe(elapsed)
        if audit.first_audio_at is not None:
            metrics.time_to_first_audio.labels(audit.route).observe(
                audit.first_audio_at - audit.started
            )
        seconds, voice = audit.facts.get("audio_seconds"), audit.facts.get("profile_id")
        if seconds and voice:
            metrics.audio_seconds.labels(voice).inc(seconds)
        log.info(
            "request",
            extra={
                "method": audit.method,
                "route": audit.route,
                "status": status,
                "error_code": audit.facts.get("error_code"),
                "latency_ms": round(elapsed * 1000, 1),
                "completed": finished,
            },
        )
        if audit.path.startswith(AUDITED_PREFIX):
            await asyncio.get_running_loop().run_in_executor(
                None, self._record, audit, status, elapsed
            )

    def _record(self, audit: RequestAudit, status: int, elapsed: float) -> None:
        from voicemill.api.audit import RequestRecord, record_request

        ttfa = None
        if audit.first_audio_at is not None:
            ttfa = (audit.first_audio_at - audit.started) * 1000
        record = RequestRecord(
            request_id=audit.request_id,
            received_at=audit.received_at,
            route=audit.route,
            method=audit.method,
            status=status,
            time_to_first_audio_ms=ttfa,
            latency_ms=elapsed * 1000,
            client=audit.user_agent,
            **audit.facts,
        )
        try:
            with self.state.connect() as conn:
                record_request(conn, record, store_text=self.state.settings.api_store_text)
        except Exception:  # auditing must not take the service down; the log line stands
            log.exception("could not record the request")
