"""privacy lifecycle: consent receipts, scheduled purges, subject requests, access log, legal holds

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 20:05:00

``consents`` gain the SHA-256 of the consent text the person agreed to (part of the receipt),
how the consent was recorded, and lose the need for an ingest batch (a consent given through the
API or an officer has none). ``privacy_jobs`` are purges a revocation or an erasure schedules
(run by ``lake compact`` and ``retention run``). ``subject_requests`` are a person's requests
under PIPL Art. 44-47 and 24 with their deadlines. ``data_access_log`` records every read of a
person's personal data (who, when, purpose). ``legal_holds`` keep what the law requires after
an erasure (loan accounting records) with the reason and until when.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_PSEUDONYM = sa.String(40)


def upgrade() -> None:
    with op.batch_alter_table("consents") as batch:
        batch.add_column(sa.Column("text_sha256", sa.String(64)))
        batch.add_column(sa.Column("recorded_via", sa.String(20)))
        batch.alter_column("batch_id", existing_type=sa.String(40), nullable=True)
    op.create_table(
        "privacy_jobs",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("person_id", _PSEUDONYM),
        sa.Column("source", sa.String(100)),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime()),
        sa.Column("report", sa.JSON()),
    )
    op.create_index("ix_privacy_jobs_pending", "privacy_jobs", ["done_at", "due_at"])
    op.create_table(
        "subject_requests",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("person_id", _PSEUDONYM, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("requested_by", sa.String(100), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime()),
        sa.Column("detail", sa.JSON()),
        sa.Column("result", sa.JSON()),
    )
    op.create_index("ix_subject_requests_person_id", "subject_requests", ["person_id"])
    op.create_index("ix_subject_requests_status_due", "subject_requests", ["status", "due_at"])
    op.create_table(
        "data_access_log",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("actor_kind", sa.String(10), nullable=False),
        sa.Column("person_id", _PSEUDONYM),
        sa.Column("purpose", sa.String(30), nullable=False),
        sa.Column("data_classes", sa.String(200), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
    )
    op.create_index("ix_data_access_log_person_at", "data_access_log", ["person_id", "at"])
    op.create_table(
        "legal_holds",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("person_id", _PSEUDONYM, nullable=False),
        sa.Column("data_class", sa.String(30), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("basis", sa.String(100), nullable=False),
        sa.Column("held_until", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("released_at", sa.DateTime()),
    )
    op.create_index("ix_legal_holds_person_id", "legal_holds", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_legal_holds_person_id", "legal_holds")
    op.drop_table("legal_holds")
    op.drop_index("ix_data_access_log_person_at", "data_access_log")
    op.drop_table("data_access_log")
    op.drop_index("ix_subject_requests_status_due", "subject_requests")
    op.drop_index("ix_subject_requests_person_id", "subject_requests")
    op.drop_table("subject_requests")
    op.drop_index("ix_privacy_jobs_pending", "privacy_jobs")
    op.drop_table("privacy_jobs")
    with op.batch_alter_table("consents") as batch:
        batch.alter_column("batch_id", existing_type=sa.String(40), nullable=False)
        batch.drop_column("recorded_via")
        batch.drop_column("text_sha256")
