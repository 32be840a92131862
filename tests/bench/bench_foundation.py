"""Foundation benchmark: import throughput and page latency on the full arXiv corpus.

    make bench            # or: .venv/bin/python tests/bench/bench_foundation.py [--quick]

Runs on SQLite and on PostgreSQL (a throw-away embedded server on loopback). Every figure is
printed next to a baseline measured in the same run on the same machine, because absolute
times on a shared 2-core machine are noisy:

* import: papers/s of the loader, against reading + parsing the same files with no database
  (the floor any importer pays), and a rerun of the same files (all unchanged);
* pages: p50/p99 of the daily page and the paper page, fetched over HTTP from
  `paperfeed serve` in its own process, against `/healthz` (one trivial query) on the same
  server.

Targets (issue 3): import >= 3,000 papers/s on SQLite; pages p50 <= 10 ms, p99 <= 40 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "data" / "arxiv"
sys.path.insert(0, str(ROOT / "tests"))

from paperfeed.ingest import import_files  # noqa: E402
from paperfeed.ingest.arxiv_jsonl import read  # noqa: E402
from paperfeed.ingest.files import InputFile  # noqa: E402
from paperfeed.store import Store  # noqa: E402
from pgserver import PostgresServer  # noqa: E402


def parse_only(paths: list[Path]) -> tuple[int, float]:
    start = time.perf_counter()
    count = sum(1 for path in paths for _ in read(InputFile(path)))
    return count, time.perf_counter() - start


def bench_import(store: Store, paths: list[Path]) -> dict[str, float]:
    start = time.perf_counter()
    summary = import_files(store, "jsonl", paths)
    first = time.perf_counter() - start
    start = time.perf_counter()
    rerun = import_files(store, "jsonl", paths, resume=False)
    second = time.perf_counter() - start
    assert rerun.unchanged == summary.inserted, (rerun.line(), summary.line())
    return {
        "papers": summary.inserted,
        "import_s": first,
        "import_per_s": summary.inserted / first,
        "rerun_per_s": rerun.read / second,
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed_gets(client: httpx.Client, paths: list[str]) -> dict[str, float]:
    times = []
    for path in paths:
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return {
        "n": len(times),
        "p50_ms": statistics.median(times),
        "p99_ms": percentile(times, 0.99),
        "mean_ms": statistics.fmean(times),
    }


def bench_pages(url: str, store: Store, requests: int) -> dict[str, dict[str, float]]:
    port = 18000 + random.randint(0, 999)
    env = {**os.environ, "PAPERFEED_DATABASE_URL": url}
    server = subprocess.Popen(
        [sys.executable, "-m", "paperfeed", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(200):
                try:
                    client.get("/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            stats = store.stats()
            rng = random.Random(7)
            with store.reading() as conn:
                import sqlalchemy as sa

                from paperfeed.store.schema import feed_entries, papers

                days = sorted(
                    str(d) for d in conn.execute(sa.select(feed_entries.c.day).distinct()).scalars()
                )
                ids = list(conn.execute(sa.select(papers.c.arxiv_id)).scalars())
            day_paths = ["/"] + [f"/?date={rng.choice(days)}" for _ in range(requests - 1)]
            paper_paths = [f"/papers/{rng.choice(ids)}" for _ in range(requests)]
            timed_gets(client, day_paths[:50] + paper_paths[:50])  # warm up
            return {
                "healthz (baseline)": timed_gets(client, ["/healthz"] * requests),
                "daily page": timed_gets(client, day_paths),
                "paper page": timed_gets(client, paper_paths),
                "month page": timed_gets(client, [f"/month/{days[-1][:7]}"] * (requests // 5)),
                "_feed_days": {"n": stats.feed_days},
            }
    finally:
        server.terminate()
        server.wait(timeout=20)


def report(
    name: str, imp: dict[str, float], parse_rate: float, pages: dict[str, dict[str, float]]
) -> None:
    print(f"\n== {name} ==")
    print(
        f"import  {imp['papers']:,.0f} papers in {imp['import_s']:.1f} s = "
        f"{imp['import_per_s']:,.0f} papers/s  (parse-only baseline {parse_rate:,.0f}/s, "
        f"ratio {imp['import_per_s'] / parse_rate:.2f}); rerun {imp['rerun_per_s']:,.0f}/s"
    )
    base = pages["healthz (baseline)"]["p50_ms"]
    for label, row in pages.items():
        if label.startswith("_"):
            continue
        print(
            f"{label:>20}: p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:6.2f} ms  "
            f"(x{row['p50_ms'] / base:.1f} healthz p50, n={row['n']:.0f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 parts and 200 requests")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        sys.exit(f"{CORPUS} not found: the benchmark needs ../shared/data/arxiv")
    paths = sorted(CORPUS.glob("part-*.jsonl.gz"))[: 2 if args.quick else None]
    requests = 200 if args.quick else 1000
    count, seconds = parse_only(paths)
    parse_rate = count / seconds
    print(f"corpus: {len(paths)} files, {count:,} records; parse-only {parse_rate:,.0f} records/s")
    results: dict[str, object] = {"parse_only_per_s": parse_rate, "records": count}
    with tempfile.TemporaryDirectory() as tmp:
        backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
        for backend in backends:
            server = None
            if backend == "sqlite":
                url = f"sqlite:///{tmp}/bench.sqlite3"
            else:
                server = PostgresServer().start()
                url = server.url
            try:
                store = Store.open(url)
                store.migrate()
                imp = bench_import(store, paths)
                pages = bench_pages(url, store, requests)
                store.close()
            finally:
                if server:
                    server.stop()
            report(backend, imp, parse_rate, pages)
            results[backend] = {"import": imp, "pages": pages}
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "foundation.json").write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {out / 'foundation.json'}")


if __name__ == "__main__":
    main()
