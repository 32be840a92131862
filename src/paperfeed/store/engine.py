"""Engines for both backends, set up the way each one wants.

SQLite: WAL (readers never block the writer), foreign keys on, a busy timeout, and write
transactions that start with ``BEGIN IMMEDIATE`` so two writers queue instead of deadlocking
on a lock upgrade. PostgreSQL: psycopg 3 with a connection pool.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url

SQLITE_BUSY_TIMEOUT_MS = 10_000
WRITE_OPTION = "paperfeed_write"


class DatabaseError(RuntimeError):
    """The database cannot be reached or used; the message is meant for people."""


def normalize_url(url: str) -> URL:
    """Parse a database URL; plain ``postgresql://`` means psycopg 3."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise DatabaseError(f"not a database URL: {url!r}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseError(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql"
        )
    return parsed


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return sa.create_engine(parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _authors_match(pattern: str | None, authors: str | None) -> bool:
    """Whether regex ``pattern`` (any case) finds a match in the names of the JSON list
    ``authors`` (decoded: SQLite keeps ``ü`` as ``\\u00fc`` in JSON text)."""
    if pattern is None or authors is None:
        return False
    try:
        names = json.loads(authors)
    except ValueError:
        return False
    text = "; ".join(str(name) for name in names) if isinstance(names, list) else str(names)
    return bool(_compiled(pattern).search(text))


def _sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # The author filter's whole-word match (PostgreSQL has `~*` on the JSON text).
        dbapi_connection.create_function("authors_match", 2, _authors_match, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def describe_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return normalize_url(url).render_as_string(hide_password=True)
    except DatabaseError:
        return "<invalid URL>"
