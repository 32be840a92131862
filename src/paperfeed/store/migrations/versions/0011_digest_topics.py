"""digest_topics: the topics a digest subscriber follows (issue 9: digests filtered by topic).

Topic numbers belong to one period's clustering (topic 3 of this week has nothing to do with
topic 3 of the next), so a followed topic is stored as an anchor that outlives the
clustering: the centroid of the topic's papers (the normalised mean of their embeddings),
with the label and medoid paper it had and the period it was chosen from, for people.
Each digest matches the anchor to the nearest topic of its own period.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paperfeed.store.schema import Embedding

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest_topics",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "subscriber_id",
            sa.Integer,
            sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("label", sa.Text, nullable=False, comment="the topic's terms when chosen"),
        sa.Column(
            "medoid_id",
            sa.String(64),
            nullable=False,
            comment="the topic's medoid paper when chosen (no foreign key: the anchor outlives it)",
        ),
        sa.Column("period", sa.String(32), nullable=False, comment="chosen from: week:2025-W49"),
        sa.Column("topic_number", sa.Integer, nullable=False, comment="its number in that period"),
        sa.Column(
            "vector", Embedding(), nullable=False, comment="centroid of its papers, L2-normalised"
        ),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index(
        "ix_digest_topics_subscriber_id_medoid_id",
        "digest_topics",
        ["subscriber_id", "medoid_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_table("digest_topics")
