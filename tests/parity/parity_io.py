"""Moving tensors and state dicts between the tests and the peer worker (a helper, not tests).

The peer runs in its own process (``peer_worker.py``); tensors travel as ``.npy`` files
and state dicts as ``torch.save`` files in a folder the test owns.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch


class Peer(Protocol):
    """The session fixture ``peer`` (tests/parity/conftest.py)."""

    def call(self, op: str, **args: Any) -> Any: ...


class Exchange:
    """A test-owned folder of named arrays; every ``put`` gets a fresh file."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._ids = itertools.count()

    def path(self, name: str, suffix: str = ".npy") -> str:
        return str(self.folder / f"{next(self._ids)}-{name}{suffix}")

    def put(self, name: str, tensor: torch.Tensor) -> str:
        path = self.path(name)
        np.save(path, tensor.detach().cpu().numpy())
        return path

    def put_state(self, name: str, state: Mapping[str, torch.Tensor]) -> str:
        path = self.path(name, ".pt")
        torch.save(dict(state), path)
        return path

    @staticmethod
    def get(path: str) -> torch.Tensor:
        return torch.from_numpy(np.load(path))


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (tuple(a.shape), tuple(b.shape))
    return float((a.double() - b.double()).abs().max())


def ragged_batch(io: Exchange, phone_lens: list[int], prompt_len: int, seed: int) -> dict:
    """GPT inputs for rows of different text lengths, for us (right-padded) and the peer.

    Ours: ``phones`` [B, Tx], ``phone_lens``, ``bert`` [B, 1024, Tx], ``prompts`` [B, Tp].
    ``peer``: per-row phone and BERT files (upstream pads them itself) and the prompts.
    """
    g = torch.Generator().manual_seed(seed)
    rows = [torch.randint(0, 732, (n,), generator=g) for n in phone_lens]
    berts = [torch.randn(1024, n, generator=g) * 0.1 for n in phone_lens]
    prompts = torch.randint(0, 1024, (len(rows), prompt_len), generator=g)
    tx = max(phone_lens)
    phones = torch.zeros(len(rows), tx, dtype=torch.long)
    bert = torch.zeros(len(rows), 1024, tx)
    for i, (row, feats) in enumerate(zip(rows, berts, strict=True)):
        phones[i, : len(row)], bert[i, :, : len(row)] = row, feats
    return {
        "phones": phones,
        "phone_lens": torch.tensor(phone_lens),
        "bert": bert,
        "prompts": prompts,
        "peer": {
            "phones": [io.put("phones", r) for r in rows],
            "bert": [io.put("bert", b) for b in berts],
            "prompts": io.put("prompts", prompts),
        },
    }
