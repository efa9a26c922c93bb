"""erasure tombstones

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 12:50:50.746597
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("erased_at", sa.DateTime(), nullable=False),
        sa.Column("request_ref", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("person_id"),
    )


def downgrade() -> None:
    op.drop_table("erasures")
