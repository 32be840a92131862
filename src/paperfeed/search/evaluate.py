"""Measure search on a BEIR-format relevance benchmark, through the product's own code.

``paperfeed eval beir PATH`` loads the corpus into a scratch store as papers (title and
text as the abstract), embeds it with ``paperfeed index``'s code, runs every ranker on the
split's queries and scores the rankings with ``pytrec_eval`` (the TREC evaluation tool):
nDCG@10 and Recall@100. ``tune_fusion`` picks the hybrid fusion on one split (the train
split: tuning on the test split would be cheating).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from paperfeed.ingest.errors import SourceError
from paperfeed.models import IngestRecord, Paper
from paperfeed.store import Store

from .embed import default_embedder
from .engine import Fusion, Searcher, fuse
from .indexer import export_vectors, import_vectors, index_papers
from .query import Query, split_words
from .semantic import Ranking

Qrels = dict[str, dict[str, int]]
METRICS = ("ndcg_cut_10", "recall_100")


@dataclass
class BeirSet:
    corpus: dict[str, tuple[str, str]]  # id -> (title, text)
    queries: dict[str, str]
    qrels: Qrels  # of the chosen split

    @property
    def judged_queries(self) -> dict[str, str]:
        return {qid: text for qid, text in self.queries.items() if qid in self.qrels}


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    if not path.is_file():
        raise SourceError(f"{path}: no such file (a BEIR folder has corpus.jsonl, ...)")
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SourceError(f"{path}:{number}: not JSON: {exc.msg}") from None
            if not isinstance(item, dict) or "_id" not in item:
                raise SourceError(f"{path}:{number}: expected an object with an _id")
            yield number, item


def load_beir(folder: Path, split: str = "test") -> BeirSet:
    """``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv`` of a BEIR folder."""
    corpus = {
        str(item["_id"]): (str(item.get("title") or ""), str(item.get("text") or ""))
        for _, item in _jsonl(folder / "corpus.jsonl")
    }
    queries = {
        str(item["_id"]): str(item.get("text") or "")
        for _, item in _jsonl(folder / "queries.jsonl")
    }
    path = folder / "qrels" / f"{split}.tsv"
    if not path.is_file():
        raise SourceError(f"{path}: no such file (is {split!r} a split of this data set?)")
    qrels: Qrels = {}
    with path.open(encoding="utf-8") as rows:
        for number, row in enumerate(csv.reader(rows, delimiter="\t"), start=1):
            if number == 1 and row and row[0] == "query-id":
                continue
            if len(row) != 3 or not row[2].strip().lstrip("-").isdigit():
                raise SourceError(f"{path}:{number}: expected query-id, corpus-id, score")
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return BeirSet(corpus, queries, qrels)


def load_corpus(store: Store, corpus: Mapping[str, tuple[str, str]], batch: int = 1000) -> None:
    """The documents as papers (the document id as the paper id), in batches."""
    records = [
        IngestRecord(
            Paper(arxiv_id=doc_id, title=title or "(untitled)", abstract=text, authors=[]),
            "beir",
            f"corpus:{n}",
        )
        for n, (doc_id, (title, text)) in enumerate(corpus.items(), start=1)
    ]
    for start in range(0, len(records), batch):
        store.write_batch(records[start : start + batch])


def as_query(text: str) -> Query:
    """A benchmark query as plain words (its punctuation is not query syntax)."""
    return Query(words=split_words(text))


Rankings = dict[str, Ranking]  # query id -> ranking


def run_ranker(
    ranker: Callable[[Query, int], Ranking], queries: Mapping[str, str], depth: int = 100
) -> tuple[Rankings, list[float]]:
    """Each query's ranking, and the seconds each took."""
    rankings: Rankings = {}
    seconds: list[float] = []
    for qid, text in queries.items():
        start = time.perf_counter()
        rankings[qid] = ranker(as_query(text), depth)
        seconds.append(time.perf_counter() - start)
    return rankings, seconds


def score(rankings: Rankings, qrels: Qrels) -> dict[str, float]:
    """Mean nDCG@10 and Recall@100 over the judged queries (pytrec_eval)."""
    import pytrec_eval

    run = {
        qid: {pid: float(len(ranking) - rank) for rank, (pid, _) in enumerate(ranking)}
        for qid, ranking in rankings.items()
        if qid in qrels
    }
    judged = {qid: qrels[qid] for qid in run}
    per_query = pytrec_eval.RelevanceEvaluator(judged, set(METRICS)).evaluate(run)
    # A query with no results at all still counts, as zero.
    n = len(judged)
    return {
        "ndcg@10": sum(q["ndcg_cut_10"] for q in per_query.values()) / n if n else 0.0,
        "recall@100": sum(q["recall_100"] for q in per_query.values()) / n if n else 0.0,
    }


def fuse_all(keyword: Rankings, semantic: Rankings, fusion: Fusion, depth: int = 100) -> Rankings:
    return {qid: fuse(keyword[qid], semantic.get(qid, []), fusion)[:depth] for qid in keyword}


def tune_fusion(
    keyword: Rankings, semantic: Rankings, qrels: Qrels, base: Fusion
) -> tuple[Fusion, float]:
    """The fusion (RRF constant and keyword weight, or the convex mix) with the best
    nDCG@10 on these rankings."""
    candidates = [
        replace(base, method="rrf", k=float(k), keyword_weight=weight, semantic_weight=1.0)
        for k in (5, 10, 20, 30, 45, 60, 90, 120)
        for weight in (0.5, 0.7, 0.85, 1.0, 1.2, 1.5, 2.0)
    ]
    candidates += [replace(base, method="convex", alpha=alpha / 20) for alpha in range(1, 20)]
    best, best_score = base, -1.0
    for candidate in candidates:
        value = score(fuse_all(keyword, semantic, candidate), qrels)["ndcg@10"]
        if value > best_score + 1e-9:
            best, best_score = candidate, value
    return best, best_score


def evaluate(searcher: Searcher, beir: BeirSet) -> dict[str, dict[str, float]]:
    """nDCG@10 and Recall@100 of the keyword, semantic and hybrid rankers, with the
    median query time of each."""
    queries = beir.judged_queries
    results: dict[str, dict[str, float]] = {}
    for mode, ranker in (
        ("keyword", searcher.rank_keyword),
        ("semantic", searcher.rank_semantic),
        ("hybrid", searcher.rank_hybrid),
    ):
        rankings, seconds = run_ranker(ranker, queries)
        results[mode] = {
            **score(rankings, beir.qrels),
            "p50_ms": 1000 * sorted(seconds)[len(seconds) // 2],
        }
    return results


def prepare_store(
    url: str,
    folder: Path,
    split: str,
    tune_on: str | None,
    vectors: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Store, BeirSet, BeirSet | None]:
    """A scratch store holding the data set's corpus, embedded (or its vectors read from a
    matching cache file)."""
    data = load_beir(folder, split)
    tuning = replace(load_beir(folder, tune_on), corpus=data.corpus) if tune_on else None
    store = Store.open(url)
    store.migrate()
    if store.stats().tables["papers"]:
        store.close()
        raise SourceError(f"{store.url}: the scratch database is not empty")
    load_corpus(store, data.corpus)
    embedder = default_embedder()
    if vectors and vectors.is_file():
        import_vectors(store, embedder.name, vectors)
    if index_papers(store, embedder, progress=progress, summaries=False).embedded and vectors:
        export_vectors(store, embedder.name, vectors)
    return store, data, tuning


def report(searcher: Searcher, data: BeirSet, tuning: BeirSet | None) -> dict[str, Any]:
    """The figures ``paperfeed eval`` prints."""
    searcher.warm_up()  # the keyword index built, not the database ranking meanwhile
    result: dict[str, Any] = {
        "backend": searcher.store.backend,
        "keyword_engine": searcher.status()["keyword"],
        "documents": len(data.corpus),
        "queries": len(data.judged_queries),
        "fusion": asdict(searcher.fusion),
        "rankers": evaluate(searcher, data),
    }
    if tuning is not None:
        train_kw, _ = run_ranker(searcher.rank_keyword, tuning.judged_queries)
        train_sem, _ = run_ranker(searcher.rank_semantic, tuning.judged_queries)
        best, train_score = tune_fusion(train_kw, train_sem, tuning.qrels, searcher.fusion)
        test_kw, _ = run_ranker(searcher.rank_keyword, data.judged_queries)
        test_sem, _ = run_ranker(searcher.rank_semantic, data.judged_queries)
        result["tuned"] = {
            "method": best.method,
            "k": best.k,
            "keyword_weight": best.keyword_weight,
            "alpha": best.alpha,
            "train ndcg@10": train_score,
            **score(fuse_all(test_kw, test_sem, best), data.qrels),
        }
    return result
