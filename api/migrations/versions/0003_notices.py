"""The customer-notice outbox: notices derived from the event log, webhook subscriptions and
each notice's delivery to each subscriber. A store logged before it owes no notices for its
history: the watermark starts at its last event.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("notice_id", sa.String(40), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_notices_seq", "notices", ["seq"])
    op.create_table(
        "subscriptions",
        sa.Column("subscription_id", sa.String(32), primary_key=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("kinds", sa.JSON, nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("subscription_id", sa.String(32), primary_key=True),
        sa.Column("notice_id", sa.String(40), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_at", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("delivered_at", sa.String(40), nullable=True),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_at"])
    op.execute("INSERT INTO meta (key, value) "
               "SELECT 'notices_seq', CAST(COALESCE(MAX(seq), 0) AS VARCHAR(20)) FROM events")


def downgrade() -> None:
    op.execute("DELETE FROM meta WHERE key = 'notices_seq'")
    op.drop_index("ix_deliveries_due", "deliveries")
    op.drop_table("deliveries")
    op.drop_table("subscriptions")
    op.drop_index("ix_notices_seq", "notices")
    op.drop_table("notices")
