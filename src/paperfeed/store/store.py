"""The Store: the only place in paperfeed that speaks SQL."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from paperfeed.models import (
    FeedItem,
    IngestRecord,
    Paper,
    PaperDetail,
    User,
    is_older_version,
    merge_paper,
)

from .community import CommunityStore
from .digests import DigestStore
from .engine import WRITE_OPTION, DatabaseError, describe_url, make_engine
from .personal import PersonalStore
from .schema import (
    feed_entries,
    import_checkpoints,
    job_runs,
    paper_versions,
    papers,
    upvotes,
    users,
)
from .search import SearchStore

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def utcnow() -> datetime:
    """Now in UTC as a naive datetime: every timestamp column holds naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


class JobLocked(RuntimeError):
    """Another process holds the job lock."""


@dataclass
class BatchResult:
    """What writing one batch of ingest records did."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    older: int = 0  # an older version than the stored one: ignored
    feed_entries_added: int = 0
    upvotes_changed: int = 0
    ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FeedRow:
    arxiv_id: str
    upvotes: int
    day: date
    shown: datetime
    submitted_by: str | None


@dataclass(frozen=True)
class Checkpoint:
    records_done: int
    finished: bool
    cursor: str | None = None


@dataclass(frozen=True)
class JobRun:
    job: str
    finished_at: datetime
    ok: bool
    summary: str


@dataclass(frozen=True)
class Stats:
    backend: str
    tables: dict[str, int]
    first_day: date | None
    last_day: date | None
    feed_days: int
    sources: dict[str, int] = field(default_factory=dict)
    last_runs: dict[str, JobRun] = field(default_factory=dict)
    last_ok_runs: dict[str, JobRun] = field(default_factory=dict)


_PAPER_COLUMNS = (
    "arxiv_id",
    "version",
    "title",
    "abstract",
    "authors",
    "categories",
    "comment",
    "journal_ref",
    "doi",
    "license",
    "published",
    "updated",
    "first_seen",
    "upvotes",
)


def _paper_from_row(row: Any) -> Paper:
    # tldr is read, never written from a Paper: the indexer owns it (see store.search).
    tldr = getattr(row, "tldr", None)
    return Paper(**{name: getattr(row, name) for name in _PAPER_COLUMNS}, tldr=tldr)


def _row_from_paper(paper: Paper, now: datetime, source: str) -> dict[str, Any]:
    row = {name: getattr(paper, name) for name in _PAPER_COLUMNS if name != "upvotes"}
    row["primary_category"] = paper.primary_category
    row["modified_at"] = now
    row["source"] = source
    row["refreshed_at"] = now
    return row


class Store:
    """Typed access to the database. Create one per process with :meth:`open`."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self.search = SearchStore(self)
        self.community = CommunityStore(self)
        self.digests = DigestStore(self)
        self.personal = PersonalStore(self)

    @classmethod
    def open(cls, url: str, *, pool_size: int = 5) -> Store:
        """Connect (and check the connection) or raise :class:`DatabaseError`."""
        store = cls(make_engine(url, pool_size=pool_size), url)
        store.check()
        return store

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def check(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise DatabaseError(f"cannot connect to {describe_url(self.url)}: {reason}") from None

    # -- transactions ---------------------------------------------------------------------

    @contextmanager
    def reading(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def writing(self) -> Iterator[sa.Connection]:
        """A short write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        options = {WRITE_OPTION: True}
        with self.engine.connect().execution_options(**options) as conn, conn.begin():
            yield conn

    # -- schema ---------------------------------------------------------------------------

    def _alembic_config(self, conn: sa.Connection) -> Any:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = conn
        return config

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema up to ``revision`` (idempotent)."""
        from alembic import command

        with self.writing() as conn:
            command.upgrade(self._alembic_config(conn), revision)

    def schema_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str:
        from alembic.script import ScriptDirectory

        with self.engine.connect() as conn:
            head = ScriptDirectory.from_config(self._alembic_config(conn)).get_current_head()
        assert head is not None
        return head

    def require_current_schema(self) -> None:
        current = self.schema_revision()
        if current != self.head_revision():
            raise DatabaseError(
                f"database schema of {describe_url(self.url)} is at revision {current or 'none'}, "
                f"not {self.head_revision()}: run `paperfeed db upgrade`"
            )

    # -- feeds ----------------------------------------------------------------------------

    def feed(
        self, start: date, end: date, *, limit: int, offset: int = 0
    ) -> tuple[list[FeedItem], int]:
        """Papers featured between ``start`` and ``end`` (inclusive), most upvoted first.

        A paper featured on several days of the range appears once, on its first day.
        Returns one page of items and the total count. Two queries, whatever the page size.
        """
        in_range = feed_entries.c.day.between(start, end)
        first_day = sa.func.min(feed_entries.c.day).label("day")
        submitter = sa.func.min(feed_entries.c.submitted_by_name).label("submitted_by")
        query = (
            sa.select(papers, first_day, submitter)
            .join(feed_entries, feed_entries.c.paper_id == papers.c.arxiv_id)
            .where(in_range, papers.c.hidden_at.is_(None))
            .group_by(papers.c.arxiv_id)
            .order_by(
                papers.c.upvotes.desc(),
                sa.func.coalesce(papers.c.published, papers.c.first_seen).desc(),
                papers.c.arxiv_id.desc(),
            )
            .limit(limit)
            .offset(offset)
        )
        count = (
            sa.select(sa.func.count(sa.distinct(feed_entries.c.paper_id)))
            .join(papers, papers.c.arxiv_id == feed_entries.c.paper_id)
            .where(in_range, papers.c.hidden_at.is_(None))
        )
        with self.reading() as conn:
            rows = conn.execute(query).all()
            total = conn.execute(count).scalar_one()
        items = [
            FeedItem(paper=_paper_from_row(r), day=r.day, submitted_by=r.submitted_by) for r in rows
        ]
        return items, total

    def feed_rows(self, start: date, end: date) -> list[FeedRow]:
        """Every paper featured between ``start`` and ``end`` with what ordering needs: its
        votes, first day in the range, when it appeared (one query, no text columns)."""
        query = (
            sa.select(
                papers.c.arxiv_id,
                papers.c.upvotes,
                sa.func.min(feed_entries.c.day).label("day"),
                sa.func.coalesce(papers.c.published, papers.c.first_seen).label("shown"),
                sa.func.min(feed_entries.c.submitted_by_name).label("submitted_by"),
            )
            .join(feed_entries, feed_entries.c.paper_id == papers.c.arxiv_id)
            .where(feed_entries.c.day.between(start, end), papers.c.hidden_at.is_(None))
            .group_by(papers.c.arxiv_id)
        )
        with self.reading() as conn:
            return [
                FeedRow(r.arxiv_id, r.upvotes, r.day, r.shown, r.submitted_by)
                for r in conn.execute(query)
            ]

    def latest_day(self) -> date | None:
        with self.reading() as conn:
            day: date | None = conn.execute(sa.select(sa.func.max(feed_entries.c.day))).scalar()
        return day

    def neighbour_days(self, start: date, end: date) -> tuple[date | None, date | None]:
        """The last feed day before ``start`` and the first after ``end`` (one query)."""
        before = (
            sa.select(sa.func.max(feed_entries.c.day))
            .where(feed_entries.c.day < start)
            .scalar_subquery()
        )
        after = (
            sa.select(sa.func.min(feed_entries.c.day))
            .where(feed_entries.c.day > end)
            .scalar_subquery()
        )
        with self.reading() as conn:
            row = conn.execute(sa.select(before.label("before"), after.label("after"))).one()
        return row.before, row.after

    def paper_detail(self, arxiv_id: str) -> PaperDetail | None:
        query = (
            sa.select(papers, feed_entries.c.day, feed_entries.c.submitted_by_name)
            .outerjoin(feed_entries, feed_entries.c.paper_id == papers.c.arxiv_id)
            .where(papers.c.arxiv_id == arxiv_id)
            .order_by(feed_entries.c.day)
        )
        with self.reading() as conn:
            rows = conn.execute(query).all()
            if not rows:
                return None
            versions = conn.execute(
                sa.select(paper_versions.c.version, paper_versions.c.dated)
                .where(paper_versions.c.paper_id == arxiv_id)
                .order_by(paper_versions.c.version)
            ).all()
        days = [r.day for r in rows if r.day is not None]
        submitters = [r.submitted_by_name for r in rows if r.submitted_by_name]
        return PaperDetail(
            paper=_paper_from_row(rows[0]),
            feed_days=days,
            submitted_by=submitters[0] if submitters else None,
            versions=[(v.version, v.dated) for v in versions],
            source=rows[0].source,
            refreshed_at=rows[0].refreshed_at,
            hidden=rows[0].hidden_at is not None,
        )

    def get_paper(self, arxiv_id: str) -> Paper | None:
        with self.reading() as conn:
            row = conn.execute(sa.select(papers).where(papers.c.arxiv_id == arxiv_id)).first()
        return _paper_from_row(row) if row else None

    # -- ingestion ------------------------------------------------------------------------

    def write_batch(
        self,
        records: Sequence[IngestRecord],
        *,
        checkpoint: tuple[str, int, bool] | tuple[str, int, bool, str | None] | None = None,
    ) -> BatchResult:
        """Upsert a batch of records and place them on the feed, in one transaction.

        Records must have distinct arXiv ids (the loader keeps the last of a file's
        duplicates). ``checkpoint`` (key, records_done, finished) is saved in the same
        transaction, so a crash never leaves a batch half-written or a checkpoint ahead of
        the data.
        """
        result = BatchResult(ids=[r.paper.arxiv_id for r in records])
        now = utcnow()
        if not records:
            if checkpoint:
                self.save_checkpoint(*checkpoint)
            return result
        with self.writing() as conn:
            stored, imported = self._papers_for_update(conn, result.ids)
            inserts, updates, votes, refreshed = [], [], [], []
            for record in records:
                old = stored.get(record.paper.arxiv_id)
                merged = merge_paper(old, record.paper, now)
                if old is None:
                    row = _row_from_paper(merged, now, record.source)
                    row["upvotes"] = row["imported_upvotes"] = record.upvotes or 0
                    inserts.append(row)
                    result.inserted += 1
                    continue
                if is_older_version(old, record.paper):
                    result.older += 1
                elif merged == old:
                    result.unchanged += 1
                    refreshed.append({"b_id": old.arxiv_id, "source": record.source})
                else:
                    row = _row_from_paper(merged, now, record.source)
                    updates.append({"b_id": old.arxiv_id, **row})
                    result.updated += 1
                if record.upvotes is not None and record.upvotes != imported[old.arxiv_id]:
                    votes.append({"b_id": old.arxiv_id, "n": record.upvotes})
            if inserts:
                # A paper inserted meanwhile by another writer (say, a user's submission on
                # PostgreSQL) is overwritten with this record, but keeps its votes.
                insert = self._insert(papers)
                replaced = {
                    name: insert.excluded[name]
                    for name in inserts[0]
                    if name not in ("arxiv_id", "upvotes", "imported_upvotes", "first_seen")
                }
                conn.execute(
                    insert.on_conflict_do_update(index_elements=["arxiv_id"], set_=replaced),
                    inserts,
                )
            if updates:
                columns: dict[str, Any] = {k: sa.bindparam(k) for k in updates[0] if k != "b_id"}
                columns.pop("arxiv_id")
                conn.execute(
                    papers.update()
                    .where(papers.c.arxiv_id == sa.bindparam("b_id"))
                    .values(columns),
                    updates,
                )
            if refreshed:
                conn.execute(
                    papers.update()
                    .where(papers.c.arxiv_id == sa.bindparam("b_id"))
                    .values(source=sa.bindparam("source"), refreshed_at=now),
                    refreshed,
                )
            self._add_versions(conn, records, now)
            result.upvotes_changed = self._set_imported_upvotes(conn, votes)
            result.feed_entries_added = self._add_feed_entries(conn, records, now)
            if checkpoint:
                self._save_checkpoint(conn, *checkpoint)
        return result

    def _insert(self, table: sa.Table) -> Any:
        dialect = postgresql if self.backend == "postgresql" else sqlite
        return dialect.insert(table)

    def _papers_for_update(
        self, conn: sa.Connection, ids: list[str]
    ) -> tuple[dict[str, Paper], dict[str, int]]:
        """The stored papers among ``ids`` (locked on PostgreSQL) and their imported votes."""
        query = sa.select(papers).where(papers.c.arxiv_id.in_(ids))
        if self.backend == "postgresql":
            query = query.with_for_update()
        rows = conn.execute(query).all()
        return (
            {row.arxiv_id: _paper_from_row(row) for row in rows},
            {row.arxiv_id: row.imported_upvotes for row in rows},
        )

    @staticmethod
    def _set_imported_upvotes(conn: sa.Connection, votes: list[dict[str, Any]]) -> int:
        if not votes:
            return 0
        # Keeps upvotes == imported_upvotes + local votes, atomically per row.
        conn.execute(
            papers.update()
            .where(papers.c.arxiv_id == sa.bindparam("b_id"))
            .values(
                upvotes=papers.c.upvotes - papers.c.imported_upvotes + sa.bindparam("n"),
                imported_upvotes=sa.bindparam("n"),
            ),
            votes,
        )
        return len(votes)

    def _add_versions(
        self, conn: sa.Connection, records: Sequence[IngestRecord], now: datetime
    ) -> None:
        """Remember each version number seen, dated by arXiv when the source says so."""
        rows = {
            (r.paper.arxiv_id, r.paper.version): {
                "paper_id": r.paper.arxiv_id,
                "version": r.paper.version,
                "dated": r.paper.updated or (r.paper.published if r.paper.version == 1 else None),
                "seen_at": now,
            }
            for r in records
            if r.paper.version is not None
        }
        if rows:
            conn.execute(self._insert(paper_versions).on_conflict_do_nothing(), list(rows.values()))

    def _add_feed_entries(
        self, conn: sa.Connection, records: Sequence[IngestRecord], now: datetime
    ) -> int:
        wanted = {(r.feed_day, r.paper.arxiv_id): r for r in records if r.feed_day is not None}
        if not wanted:
            return 0
        ids = list({paper_id for _, paper_id in wanted})
        existing = conn.execute(
            sa.select(feed_entries.c.day, feed_entries.c.paper_id).where(
                feed_entries.c.paper_id.in_(ids)
            )
        )
        for day, paper_id in existing:
            wanted.pop((day, paper_id), None)
        if wanted:
            rows = [
                {
                    "day": day,
                    "paper_id": paper_id,
                    "submitted_by_name": record.submitted_by,
                    "source": record.source,
                    "added_at": now,
                }
                for (day, paper_id), record in wanted.items()
            ]
            conn.execute(self._insert(feed_entries).on_conflict_do_nothing(), rows)
        return len(wanted)

    def get_checkpoint(self, key: str) -> Checkpoint | None:
        with self.reading() as conn:
            row = conn.execute(
                sa.select(import_checkpoints).where(import_checkpoints.c.source_key == key)
            ).first()
        return Checkpoint(row.records_done, row.finished, row.cursor) if row else None

    def save_checkpoint(
        self, key: str, records_done: int, finished: bool, cursor: str | None = None
    ) -> None:
        with self.writing() as conn:
            self._save_checkpoint(conn, key, records_done, finished, cursor)

    def _save_checkpoint(
        self,
        conn: sa.Connection,
        key: str,
        records_done: int,
        finished: bool,
        cursor: str | None = None,
    ) -> None:
        values = {
            "records_done": records_done,
            "finished": finished,
            "updated_at": utcnow(),
            "cursor": cursor,
        }
        conn.execute(
            self._insert(import_checkpoints)
            .values(source_key=key, **values)
            .on_conflict_do_update(index_elements=["source_key"], set_=values)
        )

    # -- users and votes ------------------------------------------------------------------

    def create_user(self, username: str, display_name: str | None = None) -> User:
        with self.writing() as conn:
            user_id = conn.execute(
                users.insert()
                .values(
                    username=username,
                    username_key=username.lower(),
                    display_name=display_name,
                    created_at=utcnow(),
                )
                .returning(users.c.id)
            ).scalar_one()
        return User(id=user_id, username=username, display_name=display_name)

    def upvote(self, user_id: int, paper_id: str) -> bool:
        """Add ``user_id``'s vote; False if it was already there. Count updated atomically."""
        with self.writing() as conn:
            # RETURNING, not rowcount: psycopg reports -1 for ON CONFLICT DO NOTHING.
            added = conn.execute(
                self._insert(upvotes)
                .values(user_id=user_id, paper_id=paper_id, created_at=utcnow())
                .on_conflict_do_nothing()
                .returning(upvotes.c.user_id)
            ).all()  # consume all: a half-read RETURNING cursor may not finish on SQLite
            if added:
                conn.execute(
                    papers.update()
                    .where(papers.c.arxiv_id == paper_id)
                    .values(upvotes=papers.c.upvotes + 1)
                )
        return bool(added)

    def remove_upvote(self, user_id: int, paper_id: str) -> bool:
        """Withdraw ``user_id``'s vote; False if there was none."""
        with self.writing() as conn:
            removed = conn.execute(
                upvotes.delete().where(upvotes.c.user_id == user_id, upvotes.c.paper_id == paper_id)
            ).rowcount
            if removed:
                conn.execute(
                    papers.update()
                    .where(papers.c.arxiv_id == paper_id)
                    .values(upvotes=papers.c.upvotes - 1)
                )
        return bool(removed)

    def inconsistent_upvote_counts(self) -> list[str]:
        """Papers whose count differs from imported + local votes (should be none)."""
        local = (
            sa.select(sa.func.count())
            .where(upvotes.c.paper_id == papers.c.arxiv_id)
            .scalar_subquery()
        )
        query = sa.select(papers.c.arxiv_id).where(
            papers.c.upvotes != papers.c.imported_upvotes + local
        )
        with self.reading() as conn:
            return list(conn.execute(query).scalars())

    # -- statistics -----------------------------------------------------------------------

    def stats(self) -> Stats:
        tables = (papers, feed_entries, users, upvotes, import_checkpoints, job_runs)
        counts = [sa.select(sa.func.count()).select_from(t).scalar_subquery() for t in tables]
        days = sa.select(
            sa.func.min(feed_entries.c.day),
            sa.func.max(feed_entries.c.day),
            sa.func.count(sa.distinct(feed_entries.c.day)),
        )
        by_source = sa.select(papers.c.source, sa.func.count()).group_by(papers.c.source)
        runs = sa.select(job_runs).order_by(job_runs.c.finished_at, job_runs.c.id)
        with self.reading() as conn:
            row = conn.execute(sa.select(*counts)).one()
            first, last, n_days = conn.execute(days).one()
            sources = {src or "unknown": n for src, n in conn.execute(by_source)}
            last_runs: dict[str, JobRun] = {}
            last_ok: dict[str, JobRun] = {}
            for run in conn.execute(runs):
                job = JobRun(run.job, run.finished_at, run.ok, run.summary)
                last_runs[run.job] = job
                if run.ok:
                    last_ok[run.job] = job
        return Stats(
            backend=self.backend,
            tables={t.name: n for t, n in zip(tables, row, strict=True)},
            first_day=first,
            last_day=last,
            feed_days=n_days,
            sources=sources,
            last_runs=last_runs,
            last_ok_runs=last_ok,
        )

    def record_job_run(self, job: str, started_at: datetime, ok: bool, summary: str) -> None:
        """Log one run of a job (import, ingest …) for `paperfeed stats`."""
        with self.writing() as conn:
            conn.execute(
                job_runs.insert().values(
                    job=job,
                    started_at=started_at,
                    finished_at=utcnow(),
                    ok=ok,
                    summary=summary[:2000],
                )
            )

    # -- jobs -----------------------------------------------------------------------------

    @contextmanager
    def job_lock(self, name: str) -> Iterator[None]:
        """Hold a lock so two copies of a job never run at once on this database.

        PostgreSQL: a session advisory lock (works across machines). SQLite: ``flock`` on a
        file beside the database. Raises :class:`JobLocked` at once if it is taken.
        """
        if self.backend == "postgresql":
            key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
            with self.engine.connect() as conn:
                got = conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar()
                conn.commit()
                if not got:
                    raise JobLocked(f"another `{name}` job is running on this database")
                try:
                    yield
                finally:
                    conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
                    conn.commit()
            return
        database = self.engine.url.database or ""
        lock_path = Path(f"{database}.{name}.lock") if database else None
        if lock_path is None or database == ":memory:":
            yield
            return
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise JobLocked(f"another `{name}` job is running on this database") from None
            yield
        finally:
            os.close(fd)
