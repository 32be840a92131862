"""The database schema as SQLAlchemy Core tables.

This is the *current* shape, used to build queries. The migrations in ``migrations/versions``
create it step by step; a test checks that the two agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

EMBEDDING_DIM = 384  # all-MiniLM-L6-v2

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# JSON lists (authors, categories): JSONB on PostgreSQL, JSON text on SQLite.
JsonList = sa.JSON().with_variant(JSONB(), "postgresql")


class Embedding(sa.types.TypeDecorator[np.ndarray]):
    """A float32 vector: pgvector's ``vector`` on PostgreSQL, little-endian bytes on SQLite."""

    impl = sa.LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            from pgvector.sqlalchemy import VECTOR

            return dialect.type_descriptor(VECTOR(EMBEDDING_DIM))
        return dialect.type_descriptor(sa.LargeBinary())

    def process_bind_param(self, value: np.ndarray | None, dialect: sa.Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return np.asarray(value, dtype="<f4").tobytes()

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> np.ndarray | None:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return np.asarray(value, dtype=np.float32)
        return np.frombuffer(value, dtype="<f4")


papers = sa.Table(
    "papers",
    metadata,
    sa.Column("arxiv_id", sa.String(64), primary_key=True, comment="without version"),
    sa.Column("version", sa.Integer, nullable=True, comment="latest version seen"),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("abstract", sa.Text, nullable=False),
    sa.Column("authors", JsonList, nullable=False, comment="ordered list of names"),
    sa.Column("categories", JsonList, nullable=True, comment="primary first; NULL = unknown"),
    sa.Column("primary_category", sa.String(32), nullable=True),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("journal_ref", sa.Text, nullable=True),
    sa.Column("doi", sa.String(256), nullable=True),
    sa.Column(
        "license", sa.String(256), nullable=True, comment="licence URL, when the source gives it"
    ),
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
    sa.Column(
        "source", sa.String(32), nullable=True, comment="the source that last wrote this paper"
    ),
    sa.Column(
        "refreshed_at",
        sa.DateTime,
        nullable=True,
        comment="last time a source confirmed or changed it, UTC",
    ),
    sa.Column(
        "doc_id",
        sa.Integer,
        nullable=True,
        comment="stable integer id for search indexes, set on insert",
    ),
    sa.Column("hidden_at", sa.DateTime, nullable=True, comment="hidden by a moderator"),
    sa.Column(
        "tldr",
        sa.Text,
        nullable=True,
        comment="one sentence of the abstract, chosen when embedded; '' none; NULL not yet",
    ),
    sa.Index("ix_papers_published", "published"),
    sa.Index("ix_papers_source", "source"),
    sa.Index("ix_papers_modified_at", "modified_at"),
    sa.Index("ix_papers_doc_id", "doc_id", unique=True),
    # what "For you" asks of each paper of its window (visible? published since?), answered
    # from the index alone: no read of the paper's row, abstract and all (migration 0012)
    sa.Index("ix_papers_window", "arxiv_id", "hidden_at", "published", "first_seen"),
)

paper_embeddings = sa.Table(
    "paper_embeddings",
    metadata,
    sa.Column(
        "paper_id",
        sa.String(64),
        sa.ForeignKey("papers.arxiv_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("model", sa.String(64), nullable=False),
    sa.Column("text_hash", sa.String(40), nullable=False, comment="sha1 of the embedded text"),
    sa.Column("embedded_at", sa.DateTime, nullable=False),
    sa.Column("vector", Embedding(), nullable=False, comment="L2-normalised"),
    sa.Index("ix_paper_embeddings_embedded_at", "embedded_at"),
)

# Objects the migrations make for one backend only, which the declared schema leaves out:
# SQLite's FTS5 index (a virtual table and its shadow tables), PostgreSQL's generated
# tsvector column with its GIN index and pgvector's HNSW index.
BACKEND_SPECIFIC = (
    "papers_fts",
    "search_vector",
    "ix_papers_search_vector",
    "ix_paper_embeddings_hnsw",
)


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's filter: leave the backend-specific search objects out of comparisons."""
    return not (name or "").startswith(BACKEND_SPECIFIC)


paper_versions = sa.Table(
    "paper_versions",
    metadata,
    sa.Column(
        "paper_id",
        sa.String(64),
        sa.ForeignKey("papers.arxiv_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("dated", sa.DateTime, nullable=True, comment="when arXiv dated it, UTC"),
    sa.Column("seen_at", sa.DateTime, nullable=False),
)

job_runs = sa.Table(
    "job_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(64), nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime, nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Index("ix_job_runs_job", "job"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(128), nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("username_key", sa.String(64), nullable=True, comment="lower-case username"),
    sa.Column("email", sa.String(320), nullable=True),
    sa.Column("email_key", sa.String(320), nullable=True, comment="lower-case e-mail"),
    sa.Column("password_hash", sa.Text, nullable=True, comment="argon2id; NULL = cannot log in"),
    sa.Column(
        "role", sa.String(16), nullable=False, server_default="user", comment="user|moderator|admin"
    ),
    sa.Column("banned_at", sa.DateTime, nullable=True),
    sa.Column("password_changed_at", sa.DateTime, nullable=True),
    sa.Index("ix_users_username_key", "username_key", unique=True),
    sa.Index("ix_users_email_key", "email_key", unique=True),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True, comment="sha256 of the cookie's token"),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_seen_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("ip", sa.String(64), nullable=True),
    sa.Column("user_agent", sa.String(256), nullable=True),
    sa.Index("ix_sessions_user_id", "user_id"),
    sa.Index("ix_sessions_expires_at", "expires_at"),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, comment="sha256 of the token"),
    sa.Column("prefix", sa.String(16), nullable=False, comment="first characters, to tell apart"),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_used_at", sa.DateTime, nullable=True),
    sa.Column("revoked_at", sa.DateTime, nullable=True),
    sa.Index("ix_api_tokens_token_hash", "token_hash", unique=True),
    sa.Index("ix_api_tokens_user_id", "user_id"),
)

comments = sa.Table(
    "comments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "paper_id",
        sa.String(64),
        sa.ForeignKey("papers.arxiv_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("body", sa.Text, nullable=False, comment="Markdown as written"),
    sa.Column("body_html", sa.Text, nullable=False, comment="rendered and sanitized"),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("edited_at", sa.DateTime, nullable=True),
    sa.Column("deleted_at", sa.DateTime, nullable=True),
    sa.Column("hidden_at", sa.DateTime, nullable=True, comment="hidden by a moderator"),
    sa.Index("ix_comments_paper_id", "paper_id"),
    sa.Index("ix_comments_user_id", "user_id"),
)

moderation_log = sa.Table(
    "moderation_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "actor_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column("actor_name", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("target_type", sa.String(16), nullable=False),
    sa.Column("target_id", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index("ix_moderation_log_created_at", "created_at"),
)

rate_counters = sa.Table(
    "rate_counters",
    metadata,
    sa.Column("key", sa.String(256), primary_key=True, comment="action:scope:who:window"),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Index("ix_rate_counters_expires_at", "expires_at"),
)

site_keys = sa.Table(
    "site_keys",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

feed_entries = sa.Table(
    "feed_entries",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column(
        "paper_id",
        sa.String(64),
        sa.ForeignKey("papers.arxiv_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "submitted_by_user_id",
        sa.Integer,
        sa.ForeignKey("users.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column(
        "submitted_by_name",
        sa.String(128),
        nullable=True,
        comment="name from the source when there is no local user",
    ),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("added_at", sa.DateTime, nullable=False),
    sa.Index("ix_feed_entries_paper_id", "paper_id"),
)

upvotes = sa.Table(
    "upvotes",
    metadata,
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "paper_id",
        sa.String(64),
        sa.ForeignKey("papers.arxiv_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index("ix_upvotes_paper_id", "paper_id"),
)

import_checkpoints = sa.Table(
    "import_checkpoints",
    metadata,
    sa.Column(
        "source_key",
        sa.String(512),
        primary_key=True,
        comment="importer + file identity (path, size, mtime)",
    ),
    sa.Column("records_done", sa.Integer, nullable=False, comment="input records fully committed"),
    sa.Column("finished", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("cursor", sa.Text, nullable=True, comment="where to resume, source-specific"),
)

subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("email_key", sa.String(320), nullable=False, comment="lower-case e-mail"),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    sa.Column(
        "status", sa.String(16), nullable=False, comment="pending|confirmed|unsubscribed|bounced"
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
    sa.Index("ix_subscribers_email_key", "email_key", unique=True),
)

digest_sends = sa.Table(
    "digest_sends",
    metadata,
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

# The topics a subscriber follows, each as an anchor that outlives its period's clustering
# (matched to the nearest topic of every digest's period: digest/topics.py).
digest_topics = sa.Table(
    "digest_topics",
    metadata,
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
    sa.Index("ix_digest_topics_subscriber_id_medoid_id", "subscriber_id", "medoid_id", unique=True),
)

# -- the reader's own data (issue 9): library, tags, follows, feedback, seen, rules, feeds ---
# Every row belongs to a user and goes with them (ON DELETE CASCADE); keys are the
# normalised forms that make "ML" and "ml", or "Parisi, G." typed twice, one row.

saved_papers = sa.Table(
    "saved_papers",
    metadata,
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "paper_id",
        sa.String(64),
        sa.ForeignKey("papers.arxiv_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("note", sa.Text, nullable=True, comment="the reader's note, plain text"),
    sa.Column("saved_at", sa.DateTime, nullable=False),
    sa.Index("ix_saved_papers_user_saved_at", "user_id", "saved_at"),
    sa.Index("ix_saved_papers_paper_id", "paper_id"),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(64), nullable=False, comment="as first typed"),
    sa.Column("key", sa.String(64), nullable=False, comment="case-folded, spaces collapsed"),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index("ix_tags_user_key", "user_id", "key", unique=True),
)

paper_tags = sa.Table(
    "paper_tags",
    metadata,
    sa.Column("tag_id", sa.Integer, sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("paper_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("tagged_at", sa.DateTime, nullable=False),
    # A tag hangs on a saved paper: unsaving it (or deleting the user) removes its tags.
    sa.ForeignKeyConstraint(
        ["user_id", "paper_id"],
        ["saved_papers.user_id", "saved_papers.paper_id"],
        ondelete="CASCADE",
        name="fk_paper_tags_saved_papers",
    ),
    sa.Index("ix_paper_tags_user_paper", "user_id", "paper_id"),
)

followed_authors = sa.Table(
    "followed_authors",
    metadata,
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("key", sa.String(200), primary_key=True, comment="case- and accent-folded name"),
    sa.Column("name", sa.String(200), nullable=False, comment="as typed"),
    sa.Column("followed_at", sa.DateTime, nullable=False),
)

paper_feedback = sa.Table(
    "paper_feedback",
    metadata,
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "paper_id",
        sa.String(64),
        sa.ForeignKey("papers.arxiv_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("kind", sa.String(16), nullable=False, comment="not_interested"),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

seen_papers = sa.Table(
    "seen_papers",
    metadata,
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "paper_id",
        sa.String(64),
        sa.ForeignKey("papers.arxiv_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("first_seen_at", sa.DateTime, nullable=False),
    sa.Column("via", sa.String(8), nullable=False, comment="web|digest: where it was first shown"),
)

keyword_rules = sa.Table(
    "keyword_rules",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False, comment="include|exclude"),
    sa.Column("text", sa.String(100), nullable=False),
    sa.Column("key", sa.String(100), nullable=False, comment="case-folded, spaces collapsed"),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index("ix_keyword_rules_user_kind_key", "user_id", "kind", "key", unique=True),
)

feed_tokens = sa.Table(
    "feed_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, comment="sha256 of the token"),
    sa.Column("prefix", sa.String(16), nullable=False, comment="first characters, to tell apart"),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_used_at", sa.DateTime, nullable=True),
    sa.Column("revoked_at", sa.DateTime, nullable=True),
    sa.Index("ix_feed_tokens_token_hash", "token_hash", unique=True),
    sa.Index("ix_feed_tokens_user_id", "user_id"),
)
