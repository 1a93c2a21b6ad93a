"""One intra-op thread for these model tests.

On a shared, loaded CPU box OpenMP worker threads contend for cores and small-tensor
steps slow down by an order of magnitude; a single thread keeps the suite fast.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)
