"""Search: keyword (BM25), semantic (embeddings) and their fusion, behind one call.

Every ranker has the same shape: a parsed :class:`Query` and a limit in, a ranking
``[(arxiv_id, score), ...]`` out, best first; evaluation and fusion work on that. Hybrid
fuses the keyword and the semantic rankings (:class:`Fusion`: a convex mix of normalised
scores, or reciprocal rank fusion), chosen on SciFact's *train* split only; the figures on
its test split are in the README.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from paperfeed.models import Paper, SearchFilter
from paperfeed.settings import Settings
from paperfeed.store import Store

from .embed import Embedder, default_embedder
from .keyword import KeywordIndex, default_directory
from .query import STOP_WORDS, Query, QuerySyntaxError, parse_query
from .semantic import Ranking, SemanticSearch

MODES = ("hybrid", "keyword", "semantic")
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="paperfeed-keyword")
MAX_RESULTS = 200  # a search shows at most this many results (10 pages of 20)


@dataclass(frozen=True)
class Fusion:
    """How hybrid search mixes its two rankings.

    ``rrf``: a paper scores ``keyword_weight / (k + keyword rank) + semantic_weight / (k +
    semantic rank)``. ``convex``: ``alpha × BM25 / best BM25 + (1 − alpha) × cosine`` (a
    ranker that did not find the paper adds nothing), which keeps how far apart the scores
    are, not only their order. The default is what ``paperfeed eval scifact --tune-on
    train`` chose on SciFact's train split: convex with alpha 0.3 (train nDCG@10 0.738,
    against 0.728 for the best RRF, k=5 and keyword weight 1.5).
    """

    method: str = "convex"
    k: float = 60.0
    keyword_weight: float = 1.0
    semantic_weight: float = 1.0
    alpha: float = 0.3
    pool: int = 100  # candidates taken from each ranker
    min_similarity: float = 0.15  # semantic matches below this cosine are not results


def rrf(rankings: Sequence[tuple[Ranking, float]], k: float) -> Ranking:
    """Weighted reciprocal rank fusion of ``(ranking, weight)`` pairs."""
    scores: dict[str, float] = {}
    for ranking, weight in rankings:
        for rank, (arxiv_id, _score) in enumerate(ranking, start=1):
            scores[arxiv_id] = scores.get(arxiv_id, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def convex(keyword: Ranking, semantic: Ranking, alpha: float) -> Ranking:
    """``alpha`` × max-normalised BM25 + (1 − ``alpha``) × cosine similarity."""
    scores: dict[str, float] = {}
    best = max((score for _, score in keyword), default=0.0)
    for arxiv_id, score in keyword:
        scores[arxiv_id] = alpha * score / best if best > 0 else 0.0
    for arxiv_id, similarity in semantic:
        scores[arxiv_id] = scores.get(arxiv_id, 0.0) + (1 - alpha) * similarity
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def fuse(keyword: Ranking, semantic: Ranking, fusion: Fusion) -> Ranking:
    """The hybrid ranking of a keyword and a semantic ranking."""
    if fusion.method == "convex":
        return convex(keyword, semantic, fusion.alpha)
    return rrf([(keyword, fusion.keyword_weight), (semantic, fusion.semantic_weight)], fusion.k)


@dataclass
class Hit:
    paper: Paper
    score: float
    keyword_rank: int | None = None
    semantic_rank: int | None = None


@dataclass
class SearchResults:
    query: Query
    mode: str
    hits: list[Hit]  # this page
    total: int
    page: int
    page_size: int
    words: list[str] = field(default_factory=list)  # what to highlight

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))


class Searcher:
    """Searches one store; the embedding model is loaded on the first semantic query."""

    def __init__(
        self,
        store: Store,
        embedder: Callable[[], Embedder] = default_embedder,
        fusion: Fusion | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.store = store
        self._embedder = embedder
        self.fusion = fusion or Fusion()
        settings = settings or Settings.from_env()
        self.semantic = SemanticSearch(
            store, Embedder.name, settings.vector_exact_max, settings.vector_probes
        )
        self.keyword_index: KeywordIndex | None = None
        if settings.keyword_engine == "tantivy":
            directory = default_directory(store, settings.data_dir, settings.search_index_dir)
            self.keyword_index = KeywordIndex(store, directory)

    @property
    def embedder(self) -> Embedder:
        return self._embedder()

    def warm_up(self) -> None:
        """Build what the first searches would otherwise wait for: the keyword index (all
        of it the first time; meanwhile the database ranks), the in-process vectors and the
        embedding model. ``paperfeed serve`` runs this in a thread at start."""
        # Side by side: a big keyword sync (and the merges it sets off) must not hold back
        # the vectors, which the first semantic search would otherwise wait for.
        keyword = self.keyword_index.start_sync() if self.keyword_index is not None else None
        if self.semantic.index is not None:
            self.semantic.index.refresh()
        if self.semantic.index is None or len(self.semantic.index):
            self.embedder.embed_query("warm up")
        if keyword is not None:
            keyword.join()

    def status(self) -> dict[str, str]:
        """What ``/healthz`` tells about search: which engine ranks keywords right now."""
        if self.keyword_index is None:
            return {"keyword": "database"}
        ready = self.keyword_index.ready
        return {"keyword": "tantivy" if ready else "database (the tantivy index is being built)"}

    # -- rankers --------------------------------------------------------------------------

    def rank_keyword(self, query: Query, limit: int) -> Ranking:
        return self._keyword(query, limit)[0]

    def _keyword(self, query: Query, limit: int) -> tuple[Ranking, int | None]:
        """The keyword ranking, and how many papers match when the engine tells (tantivy
        does; the database's ranking is used until its copy is built)."""
        words, filt = _keyword_words(query), query.filter()
        if self.keyword_index is not None:
            found = self.keyword_index.search(words, filt, limit)
            if found is not None:
                return found
        return self.store.search.keyword(words, filt, limit), None

    def rank_semantic(self, query: Query, limit: int) -> Ranking:
        if not query.text:
            return []
        return self._nearest(self.embedder.embed_query(query.text), query, limit)

    def _nearest(self, vector: np.ndarray, query: Query, limit: int) -> Ranking:
        ranking = self.semantic.nearest(vector, query.filter(), limit)
        return [(pid, score) for pid, score in ranking if score >= self.fusion.min_similarity]

    def rank_hybrid(self, query: Query, limit: int) -> Ranking:
        """The fused ranking: ``fusion.pool`` candidates from each ranker (what the fusion
        was tuned with), so up to twice that many results."""
        fusion = self.fusion
        pool = fusion.pool
        if not query.text:
            return self.rank_keyword(query, pool)[:limit]
        # The two rankers wait on different things (the database; ONNX Runtime and numpy,
        # which release the GIL), so the keyword one runs in a thread meanwhile.
        keyword = _POOL.submit(self.rank_keyword, query, pool)
        semantic = self._nearest(self.embedder.embed_query(query.text), query, pool)
        return fuse(keyword.result(), semantic, fusion)[:limit]

    def rank(self, query: Query, mode: str, limit: int) -> Ranking:
        if mode not in MODES:
            raise QuerySyntaxError(f"mode must be one of {', '.join(MODES)}, not {mode!r}", 0)
        rankers: dict[str, Callable[[Query, int], Ranking]] = {
            "hybrid": self.rank_hybrid,
            "keyword": self.rank_keyword,
            "semantic": self.rank_semantic,
        }
        return rankers[mode](query, limit)

    # -- the search box -------------------------------------------------------------------

    def search(
        self,
        text: str,
        *,
        mode: str = "hybrid",
        sort: str | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> SearchResults:
        """One page of results for what a reader typed. Raises QuerySyntaxError."""
        query = parse_query(text, sort=sort)
        page = max(page, 1)
        offset = (page - 1) * page_size
        if not query.has_text:
            if not query.has_filters:
                raise QuerySyntaxError("type something to search for", 0)
            order = "upvotes" if query.sort == "upvotes" else "date"
            ids, total = self.store.search.listing(query.filter(), order, page_size, offset)
            found = self.store.search.papers(ids)
            hits = [Hit(found[i], 0.0) for i in ids if i in found]
            return SearchResults(query, mode, hits, total, page, page_size)
        if mode == "keyword" and query.sort not in ("date", "upvotes"):
            # BM25 finds the best k papers faster the smaller k is: rank down to this page
            # and count the rest.
            ranking, count = self._keyword(query, min(offset + page_size, MAX_RESULTS))
            total = len(ranking)
            if total == offset + page_size:
                if count is None:
                    count = self.store.search.keyword_count(_keyword_words(query), query.filter())
                total = min(max(count, total), MAX_RESULTS)
            return self._page(query, mode, ranking, total, page, page_size)
        ranking = self.rank(query, mode, MAX_RESULTS)
        if query.sort in ("date", "upvotes"):
            keys = self.store.search.sort_keys([pid for pid, _ in ranking])
            column = 0 if query.sort == "date" else 1
            ranking.sort(key=lambda item: keys.get(item[0], _NO_KEY)[column], reverse=True)
        return self._page(query, mode, ranking, len(ranking), page, page_size)

    def _page(
        self, query: Query, mode: str, ranking: Ranking, total: int, page: int, page_size: int
    ) -> SearchResults:
        """Results page ``page`` of ``ranking``: only this page's papers are read."""
        shown = ranking[(page - 1) * page_size : page * page_size]
        found = self.store.search.papers(pid for pid, _ in shown)
        hits = [Hit(found[pid], score) for pid, score in shown if pid in found]
        words = [*query.words, *query.phrases]
        return SearchResults(query, mode, hits, total, page, page_size, words)

    def related(self, arxiv_id: str, limit: int = 5) -> list[tuple[Paper, float]]:
        """The papers nearest to ``arxiv_id`` by embedding (none if it has no vector yet)."""
        if self.store.backend == "postgresql":
            return self.store.search.nearest_to_paper(arxiv_id, limit)
        vector = self.semantic.vector_of(arxiv_id)
        if vector is None:
            return []
        ranking = self.semantic.nearest(vector, SearchFilter(), limit, exclude=[arxiv_id])
        found = self.store.search.papers(pid for pid, _ in ranking)
        return [(found[pid], score) for pid, score in ranking if pid in found]


_NO_KEY = ((datetime.min, 0), (0, datetime.min))


def _keyword_words(query: Query) -> list[str]:
    """The words BM25 ranks by: the query's words and its phrases' words. Stop words add
    nothing to BM25 (they are in nearly every abstract) but make every paper a candidate;
    PostgreSQL's english configuration drops them too."""
    words = [*query.words, *(w for p in query.phrases for w in p.split())]
    content = [w for w in words if w.lower() not in STOP_WORDS]
    return content or words
