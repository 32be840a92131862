"""Community: accounts with passwords and roles, sessions, API tokens, comments, moderation
log, rate-limit counters, the site's generated keys; papers can be hidden.

``users`` gains columns and unique indexes without being rebuilt (SQLite rebuilds a table by
copying and dropping it, and with foreign keys on, dropping it would cascade to votes).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _user_fk(
    ondelete: str = "CASCADE", nullable: bool = False, name: str = "user_id"
) -> sa.Column[int]:
    return sa.Column(
        name, sa.Integer, sa.ForeignKey("users.id", ondelete=ondelete), nullable=nullable
    )


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("username_key", sa.String(64), nullable=True, comment="lower-case username"),
    )
    op.add_column("users", sa.Column("email", sa.String(320), nullable=True))
    op.add_column(
        "users", sa.Column("email_key", sa.String(320), nullable=True, comment="lower-case e-mail")
    )
    op.add_column(
        "users",
        sa.Column(
            "password_hash", sa.Text, nullable=True, comment="argon2id; NULL = cannot log in"
        ),
    )
    op.add_column(
        "users",
        sa.Column(
            "role",
            sa.String(16),
            nullable=False,
            server_default="user",
            comment="user|moderator|admin",
        ),
    )
    op.add_column("users", sa.Column("banned_at", sa.DateTime, nullable=True))
    op.add_column("users", sa.Column("password_changed_at", sa.DateTime, nullable=True))
    op.execute("UPDATE users SET username_key = lower(username)")
    op.create_index("ix_users_username_key", "users", ["username_key"], unique=True)
    op.create_index("ix_users_email_key", "users", ["email_key"], unique=True)
    op.add_column(
        "papers",
        sa.Column("hidden_at", sa.DateTime, nullable=True, comment="hidden by a moderator"),
    )

    op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), primary_key=True, comment="sha256 of the cookie's token"),
        _user_fk(),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("last_seen_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(256), nullable=True),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _user_fk(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, comment="sha256 of the token"),
        sa.Column(
            "prefix", sa.String(16), nullable=False, comment="first characters, to tell apart"
        ),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("last_used_at", sa.DateTime, nullable=True),
        sa.Column("revoked_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_api_tokens_token_hash", "api_tokens", ["token_hash"], unique=True)
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])

    op.create_table(
        "comments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "paper_id",
            sa.String(64),
            sa.ForeignKey("papers.arxiv_id", ondelete="CASCADE"),
            nullable=False,
        ),
        _user_fk(),
        sa.Column("body", sa.Text, nullable=False, comment="Markdown as written"),
        sa.Column("body_html", sa.Text, nullable=False, comment="rendered and sanitized"),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("edited_at", sa.DateTime, nullable=True),
        sa.Column("deleted_at", sa.DateTime, nullable=True),
        sa.Column("hidden_at", sa.DateTime, nullable=True, comment="hidden by a moderator"),
    )
    op.create_index("ix_comments_paper_id", "comments", ["paper_id"])
    op.create_index("ix_comments_user_id", "comments", ["user_id"])

    op.create_table(
        "moderation_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _user_fk("SET NULL", nullable=True, name="actor_id"),
        sa.Column("actor_name", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target_type", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_moderation_log_created_at", "moderation_log", ["created_at"])

    op.create_table(
        "rate_counters",
        sa.Column("key", sa.String(256), primary_key=True, comment="action:scope:who:window"),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_rate_counters_expires_at", "rate_counters", ["expires_at"])

    op.create_table(
        "site_keys",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("site_keys", "rate_counters", "moderation_log", "comments", "api_tokens"):
        op.drop_table(table)
    op.drop_table("sessions")
    op.drop_column("papers", "hidden_at")
    op.drop_index("ix_users_email_key", "users")
    op.drop_index("ix_users_username_key", "users")
    for column in (
        "password_changed_at",
        "banned_at",
        "role",
        "password_hash",
        "email_key",
        "email",
        "username_key",
    ):
        op.drop_column("users", column)
