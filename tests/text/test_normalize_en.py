"""English normalization: upstream's rules (tests/parity checks them against upstream
itself) and our three deliberate readings, which run first."""

from __future__ import annotations

import pytest

from voicemill.text.lexicon import lexicon_from_mapping
from voicemill.text.normalize_en import (
    normalize_en,
    read_clock_periods,
    read_dr,
    read_phone_numbers,
    upstream_normalize,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I have 3 apples.", "I have three apples."),
        ("It costs $12.56", "It costs twelve dollars and fifty-six cents"),
        ("It costs $12.5 or 7$", "It costs twelve dollars and fifty cents or seven dollars"),
        ("only $0.05", "only five cents"),
        ("£1.01 each", "one pound and one penny each"),
        ("In 1984 and 2024 and 2005", "In nineteen eighty-four and twenty twenty-four and two "
         "thousand five"),
        ("1900 or 1000 or 3000", "nineteen hundred or one thousand or three thousand"),
        ("The 21st and 3rd", "The twenty-first and third"),
        ("It is 3.14", "It is three point one four"),
        ("Add 1/2, 3/2 or 3/4", "Add one half, three halves or three fourths"),
        ("Up 50%", "Up fifty percent"),
        ("Run 5km in 20min at 23°C", "Run five kilometers in twenty minutes at twenty-three "
         "degrees celsius"),
        ("1m or 1.0m", "one meter or one point zero meters"),
        ("2 + 3 = 5", "two plus three Equals five"),
        ("6 × 7 ÷ 2", "six times seven divided by two"),
        ("café naïve", "cafe naive"),
        ("i.e. this, e.g. that", "that is this, for example that"),
        ("My iPhone and the USA", "My i Phone and the U S A"),
        ("Wow!!! Really??", "Wow! Really?"),
        ("One。Two！Three？", "One. Two! Three?"),
        # Upstream's quirks, kept because the voices learned them.
        ("It was -5 degrees", "It wasnegative five degrees"),
        ("Hello; world: yes", "Hello world yes"),
        ("Step 1. Go", "Step first, Go"),
        ("At 13:30", "At one thirty p.m."),
        ("At 9:00", "At nine o'clock a.m."),
        ("Line one\nline two", "Line oneline two"),
        ("don’t", "dont"),
        ("in 1001 nights", "in ten oh one nights"),
    ],
)  # fmt: skip
def test_upstream_rules(text: str, expected: str) -> None:
    assert normalize_en(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Call 555-0123.", "Call five five five, oh one two three."),
        ("(555) 123-4567", "five five five, one two three, four five six seven"),
        ("555-123-4567 now", "five five five, one two three, four five six seven now"),
        ("+1 555 123 4567", "plus one, five five five, one two three, four five six seven"),
        ("pages 200-1000", "pages 200-1000"),  # a range, left to the number rules
        ("555-12345", "555-12345"),
    ],
)
def test_phone_numbers_are_read_digit_by_digit(text: str, expected: str) -> None:
    assert read_phone_numbers(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3:30 p.m. is fine", "three thirty P M is fine"),
        ("Come at 3:30 p.m.", "Come at three thirty P M."),
        ("Come at 3 p.m. Then go.", "Come at three P M. Then go."),
        ("at 3pm, or 11 AM", "at three P M, or eleven A M"),
        ("at 11:00 am", "at eleven A M"),
        ("at 18:45 pm", "at six forty-five P M"),
        ("at 12 am", "at twelve A M"),
        ("I am here at 3", "I am here at 3"),  # "am" not after a time
        ("3 amazing cats", "3 amazing cats"),
    ],
)
def test_clock_periods_are_spelled_once(text: str, expected: str) -> None:
    assert read_clock_periods(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dr. Smith is in.", "Doctor Smith is in."),
        ("Ask Dr. Lee", "Ask Doctor Lee"),
        ("The Dr said so", "The Doctor said so"),
        ("Call the dr.", "Call the doctor."),
        ("Drive along Mulholland Dr. Then stop.", "Drive along Mulholland Drive. Then stop."),
        ("I live at 12 Elm Dr. and like it", "I live at 12 Elm Drive and like it"),
        ("Mulholland Dr. is long", "Mulholland Drive is long"),
        ("DR Congo", "DR Congo"),  # only Dr/dr
    ],
)
def test_dr_is_doctor_or_drive(text: str, expected: str) -> None:
    assert read_dr(text) == expected


def test_deliberate_readings_end_to_end() -> None:
    text = "Dr. Smith called 555-0123 at 3:30 p.m."
    assert normalize_en(text) == (
        "Doctor Smith called five five five, oh one two three at three thirty P M."
    )
    assert upstream_normalize(text) == (
        "Dr. Smith called five hundred fifty-five-one hundred twenty-three at three thirty "
        "a.m. p.m."
    )


def test_where_upstream_crashes_we_still_read() -> None:
    # Upstream raises on these (int("(5"), int(","), inflect's range).
    assert normalize_en("(5$") == "five dollars"
    assert normalize_en("$,5") == "five dollars"
    assert normalize_en("1" + "0" * 40).split() == ["one"] + ["zero"] * 40


def test_lexicon_words_keep_their_capitals() -> None:
    lexicon = lexicon_from_mapping({"version": 1, "en": {"VoiceMill": "V OY1 S M IH2 L"}})
    assert normalize_en("I like VoiceMill and GitHub", lexicon) == "I like VoiceMill and Git Hub"
    assert normalize_en("xVoiceMill", lexicon) == "x Voice Mill"  # not the lexicon's word
