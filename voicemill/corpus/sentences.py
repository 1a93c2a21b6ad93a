"""The built-in sentence pool that the synthetic corpus reads aloud.

Sentences live in ``sentences.yaml`` (package data) so that they can be reviewed and
extended without touching code; selection is seeded so a corpus is reproducible.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import numpy as np
import yaml

LANGUAGES = ("en", "zh")


@cache
def sentence_pool(language: str) -> tuple[str, ...]:
    """All built-in sentences for ``language`` ("en" or "zh"), in file order."""
    if language not in LANGUAGES:
        raise ValueError(f"no sentence pool for language {language!r}; have {LANGUAGES}")
    text = (files("voicemill.corpus") / "sentences.yaml").read_text(encoding="utf-8")
    return tuple(str(s) for s in yaml.safe_load(text)[language])


class SentenceDeck:
    """Deals sentences of one language in a seeded shuffled order without repeats.

    A speaker reads each sentence at most once until the pool is exhausted, then the
    deck is reshuffled; that mirrors how read-speech corpora use prompt lists.
    """

    def __init__(self, language: str, rng: np.random.Generator) -> None:
        self._pool = sentence_pool(language)
        self._rng = rng
        self._order: list[int] = []

    def deal(self, n: int, *, avoid: frozenset[str] = frozenset()) -> list[str]:
        """The next ``n`` sentences, never one in ``avoid``."""
        if not set(self._pool) - avoid:
            raise ValueError("every sentence of the pool is to be avoided")
        dealt: list[str] = []
        while len(dealt) < n:
            if not self._order:
                self._order = [int(i) for i in self._rng.permutation(len(self._pool))]
            sentence = self._pool[self._order.pop()]
            if sentence not in avoid:
                dealt.append(sentence)
        return dealt
