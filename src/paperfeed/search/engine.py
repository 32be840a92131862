"""Search: keyword (BM25), semantic (embeddings) and their fusion, behind one call.

Every ranker has the same shape: a parsed :class:`Query` and a limit in, a ranking
``[(arxiv_id, score), ...]`` out, best first; evaluation and fusion work on that. Hybrid is
weighted reciprocal rank fusion (RRF): a paper scores ``Σ w / (k + rank)`` over the rankers
that found it. ``k`` and the weights were tuned on SciFact's *train* split only
(``tests/bench/bench_search.py``), and the figures on its test split are in the README.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from paperfeed.models import Paper, SearchFilter
from paperfeed.store import Store

from .embed import Embedder, default_embedder
from .query import Query, QuerySyntaxError, parse_query
from .semantic import Ranking, SemanticSearch

MODES = ("hybrid", "keyword", "semantic")
MAX_RESULTS = 200  # a search shows at most this many results (10 pages of 20)


@dataclass(frozen=True)
class Fusion:
    """How hybrid search mixes its two rankings."""

    k: float = 60.0
    keyword_weight: float = 1.0
    semantic_weight: float = 1.0
    pool: int = 100  # candidates taken from each ranker
    min_similarity: float = 0.15  # semantic matches below this cosine are not results


def rrf(rankings: Sequence[tuple[Ranking, float]], k: float) -> Ranking:
    """Weighted reciprocal rank fusion of ``(ranking, weight)`` pairs."""
    scores: dict[str, float] = {}
    for ranking, weight in rankings:
        for rank, (arxiv_id, _score) in enumerate(ranking, start=1):
            scores[arxiv_id] = scores.get(arxiv_id, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


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
    ) -> None:
        self.store = store
        self._embedder = embedder
        self.fusion = fusion or Fusion()
        self.semantic = SemanticSearch(store, Embedder.name)

    @property
    def embedder(self) -> Embedder:
        return self._embedder()

    # -- rankers --------------------------------------------------------------------------

    def rank_keyword(self, query: Query, limit: int) -> Ranking:
        words = [*query.words, *(w for p in query.phrases for w in p.split())]
        return self.store.search.keyword(words, query.filter(), limit)

    def rank_semantic(self, query: Query, limit: int) -> Ranking:
        if not query.text:
            return []
        vector = self.embedder.embed_query(query.text)
        ranking = self.semantic.nearest(vector, query.filter(), limit)
        return [(pid, score) for pid, score in ranking if score >= self.fusion.min_similarity]

    def rank_hybrid(self, query: Query, limit: int) -> Ranking:
        pool = max(limit, self.fusion.pool)
        fused = rrf(
            [
                (self.rank_keyword(query, pool), self.fusion.keyword_weight),
                (self.rank_semantic(query, pool), self.fusion.semantic_weight),
            ],
            self.fusion.k,
        )
        return fused[:limit]

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
        ranking = self.rank(query, mode, MAX_RESULTS)
        found = self.store.search.papers(pid for pid, _ in ranking)
        hits = [Hit(found[pid], score) for pid, score in ranking if pid in found]
        if query.sort == "date":
            hits.sort(key=lambda h: _published_key(h.paper), reverse=True)
        elif query.sort == "upvotes":
            hits.sort(key=lambda h: (h.paper.upvotes, _published_key(h.paper)), reverse=True)
        words = [*query.words, *query.phrases]
        return SearchResults(
            query, mode, hits[offset : offset + page_size], len(hits), page, page_size, words
        )

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


def _published_key(paper: Paper) -> datetime:
    return paper.published or paper.first_seen or datetime.min
