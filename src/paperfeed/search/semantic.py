"""Nearest papers by embedding: pgvector's HNSW index on PostgreSQL; on SQLite an exact
in-process index (a float32 matrix, brute-force inner products) loaded from the database.

The in-process index is exact: at 75k papers a query costs a few milliseconds (see
``make bench``), and 1M papers take 1.5 GB of memory (384 × 4 bytes each) and about
85 ms a query; past that, use PostgreSQL. It reloads itself when the stored embeddings
change (checked at most every ``check_every`` seconds, one cheap query).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Sequence

import numpy as np

from paperfeed.models import SearchFilter
from paperfeed.store import Store

Ranking = list[tuple[str, float]]


class VectorIndex:
    """Every stored vector of one model, in memory, searched exactly."""

    def __init__(self, store: Store, model: str, check_every: float = 2.0) -> None:
        self.store = store
        self.model = model
        self.check_every = check_every
        self.ids: list[str] = []
        self.position: dict[str, int] = {}
        self.matrix = np.zeros((0, 0), dtype=np.float32)
        self._version: object = None
        self._checked = 0.0
        self._loaded = False
        self._lock = threading.Lock()

    def refresh(self, force: bool = False) -> None:
        """Reload when the stored embeddings changed since the last load."""
        now = time.monotonic()
        if not force and now - self._checked < self.check_every and self._loaded:
            return
        with self._lock:
            self._checked = now
            version = self.store.search.embeddings_version()
            if version == self._version and not force:
                return
            ids, matrix = self.store.search.all_embeddings(self.model)
            self.ids, self.matrix, self._version = ids, matrix, version
            self._loaded = True
            self.position = {pid: i for i, pid in enumerate(ids)}

    def __len__(self) -> int:
        return len(self.ids)

    def vector(self, arxiv_id: str) -> np.ndarray | None:
        self.refresh()
        row = self.position.get(arxiv_id)
        return None if row is None else self.matrix[row]

    def search(
        self,
        query: np.ndarray,
        limit: int,
        allowed: Collection[str] | None = None,
        exclude: Sequence[str] = (),
    ) -> Ranking:
        """The ``limit`` most similar papers (cosine), among ``allowed`` when given."""
        self.refresh()
        ids, matrix = self.ids, self.matrix
        if not ids or limit <= 0:
            return []
        scores = matrix @ query.astype(np.float32)
        if allowed is not None:
            mask = np.zeros(len(ids), dtype=bool)
            rows = [self.position[pid] for pid in allowed if pid in self.position]
            mask[rows] = True
            scores = np.where(mask, scores, -np.inf)
        for pid in exclude:
            if pid in self.position:
                scores[self.position[pid]] = -np.inf
        count = min(limit, len(ids))
        top = np.argpartition(-scores, count - 1)[:count]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(ids[i], float(scores[i])) for i in top if np.isfinite(scores[i])]


class SemanticSearch:
    """Nearest neighbours on either backend, with the same filters as keyword search."""

    def __init__(self, store: Store, model: str) -> None:
        self.store = store
        self.model = model
        self.index = VectorIndex(store, model) if store.backend == "sqlite" else None

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
