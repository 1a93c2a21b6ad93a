"""The Great Expectations suite over a campaign's rendered recipients.

A batch-level report, run after the per-row checks of
:func:`voicemill.campaign.recipients.prepare_recipients` (which quarantine single
rows): it states, in the same GX terms as the training manifest suite, that the
rows going to synthesis have unique non-empty ids, the columns the templates read,
and texts within the campaign's length limits. One expectation sees what no row filter
can: texts that carry a spreadsheet or database placeholder (``NULL``, ``nan``,
``#N/A``, ``undefined``) where a value should be. Each such cell is a well-formed
string, so every row passes, yet the batch would say "Hello NULL" to real people; it
is the signature of a broken CRM export, and the report names the rows. Built in code like
:mod:`.manifest_suite` (GX 1.x, ephemeral context) and reusing its outcome type.

The frame is :func:`voicemill.campaign.recipients.rendered_frame`: ``recipient_id``,
``template_id``, ``text``, ``text_chars`` and one column per template variable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voicemill.campaign.spec import TextLimits
from voicemill.quality.manifest_suite import ExpectationOutcome, run_suite

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RecipientsValidation", "build_recipients_suite", "validate_recipients"]

BASE_COLUMNS = ("recipient_id", "template_id", "text", "text_chars")
# Placeholders exports write for missing values ("None" is left out: it is an English
# word that starts sentences).
EXPORT_PLACEHOLDER_RE = (
    r"(?<![A-Za-z0-9])(?:nan|NaN|NULL|null|undefined|N/A|#N/A|#VALUE!|#REF!|#NAME\?)"
    r"(?![A-Za-z0-9])"
)
MAX_RECIPIENT_ID_CHARS = 256


@dataclass(frozen=True)
class RecipientsValidation:
    success: bool
    outcomes: list[ExpectationOutcome]

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]


def build_recipients_suite(
    limits: TextLimits,
    required_columns: Iterable[str] = (),
    template_ids: Iterable[str] | None = None,
):  # -> gx.ExpectationSuite
    """The suite: at least one row, the base and ``required_columns`` present, ids
    unique and 1-256 characters, texts non-null with ``limits`` characters, and
    (when given) every ``template_id`` one of ``template_ids``."""
    import great_expectations as gx
    from great_expectations import expectations as gxe

    columns = list(dict.fromkeys([*BASE_COLUMNS, *sorted(required_columns)]))
    suite = gx.ExpectationSuite(name="campaign_recipients")
    expectations = [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *(gxe.ExpectColumnToExist(column=column) for column in columns),
        gxe.ExpectColumnValuesToNotBeNull(column="recipient_id"),
        gxe.ExpectColumnValuesToBeUnique(column="recipient_id"),
        gxe.ExpectColumnValueLengthsToBeBetween(
            column="recipient_id", min_value=1, max_value=MAX_RECIPIENT_ID_CHARS
        ),
        gxe.ExpectColumnValuesToNotBeNull(column="text"),
        gxe.ExpectColumnValuesToNotMatchRegex(column="text", regex=EXPORT_PLACEHOLDER_RE),
        gxe.ExpectColumnValuesToBeBetween(
            column="text_chars", min_value=limits.min_chars, max_value=limits.max_chars
        ),
    ]
    if template_ids is not None:
        expectations.append(
            gxe.ExpectColumnValuesToBeInSet(column="template_id", value_set=sorted(template_ids))
        )
    for expectation in expectations:
        suite.add_expectation(expectation)
    return suite


def validate_recipients(
    rendered_frame: pd.DataFrame,
    limits: TextLimits,
    *,
    required_columns: Iterable[str] = (),
    template_ids: Iterable[str] | None = None,
) -> RecipientsValidation:
    """Run the suite on a rendered-recipients frame in an ephemeral GX context."""
    success, outcomes = run_suite(
        rendered_frame,
        "campaign",
        lambda: build_recipients_suite(limits, required_columns, template_ids),
    )
    return RecipientsValidation(success=success, outcomes=outcomes)
