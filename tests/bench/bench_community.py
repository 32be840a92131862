"""Community benchmark: concurrent votes over HTTP, password hashing and login latency.

    make bench   # or: .venv/bin/python tests/bench/bench_community.py [--backend B]
                 #     [--requests 20000] [--clients 64] [--papers 500] [--json PATH]

* votes: 64 concurrent HTTP clients, one account and API token each, send 20,000 random
  upvotes and withdrawals (``POST``/``DELETE /api/v1/papers/{id}/upvote``, seeded) on 500
  papers of the bundled demo data to `paperfeed serve` in its own process (rate limits off),
  on SQLite and on PostgreSQL (a throw-away embedded server). Each client is sequential, so
  its last action on a paper decides whether its vote row exists: afterwards the vote rows
  must be exactly that set, every paper's ``upvotes - imported_upvotes`` its number of rows,
  every answer a 200 whose ``changed`` says whether the client's own vote flipped.
  Baseline: the same 64 clients against ``/healthz`` on the same server (5,000 requests).
* passwords: argon2id hash and verify times in this process, and the latency of a login over
  HTTP (``POST /login``, one verification) with a right and a wrong password, against
  sequential ``/healthz`` requests on the same server.

The load generator (asyncio + httpx) shares the machine's cores with the server and the
database, so requests/s is what one app process sustains here, not a ceiling.

Target (community issue): 64 clients, 20,000 votes and unvotes on 500 papers, on both
backends: every count equals its vote rows, no vote lost or doubled, zero 5xx; report
requests/s and p99 latency. Exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench-results"
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "bench"))

from bench_foundation import percentile, timed_gets  # noqa: E402
from bench_search import create_database  # noqa: E402

from conftest import free_port  # noqa: E402
from paperfeed.cli import DEMO_DIR  # noqa: E402
from paperfeed.community.auth import Accounts, hash_password, hasher  # noqa: E402
from paperfeed.ingest import import_files  # noqa: E402
from paperfeed.settings import Settings  # noqa: E402
from paperfeed.store import Store, utcnow  # noqa: E402
from paperfeed.store.schema import papers, upvotes  # noqa: E402
from pgserver import PostgresServer  # noqa: E402

SEED = 20_000
PASSWORD = "correct horse battery staple"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
TRANSPORT_ERROR = -1  # the status recorded when a request got no answer


@dataclass(frozen=True)
class Voter:
    user_id: int
    token: str


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    token: str | None = None


@dataclass(frozen=True)
class Outcome:
    status: int
    ms: float
    body: Any  # the JSON answer, or the error text


# -- the database and the server ---------------------------------------------------------


def prepare(url: str, n_papers: int, n_clients: int) -> tuple[list[str], list[Voter]]:
    """Migrate, import the demo data, pick the papers and create one account per client."""
    store = Store.open(url)
    try:
        store.migrate()
        import_files(store, "jsonl", sorted(DEMO_DIR.glob("arxiv-*.jsonl.gz")))
        import_files(store, "hf-daily", sorted(DEMO_DIR.glob("hf-daily-*.jsonl.gz")))
        with store.reading() as conn:
            ids = sorted(conn.execute(sa.select(papers.c.arxiv_id)).scalars())
        if len(ids) < n_papers:
            sys.exit(f"the demo data has {len(ids)} papers, fewer than --papers {n_papers}")
        accounts = Accounts(store, Settings.from_env({}, database_url=url), utcnow)
        voters = []
        for i in range(n_clients):
            user = accounts.create(f"bench-{i:03d}", f"bench-{i:03d}@example.org", None)
            voters.append(Voter(user.id, accounts.create_token(user, "bench")[1]))
        accounts.create("bench-login", "login@example.org", PASSWORD)
    finally:
        store.close()
    return random.Random(SEED).sample(ids, n_papers), voters


@contextmanager
def serving(
    url: str, log_path: Path, settings: dict[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """`paperfeed serve` on ``url`` in its own process, rate limits off, ``settings``
    (environment variables) added; yields its address and process id."""
    port = free_port()
    env = {**os.environ, "PAPERFEED_RATE_LIMITS": "", **(settings or {})}
    command = [sys.executable, "-m", "paperfeed", "--database-url", url, "serve"]
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [*command, "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/healthz", timeout=5)
                health.raise_for_status()
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"the server did not start:\n{log_path.read_text()}")
                time.sleep(0.1)
        # Measure the steady state: the keyword index built (at start, in the background;
        # the database ranks meanwhile), not the first minutes of a new server.
        deadline = time.monotonic() + 3600
        while "being built" in health.json().get("search", {}).get("keyword", ""):
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the keyword index was not built:\n{log_path.read_text()}")
            time.sleep(1)
            health = httpx.get(f"{base}/healthz", timeout=30)
        yield base, server.pid
    finally:
        server.terminate()
        server.wait(timeout=60)


# -- load ----------------------------------------------------------------------------------


async def _client(base: str, calls: list[Call]) -> list[Outcome]:
    """One HTTP client on one keep-alive connection: its calls in order, each waiting for
    the previous answer."""
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        return [await _send(client, call) for call in calls]


async def _send(client: httpx.AsyncClient, call: Call) -> Outcome:
    headers = {"Authorization": f"Bearer {call.token}"} if call.token else {}
    start = time.perf_counter()
    try:
        response = await client.request(call.method, call.path, headers=headers)
    except httpx.HTTPError as exc:
        ms = (time.perf_counter() - start) * 1000
        return Outcome(TRANSPORT_ERROR, ms, f"{type(exc).__name__}: {exc!r}")
    ms = (time.perf_counter() - start) * 1000
    try:
        body = response.json()
    except ValueError:
        body = response.text[:500]
    return Outcome(response.status_code, ms, body)


async def _hammer(base: str, plans: list[list[Call]]) -> tuple[list[list[Outcome]], float]:
    # A client each, as 64 people would have: one httpx client sharing 64 connections
    # spent about twice the CPU per request here, and the load generator shares the cores.
    start = time.perf_counter()
    outcomes = await asyncio.gather(*(_client(base, plan) for plan in plans))
    return list(outcomes), time.perf_counter() - start


def hammer(base: str, plans: list[list[Call]]) -> tuple[list[list[Outcome]], dict[str, float]]:
    """Every plan on its own concurrent client; the outcomes and their latency summary."""
    cpu = time.process_time()
    outcomes, seconds = asyncio.run(_hammer(base, plans))
    cpu = time.process_time() - cpu
    times = [o.ms for per_client in outcomes for o in per_client]
    statuses = Counter(o.status for per_client in outcomes for o in per_client)
    summary = {
        "n": len(times),
        "clients": len(plans),
        "seconds": seconds,
        "requests_per_s": len(times) / seconds,
        "p50_ms": statistics.median(times),
        "p99_ms": percentile(times, 0.99),
        "max_ms": max(times),
        "client_cpu_share": cpu / seconds,  # near 1: the load generator is the bottleneck
        "non_200": sum(n for status, n in statuses.items() if status != 200),
        "5xx": sum(n for status, n in statuses.items() if status >= 500),
        "no_answer": statuses[TRANSPORT_ERROR],
    }
    return outcomes, summary


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def vote_plans(
    paper_ids: list[str], voters: list[Voter], requests: int
) -> list[list[tuple[str, bool]]]:
    """Per client, its (paper, upvote?) actions: uniform papers, half up, half withdrawn."""
    rng = random.Random(SEED)
    return [
        [(rng.choice(paper_ids), rng.random() < 0.5) for _ in range(n)]
        for n in split(requests, len(voters))
    ]


def vote_calls(plan: list[tuple[str, bool]], voter: Voter) -> list[Call]:
    return [
        Call("POST" if up else "DELETE", f"/api/v1/papers/{paper}/upvote", voter.token)
        for paper, up in plan
    ]


# -- checks --------------------------------------------------------------------------------


def replay(
    plans: list[list[tuple[str, bool]]], voters: list[Voter], outcomes: list[list[Outcome]]
) -> tuple[set[tuple[int, str]], set[tuple[int, str]], list[str]]:
    """The vote rows the answered requests must leave, the (user, paper) pairs a failed last
    request leaves unknown, and the answers that contradict the client's own history."""
    expected: set[tuple[int, str]] = set()
    unknown: set[tuple[int, str]] = set()
    wrong: list[str] = []
    for plan, voter, answers in zip(plans, voters, outcomes, strict=True):
        state: dict[str, bool | None] = {}
        for (paper, up), outcome in zip(plan, answers, strict=True):
            if outcome.status != 200:
                state[paper] = None  # a failed write may or may not have committed
                continue
            before = state.get(paper, False)
            body = outcome.body
            ok = (
                isinstance(body, dict)
                and body.get("id") == paper
                and body.get("voted") is up
                and isinstance(body.get("upvotes"), int)
                and (before is None or body.get("changed") is (before != up))
            )
            if not ok:
                wrong.append(f"user {voter.user_id} {'up' if up else 'un'}vote {paper}: {body}")
            state[paper] = up
        expected |= {(voter.user_id, p) for p, voted in state.items() if voted}
        unknown |= {(voter.user_id, p) for p, voted in state.items() if voted is None}
    return expected, unknown, wrong


def check_database(
    url: str, expected: set[tuple[int, str]], unknown: set[tuple[int, str]]
) -> dict[str, Any]:
    """Compare the vote rows and every paper's count with what the clients did."""
    store = Store.open(url)
    try:
        with store.reading() as conn:
            rows = {
                (user_id, paper_id)
                for user_id, paper_id in conn.execute(
                    sa.select(upvotes.c.user_id, upvotes.c.paper_id)
                )
            }
            local = {
                paper_id: n
                for paper_id, n in conn.execute(
                    sa.select(papers.c.arxiv_id, papers.c.upvotes - papers.c.imported_upvotes)
                )
            }
        inconsistent = store.inconsistent_upvote_counts()
    finally:
        store.close()
    per_paper = Counter(paper for _, paper in rows)
    wrong_counts = sorted(p for p, n in local.items() if n != per_paper[p])
    return {
        "vote_rows": len(rows),
        "expected_rows": len(expected),
        "unknown_pairs": len(unknown),
        "lost": sorted(expected - rows)[:20],
        "n_lost": len(expected - rows),
        "extra": sorted(rows - expected - unknown)[:20],
        "n_extra": len(rows - expected - unknown),
        "wrong_counts": wrong_counts[:20],
        "n_wrong_counts": len(wrong_counts),
        "inconsistent_upvote_counts": inconsistent[:20],
        "n_inconsistent": len(inconsistent),
    }


# -- passwords -----------------------------------------------------------------------------


def hashing(runs: int) -> dict[str, Any]:
    hash_ms, verify_ms = [], []
    for _ in range(runs):
        start = time.perf_counter()
        stored = hash_password(PASSWORD)
        hash_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        hasher.verify(stored, PASSWORD)
        verify_ms.append((time.perf_counter() - start) * 1000)
    return {
        "n": runs,
        "hash_p50_ms": statistics.median(hash_ms),
        "verify_p50_ms": statistics.median(verify_ms),
        "parameters": f"t={hasher.time_cost} m={hasher.memory_cost // 1024} MiB "
        f"p={hasher.parallelism}",
    }


def timed_logins(base: str, password: str, runs: int) -> dict[str, float]:
    """``runs`` logins, each from a new browser (GET /login for the CSRF token, then POST)."""
    want = 303 if password == PASSWORD else 401
    times = []
    for _ in range(runs):
        with httpx.Client(base_url=base, timeout=30) as client:
            form = CSRF_RE.search(client.get("/login").text)
            assert form, "no csrf_token in the login form"
            data = {"name": "bench-login", "password": password, "csrf_token": form[1]}
            start = time.perf_counter()
            response = client.post("/login", data=data)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == want, (response.status_code, response.text[:300])
            assert (want == 303) == ("pf_session" in response.cookies)
    return {"n": runs, "p50_ms": statistics.median(times), "p99_ms": percentile(times, 0.99)}


def login_latency(base: str, runs: int) -> dict[str, dict[str, float]]:
    with httpx.Client(base_url=base, timeout=30) as client:
        healthz = timed_gets(client, ["/healthz"] * runs * 5)
    return {
        "healthz (baseline)": healthz,
        "login": timed_logins(base, PASSWORD, runs),
        "login, wrong password": timed_logins(base, PASSWORD + "!", runs),
    }


# -- one backend ---------------------------------------------------------------------------


def bench_backend(url: str, args: argparse.Namespace, log_path: Path) -> dict[str, Any]:
    paper_ids, voters = prepare(url, args.papers, args.clients)
    plans = vote_plans(paper_ids, voters, args.requests)
    with serving(url, log_path) as (base, _pid):
        warm_up = [[Call("GET", "/healthz")] * 10 for _ in voters]
        hammer(base, warm_up)
        counts = split(args.baseline_requests, len(voters))
        _, healthz = hammer(base, [[Call("GET", "/healthz")] * n for n in counts])
        outcomes, votes = hammer(
            base, [vote_calls(plan, voter) for plan, voter in zip(plans, voters, strict=True)]
        )
        login = login_latency(base, args.logins)
    expected, unknown, wrong = replay(plans, voters, outcomes)
    failures = [
        f"{o.status} {c.method} {c.path} after {o.ms:.0f} ms: {o.body}"
        for plan, voter, answers in zip(plans, voters, outcomes, strict=True)
        for c, o in zip(vote_calls(plan, voter), answers, strict=True)
        if o.status != 200
    ]
    checks = check_database(url, expected, unknown)
    checks["wrong_answers"] = wrong[:20]
    checks["n_wrong_answers"] = len(wrong)
    checks["failed_requests"] = failures[:20]
    log = log_path.read_text()
    checks["server_log_tracebacks"] = log.count("Traceback")
    problems = [
        name
        for name, bad in (
            ("non-200 answers", votes["non_200"]),
            ("answers contradicting the client's history", checks["n_wrong_answers"]),
            ("lost votes", checks["n_lost"]),
            ("extra vote rows", checks["n_extra"]),
            ("counts != vote rows", checks["n_wrong_counts"]),
            ("inconsistent_upvote_counts()", checks["n_inconsistent"]),
            ("tracebacks in the server log", checks["server_log_tracebacks"]),
        )
        if bad
    ]
    if problems:
        OUT.mkdir(exist_ok=True)
        (OUT / f"community-{log_path.stem}-server.log").write_text(log)
    return {
        "votes": votes,
        "healthz (baseline)": healthz,
        "checks": checks,
        "problems": problems,
        "login": login,
        "server_log_tail": log[-4000:] if log.strip() else "",
    }


def report(name: str, result: dict[str, Any]) -> None:
    votes, base, checks = result["votes"], result["healthz (baseline)"], result["checks"]
    print(
        f"\n== {name}: {votes['n']:,} votes and unvotes from {votes['clients']} clients "
        f"(load generator CPU {votes['client_cpu_share']:.0%} of a core) =="
    )
    for label, row in (("healthz (baseline)", base), ("vote/unvote", votes)):
        print(
            f"{label:>22}: {row['requests_per_s']:7.0f} req/s  p50 {row['p50_ms']:6.1f} ms  "
            f"p99 {row['p99_ms']:6.1f} ms  max {row['max_ms']:6.0f} ms  "
            f"(x{row['p50_ms'] / base['p50_ms']:.1f} healthz p50; non-200 {row['non_200']}, "
            f"5xx {row['5xx']})"
        )
    print(
        f"{'database':>22}: {checks['vote_rows']:,} vote rows, {checks['expected_rows']:,} "
        f"expected; lost {checks['n_lost']}, extra {checks['n_extra']}, counts off "
        f"{checks['n_wrong_counts']}, inconsistent_upvote_counts() {checks['n_inconsistent']}, "
        f"wrong answers {checks['n_wrong_answers']}"
    )
    login = result["login"]
    health = login["healthz (baseline)"]["p50_ms"]
    for label, row in login.items():
        print(
            f"{label:>22}: p50 {row['p50_ms']:6.1f} ms  p99 {row['p99_ms']:6.1f} ms  "
            f"(x{row['p50_ms'] / health:.0f} healthz p50, n={row['n']:.0f})"
        )
    if result["problems"]:
        print(f"FAILED: {', '.join(result['problems'])}")
        for line in checks["failed_requests"][:5] + checks["wrong_answers"][:5]:
            print(f"  {line}")
        if result["server_log_tail"]:
            print(f"server log (tail):\n{result['server_log_tail']}")


def summary_table(results: dict[str, Any], backends: list[str]) -> None:
    print(
        f"\n{'backend':<11}{'votes/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'healthz/s':>11}"
        f"{'p50 ms':>8}{'ratio':>7}{'5xx':>5}{'login ms':>10}  checks"
    )
    for backend in backends:
        row = results[backend]
        votes, base = row["votes"], row["healthz (baseline)"]
        print(
            f"{backend:<11}{votes['requests_per_s']:>9.0f}{votes['p50_ms']:>8.1f}"
            f"{votes['p99_ms']:>8.1f}{base['requests_per_s']:>11.0f}{base['p50_ms']:>8.1f}"
            f"{votes['p50_ms'] / base['p50_ms']:>7.1f}{votes['5xx']:>5}"
            f"{row['login']['login']['p50_ms']:>10.1f}  "
            f"{'ok' if not row['problems'] else 'FAILED: ' + ', '.join(row['problems'])}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--papers", type=int, default=500)
    parser.add_argument(
        "--baseline-requests", type=int, default=5_000, help="/healthz requests, same clients"
    )
    parser.add_argument("--logins", type=int, default=20, help="logins timed per case")
    parser.add_argument("--json", type=Path, default=OUT / "community.json")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results: dict[str, Any] = {
        "clients": args.clients,
        "requests": args.requests,
        "papers": args.papers,
        "hashing": hashing(args.logins),
    }
    hashed = results["hashing"]
    print(
        f"argon2id ({hashed['parameters']}): hash p50 {hashed['hash_p50_ms']:.1f} ms, "
        f"verify p50 {hashed['verify_p50_ms']:.1f} ms (n={hashed['n']})"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            server = None if backend == "sqlite" else PostgresServer().start()
            try:
                url = (
                    create_database(server.url, "community")
                    if server
                    else f"sqlite:///{tmp}/community.sqlite3"
                )
                results[backend] = bench_backend(url, args, Path(tmp) / f"{backend}.log")
            finally:
                if server:
                    server.stop()
            report(backend, results[backend])
    summary_table(results, backends)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten to {args.json}")
    if any(results[b]["problems"] for b in backends):
        sys.exit(1)


if __name__ == "__main__":
    main()
