"""Data catalog: datasets, recordings, utterances and the quarantine.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("dataset_id", sa.Text, primary_key=True),
        sa.Column("source_uri", sa.Text, nullable=False),
        sa.Column("speaker", sa.Text, nullable=False),
        sa.Column("language", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
    )
    op.create_table(
        "recordings",
        sa.Column("recording_id", sa.Text, primary_key=True),
        sa.Column(
            "dataset_id",
            sa.Text,
            sa.ForeignKey("datasets.dataset_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("content_sha256", sa.Text, nullable=False),
        sa.Column("source_uri", sa.Text, nullable=False),
        sa.Column("source_name", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("stored_path", sa.Text, nullable=False),
        sa.Column("container", sa.Text),
        sa.Column("sample_rate", sa.Integer),
        sa.Column("channels", sa.Integer),
        sa.Column("duration_s", sa.Float),
        sa.Column("transcript", sa.Text),
        sa.Column("language", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("measurements", JSONB),
        # Fingerprint of the inputs and config each stage last processed this recording
        # with; a stage skips recordings whose fingerprint is unchanged.
        sa.Column("stage_fingerprints", JSONB, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.UniqueConstraint("dataset_id", "content_sha256", name="uq_recordings_content"),
        sa.CheckConstraint(
            "status IN ('registered', 'standardized', 'quarantined')",
            name="ck_recordings_status",
        ),
    )
    op.create_table(
        "utterances",
        sa.Column("utterance_id", sa.Text, primary_key=True),
        sa.Column(
            "dataset_id",
            sa.Text,
            sa.ForeignKey("datasets.dataset_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "recording_id",
            sa.Text,
            sa.ForeignKey("recordings.recording_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("segment_index", sa.Integer, nullable=False),
        sa.Column("start_s", sa.Float, nullable=False),
        sa.Column("end_s", sa.Float, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("audio_path", sa.Text),
        sa.Column("clipping_ratio", sa.Float),
        sa.Column("snr_db", sa.Float),
        sa.Column("text", sa.Text),
        sa.Column("normalized_text", sa.Text),
        sa.Column("language", sa.Text),
        sa.Column("words", JSONB),
        sa.Column("alignment_score", sa.Float),
        sa.Column("alignment_method", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("rejection_reason", sa.Text),
        sa.Column("rejection_stage", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.CheckConstraint(
            "status IN ('segmented', 'accepted', 'rejected')", name="ck_utterances_status"
        ),
        sa.CheckConstraint(
            "(status = 'rejected')"
            " = (rejection_reason IS NOT NULL AND rejection_stage IS NOT NULL)",
            name="ck_utterances_rejection",
        ),
    )
    op.create_index("ix_utterances_dataset_status", "utterances", ["dataset_id", "status"])
    op.create_index("ix_utterances_recording", "utterances", ["recording_id"])
    op.create_table(
        "quarantine",
        sa.Column("quarantine_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "dataset_id",
            sa.Text,
            sa.ForeignKey("datasets.dataset_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("stage", sa.Text, nullable=False),
        sa.Column("item", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("recording_id", sa.Text),
        sa.Column("run_id", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.UniqueConstraint("dataset_id", "stage", "item", name="uq_quarantine_item"),
    )


def downgrade() -> None:
    op.drop_table("quarantine")
    op.drop_index("ix_utterances_recording", table_name="utterances")
    op.drop_index("ix_utterances_dataset_status", table_name="utterances")
    op.drop_table("utterances")
    op.drop_table("recordings")
    op.drop_table("datasets")
