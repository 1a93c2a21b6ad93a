"""Schemathesis against the running service's own OpenAPI: no 5xx, no off-schema answer.

The ``schemathesis`` command itself, bounded (``--max-examples``, a fixed seed) so it
fits the default suite; every operation gets generated valid and invalid input,
authenticated with a real key. A failure prints schemathesis's own report.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from service_kit import Service

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)


def test_the_service_keeps_its_contract(service: Service, api_key: str) -> None:
    schemathesis = str(Path(sys.executable).with_name("schemathesis"))
    run = subprocess.run(
        [
            schemathesis, "run", f"{service.url}/openapi.json",
            "--header", f"Authorization: Bearer {api_key}",
            "--checks", ",".join(CHECKS),
            "--max-examples", "25",
            "--seed", "1",
            "--generation-deterministic",
            "--request-timeout", "120",
            "--phases", "examples,coverage,fuzzing",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout or "passed" in run.stdout.lower()
