"""The base of every "this input cannot be used" error in VoiceMill.

Each carries a short snake_case ``reason`` (stable and machine-readable: the
pipeline stores it and quarantines the item) and a human ``detail`` (what was
wrong with which input), so one bad item never stops a batch.
"""

from __future__ import annotations


class RejectedInput(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Keep (reason, detail) through pickling: errors cross process boundaries.
        return (type(self), (self.reason, self.detail))


class ConfigurationError(RuntimeError):
    """The platform's settings cannot work as given (a required setting is missing)."""
