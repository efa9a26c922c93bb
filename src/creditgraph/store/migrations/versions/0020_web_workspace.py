"""web workspace: users with argon2 passwords, browser sessions, privileged actions

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 23:30:00

``web_users`` are the lender's staff who log in to the workspace (API keys stay for machines);
``web_sessions`` keeps the SHA-256 of each session cookie's token, its CSRF token, language and
expiry; ``workspace_actions`` records every privileged action (logins, reviews decided, alerts
handled, profiles revealed, users created or disabled), each committed to the audit log.
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_users",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime()),
        sa.Column("disabled_at", sa.DateTime()),
        sa.UniqueConstraint("name", name="uq_web_users_name"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("lang", sa.String(5), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime()),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_table(
        "workspace_actions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20)),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(100)),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("detail", sa.JSON()),
    )
    op.create_index("ix_workspace_actions_at", "workspace_actions", ["at"])
    op.create_index("ix_workspace_actions_actor_at", "workspace_actions", ["actor", "at"])


def downgrade() -> None:
    op.drop_index("ix_workspace_actions_actor_at", "workspace_actions")
    op.drop_index("ix_workspace_actions_at", "workspace_actions")
    op.drop_table("workspace_actions")
    op.drop_index("ix_web_sessions_user_id", "web_sessions")
    op.drop_table("web_sessions")
    op.drop_table("web_users")
