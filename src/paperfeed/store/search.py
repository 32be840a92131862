"""The search queries: keyword ranking, filters and stored embeddings, on both backends.

Keyword ranking is BM25 on both. SQLite has it built in (FTS5's ``bm25()``). PostgreSQL's
``ts_rank`` is not BM25 (no inverse document frequency, different length normalisation), so
the query below computes BM25 itself over the candidates the GIN index finds: term
frequencies from the stored ``tsvector`` (title positions count ``title_weight`` times),
document frequencies counted through the GIN index (kept for ten minutes), and the average
document length cached per process.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSQUERY

from paperfeed.models import Paper, SearchFilter

from .schema import Embedding, paper_embeddings, papers

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


def _published() -> Any:
    """When a paper first appeared on arXiv (or here, when the source did not say)."""
    return sa.func.coalesce(papers.c.published, papers.c.first_seen)


class SearchStore:
    """Search-related reads and writes of a :class:`Store` (``store.search``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._avgdl: tuple[int, float] | None = None
        self._df_cache: dict[str, tuple[int, float]] = {}

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

    def filter_clauses(self, filt: SearchFilter) -> list[Any]:
        """SQL conditions on ``papers`` for ``filt``."""
        clauses: list[Any] = [self._contains_text(p) for p in filt.phrases]
        clauses += [sa.not_(self._contains_text(e)) for e in filt.excluded]
        for name in filt.authors:
            authors = sa.func.lower(sa.cast(papers.c.authors, sa.Text))
            clauses.append(authors.contains(name.lower(), autoescape=True))
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
        score = sa.func.bm25(_FTS_NAME, TITLE_WEIGHT, 1.0, 1.0)
        match = _FTS_NAME.op("MATCH")(" OR ".join(fts_string(w) for w in words))
        if filt:
            query = (
                sa.select(papers.c.arxiv_id, score.label("score"))
                .select_from(_FTS.join(papers, papers.c.doc_id == _FTS.c.rowid))
                .where(match, *self.filter_clauses(filt))
                .order_by(score)
                .limit(limit)
            )
        else:  # rank inside the index, then look up only the best rows
            best = (
                sa.select(_FTS.c.rowid.label("doc_id"), score.label("score"))
                .where(match)
                .order_by(score)
                .limit(limit)
                .subquery()
            )
            query = (
                sa.select(papers.c.arxiv_id, best.c.score)
                .join(best, best.c.doc_id == papers.c.doc_id)
                .order_by(best.c.score)
            )
        with self.store.reading() as conn:
            return [(row.arxiv_id, -float(row.score)) for row in conn.execute(query)]

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
            entries = (
                sa.func.unnest(candidates.c.v)
                .table_valued("lexeme", "positions", "weights")
                .render_derived(name="u")
            )
            weight = sa.func.unnest(entries.c.weights).table_valued("w").render_derived(name="pw")
            lexemes = sa.cast(sa.literal(list(idf)), sa.ARRAY(sa.Text))
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
        """How many papers hold each lexeme of ``text``. Counting a common lexeme reads
        thousands of rows, so counts are kept in this process for DF_TTL seconds: they move
        slowly, and a paper or two more does not change a ranking."""
        lexemes = list(
            conn.execute(
                sa.text("SELECT unnest(tsvector_to_array(to_tsvector('english', :text)))"),
                {"text": text},
            ).scalars()
        )
        now = time.monotonic()
        cache = self._df_cache
        missing = [lx for lx in lexemes if lx not in cache or now - cache[lx][1] > DF_TTL]
        if missing:
            counts = conn.execute(
                sa.text(
                    "SELECT t.lexeme, (SELECT count(*) FROM papers WHERE search_vector"
                    " @@ CAST(quote_literal(t.lexeme) AS tsquery))"
                    " FROM unnest(CAST(:lexemes AS text[])) AS t(lexeme)"
                ),
                {"lexemes": missing},
            ).all()
            if len(cache) > DF_CACHE_SIZE:
                cache.clear()
            for lexeme, count in counts:
                cache[lexeme] = (int(count), now)
        return {lx: cache[lx][0] for lx in lexemes}

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

    # -- embeddings -----------------------------------------------------------------------

    def ids_to_embed(self, model: str) -> list[str]:
        """Papers without an embedding by ``model``, or changed since theirs was made."""
        e = paper_embeddings
        query = (
            sa.select(papers.c.arxiv_id)
            .outerjoin(e, e.c.paper_id == papers.c.arxiv_id)
            .where(
                sa.or_(
                    e.c.paper_id.is_(None),
                    e.c.model != model,
                    papers.c.modified_at > e.c.embedded_at,
                )
            )
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

    def save_embeddings(
        self,
        model: str,
        vectors: Sequence[tuple[str, str, np.ndarray]],
        unchanged: Sequence[str] = (),
    ) -> None:
        """Store (id, text hash, vector) rows in one transaction; ``unchanged`` papers keep
        their vector but are marked as checked."""
        from .store import utcnow

        now = utcnow()
        e = paper_embeddings
        with self.store.writing() as conn:
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
