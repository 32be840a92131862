"""The search queries: keyword ranking, filters and stored embeddings, on both backends.

Keyword ranking is BM25 on both. SQLite has it built in (FTS5's ``bm25()``). PostgreSQL's
``ts_rank`` is not BM25 (no inverse document frequency, different length normalisation), so
the query below computes BM25 itself over the candidates the GIN index finds: term
frequencies from the stored ``tsvector`` (title positions count ``title_weight`` times),
document frequencies counted through the GIN index (kept for ten minutes), and the average
document length cached per process.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSQUERY

from paperfeed.models import Paper, SearchFilter

from .schema import Embedding, feed_entries, paper_embeddings, papers

if TYPE_CHECKING:
    from .store import Store

# BM25 parameters (the common defaults) and the weight of a title match against an
# abstract or author match; see `paperfeed bench` for how they score on SciFact.
K1 = 1.2
B = 0.75
TITLE_WEIGHT = 2.0
DF_TTL = 600.0  # seconds a PostgreSQL document frequency is reused
DF_CACHE_SIZE = 200_000
CANDIDATE_BUDGET = 3_000  # PostgreSQL: papers scored per keyword query, at most

_FTS = sa.table("papers_fts", sa.column("rowid"))
_FTS_NAME: sa.ColumnClause[Any] = sa.literal_column("papers_fts")
_SEARCH_VECTOR: sa.ColumnClause[Any] = sa.literal_column("papers.search_vector")


def fts_string(text: str) -> str:
    """``text`` as one FTS5 string (a phrase of its tokens), quotes doubled."""
    return '"' + text.replace('"', '""') + '"'


@dataclass(frozen=True)
class EmbeddedPapers:
    """Papers with their texts and vectors, in arXiv id order (the same input on both
    backends and on every run, for what clusters them)."""

    ids: list[str]
    texts: list[str]  # title and abstract
    matrix: np.ndarray  # float32, one row per id


def _published() -> Any:
    """When a paper first appeared on arXiv (or here, when the source did not say)."""
    return sa.func.coalesce(papers.c.published, papers.c.first_seen)


class SearchStore:
    """Search-related reads and writes of a :class:`Store` (``store.search``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._avgdl: tuple[int, float] | None = None
        self._df_cache: dict[str, tuple[int, float]] = {}
        self._rows: tuple[int, float] | None = None

    @property
    def postgres(self) -> bool:
        return self.store.backend == "postgresql"

    # -- filters --------------------------------------------------------------------------

    def _contains_text(self, text: str) -> Any:
        """Papers whose title, abstract or authors hold ``text`` (a word or a phrase)."""
        if self.postgres:
            return _SEARCH_VECTOR.op("@@")(sa.func.phraseto_tsquery("english", text))
        match = sa.select(_FTS.c.rowid).where(_FTS_NAME.op("MATCH")(fts_string(text)))
        return papers.c.doc_id.in_(match)

    def _author_matches(self, name: str) -> Any:
        """Papers with an author whose name holds ``name`` as whole words, in any case
        (``parisi`` finds Giorgio Parisi, not Christopher Parisien): what the keyword
        index's author field matches, so hybrid search's two rankers filter alike."""
        words = re.findall(r"\w+", name)
        if not words:
            return sa.false()
        if self.postgres:  # \m and \M: start and end of a word in PostgreSQL's regexes
            pattern = r"\m" + '[^[:alnum:]_";]+'.join(words) + r"\M"
            return sa.cast(papers.c.authors, sa.Text).op("~*")(pattern)
        pattern = r"\b" + r'[^\w";]+'.join(re.escape(w) for w in words) + r"\b"
        matches: Any = sa.func.authors_match(pattern, papers.c.authors, type_=sa.Boolean)
        return matches

    def filter_clauses(self, filt: SearchFilter) -> list[Any]:
        """SQL conditions on ``papers`` for ``filt``."""
        clauses: list[Any] = [self._contains_text(p) for p in filt.phrases]
        clauses += [sa.not_(self._contains_text(e)) for e in filt.excluded]
        for name in filt.authors:
            clauses.append(self._author_matches(name))
        if filt.categories:
            categories = sa.func.lower(sa.cast(papers.c.categories, sa.Text))
            options = []
            for category in filt.categories:
                value = category.lower()
                options.append(categories.contains(f'"{value}"', autoescape=True))
                if "." not in value:  # an archive: cs matches cs.LG
                    options.append(categories.contains(f'"{value}.', autoescape=True))
            clauses.append(sa.or_(*options))
        if filt.since:
            clauses.append(_published() >= datetime.combine(filt.since, datetime.min.time()))
        if filt.until:
            end = datetime.combine(filt.until + timedelta(days=1), datetime.min.time())
            clauses.append(_published() < end)
        return clauses

    def filter_ids(self, filt: SearchFilter) -> set[str]:
        """Every paper id that passes ``filt``."""
        query = sa.select(papers.c.arxiv_id).where(*self.filter_clauses(filt))
        with self.store.reading() as conn:
            return set(conn.execute(query).scalars())

    def listing(
        self, filt: SearchFilter, sort: str, limit: int, offset: int = 0
    ) -> tuple[list[str], int]:
        """Papers passing ``filt`` (a search with filters only), newest or most upvoted
        first, and how many there are."""
        clauses = self.filter_clauses(filt)
        order = (
            [papers.c.upvotes.desc(), _published().desc()]
            if sort == "upvotes"
            else [_published().desc(), papers.c.arxiv_id.desc()]
        )
        query = (
            sa.select(papers.c.arxiv_id)
            .where(*clauses)
            .order_by(*order)
            .limit(limit)
            .offset(offset)
        )
        count = sa.select(sa.func.count()).select_from(papers).where(*clauses)
        with self.store.reading() as conn:
            return list(conn.execute(query).scalars()), int(conn.execute(count).scalar_one())

    # -- keyword ranking ------------------------------------------------------------------

    def keyword(
        self, words: Sequence[str], filt: SearchFilter, limit: int
    ) -> list[tuple[str, float]]:
        """BM25 over title, abstract and authors: the best ``limit`` papers holding any of
        ``words`` and passing ``filt``, as (arxiv id, score), best first."""
        words = [w for w in words if w.strip()]
        if not words or limit <= 0:
            return []
        if self.postgres:
            return self._keyword_postgres(words, filt, limit)
        with self.store.reading() as conn:
            return _TopK(self, conn, words, filt, limit).run()

    def _fts_statement(self, match: str, filt: SearchFilter, limit: int) -> Any:
        """The best ``limit`` rows of an FTS5 MATCH by ``bm25()`` (negative: lower is better)."""
        score = sa.func.bm25(_FTS_NAME, TITLE_WEIGHT, 1.0, 1.0)
        condition = _FTS_NAME.op("MATCH")(match)
        if filt:
            return (
                sa.select(papers.c.doc_id, score.label("score"))
                .select_from(_FTS.join(papers, papers.c.doc_id == _FTS.c.rowid))
                .where(condition, *self.filter_clauses(filt))
                .order_by(score)
                .limit(limit)
            )
        # rank inside the index, no join
        return (
            sa.select(_FTS.c.rowid.label("doc_id"), score.label("score"))
            .where(condition)
            .order_by(score)
            .limit(limit)
        )

    def keyword_count(self, words: Sequence[str], filt: SearchFilter) -> int:
        """How many papers hold any of ``words`` and pass ``filt`` (what ``keyword`` ranks)."""
        words = [w for w in words if w.strip()]
        if not words:
            return 0
        if self.postgres:
            every = sa.func.plainto_tsquery("english", " ".join(words))
            any_word = sa.func.replace(sa.cast(every, sa.Text), "&", "|")
            match = _SEARCH_VECTOR.op("@@")(sa.cast(any_word, TSQUERY))
            query = sa.select(sa.func.count()).select_from(papers).where(match)
        else:
            fts_match = _FTS_NAME.op("MATCH")(" OR ".join(fts_string(w) for w in words))
            if filt:
                rows = sa.select(_FTS.c.rowid).where(fts_match)
                query = (
                    sa.select(sa.func.count()).select_from(papers).where(papers.c.doc_id.in_(rows))
                )
            else:  # counted inside the index, no lookup of the rows
                query = sa.select(sa.func.count()).select_from(_FTS).where(fts_match)
        if filt:
            query = query.where(*self.filter_clauses(filt))
        with self.store.reading() as conn:
            return int(conn.execute(query).scalar_one())

    def _fts_frequencies(self, conn: sa.Connection, terms: Sequence[str]) -> dict[str, int]:
        """How many rows of the FTS5 index match each term (a word or a phrase)."""

        def count(missing: list[str]) -> dict[str, int]:
            return {
                term: int(
                    conn.execute(
                        sa.select(sa.func.count())
                        .select_from(_FTS)
                        .where(_FTS_NAME.op("MATCH")(fts_string(term)))
                    ).scalar_one()
                )
                for term in missing
            }

        return self._cached_frequencies(terms, count)

    def _cached_frequencies(
        self, terms: Sequence[str], count: Callable[[list[str]], dict[str, int]]
    ) -> dict[str, int]:
        """Document frequencies of ``terms``, counted by ``count`` only for those not seen in
        the last DF_TTL seconds. Counting a common term reads thousands of rows; the counts
        move slowly, and a paper or two more does not change a ranking."""
        now = time.monotonic()
        cache = self._df_cache
        missing = [t for t in dict.fromkeys(terms) if t not in cache or now - cache[t][1] > DF_TTL]
        if missing:
            counted = count(missing)
            if len(cache) > DF_CACHE_SIZE:
                cache.clear()
            for term, value in counted.items():
                cache[term] = (value, now)
        return {term: cache[term][0] for term in terms}

    def _fts_rows(self, conn: sa.Connection) -> int:
        """Rows in the FTS5 index (one per paper): the N of its idf, counted at most once a
        minute (a few more papers move an idf far less than BOUND_MARGIN allows)."""
        now = time.monotonic()
        if self._rows is None or now - self._rows[1] > 60:
            count = conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar_one()
            self._rows = (int(count), now)
        return self._rows[0]

    def _keyword_postgres(
        self, words: Sequence[str], filt: SearchFilter, limit: int
    ) -> list[tuple[str, float]]:
        text = " ".join(words)
        with self.store.reading() as conn:
            n_docs, avgdl = self._corpus_stats(conn)
            frequencies = self._document_frequencies(conn, text)
            idf = {
                lexeme: float(np.log(1 + (n_docs - df + 0.5) / (df + 0.5)))
                for lexeme, df in frequencies.items()
                if df
            }
            if not idf:
                return []
            candidates = (
                sa.select(
                    papers.c.arxiv_id,
                    _SEARCH_VECTOR.label("v"),
                    sa.func.length(_SEARCH_VECTOR).label("dl"),
                )
                .where(_candidate_match(frequencies), *self.filter_clauses(filt))
                .limit(CANDIDATE_BUDGET)
                .cte("candidates")
            )
            # Term frequencies of the query's lexemes in each candidate: one row per
            # position, a title position counting TITLE_WEIGHT times.
            lexemes = sa.cast(sa.literal(list(idf)), sa.ARRAY(sa.Text))
            # Only the query's lexemes of each candidate's tsvector, cut in C (deleting
            # every other lexeme) before unnesting: a paper has a hundred lexemes.
            others = sa.func.tsvector_to_array(sa.func.ts_delete(candidates.c.v, lexemes))
            entries = (
                sa.func.unnest(sa.func.ts_delete(candidates.c.v, others))
                .table_valued("lexeme", "positions", "weights")
                .render_derived(name="u")
            )
            weight = sa.func.unnest(entries.c.weights).table_valued("w").render_derived(name="pw")
            tf = (
                sa.select(
                    candidates.c.arxiv_id,
                    candidates.c.dl,
                    entries.c.lexeme,
                    sa.func.sum(sa.case((weight.c.w == "A", TITLE_WEIGHT), else_=1.0)).label("tf"),
                )
                .select_from(candidates)
                .join(entries, sa.true())
                .join(weight, sa.true())
                .where(entries.c.lexeme == sa.any_(lexemes))
                .group_by(candidates.c.arxiv_id, candidates.c.dl, entries.c.lexeme)
                .subquery("tf")
            )
            term_idf = sa.case(idf, value=tf.c.lexeme, else_=0.0)
            norm = K1 * (1 - B + B * tf.c.dl / avgdl)
            score = sa.func.sum(term_idf * tf.c.tf * (K1 + 1) / (tf.c.tf + norm)).label("score")
            query = (
                sa.select(tf.c.arxiv_id, score)
                .group_by(tf.c.arxiv_id)
                .order_by(score.desc(), tf.c.arxiv_id)
                .limit(limit)
            )
            rows = conn.execute(query).all()
        return [(row.arxiv_id, float(row.score)) for row in rows]

    def _document_frequencies(self, conn: sa.Connection, text: str) -> dict[str, int]:
        """How many papers hold each lexeme of ``text`` (one query for the uncached ones)."""
        lexemes = list(
            conn.execute(
                sa.text("SELECT unnest(tsvector_to_array(to_tsvector('english', :text)))"),
                {"text": text},
            ).scalars()
        )

        def count(missing: list[str]) -> dict[str, int]:
            rows = conn.execute(
                sa.text(
                    "SELECT t.lexeme, (SELECT count(*) FROM papers WHERE search_vector"
                    " @@ CAST(quote_literal(t.lexeme) AS tsquery))"
                    " FROM unnest(CAST(:lexemes AS text[])) AS t(lexeme)"
                ),
                {"lexemes": missing},
            ).all()
            return {lexeme: int(n) for lexeme, n in rows}

        return self._cached_frequencies(lexemes, count)

    def _corpus_stats(self, conn: sa.Connection) -> tuple[int, float]:
        """Number of papers, and their mean number of distinct lexemes (recomputed when the
        corpus has grown or shrunk by more than 1 %: it moves slowly)."""
        n_docs = int(conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar_one())
        cached = self._avgdl
        if cached is None or abs(cached[0] - n_docs) > 0.01 * max(n_docs, 1):
            mean = conn.execute(
                sa.select(sa.func.avg(sa.func.length(_SEARCH_VECTOR))).select_from(papers)
            ).scalar()
            cached = self._avgdl = (n_docs, float(mean or 1.0))
        return n_docs, max(cached[1], 1.0)

    # -- papers ---------------------------------------------------------------------------

    def sort_keys(self, ids: Sequence[str]) -> dict[str, tuple[tuple[Any, int], tuple[int, Any]]]:
        """For sorting results without reading them: ((date, upvotes), (upvotes, date))."""
        if not ids:
            return {}
        query = sa.select(papers.c.arxiv_id, _published(), papers.c.upvotes).where(
            papers.c.arxiv_id.in_(list(ids))
        )
        with self.store.reading() as conn:
            return {pid: ((when, votes), (votes, when)) for pid, when, votes in conn.execute(query)}

    def papers(self, ids: Iterable[str]) -> dict[str, Paper]:
        """The papers among ``ids`` that readers may see (not hidden by moderators)."""
        from .store import _paper_from_row

        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        with self.store.reading() as conn:
            rows = conn.execute(
                sa.select(papers).where(papers.c.arxiv_id.in_(wanted), papers.c.hidden_at.is_(None))
            ).all()
        return {row.arxiv_id: _paper_from_row(row) for row in rows}

    def papers_by_doi(self, dois: Sequence[str]) -> dict[str, str]:
        """{doi (lower case): arxiv id} of the papers among ``dois`` the store holds."""
        wanted = sorted({d.lower() for d in dois if d})
        if not wanted:
            return {}
        found: dict[str, str] = {}
        with self.store.reading() as conn:
            for start in range(0, len(wanted), 500):
                query = sa.select(sa.func.lower(papers.c.doi), papers.c.arxiv_id).where(
                    sa.func.lower(papers.c.doi).in_(wanted[start : start + 500])
                )
                found.update({doi: pid for doi, pid in conn.execute(query)})
        return found

    def titles(self, ids: Sequence[str]) -> dict[str, str]:
        """{arxiv id: title} of ``ids`` (those the store holds; any number of them)."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, str] = {}
        with self.store.reading() as conn:
            for start in range(0, len(wanted), 500):  # under any bound-parameter limit
                query = sa.select(papers.c.arxiv_id, papers.c.title).where(
                    papers.c.arxiv_id.in_(wanted[start : start + 500])
                )
                found.update({pid: title for pid, title in conn.execute(query)})
        return found

    # -- embeddings -----------------------------------------------------------------------

    def ids_to_embed(self, model: str, summaries: bool = False) -> list[str]:
        """Papers without an embedding by ``model``, or changed since theirs was made (and,
        with ``summaries``, those without a TL;DR yet: embedded before TL;DRs existed)."""
        e = paper_embeddings
        conditions = [
            e.c.paper_id.is_(None),
            e.c.model != model,
            papers.c.modified_at > e.c.embedded_at,
        ]
        if summaries:
            conditions.append(papers.c.tldr.is_(None))
        query = (
            sa.select(papers.c.arxiv_id)
            .outerjoin(e, e.c.paper_id == papers.c.arxiv_id)
            .where(sa.or_(*conditions))
            .order_by(papers.c.doc_id)
        )
        with self.store.reading() as conn:
            return list(conn.execute(query).scalars())

    def texts_for_embedding(
        self, ids: Sequence[str], model: str
    ) -> list[tuple[str, str, str, str | None]]:
        """(id, title, abstract, hash of the text ``model`` embedded last time, if it did)."""
        e = paper_embeddings
        stored_hash = sa.case((e.c.model == model, e.c.text_hash), else_=None)
        query = (
            sa.select(papers.c.arxiv_id, papers.c.title, papers.c.abstract, stored_hash)
            .outerjoin(e, e.c.paper_id == papers.c.arxiv_id)
            .where(papers.c.arxiv_id.in_(list(ids)))
        )
        with self.store.reading() as conn:
            return [(r[0], r[1], r[2], r[3]) for r in conn.execute(query)]

    def summaries(self, ids: Sequence[str]) -> dict[str, str | None]:
        """{id: TL;DR} of ``ids`` ("" for none, None when not chosen yet)."""
        found: dict[str, str | None] = {}
        with self.store.reading() as conn:
            for start in range(0, len(ids), 1000):
                query = sa.select(papers.c.arxiv_id, papers.c.tldr).where(
                    papers.c.arxiv_id.in_(list(ids[start : start + 1000]))
                )
                found.update({pid: text for pid, text in conn.execute(query)})
        return found

    def missing_summaries(self, ids: Sequence[str]) -> set[str]:
        """The papers among ``ids`` whose TL;DR has not been chosen yet."""
        if not ids:
            return set()
        query = sa.select(papers.c.arxiv_id).where(
            papers.c.arxiv_id.in_(list(ids)), papers.c.tldr.is_(None)
        )
        with self.store.reading() as conn:
            return set(conn.execute(query).scalars())

    def save_embeddings(
        self,
        model: str,
        vectors: Sequence[tuple[str, str, np.ndarray]],
        unchanged: Sequence[str] = (),
        summaries: Mapping[str, str] | None = None,
    ) -> None:
        """Store (id, text hash, vector) rows and ``summaries`` ({id: TL;DR, "" for none})
        in one transaction; ``unchanged`` papers keep their vector but are marked as
        checked. A TL;DR is written to ``papers`` without touching ``modified_at``: it is
        derived, not a change of the paper."""
        from .store import utcnow

        now = utcnow()
        e = paper_embeddings
        with self.store.writing() as conn:
            if summaries:
                conn.execute(
                    papers.update()
                    .where(papers.c.arxiv_id == sa.bindparam("pid"))
                    .values(tldr=sa.bindparam("summary")),
                    [{"pid": pid, "summary": text} for pid, text in summaries.items()],
                )
            if vectors:
                rows = [
                    {
                        "paper_id": pid,
                        "model": model,
                        "text_hash": h,
                        "embedded_at": now,
                        "vector": v,
                    }
                    for pid, h, v in vectors
                ]
                insert = self.store._insert(e)
                conn.execute(
                    insert.on_conflict_do_update(
                        index_elements=["paper_id"],
                        set_={
                            "model": insert.excluded.model,
                            "text_hash": insert.excluded.text_hash,
                            "embedded_at": insert.excluded.embedded_at,
                            "vector": insert.excluded.vector,
                        },
                    ),
                    rows,
                )
            if unchanged:
                conn.execute(
                    e.update().where(e.c.paper_id.in_(list(unchanged))).values(embedded_at=now)
                )

    def embedded_hashes(self, model: str) -> list[tuple[str, str]]:
        """(paper id, hash of the embedded text) of every vector by ``model``."""
        e = paper_embeddings
        query = sa.select(e.c.paper_id, e.c.text_hash).where(e.c.model == model)
        with self.store.reading() as conn:
            return [(row.paper_id, row.text_hash) for row in conn.execute(query)]

    def embeddings_version(self) -> datetime | None:
        """A cheap fingerprint of the stored embeddings: the latest write (one index probe).
        A deleted paper's vector goes with it and only leaves a stale row in memory, which
        the lookup of the results skips."""
        e = paper_embeddings
        with self.store.reading() as conn:
            value: datetime | None = conn.execute(sa.select(sa.func.max(e.c.embedded_at))).scalar()
        return value

    def all_embeddings(self, model: str) -> tuple[list[str], np.ndarray]:
        """Every stored vector of ``model`` as (ids, float32 matrix), for an in-process index."""
        e = paper_embeddings
        query = sa.select(e.c.paper_id, e.c.vector).where(e.c.model == model)
        ids: list[str] = []
        chunks: list[np.ndarray] = []
        with self.store.reading() as conn:
            for row in conn.execute(query):
                ids.append(row.paper_id)
                chunks.append(row.vector)
        if not chunks:
            return [], np.zeros((0, 0), dtype=np.float32)
        return ids, np.vstack(chunks).astype(np.float32, copy=False)

    def embedded_papers(
        self, model: str, start: date | None = None, end: date | None = None
    ) -> EmbeddedPapers:
        """The visible papers featured between ``start`` and ``end`` (inclusive), or every
        visible paper without them, that have a vector by ``model`` (papers not embedded
        yet are left out), in arXiv id order: what topic clustering reads. One query."""
        e = paper_embeddings
        query = (
            sa.select(papers.c.arxiv_id, papers.c.title, papers.c.abstract, e.c.vector)
            .join(e, e.c.paper_id == papers.c.arxiv_id)
            .where(e.c.model == model, papers.c.hidden_at.is_(None))
            .order_by(papers.c.arxiv_id)
        )
        if start is not None and end is not None:
            featured = sa.select(feed_entries.c.paper_id).where(
                feed_entries.c.day.between(start, end)
            )
            query = query.where(papers.c.arxiv_id.in_(featured))
        ids: list[str] = []
        texts: list[str] = []
        vectors: list[np.ndarray] = []
        with self.store.reading() as conn:
            for row in conn.execute(query):
                ids.append(row.arxiv_id)
                texts.append(f"{row.title}\n{row.abstract}")
                vectors.append(row.vector)
        matrix = np.vstack(vectors).astype(np.float32) if vectors else np.zeros((0, 0), np.float32)
        return EmbeddedPapers(ids, texts, matrix)

    def embedding_of(self, arxiv_id: str) -> np.ndarray | None:
        e = paper_embeddings
        with self.store.reading() as conn:
            value = conn.execute(sa.select(e.c.vector).where(e.c.paper_id == arxiv_id)).scalar()
        return value

    def nearest(
        self,
        vector: np.ndarray,
        filt: SearchFilter,
        limit: int,
        exclude: Sequence[str] = (),
    ) -> list[tuple[str, float]]:
        """PostgreSQL: the ``limit`` nearest papers by cosine similarity through pgvector's
        HNSW index (iterative scans keep filtered queries from coming back short)."""
        e = paper_embeddings
        query_vector = sa.bindparam("query_vector", vector, type_=Embedding())
        distance = e.c.vector.op("<=>", return_type=sa.Float)(query_vector)
        query = (
            sa.select(e.c.paper_id, (1 - distance).label("similarity"))
            .join(papers, papers.c.arxiv_id == e.c.paper_id)
            .where(*self.filter_clauses(filt))
            .order_by(distance)
            .limit(limit)
        )
        if exclude:
            query = query.where(e.c.paper_id.not_in(list(exclude)))
        with self.store.reading() as conn:
            _tune_hnsw(conn, limit)
            rows = conn.execute(query).all()
        return sorted(((r.paper_id, float(r.similarity)) for r in rows), key=lambda r: -r[1])

    def nearest_to_paper(self, arxiv_id: str, limit: int) -> list[tuple[Paper, float]]:
        """PostgreSQL: the papers nearest to ``arxiv_id`` (not itself), in one query."""
        from .store import _paper_from_row

        e = paper_embeddings
        own = sa.select(e.c.vector).where(e.c.paper_id == arxiv_id).scalar_subquery()
        distance = e.c.vector.op("<=>", return_type=sa.Float)(own)
        nearest = (
            sa.select(e.c.paper_id, distance.label("distance"))
            .where(e.c.paper_id != arxiv_id, own.is_not(None))
            .order_by(distance)
            .limit(limit)
            .subquery()
        )
        query = (
            sa.select(papers, (1 - nearest.c.distance).label("similarity"))
            .join(nearest, nearest.c.paper_id == papers.c.arxiv_id)
            .where(papers.c.hidden_at.is_(None))
            .order_by(nearest.c.distance)
        )
        with self.store.reading() as conn:
            _tune_hnsw(conn, limit)
            rows = conn.execute(query).all()
        return [(_paper_from_row(row), float(row.similarity)) for row in rows]


# FTS5's bm25() constants (fts5_aux.c); a term adds at most (K1 + 1) x idf to a score.
FTS5_K1 = 1.2
BOUND_MARGIN = 1.01  # slack on the bounds: the index's row count may lag a moment
ESSENTIAL_BUDGET = 5_000  # rows of the rarest words scored first, to learn a threshold


def fts5_idf(rows: int, hits: int) -> float:
    """The inverse document frequency FTS5's bm25() gives a term in ``hits`` of ``rows``."""
    value = math.log((rows - hits + 0.5) / (hits + 0.5))
    return value if value > 0 else 1e-6


class _TopK:
    """The ``limit`` best papers by FTS5 ``bm25()`` for papers holding *any* of the words,
    without scoring every such paper (the MaxScore idea, with FTS5 queries as its steps).

    Scoring is what costs: a word like "learning" is in a third of the papers, and bm25()
    runs once per matching row. But a paper holding only the common words can score at most
    the sum of their upper bounds, ``(k1 + 1) x idf``. So once ``limit`` papers are known
    with scores above that sum (the threshold), the papers to score are those holding at
    least one of the other, *essential* words. Every score comes from FTS5 itself, with all
    the query's words in the expression (``(E) AND (C)`` plus ``(E) NOT (C)`` split the
    papers with an essential word in two, no paper in both), so the result is the same
    ranking as the plain ``OR`` query, only cheaper.

    Steps: the papers of the rarest words (about ESSENTIAL_BUDGET rows) give a threshold;
    the common words whose bounds add up to less than it are left out, and the papers of the
    remaining, essential words are scored (unless the first step already did). When no word
    can be left out, the plain ``OR`` query runs (long questions often end there).
    """

    def __init__(
        self,
        search: SearchStore,
        conn: sa.Connection,
        words: Sequence[str],
        filt: SearchFilter,
        limit: int,
    ) -> None:
        self.search, self.conn, self.filt, self.limit = search, conn, filt, limit
        # A word typed twice counts twice, as in the plain OR query.
        repeats = Counter(w.casefold() for w in words)
        unique = list({w.casefold(): w for w in words}.values())
        self.repeats = {w: repeats[w.casefold()] for w in unique}
        hits = search._fts_frequencies(conn, unique)
        self.terms = sorted((w for w in unique if hits[w]), key=lambda w: (hits[w], w))
        rows = search._fts_rows(conn)
        self.bound = {
            w: self.repeats[w] * (FTS5_K1 + 1) * fts5_idf(rows, hits[w]) * BOUND_MARGIN
            for w in unique
        }
        self.hits = hits
        self.scores: dict[int, float] = {}  # doc_id -> bm25 (higher is better)

    def run(self) -> list[tuple[str, float]]:
        terms = self.terms
        if len(terms) > 1:
            # The papers of the rarest words first: their scores set a threshold.
            scored: list[str] = []
            total = 0
            for word in terms:
                if scored and total + self.hits[word] > ESSENTIAL_BUDGET:
                    break
                scored.append(word)
                total += self.hits[word]
            if len(scored) < len(terms):
                self._score_holding(scored)
                essential = self._essential()
                if len(essential) < len(terms):
                    if not set(essential) <= set(scored):
                        self._score_holding(essential)
                    return self._ranking()
        if terms:  # no word can be left out: every paper with any of them
            self._score(self._any(terms))
        return self._ranking()

    def _essential(self) -> list[str]:
        """The rarest words, as few as possible, such that a paper holding none of them
        cannot reach the current threshold."""
        threshold = self._threshold()
        rest = 0.0
        cut = len(self.terms)
        while cut > 0 and rest + self.bound[self.terms[cut - 1]] < threshold:
            cut -= 1
            rest += self.bound[self.terms[cut]]
        return self.terms[:cut]

    def _threshold(self) -> float:
        if len(self.scores) < self.limit:
            return 0.0
        return sorted(self.scores.values(), reverse=True)[self.limit - 1]

    def _score_holding(self, essential: Sequence[str]) -> None:
        """Score, with every word, the papers holding one of ``essential``."""
        others = [w for w in self.terms if w not in essential]
        some = f"({self._any(essential)})"
        if not others:
            self._score(some)
            return
        rest = f"({self._any(others)})"
        self._score(f"{some} AND {rest}")
        self._score(f"{some} NOT {rest}")

    def _any(self, words: Sequence[str]) -> str:
        """FTS5: any of ``words``, each as many times as it was typed."""
        return " OR ".join(fts_string(w) for w in words for _ in range(self.repeats[w]))

    def _score(self, match: str) -> None:
        statement = self.search._fts_statement(match, self.filt, self.limit)
        for doc_id, score in self.conn.execute(statement):
            self.scores[doc_id] = -float(score)

    def _ranking(self) -> list[tuple[str, float]]:
        best = sorted(self.scores.items(), key=lambda item: (-item[1], item[0]))[: self.limit]
        if not best:
            return []
        query = sa.select(papers.c.doc_id, papers.c.arxiv_id).where(
            papers.c.doc_id.in_([doc_id for doc_id, _ in best])
        )
        ids = {row.doc_id: row.arxiv_id for row in self.conn.execute(query)}
        return [(ids[doc_id], score) for doc_id, score in best if doc_id in ids]


def _candidate_match(frequencies: dict[str, int]) -> Any:
    """Which papers to score. Scoring reads each candidate's whole ``tsvector``, so the
    candidates are the papers holding the query's rarest lexemes, as many lexemes as fit in
    CANDIDATE_BUDGET papers (a paper with none of them rarely beats one with a rare match);
    when even the rarest is common, the papers holding all of them."""
    ordered = sorted((lx for lx, df in frequencies.items() if df), key=frequencies.__getitem__)
    chosen: list[str] = []
    total = 0
    for lexeme in ordered:
        if chosen and total + frequencies[lexeme] > CANDIDATE_BUDGET:
            break
        chosen.append(lexeme)
        total += frequencies[lexeme]
    operator = " & " if total > CANDIDATE_BUDGET else " | "
    terms = chosen if operator == " | " else ordered
    query = operator.join("'" + lexeme.replace("'", "''") + "'" for lexeme in terms)
    return _SEARCH_VECTOR.op("@@")(sa.cast(sa.literal(query), TSQUERY))


def _tune_hnsw(conn: sa.Connection, limit: int) -> None:
    """Let pgvector's HNSW scan return ``limit`` rows even under filters (one statement)."""
    conn.exec_driver_sql(
        f"SET LOCAL hnsw.ef_search = {max(40, min(int(limit), 1000))}; "
        "SET LOCAL hnsw.iterative_scan = relaxed_order"
    )
