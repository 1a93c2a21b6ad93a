"""Model tests run on one torch thread (see ``one_torch_thread`` in tests/conftest.py)."""

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Small-tensor model steps run fastest on one thread on a shared box."""
