"""Events refused because applying them raised (skipped on every rebuild), and the roster of
the crews the server dispatches (crew tokens must name one of them).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refused_events",
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("stage", sa.String(16), primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("refused_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "roster",
        sa.Column("crew_id", sa.String(64), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("roster")
    op.drop_table("refused_events")
