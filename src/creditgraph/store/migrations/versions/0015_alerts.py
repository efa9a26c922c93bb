"""alerts and their actions: alerts, the action audit, credit limit controls, the collections list

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 14:30:00

An alert is a finding folded with its repeats under a dedup key; every action a versioned policy
takes for it, and every lifecycle step, is a row of ``alert_actions`` with the policy's version
and hash. ``credit_limit_controls`` freeze or cap a person's new credit until lifted (servicing
and the decision service read them); ``collections_list`` names people and loans to follow up.
No table here moves money.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("type", sa.String(30), nullable=False),
        sa.Column("rule", sa.String(60), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("person_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("dedup_key", sa.String(300), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("repeat_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("acknowledged_by", sa.String(100), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("acknowledged_note", sa.String(1000), nullable=True),
        sa.Column("resolved_by", sa.String(100), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_note", sa.String(1000), nullable=True),
    )
    op.create_index("ix_alerts_type", "alerts", ["type"])
    op.create_index("ix_alerts_person_id", "alerts", ["person_id"])
    op.create_index("ix_alerts_dedup_key", "alerts", ["dedup_key"])
    op.create_index("ix_alerts_status_id", "alerts", ["status", "id"])
    op.create_table(
        "alert_actions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(40), nullable=True),
        sa.Column("person_id", sa.String(40), nullable=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(200), nullable=False),
        sa.Column("policy_version", sa.String(40), nullable=True),
        sa.Column("policy_hash", sa.String(64), nullable=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_alert_actions_alert_id", "alert_actions", ["alert_id"])
    op.create_index("ix_alert_actions_person_id", "alert_actions", ["person_id"])
    op.create_table(
        "credit_limit_controls",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("person_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("cap_fen", sa.BigInteger(), nullable=True),
        sa.Column("alert_id", sa.String(40), nullable=True),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("lifted_at", sa.DateTime(), nullable=True),
        sa.Column("lifted_by", sa.String(100), nullable=True),
        sa.Column("lift_note", sa.String(1000), nullable=True),
    )
    op.create_index(
        "ix_credit_limit_controls_person_lifted",
        "credit_limit_controls",
        ["person_id", "lifted_at"],
    )
    op.create_table(
        "collections_list",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("person_id", sa.String(40), nullable=False),
        sa.Column("loan_id", sa.String(40), nullable=True),
        sa.Column("alert_id", sa.String(40), nullable=True),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.Column("added_by", sa.String(100), nullable=False),
    )
    op.create_index("ix_collections_list_person_id", "collections_list", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_collections_list_person_id", table_name="collections_list")
    op.drop_table("collections_list")
    op.drop_index("ix_credit_limit_controls_person_lifted", table_name="credit_limit_controls")
    op.drop_table("credit_limit_controls")
    op.drop_index("ix_alert_actions_person_id", table_name="alert_actions")
    op.drop_index("ix_alert_actions_alert_id", table_name="alert_actions")
    op.drop_table("alert_actions")
    op.drop_index("ix_alerts_status_id", table_name="alerts")
    op.drop_index("ix_alerts_dedup_key", table_name="alerts")
    op.drop_index("ix_alerts_person_id", table_name="alerts")
    op.drop_index("ix_alerts_type", table_name="alerts")
    op.drop_table("alerts")
