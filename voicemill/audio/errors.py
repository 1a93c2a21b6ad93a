"""The one exception type of the audio core (see :mod:`voicemill.errors`)."""

from __future__ import annotations

from voicemill.errors import RejectedInput


class AudioError(RejectedInput):
    """An input could not be turned into usable audio; see ``reason``."""
