"""Ingestion benchmark: OAI-PMH parse+load throughput and memory, over HTTP on loopback.

    .venv/bin/python tests/bench/bench_ingest.py [--pages N]

The recorded 897-record arXiv page is replicated into N pages (ids rewritten to be unique,
chained by resumptionTokens) and served by a local HTTP server; `harvest` stores them into a
fresh SQLite database. Figures: records/s against parsing the same pages with no database
(baseline, same run), and resident memory after every 10 pages (streaming: it must stay flat
as records accumulate). Target (issue 4): >= 2,000 records/s on SQLite.
"""

from __future__ import annotations

import argparse
import gzip
import re
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = (
    ROOT.parent
    / "shared"
    / "data"
    / "fixtures"
    / "oai-pmh"
    / "arxiv-oai_dc-ListRecords-2014-12-24.xml.gz"
)
sys.path.insert(0, str(ROOT / "tests"))

from fixture_server import FixtureServer, route_key  # noqa: E402
from paperfeed.ingest.http import PoliteClient  # noqa: E402
from paperfeed.ingest.oai import harvest, parse_page  # noqa: E402
from paperfeed.store import Store  # noqa: E402

ABS = re.compile(rb"(<dc:identifier>http://arxiv\.org/abs/)([^<]+)(</dc:identifier>)")
HEADER = re.compile(rb"<identifier>oai:arXiv\.org:[^<]+</identifier>")


def rss_mb() -> float:
    """Current resident set size in MB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_pages(count: int) -> list[bytes]:
    template = gzip.decompress(PAGE.read_bytes())
    pages = []
    for number in range(count):
        ids = (f"{7000 + number // 100:04d}.{number % 100:02d}{n:03d}".encode() for n in range(999))
        body = ABS.sub(lambda m, ids=ids: m.group(1) + next(ids) + m.group(3), template)
        body = HEADER.sub(b"<identifier>oai:arXiv.org:x</identifier>", body)
        token = (
            f"<resumptionToken>page-{number + 1}</resumptionToken>" if number + 1 < count else ""
        )
        pages.append(body.replace(b"</ListRecords>", token.encode() + b"</ListRecords>"))
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=60, help="pages of 897 records (default 60)")
    args = parser.parse_args()
    if not PAGE.exists():
        sys.exit(f"{PAGE} not found: the benchmark needs ../shared/data")
    pages = make_pages(args.pages)
    records = 897 * args.pages
    start = time.perf_counter()
    parsed = sum(len(parse_page(body, "bench").items) for body in pages)
    parse_rate = parsed / (time.perf_counter() - start)
    routes = {route_key("/oai?verb=ListRecords&metadataPrefix=oai_dc&from=2014-12-24"): pages[0]}
    for number, body in enumerate(pages[1:], start=1):
        routes[route_key(f"/oai?verb=ListRecords&resumptionToken=page-{number}")] = body
    memory: list[float] = []

    def on_page(number: int, _page: object) -> None:
        if number % 10 == 0:
            memory.append(rss_mb())

    with tempfile.TemporaryDirectory() as tmp, FixtureServer(routes) as server:
        store = Store.open(f"sqlite:///{tmp}/bench.sqlite3")
        store.migrate()
        client = PoliteClient(min_interval=0, retries=0)
        start = time.perf_counter()
        summary = harvest(
            store,
            client,
            server.url + "/oai",
            since=date(2014, 12, 24),
            metadata_prefix="oai_dc",
            on_page=on_page,
        )
        seconds = time.perf_counter() - start
        stored = store.stats().tables["papers"]
    print(
        f"OAI-PMH: {records:,} records in {args.pages} pages; "
        f"parse-only {parse_rate:,.0f} records/s"
    )
    print(
        f"harvest into SQLite over HTTP: {summary.load.inserted:,} stored ({stored:,} rows) in "
        f"{seconds:.1f} s = {summary.load.inserted / seconds:,.0f} records/s "
        f"(ratio to parse-only {summary.load.inserted / seconds / parse_rate:.2f})"
    )
    print("resident memory every 10 pages (MB): " + ", ".join(f"{m:.0f}" for m in memory))


if __name__ == "__main__":
    main()
