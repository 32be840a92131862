"""Initial schema: papers, users, feed entries, upvotes, import checkpoints.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JsonList = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # Search needs pgvector; install it when the server has it, and work without it.
        available = bind.exec_driver_sql(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
        ).first()
        if available:
            op.execute("CREATE EXTENSION IF NOT EXISTS vector")

    op.create_table(
        "papers",
        sa.Column("arxiv_id", sa.String(64), nullable=False, comment="without version"),
        sa.Column("version", sa.Integer, nullable=True, comment="latest version seen"),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("abstract", sa.Text, nullable=False),
        sa.Column("authors", JsonList, nullable=False, comment="ordered list of names"),
        sa.Column("categories", JsonList, nullable=True, comment="primary first; NULL = unknown"),
        sa.Column("primary_category", sa.String(32), nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("journal_ref", sa.Text, nullable=True),
        sa.Column("doi", sa.String(256), nullable=True),
        sa.Column("published", sa.DateTime, nullable=True, comment="UTC"),
        sa.Column("updated", sa.DateTime, nullable=True, comment="UTC"),
        sa.Column("first_seen", sa.DateTime, nullable=False, comment="UTC"),
        sa.Column("modified_at", sa.DateTime, nullable=False, comment="last change here, UTC"),
        sa.Column(
            "upvotes",
            sa.Integer,
            nullable=False,
            server_default="0",
            comment="imported_upvotes + rows in upvotes",
        ),
        sa.Column(
            "imported_upvotes",
            sa.Integer,
            nullable=False,
            server_default="0",
            comment="count taken from an import (e.g. Hugging Face)",
        ),
        sa.PrimaryKeyConstraint("arxiv_id", name="pk_papers"),
    )
    op.create_index("ix_papers_published", "papers", ["published"])

    op.create_table(
        "users",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )

    op.create_table(
        "feed_entries",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("paper_id", sa.String(64), nullable=False),
        sa.Column("submitted_by_user_id", sa.Integer, nullable=True),
        sa.Column(
            "submitted_by_name",
            sa.String(128),
            nullable=True,
            comment="name from the source when there is no local user",
        ),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("added_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("day", "paper_id", name="pk_feed_entries"),
        sa.ForeignKeyConstraint(
            ["paper_id"],
            ["papers.arxiv_id"],
            ondelete="CASCADE",
            name="fk_feed_entries_paper_id_papers",
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_user_id"],
            ["users.id"],
            ondelete="SET NULL",
            name="fk_feed_entries_submitted_by_user_id_users",
        ),
    )
    op.create_index("ix_feed_entries_paper_id", "feed_entries", ["paper_id"])

    op.create_table(
        "upvotes",
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("paper_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "paper_id", name="pk_upvotes"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE", name="fk_upvotes_user_id_users"
        ),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.arxiv_id"], ondelete="CASCADE", name="fk_upvotes_paper_id_papers"
        ),
    )
    op.create_index("ix_upvotes_paper_id", "upvotes", ["paper_id"])

    op.create_table(
        "import_checkpoints",
        sa.Column(
            "source_key",
            sa.String(512),
            nullable=False,
            comment="importer + file identity (path, size, mtime)",
        ),
        sa.Column(
            "records_done", sa.Integer, nullable=False, comment="input records fully committed"
        ),
        sa.Column("finished", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("source_key", name="pk_import_checkpoints"),
    )


def downgrade() -> None:
    for table in ("import_checkpoints", "upvotes", "feed_entries", "users", "papers"):
        op.drop_table(table)
