"""The store on both backends: schema, batches, feed queries, votes, locks."""

from __future__ import annotations

import threading
from datetime import date, datetime

import pytest
import sqlalchemy as sa

from paperfeed.models import IngestRecord, Paper
from paperfeed.store import DatabaseError, JobLocked, Store
from paperfeed.store.schema import include_object, metadata


def paper(arxiv_id: str, **fields: object) -> Paper:
    values: dict[str, object] = {
        "arxiv_id": arxiv_id,
        "title": f"Paper {arxiv_id}",
        "abstract": "An abstract.",
        "authors": ["A. Author", "B. Author"],
        "categories": ["cs.LG"],
        "first_seen": datetime(2025, 3, 18),
    }
    values.update(fields)
    return Paper(**values)  # type: ignore[arg-type]


def record(p: Paper, day: str | None = "2025-03-18", upvotes: int | None = None) -> IngestRecord:
    return IngestRecord(
        paper=p,
        source="test",
        location="test:1",
        feed_day=date.fromisoformat(day) if day else None,
        upvotes=upvotes,
    )


def test_migrations_build_the_declared_schema(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object})
        diff = compare_metadata(context, metadata)
    assert diff == []
    assert store.schema_revision() == store.head_revision()


def test_migrate_twice_is_harmless(store: Store) -> None:
    store.migrate()
    store.migrate()
    assert store.schema_revision() == store.head_revision()


def test_digest_topics_migration_goes_down_and_up(store: Store) -> None:
    """0011 (the digests' followed topics) downgrades to 0010 dropping only its table, and
    upgrades again to the declared schema; a subscriber's other data stays."""
    import numpy as np
    from alembic import command

    sub, _ = store.digests.subscribe("ada@example.org", now=datetime(2026, 12, 1), confirmed=True)
    store.digests.follow_topic(
        sub.id,
        label="spin, glass",
        medoid="2501.00001",
        period="week:2025-W49",
        number=1,
        vector=np.full(384, 384**-0.5, dtype=np.float32),
        now=datetime(2026, 12, 1),
    )
    with store.writing() as conn:
        command.downgrade(store._alembic_config(conn), "0010")
    assert store.schema_revision() == "0010"
    assert "digest_topics" not in sa.inspect(store.engine).get_table_names()
    assert store.digests.by_email("ada@example.org") is not None
    store.migrate()
    assert store.schema_revision() == store.head_revision()
    assert "digest_topics" in sa.inspect(store.engine).get_table_names()
    assert store.digests.topic_anchors([sub.id]) == {}
    test_migrations_build_the_declared_schema(store)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_for_you_window_reads_the_covering_index(store: Store) -> None:
    """ "For you"'s window query asks each paper of the feed's last days whether it is
    visible and published since: SQLite answers from ``ix_papers_window`` (migration 0012)
    and does not read the papers' rows."""
    from sqlalchemy.dialects import sqlite

    query = store.personal.window_query(since=datetime(2025, 3, 1))
    sql = str(query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    with store.engine.connect() as conn:
        plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
    on_papers = [step for step in plan if step.startswith(("SEARCH papers", "SCAN papers"))]
    assert on_papers == [
        "SEARCH papers USING COVERING INDEX ix_papers_window (arxiv_id=? AND hidden_at=?)"
    ], plan


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_pragmas(store: Store) -> None:
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgres_has_pgvector(store: Store) -> None:
    with store.engine.connect() as conn:
        version = conn.exec_driver_sql(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).scalar()
    assert version is not None


def test_unreachable_database_is_one_clear_line() -> None:
    with pytest.raises(DatabaseError) as info:
        Store.open("postgresql://nobody:secret@127.0.0.1:1/none")
    message = str(info.value)
    assert message.startswith("cannot connect to postgresql+psycopg://nobody:***@127.0.0.1:1/none")
    assert "secret" not in message and "\n" not in message


def test_unmigrated_database_is_refused(tmp_path: object) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/empty.sqlite3")
    with pytest.raises(DatabaseError, match="run `paperfeed db upgrade`"):
        store.require_current_schema()


def test_insert_update_unchanged_older(store: Store) -> None:
    first = store.write_batch([record(paper("2501.00001", version=2))])
    assert (first.inserted, first.feed_entries_added) == (1, 1)
    again = store.write_batch([record(paper("2501.00001", version=2))])
    assert (again.inserted, again.updated, again.unchanged, again.feed_entries_added) == (
        0,
        0,
        1,
        0,
    )
    older = store.write_batch([record(paper("2501.00001", version=1, title="Old title"))])
    assert older.older == 1
    newer = store.write_batch([record(paper("2501.00001", version=3, title="New title"))])
    assert newer.updated == 1
    stored = store.get_paper("2501.00001")
    assert stored is not None and (stored.title, stored.version) == ("New title", 3)


def test_unknown_fields_keep_stored_values(store: Store) -> None:
    store.write_batch([record(paper("2501.00001", comment="10 pages"))])
    store.write_batch([record(paper("2501.00001", categories=None, comment=None, title="T2"))])
    stored = store.get_paper("2501.00001")
    assert stored is not None
    assert (stored.title, stored.categories, stored.comment) == ("T2", ["cs.LG"], "10 pages")


def test_hostile_text_is_stored_verbatim(store: Store) -> None:
    text = "<script>alert('x')</script> & $\\mathcal{O}(n^2)$ \u2028 ünïcödé 🚀"
    store.write_batch([record(paper("2501.00001", abstract=text, authors=["O'Brien; DROP"]))])
    stored = store.get_paper("2501.00001")
    assert stored is not None and stored.abstract == text and stored.authors == ["O'Brien; DROP"]


def test_failed_batch_writes_nothing(store: Store) -> None:
    store.write_batch([record(paper("2501.00001"))])
    bad = record(paper("2501.00002", title=None))  # violates NOT NULL
    with pytest.raises(sa.exc.IntegrityError):
        store.write_batch([record(paper("2501.00003")), bad], checkpoint=("key", 3, True))
    assert store.get_paper("2501.00003") is None
    assert store.get_checkpoint("key") is None
    assert store.stats().tables["papers"] == 1


def test_feed_orders_by_upvotes_then_recency(store: Store) -> None:
    store.write_batch(
        [
            record(paper("2501.00001", published=datetime(2025, 1, 1)), upvotes=5),
            record(paper("2501.00002", published=datetime(2025, 1, 3)), upvotes=5),
            record(paper("2501.00003", published=datetime(2025, 1, 2)), upvotes=9),
            record(paper("2501.00004"), day="2025-03-19", upvotes=100),
        ]
    )
    items, total = store.feed(date(2025, 3, 18), date(2025, 3, 18), limit=10)
    assert [i.paper.arxiv_id for i in items] == ["2501.00003", "2501.00002", "2501.00001"]
    assert total == 3
    page2, _ = store.feed(date(2025, 3, 18), date(2025, 3, 18), limit=2, offset=2)
    assert [i.paper.arxiv_id for i in page2] == ["2501.00001"]


def test_paper_on_two_days_appears_once_in_a_week(store: Store) -> None:
    store.write_batch([record(paper("2501.00001"), day="2025-03-17")])
    store.write_batch([record(paper("2501.00001"), day="2025-03-19")])
    items, total = store.feed(date(2025, 3, 17), date(2025, 3, 23), limit=10)
    assert total == 1 and items[0].day == date(2025, 3, 17)
    detail = store.paper_detail("2501.00001")
    assert detail is not None and detail.feed_days == [date(2025, 3, 17), date(2025, 3, 19)]


def test_neighbour_days_skip_empty_days(store: Store) -> None:
    for i, day in enumerate(["2025-03-10", "2025-03-14", "2025-03-20"]):
        store.write_batch([record(paper(f"2501.0000{i}"), day=day)])
    assert store.neighbour_days(date(2025, 3, 14), date(2025, 3, 14)) == (
        date(2025, 3, 10),
        date(2025, 3, 20),
    )
    assert store.neighbour_days(date(2025, 3, 10), date(2025, 3, 10))[0] is None
    assert store.latest_day() == date(2025, 3, 20)


def test_imported_upvotes_and_local_votes_stay_consistent(store: Store) -> None:
    store.write_batch([record(paper("2501.00001"), upvotes=10)])
    alice = store.create_user("alice")
    assert store.upvote(alice.id, "2501.00001") is True
    assert store.upvote(alice.id, "2501.00001") is False  # one vote per user
    store.write_batch([record(paper("2501.00001"), upvotes=12)])  # a newer snapshot
    stored = store.get_paper("2501.00001")
    assert stored is not None and stored.upvotes == 13
    assert store.remove_upvote(alice.id, "2501.00001") is True
    assert store.remove_upvote(alice.id, "2501.00001") is False
    stored = store.get_paper("2501.00001")
    assert stored is not None and stored.upvotes == 12
    assert store.inconsistent_upvote_counts() == []


def test_concurrent_votes_are_all_counted(store: Store) -> None:
    store.write_batch([record(paper("2501.00001"))])
    users = [store.create_user(f"user{i}") for i in range(16)]
    errors: list[BaseException] = []

    def vote(user_id: int) -> None:
        try:
            store.upvote(user_id, "2501.00001")
            store.upvote(user_id, "2501.00001")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=vote, args=(u.id,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stored = store.get_paper("2501.00001")
    assert stored is not None and stored.upvotes == 16
    assert store.inconsistent_upvote_counts() == []


def test_job_lock_is_exclusive(store: Store) -> None:
    other = Store.open(store.url)
    try:
        with (
            store.job_lock("import"),
            pytest.raises(JobLocked, match="another `import` job is running"),
            other.job_lock("import"),
        ):
            pass
        with other.job_lock("import"):
            pass
    finally:
        other.close()


def test_stats(store: Store) -> None:
    store.write_batch([record(paper("2501.00001")), record(paper("2501.00002"), day="2025-04-01")])
    stats = store.stats()
    assert stats.tables["papers"] == 2 and stats.tables["feed_entries"] == 2
    assert (stats.first_day, stats.last_day, stats.feed_days) == (
        date(2025, 3, 18),
        date(2025, 4, 1),
        2,
    )


def test_versions_and_provenance_are_kept(store: Store) -> None:
    v1 = paper("2501.00001", version=1, published=datetime(2025, 1, 1))
    store.write_batch([IngestRecord(v1, "arxiv-jsonl", "a:1")])
    v3 = paper(
        "2501.00001",
        version=3,
        title="Revised",
        published=datetime(2025, 1, 1),
        updated=datetime(2025, 3, 2, 10, 0),
    )
    store.write_batch([IngestRecord(v3, "arxiv-api", "b:1")])
    detail = store.paper_detail("2501.00001")
    assert detail is not None
    assert detail.versions == [(1, datetime(2025, 1, 1)), (3, datetime(2025, 3, 2, 10, 0))]
    assert detail.latest_version == (3, datetime(2025, 3, 2, 10, 0))
    assert detail.source == "arxiv-api" and detail.refreshed_at is not None
    before = detail.refreshed_at
    store.write_batch([IngestRecord(v3, "arxiv-oai", "c:1")])  # unchanged, but confirmed
    again = store.paper_detail("2501.00001")
    assert again is not None and again.source == "arxiv-oai"
    assert again.refreshed_at is not None and again.refreshed_at >= before
    assert store.stats().sources == {"arxiv-oai": 1}


def test_job_runs_in_stats(store: Store) -> None:
    started = datetime(2026, 1, 1)
    store.record_job_run("ingest oai", started, True, "2 page(s)")
    store.record_job_run("ingest oai", started, False, "failed: HTTP 503")
    stats = store.stats()
    assert stats.last_runs["ingest oai"].ok is False
    assert stats.last_ok_runs["ingest oai"].summary == "2 page(s)"
    assert stats.tables["job_runs"] == 2
