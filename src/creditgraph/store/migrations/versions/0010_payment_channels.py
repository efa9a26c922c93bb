"""repayment intents confirmed by payment channels, and refunds that wait for an officer

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-21 09:00:00

Money reaches a loan only from a payment channel: a borrower's app records an intent, a channel
confirms it with its own reference and the amount it received, and only then is a repayment
posted. Credit left when a loan closes is a refund due (a liability) until an officer approves
its payout.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "repayment_intents",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("loan_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_by_key_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=True),
        sa.Column("channel_reference", sa.String(length=200), nullable=True),
        sa.Column("confirmed_amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("transaction_id", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "channel_reference", name="uq_repayment_intents_reference"),
    )
    op.create_index("ix_repayment_intents_loan_id", "repayment_intents", ["loan_id"])
    op.create_table(
        "loan_refunds",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("loan_id", sa.String(length=40), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("source_transaction_id", sa.String(length=40), nullable=False),
        sa.Column("approved_by", sa.String(length=100), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("transaction_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_transaction_id", name="uq_loan_refunds_source"),
    )
    op.create_index("ix_loan_refunds_loan_id", "loan_refunds", ["loan_id"])
    op.create_index("ix_loan_refunds_status", "loan_refunds", ["status"])


def downgrade() -> None:
    op.drop_index("ix_loan_refunds_status", table_name="loan_refunds")
    op.drop_index("ix_loan_refunds_loan_id", table_name="loan_refunds")
    op.drop_table("loan_refunds")
    op.drop_index("ix_repayment_intents_loan_id", table_name="repayment_intents")
    op.drop_table("repayment_intents")
