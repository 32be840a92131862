"""Papers keep their licence (arXiv's OAI-PMH ``arXiv`` format carries it).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("papers") as batch:
        batch.add_column(
            sa.Column(
                "license",
                sa.String(256),
                nullable=True,
                comment="licence URL, when the source gives it",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("papers") as batch:
        batch.drop_column("license")
