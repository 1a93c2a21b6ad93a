"""The real service for the API tests: ``voicemill serve`` in a subprocess on loopback.

It runs against the session's embedded PostgreSQL and MLflow registry, with two tiny
released voices (random weights, registered and promoted the way a release does it),
and is driven over HTTP by real clients (httpx, the official openai package).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_kit import OTHER_VOICE, VOICE, Service, running_service


@pytest.fixture(scope="session")
def released_voices(platform_home: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Two tiny champion voices with their profiles; short, seeded presets."""
    from voicemill.release.tiny_voice import register_tiny_voice
    from voicemill.synthesis.types import InferencePreset

    presets = {
        "ivr": InferencePreset(top_k=5, seed=11, max_new_tokens=40),
        "marketing": InferencePreset(top_k=15, seed=12, max_new_tokens=40),
    }
    for name in (VOICE, OTHER_VOICE):
        register_tiny_voice(tmp_path_factory.mktemp(name), name, presets)
    return [VOICE, OTHER_VOICE]


@pytest.fixture(scope="package")  # stopped once tests/api is done: it polls the registry
def service(
    platform_home: Path, released_voices: list[str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    with running_service(tmp_path_factory.mktemp("service") / "service.log") as service:
        yield service


@pytest.fixture(scope="session")
def api_key(platform_home: Path) -> str:
    """A key allowed to synthesize with any voice and to submit jobs, without limits."""
    from voicemill.api.keys import create_key
    from voicemill.db.catalog import connect

    with connect() as conn:
        _, key = create_key(conn, "tests-all", ["synthesize", "jobs"])
    return key


@pytest.fixture
def client(service: Service, api_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=service.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=120
    ) as http:
        yield http
