"""The one exception type of the audio core.

Every failure carries a short snake_case ``reason`` (stable, machine-readable:
the pipeline stores it and quarantines the item) and a human ``detail`` (what
exactly was wrong with which file), so one bad recording never stops a batch.
"""

from __future__ import annotations


class AudioError(Exception):
    """An input could not be turned into usable audio; see ``reason``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[AudioError], tuple[str, str]]:
        # Keep (reason, detail) through pickling: Dagster moves errors between processes.
        return (type(self), (self.reason, self.detail))
