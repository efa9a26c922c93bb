"""the event bus's embedded outbox: the event log, consumer offsets, processed events, dead letters

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 07:00:00

``event_outbox`` is append-only with an offset that only grows; a consumer group's offset per
partition and the ``processed_events`` it applied are committed with the handler's effects, so
delivery is at-least-once and handlers keyed by ``event_id`` apply each event once. A poison event
goes to ``event_dead_letters`` with its reason.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

OFFSET = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "event_outbox",
        sa.Column("offset", OFFSET, primary_key=True, autoincrement=True),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(40), nullable=True),
        sa.Column("type", sa.String(60), nullable=True),
        sa.Column("occurred_at", sa.String(40), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
    )
    op.create_index("ix_event_outbox_event_id", "event_outbox", ["event_id"])
    op.create_index("ix_event_outbox_recorded_at", "event_outbox", ["recorded_at"])
    op.create_index("ix_event_outbox_partition_offset", "event_outbox", ["partition", "offset"])
    op.create_table(
        "event_consumer_offsets",
        sa.Column("group", sa.String(100), primary_key=True),
        sa.Column("partition", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "processed_events",
        sa.Column("group", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("processed_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "event_dead_letters",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("group", sa.String(100), nullable=False),
        sa.Column("delivery_id", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("person_id", sa.String(40), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("dead_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_event_dead_letters_group_at", "event_dead_letters", ["group", "dead_at"])


def downgrade() -> None:
    op.drop_index("ix_event_dead_letters_group_at", table_name="event_dead_letters")
    op.drop_table("event_dead_letters")
    op.drop_table("processed_events")
    op.drop_table("event_consumer_offsets")
    op.drop_index("ix_event_outbox_partition_offset", table_name="event_outbox")
    op.drop_index("ix_event_outbox_recorded_at", table_name="event_outbox")
    op.drop_index("ix_event_outbox_event_id", table_name="event_outbox")
    op.drop_table("event_outbox")
