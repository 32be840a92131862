"""``paperfeed index``: embed new and changed papers, in batches, resumably.

Each batch is embedded, then written in one transaction, so an interrupted run loses at
most the batch in flight and the next run starts with the papers still missing. A paper
whose text did not change (say, only its votes did) keeps its vector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paperfeed.store import Store

from .embed import Embedder, paper_text, text_hash


@dataclass
class IndexSummary:
    to_do: int = 0
    embedded: int = 0
    unchanged: int = 0

    def line(self) -> str:
        return (
            f"{self.to_do:,} papers new or changed: {self.embedded:,} embedded, "
            f"{self.unchanged:,} unchanged"
        )


def index_papers(
    store: Store,
    embedder: Embedder,
    *,
    batch_size: int = 64,
    limit: int | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
    summaries: bool = True,
) -> IndexSummary:
    """Embed every paper that has no vector by ``embedder``'s model or changed since, and
    choose its TL;DR from the same forward pass (with ``summaries``, also for papers
    embedded before TL;DRs existed: their vector is computed again, the same)."""
    ids = store.search.ids_to_embed(embedder.name, summaries=summaries)
    if limit is not None:
        ids = ids[:limit]
    summary = IndexSummary(to_do=len(ids))
    if dry_run:
        return summary
    for start in range(0, len(ids), batch_size):
        batch = store.search.texts_for_embedding(ids[start : start + batch_size], embedder.name)
        texts = {pid: paper_text(title, abstract) for pid, title, abstract, _ in batch}
        hashes = {pid: text_hash(text) for pid, text in texts.items()}
        missing = store.search.missing_summaries(list(texts)) if summaries else set()
        stale = [pid for pid, _, _, old in batch if old != hashes[pid] or pid in missing]
        kept = [pid for pid, _, _, old in batch if old == hashes[pid] and pid not in missing]
        pairs = {pid: (title, abstract) for pid, title, abstract, _ in batch}
        chosen: dict[str, str] = {}
        if summaries:
            vectors, sentences = embedder.embed_with_summaries([pairs[pid] for pid in stale])
            chosen = dict(zip(stale, sentences, strict=True))
        else:
            vectors = embedder.embed([texts[pid] for pid in stale])
        store.search.save_embeddings(
            embedder.name,
            [(pid, hashes[pid], vectors[i]) for i, pid in enumerate(stale)],
            unchanged=kept,
            summaries=chosen,
        )
        summary.embedded += len(stale)
        summary.unchanged += len(kept)
        if progress:
            progress(summary.embedded + summary.unchanged, summary.to_do)
    return summary


def export_vectors(store: Store, model: str, path: Path, dtype: str = "float32") -> int:
    """Write every stored vector of ``model`` with the hash of its text to an ``.npz``."""
    ids, matrix = store.search.all_embeddings(model)
    hashes = dict(store.search.embedded_hashes(model))
    found = store.search.summaries(ids)
    np.savez_compressed(
        path,
        model=np.array(model),
        ids=np.array(ids),
        hashes=np.array([hashes[i] for i in ids]),
        matrix=matrix.astype(dtype),
        tldr=np.array([found.get(i) or "" for i in ids]),
        has_tldr=np.array([found.get(i) is not None for i in ids]),
    )
    return len(ids)


def import_vectors(store: Store, model: str, path: Path, batch_size: int = 1000) -> int:
    """Store the vectors of an ``.npz`` (from :func:`export_vectors`) made by ``model`` for
    papers whose text is still the one embedded; papers already embedded with that text
    are left alone, so importing twice writes nothing. Returns how many were stored."""
    cache = np.load(path)
    if str(cache["model"]) != model:
        return 0
    ids = [str(i) for i in cache["ids"]]
    cached = dict(zip(ids, (str(h) for h in cache["hashes"]), strict=True))
    row = {pid: i for i, pid in enumerate(ids)}
    matrix = cache["matrix"]
    # TL;DRs, when the cache has them (older caches do not: `paperfeed index` chooses them)
    sentences = (
        {
            pid: str(t)
            for pid, t, has in zip(ids, cache["tldr"], cache["has_tldr"], strict=True)
            if has
        }
        if "tldr" in cache.files
        else {}
    )
    stored = 0
    for start in range(0, len(ids), batch_size):
        batch = store.search.texts_for_embedding(ids[start : start + batch_size], model)
        missing = store.search.missing_summaries([b[0] for b in batch]) if sentences else set()
        rows = []
        chosen = {}
        for pid, title, abstract, old_hash in batch:
            current = text_hash(paper_text(title, abstract))
            if cached[pid] != current:
                continue
            if old_hash != current:
                vector = matrix[row[pid]].astype(np.float32)
                rows.append((pid, current, vector / max(float(np.linalg.norm(vector)), 1e-12)))
            if pid in missing and pid in sentences:
                chosen[pid] = sentences[pid]
        store.search.save_embeddings(model, rows, summaries=chosen)
        stored += len(rows)
    return stored
