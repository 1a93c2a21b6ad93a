"""The v2 symbol table: ids must match the pretrained embeddings row for row."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicemill.text.symbols import (
    SYMBOL_COUNT_V2,
    cleaned_text_to_sequence,
    is_symbol,
    symbol_to_id,
    symbols,
)

REFERENCE_TABLE = Path(__file__).parents[1] / "data" / "gpt_sovits" / "symbols_v2.txt"


def test_table_has_732_unique_symbols() -> None:
    table = symbols()
    assert len(table) == SYMBOL_COUNT_V2 == 732
    assert len(set(table)) == 732


@pytest.mark.parametrize(
    ("symbol", "expected_id"),
    [("!", 0), (",", 1), (".", 3), ("SP", 77), ("UNK", 86), ("_", 95), ("…", 321), ("[", 322)],
)
def test_anchor_ids_match_upstream(symbol: str, expected_id: int) -> None:
    assert symbol_to_id(symbol) == expected_id
    assert symbols()[expected_id] == symbol


def test_shipped_table_equals_reference_copy() -> None:
    rows = [line.split("\t") for line in REFERENCE_TABLE.read_text("utf-8").splitlines()]
    assert [symbol for _, symbol in rows] == list(symbols())
    assert [int(idx) for idx, _ in rows] == list(range(732))


def test_unknown_phones_map_to_unk() -> None:
    assert cleaned_text_to_sequence(["zh", "ang1", "NOT_A_PHONE", "AH0"]) == [
        symbol_to_id("zh"),
        symbol_to_id("ang1"),
        86,
        symbol_to_id("AH0"),
    ]
    assert not is_symbol("NOT_A_PHONE")


def test_case_matters_between_zh_initials_and_arpabet() -> None:
    assert symbol_to_id("AA") != symbol_to_id("a")
    assert is_symbol("AA1") and is_symbol("ang3") and is_symbol("i05") and is_symbol("ir4")
