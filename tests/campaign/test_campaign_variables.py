"""Typed campaign variables: every row checked against the spec's declarations, typed
values spoken as a person would say them, markup never spoken."""

from __future__ import annotations

import pandas as pd
import pytest

from voicemill.campaign.errors import CampaignError
from voicemill.campaign.recipients import prepare_recipients
from voicemill.campaign.spec import CampaignSpec
from voicemill.campaign.variables import VariableSpec, spoken_value


def _spec(language: str = "en", **variables: dict) -> CampaignSpec:
    return CampaignSpec.model_validate(
        {
            "campaign_id": "typed",
            "voice_profile": "ann",
            "language": language,
            "templates": [
                {
                    "id": "bill",
                    "text": "Hi {{ first_name }}, {{ amount }} is due on {{ due_date }}.",
                }
            ],
            "variables": variables
            or {
                "first_name": {"type": "name", "max_length": 40},
                "amount": {"type": "currency", "currency": "USD", "min": 0, "max": 10000},
                "due_date": {"type": "date"},
            },
        }
    )


ROWS = [  # (recipient_id, first_name, amount, due_date) -> reason (None: accepted)
    (("r-1", "Ann", "12.50", "2026-03-05"), None),
    (("r-2", "Bob", "NaN", "2026-03-05"), "invalid_variable"),
    (("r-3", "Cleo", "12.50", "31/31/2026"), "invalid_variable"),
    (("r-4", "<speak><break time='10s'/></speak>", "1", "2026-03-05"), "invalid_variable"),
    (("r-5", "Dan", "-3", "2026-03-05"), "invalid_variable"),
    (("r-6", "Eve", "20000", "2026-03-05"), "invalid_variable"),  # over max
    (("r-7", "Finn", "", "2026-03-05"), "invalid_variable"),  # required
    (("r-8", "Gus", "1e400", "2026-03-05"), "invalid_variable"),
    (("r-9", "Hana &amp; Ivo", "5", "2026-03-05"), "invalid_variable"),
    (("r-10", "Jo", "0.01", "2026-12-31"), None),
    (("r-11", "K" * 41, "1", "2026-03-05"), "invalid_variable"),  # max_length
]


def test_every_row_is_checked_against_the_declarations() -> None:
    frame = pd.DataFrame(
        [values for values, _ in ROWS],
        columns=["recipient_id", "first_name", "amount", "due_date"],
    )
    prepared = prepare_recipients(_spec(), frame)
    outcome = {r.recipient_id: None for r in prepared.accepted}
    outcome.update({r.recipient_id: r.reason for r in prepared.rejected})
    assert outcome == {values[0]: reason for values, reason in ROWS}
    texts = {r.recipient_id: r.text for r in prepared.accepted}
    assert (
        texts["r-1"]
        == "Hi Ann, twelve dollars and fifty cents is due on March fifth, twenty twenty-six."
    )
    assert texts["r-10"] == "Hi Jo, one cent is due on December thirty-first, twenty twenty-six."
    details = {r.recipient_id: r.detail for r in prepared.rejected}
    assert "'amount'" in details["r-2"] and "not a number" in details["r-2"]
    assert "'due_date'" in details["r-3"] and "not a date" in details["r-3"]
    assert "markup" in details["r-4"] and "markup" in details["r-9"]
    assert "minimum 0" in details["r-5"] and "maximum" in details["r-6"]
    assert "required" in details["r-7"]
    # The raw values are what the audit keeps; the spoken ones are what is synthesized.
    assert prepared.accepted[0].variables["amount"] == "12.50"


def test_markup_is_never_spoken_even_in_undeclared_columns() -> None:
    spec = CampaignSpec.model_validate(
        {
            "campaign_id": "plain",
            "voice_profile": "ann",
            "language": "en",
            "templates": [{"id": "hi", "text": "Hello {{ first_name }}."}],
        }
    )
    frame = pd.DataFrame(
        {"recipient_id": ["a", "b", "c"],
         "first_name": ["Ann", "<break time='10s'/>", "{{ 7 * 7 }}"]}
    )  # fmt: skip
    prepared = prepare_recipients(spec, frame)
    assert [r.recipient_id for r in prepared.accepted] == ["a"]
    assert {r.reason for r in prepared.rejected} == {"invalid_variable"}


@pytest.mark.parametrize(
    ("kind", "value", "language", "spoken"),
    [
        ("currency", "12.50", "en", "twelve dollars and fifty cents"),
        ("currency", "1", "en", "one dollar"),
        ("currency", "12.50", "zh", "十二美元五十美分"),
        ("date", "2026-03-05", "en", "March fifth, twenty twenty-six"),
        ("date", "2026-03-05", "zh", "二零二六年三月五日"),
        ("date", "2026-03-05", "ja", "2026年3月5日"),
        ("time", "09:05", "en", "nine oh five a.m."),
        ("time", "14:00", "zh", "十四点整"),
        ("phone", "+1 555 123 4567", "en",
         "plus one, five five five, one two three, four five six seven"),
        ("phone", "555-0123", "zh", "五五五，零幺二三"),
        ("email", "ann.lee@example.com", "en", "ann dot lee at example dot com"),
        ("integer", "1,205", "zh", "一千二百零五"),
        ("decimal", "3.14", "en", "three point one four"),
        ("name", "José", "en", "José"),
    ],
)  # fmt: skip
def test_typed_values_are_spoken_as_people_say_them(
    kind: str, value: str, language: str, spoken: str
) -> None:
    assert spoken_value("v", value, VariableSpec(type=kind), language) == spoken


def test_cny_uses_jiao_and_fen() -> None:
    cny = VariableSpec(type="currency", currency="CNY")
    assert spoken_value("v", "12.50", cny, "zh") == "十二元五角"
    assert spoken_value("v", "3.05", cny, "zh") == "三元零五分"


def test_a_pattern_is_a_full_match_and_optional_values_may_be_absent() -> None:
    code = VariableSpec(type="text", pattern="[A-Z0-9]{4,8}", required=False)
    assert spoken_value("promo", "SPRING26", code, "en") == "SPRING26"
    assert spoken_value("promo", None, code, "en") is None
    with pytest.raises(CampaignError) as info:
        spoken_value("promo", "spring 26 !", code, "en")
    assert info.value.reason == "invalid_variable" and "pattern" in info.value.detail


@pytest.mark.parametrize(
    "declaration",
    [
        {"type": "colour"},
        {"type": "currency", "currency": "XYZ"},
        {"type": "integer", "min": 5, "max": 1},
        {"type": "text", "pattern": "(unclosed"},
    ],
)
def test_bad_declarations_are_refused_with_the_spec(declaration: dict) -> None:
    with pytest.raises(ValueError):
        _spec(**{"amount": declaration})


def test_a_catastrophic_pattern_costs_its_row_not_the_campaign() -> None:
    """A spec's regex runs in the render process, under its CPU budget."""
    from voicemill.campaign.render_process import RenderLimits

    spec = _spec(
        first_name={"type": "text", "pattern": "(a+)+$"},
        amount={"type": "currency"},
        due_date={"type": "date"},
    )
    frame = pd.DataFrame(
        {"recipient_id": ["ok", "evil"], "first_name": ["aaaa", "a" * 40 + "!"],
         "amount": ["1", "1"], "due_date": ["2026-01-01", "2026-01-01"]}
    )  # fmt: skip
    prepared = prepare_recipients(spec, frame, RenderLimits(timeout_s=0.5, memory_mb=512))
    assert [r.recipient_id for r in prepared.accepted] == ["ok"]
    (evil,) = prepared.rejected
    assert evil.reason == "render_timeout"
