"""memo (off-balance) penalty on instalments of non-performing loans

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-20 09:00:00

``penalty_memo_fen`` is the part of a row's ``penalty_accrued_fen`` that was accrued while the
loan was NPA and so never booked to penalty_receivable; a payment of it is income on receipt.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("loan_instalments") as batch:
        batch.add_column(
            sa.Column("penalty_memo_fen", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("loan_instalments") as batch:
        batch.drop_column("penalty_memo_fen")
