"""The request id of the work in progress, for logs and audit rows.

A context variable, so every log line written while a request is handled (in the
event loop or in the synthesis thread it hands work to, which copies the context)
carries that request's id without passing it around.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("voicemill_request_id", default=None)

# What we accept from a client: short, printable, no spaces (it is echoed in headers
# and logs). W3C traceparent: version-traceid-parentid-flags.
_CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_TRACEPARENT_RE = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


def new_request_id() -> str:
    return secrets.token_hex(16)


def choose_request_id(x_request_id: str | None, traceparent: str | None) -> str:
    """The client's ``X-Request-ID`` when usable, else the trace id of its ``traceparent``,
    else a new id. Anything malformed is replaced rather than echoed."""
    if x_request_id and _CLIENT_ID_RE.match(x_request_id):
        return x_request_id
    if traceparent and (match := _TRACEPARENT_RE.match(traceparent.strip().lower())):
        trace_id = match.group(1)
        if trace_id != "0" * 32:
            return trace_id
    return new_request_id()
