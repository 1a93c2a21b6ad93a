"""Great Expectations batch report over the rendered recipients."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from voicemill.campaign.recipients import prepare_recipients, rendered_frame, required_variables
from voicemill.campaign.spec import CampaignSpec, TextLimits
from voicemill.quality.recipients_suite import validate_recipients


@pytest.fixture(scope="module")
def spec() -> CampaignSpec:
    return CampaignSpec(
        campaign_id="spring",
        voice_profile="ann",
        language="en",
        templates=[
            {"id": "main", "text": "Hi {{ first_name }}, welcome back to {{ city }}!"},
            {"id": "vip", "text": "Dear {{ first_name }}, your gift waits."},
        ],
        text_limits={"min_chars": 5, "max_chars": 200},
    )


@pytest.fixture(scope="module")
def good_frame(spec: CampaignSpec) -> pd.DataFrame:
    recipients = pd.DataFrame(
        {
            "recipient_id": [f"r{i}" for i in range(50)] + ["a/b", "../x"],
            "first_name": ["Ann"] * 52,
            "city": ["Paris"] * 52,
            "template_id": ["", "vip"] * 26,
        }
    )
    prepared = prepare_recipients(spec, recipients)
    assert not prepared.rejected
    return rendered_frame(prepared.accepted)


def _required(spec: CampaignSpec) -> set[str]:
    return set().union(*required_variables(spec).values())


def _failed(validation) -> set[tuple[str, str | None]]:
    return {(o.expectation, o.column) for o in validation.failed}


def test_good_batch_passes(spec: CampaignSpec, good_frame: pd.DataFrame) -> None:
    validation = validate_recipients(
        good_frame,
        spec.text_limits,
        required_columns=_required(spec),
        template_ids=spec.template_ids,
    )
    assert validation.success, validation.failed
    assert not validation.failed
    expectations = {o.expectation for o in validation.outcomes}
    assert {
        "expect_column_values_to_be_unique",
        "expect_column_values_to_not_be_null",
        "expect_column_to_exist",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
    } <= expectations


def test_bad_batch_lists_failed_expectations(spec: CampaignSpec, good_frame: pd.DataFrame) -> None:
    bad = good_frame.copy()
    bad.loc[1, "recipient_id"] = "r0"  # duplicate
    bad.loc[2, "recipient_id"] = None
    bad.loc[3, "text_chars"] = 5000
    bad.loc[4, "template_id"] = "gold"
    bad = bad.drop(columns=["city"])
    validation = validate_recipients(
        bad,
        spec.text_limits,
        required_columns=_required(spec) | {"zip_code"},
        template_ids=spec.template_ids,
    )
    assert not validation.success
    failed = _failed(validation)
    assert failed == {
        ("expect_column_to_exist", "city"),
        ("expect_column_to_exist", "zip_code"),
        ("expect_column_values_to_be_unique", "recipient_id"),
        ("expect_column_values_to_not_be_null", "recipient_id"),
        ("expect_column_values_to_be_between", "text_chars"),
        ("expect_column_values_to_be_in_set", "template_id"),
    }
    by_column = {(o.expectation, o.column): o for o in validation.failed}
    unique = by_column[("expect_column_values_to_be_unique", "recipient_id")]
    assert unique.unexpected_count == 2 and unique.sample == ["r0", "r0"]
    assert by_column[("expect_column_values_to_be_between", "text_chars")].sample == [5000]


def test_a_broken_export_passes_every_row_filter_but_not_the_suite(spec: CampaignSpec) -> None:
    """NULL, nan and #N/A are well-formed cells, so no row is rejected; the batch
    expectation is what stops "Hello NULL" from going out."""
    recipients = pd.DataFrame(
        {
            "recipient_id": ["a", "b", "c", "d", "e"],
            "first_name": ["Ann", "NULL", "nan", "Nancy", "#N/A"],
            "city": ["Paris", "Rome", "Oslo", "Nantes", "Lima"],
            "template_id": ["", "", "", "", ""],
        }
    )
    prepared = prepare_recipients(spec, recipients)
    assert not prepared.rejected  # the row filters let every one through
    validation = validate_recipients(rendered_frame(prepared.accepted), spec.text_limits)
    failed = {(o.expectation, o.column): o for o in validation.failed}
    placeholder = failed[("expect_column_values_to_not_match_regex", "text")]
    assert placeholder.unexpected_count == 3  # NULL, nan, #N/A; not "Nancy" or "Nantes"
    assert not validation.success


def test_empty_batch_fails_row_count() -> None:
    validation = validate_recipients(rendered_frame([]), TextLimits())
    assert ("expect_table_row_count_to_be_between", None) in _failed(validation)


def test_validation_is_fast(spec: CampaignSpec, good_frame: pd.DataFrame) -> None:
    validate_recipients(good_frame, spec.text_limits)  # GX imported by now
    big = pd.concat([good_frame] * 200, ignore_index=True)  # 10,400 rows
    big["recipient_id"] = [f"id-{i}" for i in range(len(big))]
    start = time.perf_counter()
    validation = validate_recipients(big, spec.text_limits, required_columns=_required(spec))
    elapsed = time.perf_counter() - start
    assert validation.success, validation.failed
    assert elapsed < 2.0, elapsed
