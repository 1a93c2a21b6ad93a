"""Campaign audit trail (campaigns, deliveries, delivery events) and the synthesis cache.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_NOW = sa.text("now()")
_DELIVERY_STATUSES = "('pending', 'published', 'failed', 'rejected')"


def upgrade() -> None:
    # One row per submitted campaign. The voice (profile version, model version, preset)
    # is pinned when the campaign's partition first starts, so a re-run reuses it.
    op.create_table(
        "campaigns",
        sa.Column("campaign_id", sa.Text, primary_key=True),
        sa.Column("spec", JSONB, nullable=False),
        sa.Column("spec_sha256", sa.Text, nullable=False),
        sa.Column("recipients_uri", sa.Text, nullable=False),
        sa.Column("recipients_sha256", sa.Text, nullable=False),
        sa.Column("voice_profile", sa.Text, nullable=False),
        sa.Column("use_case", sa.Text, nullable=False),
        sa.Column("profile_version", sa.Integer),
        sa.Column("model_name", sa.Text),
        sa.Column("model_version", sa.Text),
        sa.Column("preset", JSONB),
        sa.Column("status", sa.Text, nullable=False, server_default="submitted"),
        sa.Column("submitted_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(
            "status IN ('submitted', 'running', 'completed', 'failed')",
            name="ck_campaigns_status",
        ),
    )
    # One row per recipient row of the recipients file. Row numbers identify rows:
    # a recipient id may repeat in a file (the repeats are rejected rows), but each
    # accepted recipient exists once per campaign.
    op.create_table(
        "deliveries",
        sa.Column("trace_id", sa.Text, primary_key=True),
        sa.Column(
            "campaign_id",
            sa.Text,
            sa.ForeignKey("campaigns.campaign_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("recipient_id", sa.Text, nullable=False),
        sa.Column("row_number", sa.Integer, nullable=False),
        sa.Column("template_id", sa.Text),
        sa.Column("text", sa.Text),
        sa.Column("text_sha256", sa.Text),
        sa.Column("request_key", sa.Text),
        sa.Column("shard", sa.Integer),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error_reason", sa.Text),
        sa.Column("error_detail", sa.Text),
        sa.Column("model_name", sa.Text),
        sa.Column("model_version", sa.Text),
        sa.Column("profile_version", sa.Integer),
        sa.Column("preset", JSONB),
        sa.Column("seed", sa.BigInteger),
        sa.Column("duration_s", sa.Float),
        sa.Column("sample_rate", sa.Integer),
        sa.Column("loudness_lufs", sa.Float),
        sa.Column("true_peak_dbtp", sa.Float),
        sa.Column("storage_key", sa.Text),
        sa.Column("storage_url", sa.Text),
        sa.Column("delivery_url", sa.Text),
        sa.Column("cache_hit", sa.Boolean),
        sa.Column("timings", JSONB, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.UniqueConstraint("campaign_id", "row_number", name="uq_deliveries_row"),
        sa.CheckConstraint(f"status IN {_DELIVERY_STATUSES}", name="ck_deliveries_status"),
        sa.CheckConstraint("row_number >= 1", name="ck_deliveries_row_number"),
        sa.CheckConstraint("attempts >= 0", name="ck_deliveries_attempts"),
        sa.CheckConstraint("shard IS NULL OR shard >= 0", name="ck_deliveries_shard"),
        # A failed or rejected delivery always says why; a published one says where.
        sa.CheckConstraint(
            "status NOT IN ('failed', 'rejected') OR error_reason IS NOT NULL",
            name="ck_deliveries_error_reason",
        ),
        sa.CheckConstraint(
            "status <> 'published' OR storage_key IS NOT NULL",
            name="ck_deliveries_published_key",
        ),
    )
    op.create_index(
        "uq_deliveries_recipient",
        "deliveries",
        ["campaign_id", "recipient_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'rejected'"),
    )
    op.create_index("ix_deliveries_campaign_status", "deliveries", ["campaign_id", "status"])
    # Append-only: one row per status change or failed attempt of a delivery.
    op.create_table(
        "delivery_events",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "trace_id",
            sa.Text,
            sa.ForeignKey("deliveries.trace_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("campaign_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reason", sa.Text),
        sa.Column("detail", sa.Text),
        sa.Column("at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.CheckConstraint(f"status IN {_DELIVERY_STATUSES}", name="ck_delivery_events_status"),
    )
    op.create_index("ix_delivery_events_trace", "delivery_events", ["trace_id", "id"])
    # Raw synthesized audio kept across runs and campaigns, keyed by everything that
    # determines it. audio_sha256 (of the float32 samples) lets a read prove the file
    # is the one that was stored; a mismatch drops the row (self-healing).
    op.create_table(
        "synthesis_cache",
        sa.Column("request_key", sa.Text, primary_key=True),
        sa.Column("audio_path", sa.Text, nullable=False),
        sa.Column("audio_sha256", sa.Text, nullable=False),
        sa.Column("sample_rate", sa.Integer, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("model_name", sa.Text),
        sa.Column("model_version", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.Column("hits", sa.BigInteger, nullable=False, server_default="0"),
        sa.CheckConstraint("sample_rate > 0", name="ck_synthesis_cache_sample_rate"),
        sa.CheckConstraint("hits >= 0", name="ck_synthesis_cache_hits"),
    )


def downgrade() -> None:
    op.drop_table("synthesis_cache")
    op.drop_index("ix_delivery_events_trace", table_name="delivery_events")
    op.drop_table("delivery_events")
    op.drop_index("ix_deliveries_campaign_status", table_name="deliveries")
    op.drop_index("uq_deliveries_recipient", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_table("campaigns")
