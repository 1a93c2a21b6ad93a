"""Epoch-wise shuffled batches whose position is part of the saved training state.

The order comes from the run's own ``torch.Generator``, and the permutation plus the
cursor into it are saved, so a resumed run draws exactly the batches it would have.
"""

from __future__ import annotations

from typing import Any

import torch


class EpochSampler:
    def __init__(self, n_items: int, batch_size: int, generator: torch.Generator) -> None:
        if n_items < 1:
            raise ValueError("no items to sample from")
        self.n_items = n_items
        self.batch_size = batch_size
        self.generator = generator
        self.epoch = 0
        self._order = torch.randperm(n_items, generator=generator)
        self._cursor = 0

    def next(self) -> tuple[list[int], bool]:
        """Indices of the next batch, and whether a new epoch started with it."""
        new_epoch = self._cursor >= self.n_items
        if new_epoch:
            self.epoch += 1
            self._order = torch.randperm(self.n_items, generator=self.generator)
            self._cursor = 0
        picks = self._order[self._cursor : self._cursor + self.batch_size]
        self._cursor += len(picks)
        return picks.tolist(), new_epoch

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "order": self._order.clone(), "cursor": self._cursor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self._order = state["order"].clone()
        self._cursor = int(state["cursor"])
