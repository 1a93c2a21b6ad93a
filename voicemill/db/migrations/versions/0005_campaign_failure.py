"""Campaigns: why a campaign failed; release gates: passing verdicts are recorded too.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Set when a run marks the campaign failed (recipients changed, no valid recipient,
    # an internal error); cleared when a later run starts it again.
    op.add_column("campaigns", sa.Column("failure_reason", sa.Text))
    op.add_column("campaigns", sa.Column("failure_detail", sa.Text))
    op.create_check_constraint(
        "ck_campaigns_failure",
        "campaigns",
        "(failure_reason IS NULL) = (failure_detail IS NULL)",
    )


    # voice_champion promotes only a version whose latest gate verdict passed.
    op.drop_constraint("ck_model_alias_events_action", "model_alias_events", type_="check")
    op.create_check_constraint(
        "ck_model_alias_events_action",
        "model_alias_events",
        "action IN ('register', 'promote', 'rollback', 'gate_failed', 'gate_passed')",
    )


def downgrade() -> None:
    op.execute("DELETE FROM model_alias_events WHERE action = 'gate_passed'")
    op.drop_constraint("ck_model_alias_events_action", "model_alias_events", type_="check")
    op.create_check_constraint(
        "ck_model_alias_events_action",
        "model_alias_events",
        "action IN ('register', 'promote', 'rollback', 'gate_failed')",
    )
    op.drop_constraint("ck_campaigns_failure", "campaigns", type_="check")
    op.drop_column("campaigns", "failure_detail")
    op.drop_column("campaigns", "failure_reason")
