"""Import checkpoints keep a cursor (e.g. an OAI-PMH resumptionToken) besides the count.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("import_checkpoints") as batch:
        batch.add_column(
            sa.Column("cursor", sa.Text, nullable=True, comment="where to resume, source-specific")
        )


def downgrade() -> None:
    with op.batch_alter_table("import_checkpoints") as batch:
        batch.drop_column("cursor")
