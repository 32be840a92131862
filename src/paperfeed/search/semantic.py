"""Nearest papers by embedding: pgvector's HNSW index on PostgreSQL; on SQLite an
in-process index (a float32 matrix) loaded from the database, exact or approximate by size.

Up to ``exact_max`` vectors (PAPERFEED_VECTOR_EXACT_MAX, 50,000) the in-process search is
exact, brute-force inner products. That reads the whole matrix for every query, and memory
bandwidth makes it slow: 6-16 ms at 75k papers on 2 cores. Above it, an inverted file index
(IVF: spherical k-means cells, the query reads the ``probes`` cells nearest to it) answers in
a fifth of that at 75k with recall@10 0.97 against exact search (64 of 273 cells); by
default it reads 4 x sqrt(cells) cells, which keeps recall@10 at 0.97 at 1M papers too
(``tests/bench/bench_scale.py``). Memory is the matrix either way: 384 × 4
bytes a paper, 1.5 GB per million (plus ~80 MB of ids). The index reloads itself (and
rebuilds its cells: 2.6 s at 75k) when the stored embeddings change, checked at most every
``check_every`` seconds with one cheap query.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from paperfeed.models import SearchFilter
from paperfeed.store import Store

Ranking = list[tuple[str, float]]
EXACT_MAX = 50_000
PROBES = 0  # 0: as many as auto_probes() says for the index's size


class InvertedFile:
    """An IVF index: spherical k-means cells over the rows of a unit-vector matrix, the
    matrix stored cell by cell, a query scanning the ``probes`` cells nearest to it.

    Built in numpy (no extra dependency): k-means on a sample (40 rows per cell, 10
    rounds), then every row assigned to its nearest centroid, in chunks. About sqrt(n)
    cells, so a query reads about ``probes`` × sqrt(n) rows instead of n. The matrix must
    be put in :attr:`order` (``matrix[order]``) before searching; rows are positions in it.
    """

    def __init__(
        self, matrix: np.ndarray, cells: int | None = None, iterations: int = 10, seed: int = 0
    ) -> None:
        n = len(matrix)
        self.cells = cells or max(1, min(4096, int(np.sqrt(n))))
        rng = np.random.default_rng(seed)
        sample = matrix[rng.choice(n, min(n, self.cells * 40), replace=False)]
        centroids = sample[rng.choice(len(sample), self.cells, replace=False)]
        for _ in range(iterations):
            assigned = _nearest(sample, centroids)
            sums = np.zeros_like(centroids)
            np.add.at(sums, assigned, sample)
            empty = np.bincount(assigned, minlength=self.cells) == 0
            sums[empty] = sample[rng.choice(len(sample), int(empty.sum()))]
            centroids = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        self.centroids = centroids.astype(np.float32)
        assigned = _nearest(matrix, self.centroids)
        self.order = np.argsort(assigned, kind="stable")
        #: cell c holds rows starts[c] to starts[c + 1] of the reordered matrix
        self.starts = np.searchsorted(assigned[self.order], np.arange(self.cells + 1))

    def search(
        self,
        matrix: np.ndarray,
        query: np.ndarray,
        limit: int,
        probes: int,
        allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores) of the rows in the ``probes`` cells nearest to ``query``, only
        ``allowed`` ones (a row mask) when given; more cells are read while fewer than
        ``limit`` rows qualify."""
        nearest = np.argsort(-(self.centroids @ query))
        probes = min(max(probes, 1), self.cells)
        while True:
            ranges = [(self.starts[c], self.starts[c + 1]) for c in nearest[:probes]]
            rows = np.concatenate([np.arange(a, b) for a, b in ranges])
            scores = np.concatenate([matrix[a:b] @ query for a, b in ranges])
            if allowed is not None:
                keep = allowed[rows]
                rows, scores = rows[keep], scores[keep]
            if len(rows) >= limit or probes >= self.cells:
                return rows, scores
            probes = min(self.cells, probes * 4)


def auto_probes(cells: int) -> int:
    """Cells to read for recall@10 of about 0.97 against exact search: 4 x sqrt(cells),
    measured on the arXiv corpus (64 of 273 cells at 75k papers: 0.973) and on it replicated
    to 1M (128 of 1,022 cells: 0.973); a fixed number would lose recall as the index grows."""
    return max(1, min(cells, round(4 * math.sqrt(cells))))


def _nearest(matrix: np.ndarray, centroids: np.ndarray, chunk: int = 32_768) -> np.ndarray:
    """The nearest centroid (largest inner product) of each row."""
    parts = [
        np.argmax(matrix[i : i + chunk] @ centroids.T, axis=1) for i in range(0, len(matrix), chunk)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class _Loaded:
    """One load of the stored vectors; replaced whole, so a search sees one consistent set."""

    ids: list[str]
    matrix: np.ndarray
    position: dict[str, int]
    ivf: InvertedFile | None


class VectorIndex:
    """Every stored vector of one model, in memory: searched exactly up to ``exact_max``
    vectors, through an :class:`InvertedFile` above."""

    def __init__(
        self,
        store: Store,
        model: str,
        check_every: float = 2.0,
        exact_max: int = EXACT_MAX,
        probes: int = PROBES,
    ) -> None:
        self.store = store
        self.model = model
        self.check_every = check_every
        self.exact_max = exact_max
        self.probes = probes
        self.loaded = _Loaded([], np.zeros((0, 0), dtype=np.float32), {}, None)
        self._version: object = None
        self._checked = 0.0
        self._ready = False
        self._lock = threading.Lock()
        self._rebuild: threading.Thread | None = None

    def refresh(self, force: bool = False) -> None:
        """Reload when the stored embeddings changed since the last load."""
        now = time.monotonic()
        if not force and now - self._checked < self.check_every and self._ready:
            return
        with self._lock:
            self._checked = now
            version = self.store.search.embeddings_version()
            if version == self._version and not force:
                return
            if self._ready and self.loaded.ivf is not None and not force:
                # Building the inverted file takes seconds (25 s at a million papers): the
                # current one keeps answering while a thread builds the next.
                if self._rebuild is None or not self._rebuild.is_alive():
                    self._rebuild = threading.Thread(
                        target=self._load, args=(version,), name="paperfeed-vectors", daemon=True
                    )
                    self._rebuild.start()
                return
            self._load(version)

    def _load(self, version: object) -> None:
        ids, matrix = self.store.search.all_embeddings(self.model)
        ivf = None
        if len(ids) > self.exact_max:
            ivf = InvertedFile(matrix)
            matrix = matrix[ivf.order]
            ids = [ids[i] for i in ivf.order]
        self.loaded = _Loaded(ids, matrix, {pid: i for i, pid in enumerate(ids)}, ivf)
        self._version = version
        self._ready = True

    @property
    def approximate(self) -> bool:
        self.refresh()
        return self.loaded.ivf is not None

    def __len__(self) -> int:
        self.refresh()
        return len(self.loaded.ids)

    def vector(self, arxiv_id: str) -> np.ndarray | None:
        self.refresh()
        loaded = self.loaded
        row = loaded.position.get(arxiv_id)
        return None if row is None else loaded.matrix[row]

    def search(
        self,
        query: np.ndarray,
        limit: int,
        allowed: Collection[str] | None = None,
        exclude: Sequence[str] = (),
        exact: bool = False,
    ) -> Ranking:
        """The ``limit`` most similar papers (cosine), among ``allowed`` when given;
        ``exact`` skips the approximate index (to measure its recall)."""
        self.refresh()
        loaded = self.loaded
        ids, matrix, position = loaded.ids, loaded.matrix, loaded.position
        if not ids or limit <= 0:
            return []
        query = query.astype(np.float32)
        mask = None
        if allowed is not None:
            mask = np.zeros(len(ids), dtype=bool)
            mask[[position[pid] for pid in allowed if pid in position]] = True
        if loaded.ivf is not None and not exact:
            ivf = loaded.ivf
            probes = self.probes or auto_probes(ivf.cells)
            rows, scores = ivf.search(matrix, query, limit + len(exclude), probes, mask)
        else:
            rows = np.arange(len(ids))
            scores = matrix @ query
            if mask is not None:
                rows, scores = rows[mask], scores[mask]
        if exclude:
            keep = ~np.isin(rows, [position[pid] for pid in exclude if pid in position])
            rows, scores = rows[keep], scores[keep]
        count = min(limit, len(rows))
        if count <= 0:
            return []
        top = np.argpartition(-scores, count - 1)[:count]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(ids[rows[i]], float(scores[i])) for i in top]


class SemanticSearch:
    """Nearest neighbours on either backend, with the same filters as keyword search."""

    def __init__(
        self, store: Store, model: str, exact_max: int = EXACT_MAX, probes: int = PROBES
    ) -> None:
        self.store = store
        self.model = model
        self.index = (
            VectorIndex(store, model, exact_max=exact_max, probes=probes)
            if store.backend == "sqlite"
            else None
        )

    def nearest(
        self,
        vector: np.ndarray,
        filt: SearchFilter,
        limit: int,
        exclude: Sequence[str] = (),
    ) -> Ranking:
        if self.index is None:
            return self.store.search.nearest(vector, filt, limit, exclude)
        allowed = self.store.search.filter_ids(filt) if filt else None
        return self.index.search(vector, limit, allowed, exclude)

    def vector_of(self, arxiv_id: str) -> np.ndarray | None:
        if self.index is not None:
            return self.index.vector(arxiv_id)
        return self.store.search.embedding_of(arxiv_id)
