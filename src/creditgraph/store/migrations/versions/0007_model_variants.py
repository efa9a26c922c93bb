"""model variants: a champion with social data and one without

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 09:00:00

Applicants who withhold the credit_assessment consent are scored by a model trained without any
social feature, not by the social model with its inputs blanked. Each variant has its own
champion; existing versions are the ``social`` variant.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(
            sa.Column("variant", sa.String(length=20), nullable=False, server_default="social")
        )
        batch.create_index("ix_model_versions_variant", ["variant"])


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_index("ix_model_versions_variant")
        batch.drop_column("variant")
