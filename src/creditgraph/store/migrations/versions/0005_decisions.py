"""decisions, review requests and their audit events

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 17:00:00

A decision row is immutable once written: a trigger refuses every UPDATE on both databases, so
no code path (and no hand-written SQL) can alter what was decided.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_IMMUTABLE = "decisions are immutable once written"


def _create_guard() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION creditgraph_decisions_immutable() RETURNS trigger AS $$ "
            f"BEGIN RAISE EXCEPTION '{_IMMUTABLE}'; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER decisions_immutable BEFORE UPDATE ON decisions "
            "FOR EACH ROW EXECUTE FUNCTION creditgraph_decisions_immutable()"
        )
    else:
        op.execute(
            "CREATE TRIGGER decisions_immutable BEFORE UPDATE ON decisions "
            f"BEGIN SELECT RAISE(ABORT, '{_IMMUTABLE}'); END"
        )


def _drop_guard() -> None:
    op.execute("DROP TRIGGER IF EXISTS decisions_immutable ON decisions")
    op.execute("DROP FUNCTION IF EXISTS creditgraph_decisions_immutable()")


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("applicant_ref", sa.String(length=100), nullable=True),
        sa.Column("product_code", sa.String(length=32), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("schedule_type", sa.String(length=30), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("limit_fen", sa.BigInteger(), nullable=False),
        sa.Column("pd", sa.Float(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("grade", sa.String(length=4), nullable=True),
        sa.Column("model_id", sa.String(length=80), nullable=True),
        sa.Column("policy_version", sa.String(length=40), nullable=False),
        sa.Column("policy_hash", sa.String(length=64), nullable=False),
        sa.Column("catalogue_version", sa.String(length=40), nullable=False),
        sa.Column("catalogue_hash", sa.String(length=64), nullable=False),
        sa.Column("config_version", sa.String(length=40), nullable=False),
        sa.Column("config_hash", sa.String(length=64), nullable=False),
        sa.Column("inputs_hash", sa.String(length=64), nullable=False),
        sa.Column("feature_snapshot_id", sa.String(length=80), nullable=True),
        sa.Column("features_as_of", sa.Date(), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("fired_rules", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("offers", sa.JSON(), nullable=False),
        sa.Column("limit_detail", sa.JSON(), nullable=True),
        sa.Column("social_data_used", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_decisions_person_id", "decisions", ["person_id"])
    op.create_index("ix_decisions_applicant_ref", "decisions", ["applicant_ref"])
    op.create_index("ix_decisions_outcome", "decisions", ["outcome"])
    op.create_table(
        "review_requests",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("decision_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("taken_by", sa.String(length=100), nullable=True),
        sa.Column("taken_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(length=100), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("resolution_note", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_review_requests_decision_id", "review_requests", ["decision_id"])
    op.create_index("ix_review_requests_status", "review_requests", ["status"])
    op.create_table(
        "decision_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("decision_id", sa.String(length=40), nullable=False),
        sa.Column("review_id", sa.String(length=40), nullable=True),
        sa.Column("event", sa.String(length=30), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"]),
        sa.ForeignKeyConstraint(["review_id"], ["review_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_decision_events_decision_id", "decision_events", ["decision_id"])
    _create_guard()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _drop_guard()
    else:
        op.execute("DROP TRIGGER IF EXISTS decisions_immutable")
    op.drop_index("ix_decision_events_decision_id", table_name="decision_events")
    op.drop_table("decision_events")
    op.drop_index("ix_review_requests_status", table_name="review_requests")
    op.drop_index("ix_review_requests_decision_id", table_name="review_requests")
    op.drop_table("review_requests")
    op.drop_index("ix_decisions_outcome", table_name="decisions")
    op.drop_index("ix_decisions_applicant_ref", table_name="decisions")
    op.drop_index("ix_decisions_person_id", table_name="decisions")
    op.drop_table("decisions")
