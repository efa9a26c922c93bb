"""audit log tiles: the Merkle tree as C2SP tlog tiles, the entry bundles, the integrated size

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 15:30:00

``audit_tiles`` holds one row per tile (level, index) with its width and its hashes
concatenated; a partial tile is widened in place until it is full. ``audit_entry_bundles``
holds the leaves' bytes 256 to a row. ``audit_peaks`` keeps, for each size an append ended at,
the roots of the complete subtrees the tree is made of, so a proof at that size needs no partial
tile of the right edge. ``audit_tree`` is one row with the integrated size, which an appender
locks so batches integrate one after another.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_tiles",
        sa.Column("level", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("width", sa.SmallInteger(), nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("width BETWEEN 1 AND 256", name="ck_audit_tiles_width"),
    )
    op.create_table(
        "audit_entry_bundles",
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("width", sa.SmallInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("width BETWEEN 1 AND 256", name="ck_audit_entry_bundles_width"),
    )
    op.create_table(
        "audit_peaks",
        sa.Column("size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
    )
    audit_tree = op.create_table(
        "audit_tree",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(audit_tree, [{"id": 1, "size": 0}])


def downgrade() -> None:
    op.drop_table("audit_tree")
    op.drop_table("audit_peaks")
    op.drop_table("audit_entry_bundles")
    op.drop_table("audit_tiles")
