"""Open-interfaces benchmark: the Hugging Face-compatible API against the HTML pages.

    make bench   # or: .venv/bin/python tests/bench/bench_api.py [--backend B] [--quick]
                 #     [--requests 2000] [--clients 8] [--json PATH]

On the full arXiv corpus (74,728 papers, every one embedded: vectors come from the cache
bench_search.py writes, bench-results/arxiv-vectors.npz, or are computed once, ~30 min on 2
cores) plus the Hugging Face daily-papers entries (upvotes), served by `paperfeed serve` in
its own process, on SQLite and on PostgreSQL (a throw-away embedded server):

* ``/api/daily_papers?date=D`` (random feed days) and ``?week=W`` against the HTML daily
  page ``/?date=D``;
* ``/api/papers/search?q=...`` (hybrid, 3 title words of a random paper) against the HTML
  search page ``/search?q=...`` with the same queries;
* ``/api/papers/{id}`` (what ``paper_info`` reads) against the HTML paper page (with its
  related papers);
* baseline: ``/healthz`` on the same server.

Each is measured twice: one client in sequence (p50/p99 latency) and ``--clients``
concurrent clients, a keep-alive connection each (requests/s and p99 under load). The load
generator shares the 2 cores with the server, so requests/s is what one app process
sustains here, not a ceiling; the ratios against ``/healthz`` are the comparable figures.

Issue 8 asks for the requests/s and p99 of the two API routes and the same figures for the
HTML pages.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench-results"
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "bench"))

from bench_community import Call, hammer, serving, split  # noqa: E402
from bench_foundation import timed_gets  # noqa: E402
from bench_search import corpus_store, create_database  # noqa: E402

from paperfeed.ingest import import_files  # noqa: E402
from paperfeed.store import Store  # noqa: E402
from paperfeed.store.schema import feed_entries, papers  # noqa: E402
from pgserver import PostgresServer  # noqa: E402

SEED = 8


def workload(store: Store, n: int) -> dict[str, list[str]]:
    """Request paths per route, seeded; API and HTML routes get the same days and queries."""
    rng = random.Random(SEED)
    with store.reading() as conn:
        days = sorted(
            str(d) for d in conn.execute(sa.select(feed_entries.c.day).distinct()).scalars()
        )
        titles = list(conn.execute(sa.select(papers.c.title)).scalars())
        ids = list(conn.execute(sa.select(papers.c.arxiv_id)).scalars())
    picked_days = [rng.choice(days) for _ in range(n)]
    weeks = []
    for day in picked_days:
        year, week, _ = dt.date.fromisoformat(day).isocalendar()
        weeks.append(f"{year}-W{week:02d}")
    queries = []
    while len(queries) < n:
        words = [w.strip(".,:;()\"'") for w in rng.choice(titles).split()]
        words = [w for w in words if len(w) > 3 and w.isalnum()]
        if len(words) >= 2:
            queries.append(" ".join(rng.sample(words, min(3, len(words)))))

    def url(path: str, **params: str) -> str:
        return str(httpx.URL(path, params=params))

    return {
        "healthz (baseline)": ["/healthz"] * n,
        "api daily_papers?date": [url("/api/daily_papers", date=d) for d in picked_days],
        "html daily page": [url("/", date=d) for d in picked_days],
        "api daily_papers?week": [url("/api/daily_papers", week=w) for w in weeks],
        "html week page": [f"/week/{w}" for w in weeks],
        "api papers/search": [url("/api/papers/search", q=q) for q in queries],
        "html search page": [url("/search", q=q) for q in queries],
        "api papers/{id} (paper_info)": [f"/api/papers/{rng.choice(ids)}" for _ in range(n)],
        "html paper page": [f"/papers/{rng.choice(ids)}" for _ in range(n)],
    }


def bench_backend(url: str, args: argparse.Namespace, log: Path) -> dict[str, Any]:
    parts = sorted((SHARED / "arxiv").glob("part-*.jsonl.gz"))[: 2 if args.quick else None]
    store = corpus_store(url, parts)
    import_files(store, "hf-daily", [SHARED / "hf-daily" / "hf-daily.jsonl.gz"])
    paths = workload(store, args.requests)
    stats = store.stats()
    store.close()
    result: dict[str, Any] = {"papers": stats.tables["papers"], "feed_days": stats.feed_days}
    with serving(url, log) as (base, _pid), httpx.Client(base_url=base, timeout=60) as client:
        for route_paths in paths.values():  # warm up: model, vectors, caches
            timed_gets(client, route_paths[:20])
        for route, route_paths in paths.items():
            sequential = timed_gets(client, route_paths[: args.requests // 4])
            plans = []
            start = 0
            for count in split(len(route_paths), args.clients):
                plans.append([Call("GET", p) for p in route_paths[start : start + count]])
                start += count
            _, loaded = hammer(base, plans)
            result[route] = {"sequential": sequential, "concurrent": loaded}
            print(
                f"  {route:<30} 1 client p50 {sequential['p50_ms']:7.2f} p99 "
                f"{sequential['p99_ms']:7.2f} ms | {args.clients} clients "
                f"{loaded['requests_per_s']:7.1f} req/s p99 {loaded['p99_ms']:8.1f} ms"
                f"{'  non-200: ' + str(loaded['non_200']) if loaded['non_200'] else ''}",
                flush=True,
            )
    return result


def summary(results: dict[str, Any], backends: list[str], clients: int) -> None:
    print(
        f"\n{'backend':<11}{'route':<31}{'p50 ms':>8}{'p99 ms':>8}{'req/s':>8}"
        f"{'p99 ms':>9}{'x healthz p50':>15}   ({clients} clients for req/s and 2nd p99)"
    )
    for backend in backends:
        rows = results[backend]
        base = rows["healthz (baseline)"]["sequential"]["p50_ms"]
        for route, row in rows.items():
            if not isinstance(row, dict):
                continue
            seq, loaded = row["sequential"], row["concurrent"]
            print(
                f"{backend:<11}{route:<31}{seq['p50_ms']:>8.2f}{seq['p99_ms']:>8.2f}"
                f"{loaded['requests_per_s']:>8.1f}{loaded['p99_ms']:>9.1f}"
                f"{seq['p50_ms'] / base:>15.1f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="2 corpus parts, 200 requests")
    parser.add_argument("--requests", type=int, default=2000, help="per route, concurrent run")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--json", type=Path, default=OUT / "api.json")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"{SHARED} not found: the benchmark needs ../shared/data")
    if args.quick:
        args.requests = min(args.requests, 200)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results: dict[str, Any] = {"clients": args.clients, "requests": args.requests}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            print(f"== {backend} ==", flush=True)
            server = None if backend == "sqlite" else PostgresServer().start()
            try:
                url = (
                    create_database(server.url, "api") if server else f"sqlite:///{tmp}/api.sqlite3"
                )
                results[backend] = bench_backend(url, args, Path(tmp) / f"{backend}.log")
            finally:
                if server:
                    server.stop()
    summary(results, backends, args.clients)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten to {args.json}")
    if any(
        row["concurrent"]["non_200"]
        for b in backends
        for row in results[b].values()
        if isinstance(row, dict)
    ):
        sys.exit("some requests did not answer 200 (see the table)")


if __name__ == "__main__":
    main()
