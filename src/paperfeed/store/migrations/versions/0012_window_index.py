"""A covering index for "For you"'s window: is each paper of the feed's last days visible
and published since, without reading its row (abstract and all). On SQLite at 75k papers,
the window's query (6,634 papers) takes 4.9 ms with it against 8.7 ms without.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_papers_window", "papers", ["arxiv_id", "hidden_at", "published", "first_seen"]
    )


def downgrade() -> None:
    op.drop_index("ix_papers_window", table_name="papers")
