"""who runs an ingest batch, and which part each ingested file published

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-23 03:00:00

A batch records its owner (host, process id and the process's start time) and a heartbeat, so
the next ingest can tell a batch whose process was killed from one still running and mark it
failed. Each file records ``part``, the name of its lake part and quarantine file, committed with
its rows: recovery publishes a recorded part that a kill left staged and removes one that was
never recorded. Files of earlier batches get the name those batches gave them (``<nnn>-<stem>``,
``nnn`` the file's position in its batch, which is its rank there: a batch stopped at its first
failed file).
"""

from pathlib import PurePath

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ingest_batches") as batch:
        batch.add_column(sa.Column("owner_host", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("owner_pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("owner_started", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("ingest_files") as batch:
        batch.add_column(sa.Column("part", sa.String(length=200), nullable=True))
    files = sa.table(
        "ingest_files",
        sa.column("id", sa.Integer()),
        sa.column("batch_id", sa.String()),
        sa.column("path", sa.String()),
        sa.column("part", sa.String()),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(files.c.id, files.c.batch_id, files.c.path).order_by(files.c.batch_id, files.c.id)
    ).all()
    rank: dict[str, int] = {}
    for row in rows:
        index = rank.get(row.batch_id, 0)
        rank[row.batch_id] = index + 1
        part = f"{index:03d}-{PurePath(row.path).name.split('.')[0]}"
        conn.execute(sa.update(files).where(files.c.id == row.id).values(part=part))


def downgrade() -> None:
    with op.batch_alter_table("ingest_files") as batch:
        batch.drop_column("part")
    with op.batch_alter_table("ingest_batches") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("owner_started")
        batch.drop_column("owner_pid")
        batch.drop_column("owner_host")
