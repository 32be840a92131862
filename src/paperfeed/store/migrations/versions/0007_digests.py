"""E-mail digests: subscribers with their preferences, and the send log that makes each
(subscriber, period) mail go out once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False, comment="lower-case e-mail"),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column(
            "status",
            sa.String(16),
            nullable=False,
            comment="pending|confirmed|unsubscribed|bounced",
        ),
        sa.Column("frequency", sa.String(8), nullable=False, server_default="daily"),
        sa.Column("top_n", sa.Integer, nullable=False, server_default="10"),
        sa.Column("categories", sa.Text, nullable=True, comment="comma-separated; NULL = all"),
        sa.Column("keywords", sa.Text, nullable=True, comment="comma-separated; NULL = all"),
        sa.Column("personalized", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("link_key", sa.String(32), nullable=False, comment="signs this one's links"),
        sa.Column("bounces", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("confirmed_at", sa.DateTime, nullable=True),
        sa.Column("unsubscribed_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_subscribers_email_key", "subscribers", ["email_key"], unique=True)
    op.create_table(
        "digest_sends",
        sa.Column(
            "subscriber_id",
            sa.Integer,
            sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("period", sa.String(32), primary_key=True, comment="daily:DAY or weekly:WEEK"),
        sa.Column("status", sa.String(16), nullable=False, comment="sent|empty|failed"),
        sa.Column("message_id", sa.String(255), nullable=True),
        sa.Column("papers", sa.Integer, nullable=False, server_default="0"),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("digest_sends")
    op.drop_table("subscribers")
