"""Upstream's English frontend internals, for the English parity tests.

``text.py`` runs upstream's whole ``clean_text``; these expose the parts behind it so
a test can compare one stage at a time: the neural letter-to-sound model on its own,
the dictionary upstream reads words from, and its name dictionary.
"""

from __future__ import annotations

from typing import Any

from peer_side import text as peer_text


def _g2p() -> Any:
    peer_text._setup()
    from text import english

    return english._g2p


def predict(words: list[str]) -> list[list[str]]:
    """The neural model's raw output (``en_G2p.predict``) for each lower-case word."""
    g2p = _g2p()
    return [list(g2p.predict(word)) for word in words]


def dictionary() -> dict[str, list[str]]:
    """Upstream's dictionary as its G2P holds it: word -> first pronunciation."""
    return {word: list(prons[0]) for word, prons in _g2p().cmu.items()}


def names() -> dict[str, list[str]]:
    """Upstream's name dictionary: word -> first pronunciation."""
    return {word: list(prons[0]) for word, prons in _g2p().namedict.items()}


def homographs() -> dict[str, list[Any]]:
    """Upstream's homograph table after its own overrides: word -> [pron1, pron2, tag]."""
    return {
        word: [list(p1), list(p2), tag] for word, (p1, p2, tag) in _g2p().homograph2features.items()
    }
