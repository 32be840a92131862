"""Keyword search in a tantivy index: BM25 over title, abstract and authors, fast.

The database's own full-text index (FTS5 on SQLite, a ``tsvector`` on PostgreSQL) ranks by
BM25 too, but has to score every paper holding a common word: a three-word query over 75k
papers costs 10–90 ms there. tantivy (Lucene's design, in Rust) keeps per-field postings
with block-max scores and skips the papers that cannot reach the top k (block-max WAND), so
the same query costs a millisecond or two, and it stays that way at a million papers.

The index is a *derived copy* of the ``papers`` table, like the in-process vector index: the
database stays the only source of truth, and any app server can delete its copy and build
it again. It lives next to the SQLite file (``<database>.search/``), or under
``PAPERFEED_DATA_DIR/search/<database key>/`` for PostgreSQL (each app server keeps its
own; ``PAPERFEED_SEARCH_INDEX_DIR`` moves it). It is kept in step by ``modified_at``: before
a query, the latest change in the database is compared with the one the index has seen
(one index probe), and the papers changed since are written (deleted and added again, so a
rerun or an overlap does no harm); an interrupted build resumes from the last commit. Until
the first build is done, :meth:`KeywordIndex.search` answers ``None`` and the caller uses
the database's ranking, so search works from the first second on.

Scores: BM25 (k1 1.2, b 0.75) over title, abstract and authors as one field, title words
counting twice (:data:`TITLE_BOOST`). The filters of the query language (phrases,
exclusions, authors, categories, dates) are part of the tantivy query, so the top k is the
top k of what passes them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import tantivy

from paperfeed.models import SearchFilter
from paperfeed.store.schema import papers

if TYPE_CHECKING:
    from paperfeed.store import Store

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the schema or the analysers change: the copy is rebuilt
TITLE_BOOST = 2.0
ENGLISH = "paperfeed_english"
NAMES = "paperfeed_names"
META = "paperfeed-index.json"
BATCH = 10_000  # papers per commit while building: an interrupted build resumes from there
INLINE_MAX = 5_000  # papers a query syncs itself; more go to a background thread
OVERLAP = timedelta(seconds=5)  # re-read window: a write may commit after a later one
CHECK_EVERY = 1.0  # seconds between two looks for changes (a look costs about 1 ms)
RECHECK_SECONDS = 60.0  # how often the paper count is compared (papers are never deleted)
WRITER_HEAP = 64_000_000
_EPOCH = date(1970, 1, 1)


def _english() -> tantivy.TextAnalyzer:
    """Words split on anything not a letter or digit, lower-cased, accents folded, stemmed
    by Snowball's English stemmer (as FTS5's porter tokenizer and PostgreSQL's english
    configuration do), absurdly long tokens dropped."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def _names() -> tantivy.TextAnalyzer:
    """Author names: the same without stemming (``Parisi`` is not ``Paris``)."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .build()
    )


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("arxiv_id", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("body", tokenizer_name=ENGLISH, index_option="position")
    builder.add_text_field("authors", tokenizer_name=NAMES, index_option="position")
    builder.add_text_field("category", tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("day", indexed=True, fast=True)  # days since 1970-01-01
    return builder.build()


@dataclass(frozen=True)
class Row:
    """What the index keeps of a paper."""

    arxiv_id: str
    title: str
    abstract: str
    authors: Sequence[str]
    categories: Sequence[str]
    published: datetime
    modified_at: datetime

    def document(self) -> tantivy.Document:
        doc = tantivy.Document()
        doc.add_text("arxiv_id", self.arxiv_id)
        # One field for ranking, the title in it twice: BM25 of the weighted bag of words
        # (as FTS5's bm25() with column weights, and BM25F) ranks better than a sum of
        # per-field BM25s, whose title idf and saturation overrate rare title words
        # (SciFact test nDCG@10 0.696 against 0.623). Values of one field are kept apart by a
        # position gap, so a phrase never runs from the title into the abstract.
        for _ in range(int(TITLE_BOOST)):
            doc.add_text("body", self.title)
        doc.add_text("body", self.abstract)
        for name in self.authors:
            doc.add_text("body", name)
            doc.add_text("authors", name)
        for category in _category_terms(self.categories):
            doc.add_text("category", category)
        doc.add_integer("day", (self.published.date() - _EPOCH).days)
        return doc


def _category_terms(categories: Sequence[str]) -> set[str]:
    """A paper's categories and their archives, lower-cased: ``cat:cs`` finds ``cs.LG``."""
    terms: set[str] = set()
    for category in categories:
        value = category.lower()
        terms.add(value)
        terms.add(value.split(".", 1)[0])
    return terms


def default_directory(store: Store, data_dir: Path, configured: str = "") -> Path | None:
    """Where the index of ``store`` lives (``None``: in memory, for an in-memory database).
    PostgreSQL's copies are told apart by a key stored in the database, so two databases
    on one server never share one, and a restored or replaced database is noticed."""
    database = store.engine.url.database
    if store.backend == "sqlite" and not configured:
        if not database or database == ":memory:":
            return None
        return Path(database).with_name(Path(database).name + ".search")
    root = Path(configured) if configured else data_dir / "search"
    return root / database_key(store)


def database_key(store: Store) -> str:
    from paperfeed.store.store import utcnow

    return store.community.site_key("search-index", lambda: uuid.uuid4().hex, now=utcnow())


class KeywordIndex:
    """A tantivy copy of one store's papers, kept in step, searched with BM25."""

    def __init__(
        self, store: Store, directory: Path | None, check_every: float = CHECK_EVERY
    ) -> None:
        self.store = store
        self.directory = directory
        self.check_every = check_every
        self._looked = -math.inf  # monotonic time of the last look at the database
        self._lock = threading.Lock()  # one writer in this process at a time
        self._index: tantivy.Index | None = None
        self._meta: dict[str, Any] = {}
        self._seen_change: datetime | None = None  # the latest change already synced
        self._checked = 0.0  # monotonic time of the last count check
        self._background: threading.Thread | None = None
        self._english = _english()
        self._names = _names()

    # -- opening --------------------------------------------------------------------------

    def _open(self) -> tantivy.Index:
        if self._index is not None:
            return self._index
        schema = _schema()
        key = database_key(self.store)
        if self.directory is None:
            index = tantivy.Index(schema)
            self._meta = {"format": FORMAT, "database": key, "synced_to": None, "complete": False}
        else:
            fresh = {"format": FORMAT, "database": key, "synced_to": None, "complete": False}
            meta = self._read_meta()
            if meta.get("format") != FORMAT or meta.get("database") != key:
                # Another format, or the copy of another database: start again.
                meta = fresh
                if self.directory.exists():
                    shutil.rmtree(self.directory)
            self.directory.mkdir(parents=True, exist_ok=True)
            try:
                index = tantivy.Index(schema, path=str(self.directory))
            except ValueError as exc:  # damaged files, or another schema: it is only a copy
                log.warning("keyword index in %s unusable (%s): rebuilding it", self.directory, exc)
                shutil.rmtree(self.directory)
                self.directory.mkdir(parents=True)
                meta = fresh
                index = tantivy.Index(schema, path=str(self.directory))
            self._meta = meta
            self._write_meta()
        index.register_tokenizer(ENGLISH, _english())
        index.register_tokenizer(NAMES, _names())
        self._index = index
        return index

    def _read_meta(self) -> dict[str, Any]:
        assert self.directory is not None
        try:
            value = json.loads((self.directory / META).read_text())
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def _write_meta(self) -> None:
        if self.directory is None:
            return
        path = self.directory / META
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(self._meta))
        temporary.replace(path)

    @property
    def ready(self) -> bool:
        """Whether a first build has finished (the copy may lag by the latest changes)."""
        return self._index is not None and bool(self._meta.get("complete"))

    # -- keeping in step ------------------------------------------------------------------

    def _latest_change(self) -> datetime | None:
        with self.store.reading() as conn:
            value: datetime | None = conn.execute(
                sa.select(sa.func.max(papers.c.modified_at))
            ).scalar()
        return value

    def _synced_to(self) -> tuple[datetime, str] | None:
        """The last paper written, in the order of changes: (modified_at, arxiv id). The id
        matters: one import batch gives thousands of papers the same modified_at."""
        value, last_id = self._meta.get("synced_to"), self._meta.get("synced_id")
        return (datetime.fromisoformat(value), str(last_id or "")) if value else None

    def _pending(self, since: tuple[datetime, str] | None) -> int:
        query = sa.select(sa.func.count()).select_from(papers)
        if since is not None:
            query = query.where(papers.c.modified_at >= since[0] - OVERLAP)
        with self.store.reading() as conn:
            return int(conn.execute(query).scalar_one())

    def ensure_fresh(self) -> bool:
        """Bring the copy up to date if that is quick; ``False`` while it is not usable yet
        (the first build runs in a background thread meanwhile)."""
        index = self._open()
        now = time.monotonic()
        if now - self._looked < self.check_every and self._meta.get("complete"):
            return True
        self._looked = now
        if self._background is not None and self._background.is_alive():
            return bool(self._meta.get("complete"))
        latest = self._latest_change()
        if latest != self._seen_change or self._meta.get("rebuild"):
            self._catch_up()
        if (
            self._meta.get("complete")
            and latest == self._seen_change
            and time.monotonic() - self._checked >= RECHECK_SECONDS
            and not (self._background is not None and self._background.is_alive())
        ):
            self._checked = time.monotonic()
            if self._check_count(index, latest):
                self._catch_up()  # the rebuild
        return bool(self._meta.get("complete"))

    def _catch_up(self) -> None:
        """Write what changed: here if it is a few papers, else in a background thread."""
        if self.directory is not None:  # another process may have synced
            self._meta = self._read_meta() or self._meta
        if self._pending(self._synced_to()) <= INLINE_MAX:
            self.sync()
        else:
            self._background = self.start_sync()

    def _check_count(self, index: tantivy.Index, latest: datetime | None) -> bool:
        """The copy, up to date with ``latest``, must hold as many papers as the table.
        Fewer: a write committed after a later one, past the overlap, and was missed; more:
        papers were deleted (by hand: paperfeed never deletes one). Either way the copy is
        built again; the database ranks meanwhile. Only checked when nothing changed since
        the last sync (and nothing while counting): new papers are not a mismatch."""
        index.reload()
        with self.store.reading() as conn:
            count = int(conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar_one())
        if self._latest_change() != latest:
            return False  # written to meanwhile: the next look checks
        held = index.searcher().num_docs
        if held == count:
            return False
        log.warning("keyword index has %d papers, the database %d: rebuilding it", held, count)
        self._meta.update(synced_to=None, synced_id=None, complete=False, rebuild=True)
        self._write_meta()
        self._seen_change = None
        return True

    def start_sync(self) -> threading.Thread:
        """:meth:`sync` in a thread of its own (its errors logged); returns the thread."""
        thread = threading.Thread(
            target=self._sync_quietly, name="paperfeed-keyword-index", daemon=True
        )
        thread.start()
        return thread

    def _sync_quietly(self) -> None:
        try:
            self.sync()
        except Exception:  # a background thread has nobody to raise to
            log.exception("building the keyword index failed; the database ranks meanwhile")

    def sync(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Write the papers changed since the last sync (all of them the first time), in
        commits of BATCH papers; returns how many were written. Another process already
        writing the same copy is not waited for (it is bringing it up to date)."""
        index = self._open()
        if not self._lock.acquire(blocking=False):
            return 0
        try:
            try:
                writer = index.writer(heap_size=WRITER_HEAP, num_threads=1)
            except ValueError as exc:  # the lock file of another process's writer
                log.info("keyword index is being written by another process: %s", exc)
                index.reload()
                return 0
            try:
                return self._write_changes(index, writer, progress)
            finally:
                writer.wait_merging_threads()
        finally:
            self._lock.release()

    def _write_changes(
        self,
        index: tantivy.Index,
        writer: tantivy.IndexWriter,
        progress: Callable[[int, int], None] | None,
    ) -> int:
        latest = self._latest_change()
        if self._meta.pop("rebuild", False):
            writer.delete_all_documents()
            writer.commit()
            self._meta.update(synced_to=None, synced_id=None, complete=False)
        since = self._synced_to()
        total = self._pending(since)
        written = 0
        batch: list[Row] = []
        for row in self._changed_rows(since):
            batch.append(row)
            if len(batch) >= BATCH:
                written += self._commit(writer, batch)
                batch = []
                if progress:
                    progress(written, total)
        written += self._commit(writer, batch)
        if progress:
            progress(written, total)
        self._meta["complete"] = True
        self._write_meta()
        self._seen_change = latest
        self._checked = time.monotonic()
        index.reload()
        return written

    def _commit(self, writer: tantivy.IndexWriter, rows: list[Row]) -> int:
        """Replace ``rows`` in the copy and commit; the watermark moves to the last row."""
        if not rows:
            return 0
        for row in rows:
            writer.delete_documents_by_term("arxiv_id", row.arxiv_id)
            writer.add_document(row.document())
        writer.commit()
        self._meta["synced_to"] = rows[-1].modified_at.isoformat()
        self._meta["synced_id"] = rows[-1].arxiv_id
        self._write_meta()
        return len(rows)

    def _changed_rows(self, since: tuple[datetime, str] | None) -> Iterator[Row]:
        """Papers in order of change after ``since`` (moved back by the overlap), in pages."""
        published = sa.func.coalesce(papers.c.published, papers.c.first_seen)
        columns = (
            papers.c.arxiv_id,
            papers.c.title,
            papers.c.abstract,
            papers.c.authors,
            papers.c.categories,
            published.label("published"),
            papers.c.modified_at,
        )
        after = None if since is None else (since[0] - OVERLAP, since[1] if not OVERLAP else "")
        while True:
            query = sa.select(*columns).order_by(papers.c.modified_at, papers.c.arxiv_id)
            if after is not None:
                query = query.where(sa.tuple_(papers.c.modified_at, papers.c.arxiv_id) > after)
            with self.store.reading() as conn:
                rows = conn.execute(query.limit(BATCH)).all()
            for row in rows:
                yield Row(
                    row.arxiv_id,
                    row.title,
                    row.abstract,
                    row.authors or [],
                    row.categories or [],
                    row.published,
                    row.modified_at,
                )
            if len(rows) < BATCH:
                return
            after = (rows[-1].modified_at, rows[-1].arxiv_id)

    # -- searching ------------------------------------------------------------------------

    def search(
        self, words: Sequence[str], filt: SearchFilter, limit: int
    ) -> tuple[list[tuple[str, float]], int] | None:
        """The best ``limit`` papers holding any of ``words`` and passing ``filt``, as
        (arxiv id, score), and how many papers match in all; ``None`` while the copy is
        being built for the first time."""
        if not self.ensure_fresh():
            return None
        index = self._open()
        query = self._query(index.schema, words, filt)
        if query is None:
            return [], 0
        searcher = index.searcher()
        result = searcher.search(query, limit=max(limit, 1), count=True)
        hits = result.hits[:limit] if limit > 0 else []
        ranking = [
            (str(searcher.doc(address).get_first("arxiv_id")), score) for score, address in hits
        ]
        count = getattr(result, "count", None)  # there at run time, not in the type stubs
        return ranking, int(count or 0)

    def _query(
        self, schema: tantivy.Schema, words: Sequence[str], filt: SearchFilter
    ) -> tantivy.Query | None:
        Query, Occur = tantivy.Query, tantivy.Occur
        scored: list[tuple[Any, tantivy.Query]] = []
        for word in words:
            match = self._text_match(schema, "body", word)
            if match is not None:
                scored.append((Occur.Should, match))
        if not scored:
            return None
        ranking = Query.boolean_query(scored)
        conditions = self._conditions(schema, filt)
        if not conditions:
            return ranking
        return Query.boolean_query([(Occur.Must, ranking), *conditions])

    def _conditions(self, schema: tantivy.Schema, filt: SearchFilter) -> list[tuple[Any, Any]]:
        """``filt`` as clauses that select without scoring."""
        Query, Occur = tantivy.Query, tantivy.Occur
        clauses: list[tuple[Any, Any]] = []

        def anywhere(text: str) -> tantivy.Query:
            """In the title, the abstract or an author's name."""
            return self._text_match(schema, "body", text) or Query.empty_query()

        for phrase in filt.phrases:
            clauses.append((Occur.Must, Query.const_score_query(anywhere(phrase), 0.0)))
        for excluded in filt.excluded:
            clauses.append((Occur.MustNot, anywhere(excluded)))
        for name in filt.authors:
            match = self._text_match(schema, "authors", name)
            clauses.append((Occur.Must, Query.const_score_query(match or Query.empty_query(), 0.0)))
        if filt.categories:
            values = sorted({c.lower() for c in filt.categories})
            any_category = Query.term_set_query(schema, "category", values)
            clauses.append((Occur.Must, Query.const_score_query(any_category, 0.0)))
        if filt.since or filt.until:
            dates = Query.range_query(
                schema,
                "day",
                tantivy.FieldType.Integer,
                (filt.since - _EPOCH).days if filt.since else None,
                (filt.until - _EPOCH).days if filt.until else None,
            )
            clauses.append((Occur.Must, Query.const_score_query(dates, 0.0)))
        return clauses

    def _text_match(self, schema: tantivy.Schema, field: str, text: str) -> tantivy.Query | None:
        """``text`` in ``field``: a term, or a phrase when the analyser makes several
        tokens of it (``GPT-4``, ``"spin glass"``); ``None`` when it makes none."""
        analyzer = self._names if field == "authors" else self._english
        tokens = analyzer.analyze(text)
        if not tokens:
            return None
        if len(tokens) == 1:
            return tantivy.Query.term_query(schema, field, tokens[0])
        words: list[str | tuple[int, str]] = list(tokens)
        return tantivy.Query.phrase_query(schema, field, words)

    def stats(self) -> dict[str, Any]:
        """Size and state of the copy, for ``paperfeed index`` and the benchmarks."""
        index = self._open()
        index.reload()
        size = (
            sum(p.stat().st_size for p in self.directory.rglob("*") if p.is_file())
            if self.directory is not None and self.directory.exists()
            else 0
        )
        return {
            "papers": index.searcher().num_docs,
            "directory": str(self.directory) if self.directory else None,
            "bytes": size,
            "complete": bool(self._meta.get("complete")),
            "synced_to": self._meta.get("synced_to"),
        }
