"""Saving and restoring a whole training run so it continues where it stopped.

A trainer exposes ``state_dict()`` / ``load_state_dict()`` covering models,
optimisers, schedulers, step, batch order and every random stream it uses (its own
generator and torch's global one, which drives dropout and the codebook's k-means).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import torch


class Resumable(Protocol):
    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def save_training_state(trainer: Resumable, path: str | Path) -> Path:
    """Write atomically (temp file + rename): a crash mid-write keeps the old state."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    torch.save(trainer.state_dict(), tmp)
    tmp.replace(target)
    return target


def load_training_state(trainer: Resumable, path: str | Path) -> None:
    """Restore into a freshly built trainer of the same configuration."""
    trainer.load_state_dict(torch.load(Path(path), weights_only=True))
