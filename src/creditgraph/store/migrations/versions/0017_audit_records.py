"""audit log records: commitments with their salts, checkpoints, witnesses' sizes, day-end digest

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 17:10:00

``audit_records`` is both the outbox (rows with no leaf index yet, found by a partial index) and
the map from a leaf back to its record; the salt makes each commitment unlinkable once erased.
``audit_checkpoints`` keeps every checkpoint the log signed and whether its witness policy let it
be published; ``audit_witness_sizes`` the size each witness last cosigned. ``eod_runs`` gains the
SHA-256 of the trial balance as of the business date, which the day's audit entry commits to,
and ``journal_lines`` an index on the business date that trial balance sums up to.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_records",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("record_id", sa.String(80), nullable=False),
        sa.Column("person_id", sa.String(40)),
        sa.Column("salt", sa.LargeBinary()),
        sa.Column("commitment", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sequenced_at", sa.DateTime()),
        sa.Column("erased_at", sa.DateTime()),
    )
    op.create_index("ix_audit_records_kind_record", "audit_records", ["kind", "record_id", "id"])
    op.create_index("ix_audit_records_person_id", "audit_records", ["person_id"])
    op.create_index(
        "ix_audit_records_pending",
        "audit_records",
        ["id"],
        sqlite_where=sa.text("leaf_index IS NULL"),
        postgresql_where=sa.text("leaf_index IS NULL"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.LargeBinary(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("detail", sa.String(2000)),
    )
    op.create_index("ix_audit_checkpoints_size", "audit_checkpoints", ["size"])
    op.create_table(
        "audit_witness_sizes",
        sa.Column("witness", sa.String(200), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    with op.batch_alter_table("eod_runs") as batch:
        batch.add_column(sa.Column("trial_balance_sha256", sa.String(64)))
    op.create_index("ix_journal_lines_business_date", "journal_lines", ["business_date"])


def downgrade() -> None:
    op.drop_index("ix_journal_lines_business_date", "journal_lines")
    with op.batch_alter_table("eod_runs") as batch:
        batch.drop_column("trial_balance_sha256")
    op.drop_table("audit_witness_sizes")
    op.drop_index("ix_audit_checkpoints_size", "audit_checkpoints")
    op.drop_table("audit_checkpoints")
    op.drop_index("ix_audit_records_pending", "audit_records")
    op.drop_index("ix_audit_records_person_id", "audit_records")
    op.drop_index("ix_audit_records_kind_record", "audit_records")
    op.drop_table("audit_records")
