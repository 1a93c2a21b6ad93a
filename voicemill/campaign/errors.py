"""The error every campaign input problem raises.

A separate module so that :mod:`.spec`, :mod:`.render`, :mod:`.keys` and
:mod:`.recipients` share one exception type without importing each other.
"""

from __future__ import annotations

from voicemill.errors import RejectedInput


class CampaignError(RejectedInput, ValueError):
    """A campaign spec, template, recipients file or row that cannot be used.

    ``reason`` is a stable snake_case code (stored with quarantined rows and failed
    runs); ``detail`` says which input was wrong and how.
    """
