"""Release registry: speaker profiles, alias audit trail, nightly regression history.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_NOW = sa.text("now()")


def upgrade() -> None:
    # One row per profile version; a new version only when the voice's identity changes
    # (reference audio, prompt text, language, presets). Scores are measurements of a
    # version and are updated in place.
    op.create_table(
        "speaker_profiles",
        sa.Column("profile_id", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("speaker", sa.Text, nullable=False),
        sa.Column("language", sa.Text, nullable=False),
        sa.Column("reference_sha256", sa.Text, nullable=False),
        sa.Column("reference_uri", sa.Text, nullable=False),
        sa.Column("prompt_text", sa.Text),
        sa.Column("presets", JSONB, nullable=False),
        sa.Column("content_sha256", sa.Text, nullable=False),
        sa.Column("model_name", sa.Text),
        sa.Column("quality_scores", JSONB, nullable=False, server_default="{}"),
        sa.Column("evaluated_model_version", sa.Text),
        sa.Column("evaluated_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.PrimaryKeyConstraint("profile_id", "version", name="pk_speaker_profiles"),
        sa.CheckConstraint("version >= 1", name="ck_speaker_profiles_version"),
    )
    # Every alias move in the model registry, with who, when and why: the registry
    # itself only keeps where an alias points now.
    op.create_table(
        "model_alias_events",
        sa.Column("event_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("model_name", sa.Text, nullable=False),
        sa.Column("alias", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("previous_version", sa.Text),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("details", JSONB, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.CheckConstraint(
            "action IN ('register', 'promote', 'rollback', 'gate_failed')",
            name="ck_model_alias_events_action",
        ),
    )
    op.create_index(
        "ix_model_alias_events_model", "model_alias_events", ["model_name", "alias", "event_id"]
    )
    op.create_table(
        "regression_results",
        sa.Column("result_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("model_name", sa.Text, nullable=False),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("benchmark_fingerprint", sa.Text, nullable=False),
        sa.Column("scores", JSONB, nullable=False),
        sa.Column("baseline", JSONB, nullable=False),
        sa.Column("drift", JSONB, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("run_id", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
    )
    op.create_index(
        "ix_regression_results_model", "regression_results", ["model_name", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_regression_results_model", table_name="regression_results")
    op.drop_table("regression_results")
    op.drop_index("ix_model_alias_events_model", table_name="model_alias_events")
    op.drop_table("model_alias_events")
    op.drop_table("speaker_profiles")
