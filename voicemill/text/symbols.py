"""The official GPT-SoVITS v2 phoneme table: symbol strings to embedding row ids.

The pretrained s1/s2 text embeddings have exactly 732 rows indexed by this table, so
ids must match upstream's ordering bit for bit. The table ships as package data
(``data/symbols_v2.txt``, ``id<TAB>symbol`` per line) rather than being rebuilt from
phone inventories, so a reordering bug cannot silently scramble every voice.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

SYMBOL_COUNT_V2 = 732
UNKNOWN = "UNK"
PAD = "_"
# Prosody marks the v2 table has; every frontend maps its punctuation onto these.
PUNCTUATION: tuple[str, ...] = ("!", "?", "…", ",", ".", "-")


@lru_cache(maxsize=1)
def symbols() -> tuple[str, ...]:
    """All v2 symbols in id order (index == id)."""
    raw = resources.files("voicemill.text").joinpath("data/symbols_v2.txt").read_text("utf-8")
    table: list[str] = []
    for line_no, line in enumerate(raw.splitlines(), start=1):
        if not line:
            continue
        id_text, symbol = line.split("\t")
        if int(id_text) != len(table):
            raise RuntimeError(f"symbols_v2.txt line {line_no}: id {id_text} out of order")
        table.append(symbol)
    if len(table) != SYMBOL_COUNT_V2:
        raise RuntimeError(f"symbols_v2.txt has {len(table)} symbols, expected 732")
    return tuple(table)


@lru_cache(maxsize=1)
def _ids() -> dict[str, int]:
    return {symbol: idx for idx, symbol in enumerate(symbols())}


def is_symbol(phone: str) -> bool:
    """Whether ``phone`` is a v2 symbol (case-sensitive: ``AA`` and ``a`` differ)."""
    return phone in _ids()


def symbol_to_id(phone: str) -> int:
    """Embedding row of ``phone``; unknown phones map to ``UNK`` as upstream does."""
    ids = _ids()
    return ids.get(phone, ids[UNKNOWN])


def cleaned_text_to_sequence(phones: Iterable[str]) -> list[int]:
    """Phone strings to ids for the s1/s2 text embedding (unknown → ``UNK``)."""
    return [symbol_to_id(phone) for phone in phones]
