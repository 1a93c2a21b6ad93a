"""Names shared by the API tests and their fixtures (tests/api/conftest.py)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

VOICE = "svc_voice"
OTHER_VOICE = "svc_other"


@dataclass(frozen=True)
class Service:
    """A running ``voicemill serve``: its base URL, log file and process."""

    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")
