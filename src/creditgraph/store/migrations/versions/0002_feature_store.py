"""feature store: snapshots and online features

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 12:22:06.922538
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_snapshots",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("feature_set_version", sa.String(length=20), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("engine", sa.String(length=20), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("data_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("feature_snapshots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feature_snapshots_as_of"), ["as_of"], unique=False)

    op.create_table(
        "online_features",
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("feature_set_version", sa.String(length=20), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("snapshot_id", sa.String(length=80), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("person_id"),
    )


def downgrade() -> None:
    op.drop_table("online_features")
    with op.batch_alter_table("feature_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feature_snapshots_as_of"))

    op.drop_table("feature_snapshots")
