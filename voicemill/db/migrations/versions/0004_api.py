"""Real-time API: keys, per-minute usage windows, one audit row per request.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_NOW = sa.text("now()")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # One row per issued key; never deleted (revoked_at is set instead), so audit rows
    # can always name the key that made a request. key_hash is the hex SHA-256 of the
    # key's secret: the secret is 256 random bits, so nobody can guess it from the
    # hash and a slow password hash (bcrypt, argon2) would only add latency to every
    # request; slow hashes exist to protect low-entropy human passwords.
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("key_hash", sa.Text, nullable=False),
        sa.Column("scopes", ARRAY(sa.Text), nullable=False),
        sa.Column("voices", ARRAY(sa.Text)),  # NULL: every voice
        sa.Column("rpm", sa.Integer),  # NULL: unlimited
        sa.Column("chars_per_min", sa.Integer),  # NULL: unlimited
        sa.Column("created_at", _TS, server_default=_NOW, nullable=False),
        sa.Column("revoked_at", _TS),
        sa.Column("last_used_at", _TS),
        sa.CheckConstraint("key_hash ~ '^[0-9a-f]{64}$'", name="ck_api_keys_hash"),
        sa.CheckConstraint(
            "cardinality(scopes) >= 1 AND scopes <@ ARRAY['synthesize', 'jobs', 'admin']::text[]",
            name="ck_api_keys_scopes",
        ),
        sa.CheckConstraint("voices IS NULL OR cardinality(voices) >= 1", name="ck_api_keys_voices"),
        sa.CheckConstraint("rpm IS NULL OR rpm > 0", name="ck_api_keys_rpm"),
        sa.CheckConstraint(
            "chars_per_min IS NULL OR chars_per_min > 0", name="ck_api_keys_chars_per_min"
        ),
    )
    # A name identifies one live key; a revoked key's name can be issued again.
    op.create_index(
        "uq_api_keys_active_name",
        "api_keys",
        ["name"],
        unique=True,
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    # Fixed one-minute windows per key (window_start on the database clock, so every
    # service process agrees). One upsert per request admits or refuses it under the
    # row lock. requests/chars count admitted requests only; refused counts the rest.
    # last_admitted is the latest upsert's decision, read back through RETURNING
    # (PostgreSQL before 18 cannot return a row's pre-update values).
    op.create_table(
        "api_usage",
        sa.Column(
            "key_id",
            sa.Text,
            sa.ForeignKey("api_keys.key_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("window_start", _TS, nullable=False),
        sa.Column("requests", sa.Integer, nullable=False, server_default="0"),
        sa.Column("chars", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("refused", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_admitted", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.PrimaryKeyConstraint("key_id", "window_start", name="pk_api_usage"),
        sa.CheckConstraint(
            "requests >= 0 AND chars >= 0 AND refused >= 0", name="ck_api_usage_counts"
        ),
    )
    # Append-only: one row per request the service answered, authenticated or not.
    # No key material and, unless the service is configured to keep it, no text.
    op.create_table(
        "api_requests",
        # Clients may send their own X-Request-ID and may reuse one: every request
        # still gets its row, so the request id is indexed, not the key.
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("received_at", _TS, server_default=_NOW, nullable=False),
        sa.Column("key_id", sa.Text),  # NULL when unauthenticated; no FK: audit outlives keys
        sa.Column("route", sa.Text, nullable=False),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("error_code", sa.Text),
        sa.Column("profile_id", sa.Text),
        sa.Column("profile_version", sa.Integer),
        sa.Column("model_name", sa.Text),
        sa.Column("model_version", sa.Text),
        sa.Column("preset", JSONB),
        sa.Column("text_sha256", sa.Text),
        sa.Column("text_chars", sa.Integer),
        sa.Column("text", sa.Text),
        sa.Column("audio_seconds", sa.Float),
        sa.Column("time_to_first_audio_ms", sa.Float),
        sa.Column("latency_ms", sa.Float),
        sa.Column("cache", sa.Text),
        sa.Column("client", sa.Text),  # the User-Agent, nothing else
        sa.CheckConstraint("status BETWEEN 100 AND 599", name="ck_api_requests_status"),
        sa.CheckConstraint(
            "cache IS NULL OR cache IN ('hit', 'miss')", name="ck_api_requests_cache"
        ),
        sa.CheckConstraint("text_chars IS NULL OR text_chars >= 0", name="ck_api_requests_chars"),
    )
    op.create_index("ix_api_requests_received_at", "api_requests", ["received_at"])
    op.create_index("ix_api_requests_request_id", "api_requests", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_api_requests_request_id", table_name="api_requests")
    op.drop_index("ix_api_requests_received_at", table_name="api_requests")
    op.drop_table("api_requests")
    op.drop_table("api_usage")
    op.drop_index("uq_api_keys_active_name", table_name="api_keys")
    op.drop_table("api_keys")
