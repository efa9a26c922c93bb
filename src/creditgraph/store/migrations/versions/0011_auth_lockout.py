"""failed authentications and lock-outs, for rate limiting across workers and restarts

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-22 03:00:00

Each failed authentication (and each lock-out it triggers) is one row: the key prefix the client
sent, a keyed hash of the client's address, the time and the outcome. Never a secret. Lock-outs
are read from these rows, so every worker and every restart sees the same state.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("key_prefix", sa.String(length=16), nullable=True),
        sa.Column("client", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_auth_events_client_at", "auth_events", ["client", "at"])


def downgrade() -> None:
    op.drop_index("ix_auth_events_client_at", table_name="auth_events")
    op.drop_table("auth_events")
