"""loans, instalments, transactions, the double-entry journal, loan events and end-of-day runs

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 09:00:00

Money is integer fen; rates are exact decimal strings. Each journal line has exactly one positive
side (a check constraint), and every posting's lines balance (checked when posted).
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _fen(name: str, default: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.BigInteger(), nullable=False, server_default="0" if default else None)


def upgrade() -> None:
    op.create_table(
        "loans",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("decision_id", sa.String(length=40), nullable=False),
        sa.Column("offer_index", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("applicant_ref", sa.String(length=100), nullable=True),
        sa.Column("product_code", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        _fen("principal_fen"),
        _fen("upfront_fee_fen"),
        _fen("fee_per_period_fen", default=True),
        sa.Column("nominal_rate", sa.String(length=32), nullable=False),
        sa.Column("penalty_rate", sa.String(length=32), nullable=False),
        sa.Column("all_in_rate", sa.String(length=32), nullable=True),
        sa.Column("prepayment_fee_rate", sa.String(length=32), nullable=False),
        sa.Column("allocation_order", sa.String(length=100), nullable=False),
        sa.Column("method", sa.String(length=30), nullable=False),
        sa.Column("frequency", sa.String(length=20), nullable=False),
        sa.Column("day_count", sa.String(length=20), nullable=False),
        sa.Column("periods", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("disbursed_on", sa.Date(), nullable=True),
        sa.Column("first_due", sa.Date(), nullable=True),
        sa.Column("maturity", sa.Date(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("written_off_on", sa.Date(), nullable=True),
        _fen("credit_fen", default=True),
        sa.Column("schedule_version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("dpd", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("bucket", sa.String(length=4), nullable=False, server_default="M0"),
        sa.Column("npa", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("overdue_since", sa.Date(), nullable=True),
        sa.Column("accrued_through", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("decision_id"),
    )
    op.create_index("ix_loans_person_id", "loans", ["person_id"])
    op.create_index("ix_loans_state", "loans", ["state"])
    op.create_table(
        "loan_instalments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("loan_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        _fen("principal_due_fen"),
        _fen("interest_due_fen"),
        _fen("fee_due_fen"),
        _fen("principal_paid_fen", default=True),
        _fen("interest_paid_fen", default=True),
        _fen("fee_paid_fen", default=True),
        _fen("interest_accrued_fen", default=True),
        _fen("penalty_accrued_fen", default=True),
        _fen("penalty_paid_fen", default=True),
        sa.Column("superseded", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("schedule_version", sa.Integer(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "loan_id", "schedule_version", "number", name="uq_loan_instalments_version_number"
        ),
    )
    op.create_index("ix_loan_instalments_loan_id", "loan_instalments", ["loan_id"])
    op.create_table(
        "loan_transactions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("loan_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        _fen("amount_fen"),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_sha256", sa.String(length=64), nullable=True),
        sa.Column("reversal_of", sa.String(length=40), nullable=True),
        sa.Column("reversed_by", sa.String(length=40), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_loan_transactions_loan_id", "loan_transactions", ["loan_id"])
    op.create_table(
        "journal_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("transaction_id", sa.String(length=40), nullable=False),
        sa.Column("loan_id", sa.String(length=40), nullable=False),
        sa.Column("account", sa.String(length=30), nullable=False),
        _fen("debit_fen"),
        _fen("credit_fen"),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.CheckConstraint(
            "(debit_fen > 0 AND credit_fen = 0) OR (debit_fen = 0 AND credit_fen > 0)",
            name="ck_journal_lines_one_side",
        ),
        sa.ForeignKeyConstraint(["transaction_id"], ["loan_transactions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_journal_lines_transaction_id", "journal_lines", ["transaction_id"])
    op.create_index("ix_journal_lines_loan_id", "journal_lines", ["loan_id"])
    op.create_table(
        "loan_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("loan_id", sa.String(length=40), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=True),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("event", sa.String(length=30), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("transaction_id", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_loan_events_loan_id", "loan_events", ["loan_id"])
    op.create_table(
        "eod_runs",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("loans_processed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("business_date"),
    )


def downgrade() -> None:
    op.drop_table("eod_runs")
    op.drop_index("ix_loan_events_loan_id", table_name="loan_events")
    op.drop_table("loan_events")
    op.drop_index("ix_journal_lines_loan_id", table_name="journal_lines")
    op.drop_index("ix_journal_lines_transaction_id", table_name="journal_lines")
    op.drop_table("journal_lines")
    op.drop_index("ix_loan_transactions_loan_id", table_name="loan_transactions")
    op.drop_table("loan_transactions")
    op.drop_index("ix_loan_instalments_loan_id", table_name="loan_instalments")
    op.drop_table("loan_instalments")
    op.drop_index("ix_loans_state", table_name="loans")
    op.drop_index("ix_loans_person_id", table_name="loans")
    op.drop_table("loans")
