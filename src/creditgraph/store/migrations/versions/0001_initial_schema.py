"""initial schema: ingestion, people, consents, loans

Revision ID: 0001
Revises:
Create Date: 2026-11-28 11:57:09.212532
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_batches",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("source", sa.String(length=100), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("contract_version", sa.String(length=10), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "ingest_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.Column("table_name", sa.String(length=40), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("file_format", sa.String(length=10), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("rows_read", sa.BigInteger(), nullable=False),
        sa.Column("accepted", sa.BigInteger(), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.Column("duplicates", sa.BigInteger(), nullable=False),
        sa.Column("quarantined", sa.BigInteger(), nullable=False),
        sa.Column("ignored_columns", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["ingest_batches.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ingest_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ingest_files_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ingest_files_sha256"), ["sha256"], unique=False)

    op.create_table(
        "persons",
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("segment", sa.String(length=30), nullable=False),
        sa.Column("region_tier", sa.String(length=10), nullable=False),
        sa.Column("birth_year", sa.Integer(), nullable=False),
        sa.Column("gender", sa.String(length=12), nullable=True),
        sa.Column("occupation", sa.String(length=200), nullable=False),
        sa.Column("declared_monthly_income_fen", sa.BigInteger(), nullable=False),
        sa.Column("registered_at", sa.DateTime(), nullable=False),
        sa.Column("phone_pseudonym", sa.String(length=40), nullable=True),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["ingest_batches.id"],
        ),
        sa.PrimaryKeyConstraint("person_id"),
    )
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_persons_phone_pseudonym"), ["phone_pseudonym"], unique=False
        )

    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("text_version", sa.String(length=50), nullable=False),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["ingest_batches.id"],
        ),
        sa.ForeignKeyConstraint(["person_id"], ["persons.person_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("person_id", "source", "purpose", "granted_at", name="uq_consent_key"),
    )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index("ix_consent_lookup", ["purpose", "person_id"], unique=False)

    op.create_table(
        "external_loans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("lender", sa.String(length=100), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("max_dpd", sa.Integer(), nullable=False),
        sa.Column("reported_at", sa.DateTime(), nullable=False),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["ingest_batches.id"],
        ),
        sa.ForeignKeyConstraint(["person_id"], ["persons.person_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("row_hash"),
    )
    with op.batch_alter_table("external_loans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_external_loans_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "loan_outcomes",
        sa.Column("loan_id", sa.String(length=100), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("applied_at", sa.DateTime(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("defaulted", sa.Boolean(), nullable=False),
        sa.Column("observed_at", sa.DateTime(), nullable=False),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["ingest_batches.id"],
        ),
        sa.ForeignKeyConstraint(["person_id"], ["persons.person_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("loan_id"),
    )
    with op.batch_alter_table("loan_outcomes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loan_outcomes_person_id"), ["person_id"], unique=False)

    op.create_table(
        "person_identities",
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["persons.person_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("person_id"),
        sa.UniqueConstraint("external_id"),
    )


def downgrade() -> None:
    op.drop_table("person_identities")
    with op.batch_alter_table("loan_outcomes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loan_outcomes_person_id"))

    op.drop_table("loan_outcomes")
    with op.batch_alter_table("external_loans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_external_loans_person_id"))

    op.drop_table("external_loans")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_lookup")

    op.drop_table("consents")
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_persons_phone_pseudonym"))

    op.drop_table("persons")
    with op.batch_alter_table("ingest_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_files_sha256"))
        batch_op.drop_index(batch_op.f("ix_ingest_files_batch_id"))

    op.drop_table("ingest_files")
    op.drop_table("ingest_batches")
