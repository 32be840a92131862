"""Provenance (source and last refresh of each paper), version history, job runs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("papers") as batch:
        batch.add_column(
            sa.Column(
                "source",
                sa.String(32),
                nullable=True,
                comment="the source that last wrote this paper",
            )
        )
        batch.add_column(
            sa.Column(
                "refreshed_at",
                sa.DateTime,
                nullable=True,
                comment="last time a source confirmed or changed it, UTC",
            )
        )
    op.create_index("ix_papers_source", "papers", ["source"])
    op.create_table(
        "paper_versions",
        sa.Column("paper_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("dated", sa.DateTime, nullable=True, comment="when arXiv dated it, UTC"),
        sa.Column("seen_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("paper_id", "version", name="pk_paper_versions"),
        sa.ForeignKeyConstraint(
            ["paper_id"],
            ["papers.arxiv_id"],
            ondelete="CASCADE",
            name="fk_paper_versions_paper_id_papers",
        ),
    )
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_job_runs"),
    )
    op.create_index("ix_job_runs_job", "job_runs", ["job"])


def downgrade() -> None:
    op.drop_table("job_runs")
    op.drop_table("paper_versions")
    op.drop_index("ix_papers_source", "papers")
    with op.batch_alter_table("papers") as batch:
        batch.drop_column("refreshed_at")
        batch.drop_column("source")
