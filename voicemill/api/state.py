"""What one running service holds: settings, database access, voices, synthesizer, metrics."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from voicemill.api.metrics import Metrics

if TYPE_CHECKING:
    import psycopg

    from voicemill.api.synthesis import Synthesizer
    from voicemill.api.voices import VoiceCatalog
    from voicemill.settings import Settings


@dataclass
class ServiceState:
    settings: Settings
    connect: Callable[[], AbstractContextManager[psycopg.Connection]]
    catalog: VoiceCatalog
    synthesizer: Synthesizer
    metrics: Metrics = field(default_factory=Metrics)
    ready_voices: list[str] = field(default_factory=list)
    warm: bool = False
    warm_error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
