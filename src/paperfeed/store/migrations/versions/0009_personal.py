"""The reader's own data: saved papers with notes, tags, followed authors, "not interested",
papers already shown ("seen"), keyword rules and the tokens of private feeds.

Every table hangs on ``users`` with ON DELETE CASCADE, so deleting an account deletes its
library; a tag hangs on the saved paper, so unsaving a paper drops its tags.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _user(primary_key: bool = False) -> sa.Column[int]:
    return sa.Column(
        "user_id",
        sa.Integer,
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


def _paper() -> sa.Column[str]:
    return sa.Column(
        "paper_id",
        sa.String(64),
        sa.ForeignKey("papers.arxiv_id", ondelete="CASCADE"),
        primary_key=True,
    )


def upgrade() -> None:
    op.create_table(
        "saved_papers",
        _user(primary_key=True),
        _paper(),
        sa.Column("note", sa.Text, nullable=True, comment="the reader's note, plain text"),
        sa.Column("saved_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_saved_papers_user_saved_at", "saved_papers", ["user_id", "saved_at"])
    op.create_index("ix_saved_papers_paper_id", "saved_papers", ["paper_id"])

    op.create_table(
        "tags",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _user(),
        sa.Column("name", sa.String(64), nullable=False, comment="as first typed"),
        sa.Column("key", sa.String(64), nullable=False, comment="case-folded, spaces collapsed"),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_tags_user_key", "tags", ["user_id", "key"], unique=True)

    op.create_table(
        "paper_tags",
        sa.Column(
            "tag_id", sa.Integer, sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("paper_id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("tagged_at", sa.DateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id", "paper_id"],
            ["saved_papers.user_id", "saved_papers.paper_id"],
            ondelete="CASCADE",
            name="fk_paper_tags_saved_papers",
        ),
    )
    op.create_index("ix_paper_tags_user_paper", "paper_tags", ["user_id", "paper_id"])

    op.create_table(
        "followed_authors",
        _user(primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True, comment="case- and accent-folded name"),
        sa.Column("name", sa.String(200), nullable=False, comment="as typed"),
        sa.Column("followed_at", sa.DateTime, nullable=False),
    )

    op.create_table(
        "paper_feedback",
        _user(primary_key=True),
        _paper(),
        sa.Column("kind", sa.String(16), nullable=False, comment="not_interested"),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )

    op.create_table(
        "seen_papers",
        _user(primary_key=True),
        _paper(),
        sa.Column("first_seen_at", sa.DateTime, nullable=False),
        sa.Column(
            "via", sa.String(8), nullable=False, comment="web|digest: where it was first shown"
        ),
    )

    op.create_table(
        "keyword_rules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _user(),
        sa.Column("kind", sa.String(8), nullable=False, comment="include|exclude"),
        sa.Column("text", sa.String(100), nullable=False),
        sa.Column("key", sa.String(100), nullable=False, comment="case-folded, spaces collapsed"),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index(
        "ix_keyword_rules_user_kind_key", "keyword_rules", ["user_id", "kind", "key"], unique=True
    )

    op.create_table(
        "feed_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _user(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, comment="sha256 of the token"),
        sa.Column(
            "prefix", sa.String(16), nullable=False, comment="first characters, to tell apart"
        ),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("last_used_at", sa.DateTime, nullable=True),
        sa.Column("revoked_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_feed_tokens_token_hash", "feed_tokens", ["token_hash"], unique=True)
    op.create_index("ix_feed_tokens_user_id", "feed_tokens", ["user_id"])


def downgrade() -> None:
    for table in (
        "feed_tokens",
        "keyword_rules",
        "seen_papers",
        "paper_feedback",
        "followed_authors",
        "paper_tags",
        "tags",
        "saved_papers",
    ):
        op.drop_table(table)
