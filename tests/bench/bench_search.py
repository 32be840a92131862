"""Search benchmark: quality on SciFact, index throughput, and latency over HTTP at 75k papers.

    make bench   # or: .venv/bin/python tests/bench/bench_search.py [--quick] [--backend B]

* quality: `paperfeed eval`'s code (load, embed, rank, pytrec_eval) on SciFact's test split,
  on SQLite and on PostgreSQL (a throw-away embedded server), with the hybrid fusion also
  re-tuned on the *train* split to show how far the shipped defaults are from the best;
* index: papers/s of `paperfeed index` (embed + store) against embedding the same texts with
  no database, in the same run;
* latency: p50/p99 of `/api/v1/search` in keyword, semantic and hybrid modes, fetched over
  HTTP from `paperfeed serve` in its own process on the full arXiv corpus (74,728 papers),
  against `/healthz` on the same server. The corpus vectors are computed once (about 20 min
  on 2 cores) and cached in bench-results/arxiv-vectors.npz.

Targets (issue 5): SciFact nDCG@10 keyword >= 0.68, dense >= 0.645, hybrid >= 0.73; hybrid
p50 <= 30 ms and p99 <= 100 ms, keyword p50 <= 10 ms at 75k papers.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench-results"
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "bench"))

from bench_foundation import timed_gets  # noqa: E402

from paperfeed.ingest import import_files  # noqa: E402
from paperfeed.search import Searcher  # noqa: E402
from paperfeed.search.embed import default_embedder, paper_text  # noqa: E402
from paperfeed.search.evaluate import prepare_store, report  # noqa: E402
from paperfeed.search.indexer import export_vectors, import_vectors, index_papers  # noqa: E402
from paperfeed.store import Store  # noqa: E402
from pgserver import PostgresServer  # noqa: E402


def create_database(admin_url: str, name: str) -> str:
    """A new, empty database on the server of ``admin_url``."""
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def quality(url: str) -> dict[str, object]:
    store, data, tuning = prepare_store(
        url, SHARED / "scifact", "test", "train", OUT / "scifact-vectors.npz"
    )
    try:
        return report(Searcher(store), data, tuning)
    finally:
        store.close()


def index_throughput(url: str, parts: list[Path], n: int) -> dict[str, float]:
    store = Store.open(url)
    store.migrate()
    import_files(store, "jsonl", parts[:1])
    ids = store.search.ids_to_embed("none")[:n]
    texts = [paper_text(t, a) for _, t, a, _ in store.search.texts_for_embedding(ids, "none")]
    embedder = default_embedder()
    embedder.embed(texts[:32])  # warm up
    start = time.perf_counter()
    embedder.embed(texts)
    bare = len(texts) / (time.perf_counter() - start)
    start = time.perf_counter()
    summary = index_papers(store, embedder, limit=n)
    indexed = summary.embedded / (time.perf_counter() - start)
    store.close()
    return {"papers": float(n), "embed_only_per_s": bare, "index_per_s": indexed}


def corpus_store(url: str, parts: list[Path]) -> Store:
    """The arXiv corpus with every paper embedded (vectors from the cache when it matches)."""
    store = Store.open(url)
    store.migrate()
    import_files(store, "jsonl", parts)
    cache = OUT / ("arxiv-vectors.npz" if len(parts) > 2 else "arxiv-vectors-quick.npz")
    embedder = default_embedder()
    if cache.is_file():
        import_vectors(store, embedder.name, cache)
    todo = index_papers(store, embedder, dry_run=True, summaries=False).to_do
    if todo:
        print(f"embedding {todo:,} papers (cached afterwards in {cache.name}) ...", flush=True)
        start = time.perf_counter()
        summary = index_papers(store, embedder, batch_size=64, summaries=False)
        seconds = time.perf_counter() - start
        print(f"  {summary.line()} in {seconds / 60:.1f} min = {summary.embedded / seconds:.1f}/s")
        export_vectors(store, embedder.name, cache)
    return store


def latency(url: str, store: Store, requests: int) -> dict[str, dict[str, float]]:
    rng = random.Random(11)
    ids = store.search.ids_to_embed("none")
    sample = store.search.papers(rng.sample(ids, min(requests, len(ids))))
    keyword_queries, questions = [], []
    for paper in sample.values():
        words = [w for w in paper.title.split() if len(w) > 3]
        # Plain text: a quote cut in half would be (rightly) a syntax error.
        keyword_queries.append(" ".join(rng.sample(words, min(3, len(words)))).replace('"', ""))
        questions.append(paper.abstract.split(". ")[0][:200].replace('"', ""))
    from bench_community import serving  # it imports this module: not at the top

    rows: dict[str, dict[str, float]] = {}
    for engine in ("tantivy", "database"):
        settings = {"PAPERFEED_KEYWORD_ENGINE": engine}
        with (
            tempfile.TemporaryDirectory() as tmp,
            serving(url, Path(tmp) / "server.log", settings) as (base, _pid),
            httpx.Client(base_url=base, timeout=60) as client,
        ):

            def paths(mode: str, queries: list[str]) -> list[str]:
                return [
                    str(httpx.URL("/api/v1/search", params={"q": q, "mode": mode})) for q in queries
                ]

            timed_gets(client, paths("hybrid", questions[:20]))  # load the model and vectors
            if engine == "tantivy":
                rows["healthz (baseline)"] = timed_gets(client, ["/healthz"] * requests)
                rows["keyword"] = timed_gets(client, paths("keyword", keyword_queries))
                rows["semantic"] = timed_gets(client, paths("semantic", questions))
                rows["hybrid (title words)"] = timed_gets(client, paths("hybrid", keyword_queries))
                rows["hybrid (questions)"] = timed_gets(client, paths("hybrid", questions))
            else:  # the same keyword queries ranked by the database's own index
                rows["keyword, database engine"] = timed_gets(
                    client, paths("keyword", keyword_queries)
                )
                rows["hybrid (title words), database engine"] = timed_gets(
                    client, paths("hybrid", keyword_queries)
                )
    return rows


def print_quality(name: str, result: dict[str, object]) -> None:
    print(
        f"\n== SciFact test, {name} ({result['documents']:,} docs, {result['queries']} queries) =="
    )
    rankers = result["rankers"]
    assert isinstance(rankers, dict)
    for mode, row in rankers.items():
        print(
            f"{mode:>9}: nDCG@10 {row['ndcg@10']:.4f}  Recall@100 {row['recall@100']:.4f}  "
            f"p50 {row['p50_ms']:.1f} ms"
        )
    tuned = result.get("tuned")
    if isinstance(tuned, dict):
        how = (
            f"convex alpha {tuned['alpha']:g}"
            if tuned.get("method") == "convex"
            else f"rrf k={tuned['k']:g} keyword weight {tuned['keyword_weight']:g}"
        )
        print(
            f"   re-tuned on train: {how} (train {tuned['train ndcg@10']:.4f}) "
            f"-> test nDCG@10 {tuned['ndcg@10']:.4f}"
        )


def print_latency(name: str, rows: dict[str, dict[str, float]]) -> None:
    print(f"\n== search over HTTP, {name} ==")
    base = rows["healthz (baseline)"]["p50_ms"]
    for label, row in rows.items():
        print(
            f"{label:>38}: p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:6.2f} ms  "
            f"(x{row['p50_ms'] / base:.1f} healthz p50, n={row['n']:.0f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 corpus parts, 200 requests")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-quality", action="store_true", help="latency only")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"{SHARED} not found: the benchmark needs ../shared/data")
    OUT.mkdir(exist_ok=True)
    parts = sorted((SHARED / "arxiv").glob("part-*.jsonl.gz"))[: 2 if args.quick else None]
    requests = 200 if args.quick else 500
    results: dict[str, object] = {}
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_quality:
            throughput = index_throughput(f"sqlite:///{tmp}/index.sqlite3", parts, 1000)
            print(
                f"index: {throughput['index_per_s']:.1f} papers/s embedded and stored "
                f"(embedding alone {throughput['embed_only_per_s']:.1f}/s, ratio "
                f"{throughput['index_per_s'] / throughput['embed_only_per_s']:.2f}); "
                f"75k papers take {74_728 / throughput['index_per_s'] / 60:.0f} min"
            )
            results["index"] = throughput
        for backend in backends:
            server = None if backend == "sqlite" else PostgresServer().start()
            try:
                if not args.skip_quality:
                    url = (
                        create_database(server.url, "scifact")
                        if server
                        else f"sqlite:///{tmp}/eval.sqlite3"
                    )
                    results[f"{backend} quality"] = quality(url)
                    print_quality(backend, results[f"{backend} quality"])  # type: ignore[arg-type]
                if not args.skip_latency:
                    corpus_url = server.url if server else f"sqlite:///{tmp}/corpus.sqlite3"
                    store = corpus_store(corpus_url, parts)
                    rows = latency(corpus_url, store, requests)
                    store.close()
                    print_latency(backend, rows)
                    results[f"{backend} latency"] = rows
            finally:
                if server:
                    server.stop()
    name = "search.json" if not args.skip_quality else "search-latency.json"
    (OUT / name).write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten to {OUT / name}")


if __name__ == "__main__":
    main()
