"""papers.tldr: one sentence of the abstract standing for the whole, chosen by `paperfeed
index` from the same forward pass that embeds the paper (NULL until then).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "papers",
        sa.Column(
            "tldr",
            sa.Text,
            nullable=True,
            comment="one sentence of the abstract, chosen when embedded; '' none; NULL not yet",
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("papers") as batch:
        batch.drop_column("tldr")
