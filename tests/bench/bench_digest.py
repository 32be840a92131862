"""Digest benchmark: compose 10,000 personalized weekly digests on the 75k arXiv corpus and
send them through a local SMTP server.

    make bench   # or: .venv/bin/python tests/bench/bench_digest.py [--quick] [--json PATH]

* data: the full arXiv corpus (74,728 papers) imported on SQLite as `paperfeed import` does
  (each paper lands on its first-seen feed day), with the vectors bench_search.py caches in
  bench-results/arxiv-vectors.npz. Without that cache (computing it takes about 30 min) only
  the papers involved are embedded: the period's and those the readers may upvote, which
  are then a seeded sample of the corpus instead of all of it (said so in the output; those
  vectors are cached in bench-results/digest-vectors.npz, -quick.npz with --quick).
* readers: 10,000 accounts with 5-30 random upvotes each (seeded), inserted in bulk with
  SQLAlchemy Core (``papers.upvotes`` set to the number of rows, as ``store.upvote`` keeps
  it), and 10,000 confirmed weekly subscribers linked to them through ``store.digests``
  (personalized, top 5-15, some with category or keyword filters).
* compose: ``DigestSender.digests("weekly")`` (the pool of the latest ended ISO week and the
  readers' upvoted vectors), then ``compose_one`` and ``digest_message`` for every
  subscriber; baseline: the same digests without personalization, in the same run.
* send (run first, so memory that composing frees cannot hide growth): 3,000 digests through
  ``DigestSender.send`` to aiosmtpd (``tests/smtpserver.py``, in its own process so what it
  keeps does not count here; no rate limit), with this process's RSS every 500 mails;
  baseline: ``Mailer.send`` of one small fixed message as often, on the same server. Then
  the server must hold exactly one mail per subscriber and a rerun send 0.

Target (digest issue): 10,000 personalized digests composed in <= 60 s on 2 cores; sending
>= 50 mails/s; memory flat while sending. Exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "data" / "arxiv"
OUT = ROOT / "bench-results"
sys.path.insert(0, str(ROOT / "tests"))

from paperfeed.community.auth import Accounts  # noqa: E402
from paperfeed.digest.compose import Pool, compose, digest_period  # noqa: E402
from paperfeed.digest.links import DigestLinks  # noqa: E402
from paperfeed.digest.render import digest_message  # noqa: E402
from paperfeed.digest.send import DigestSender  # noqa: E402
from paperfeed.ingest import import_files  # noqa: E402
from paperfeed.mail import Mailer, new_message  # noqa: E402
from paperfeed.models import Subscriber  # noqa: E402
from paperfeed.search.embed import Embedder, default_embedder, paper_text, text_hash  # noqa: E402
from paperfeed.search.indexer import export_vectors, import_vectors, index_papers  # noqa: E402
from paperfeed.settings import Settings  # noqa: E402
from paperfeed.store import Store, utcnow  # noqa: E402
from paperfeed.store.schema import papers, upvotes, users  # noqa: E402
from smtpserver import SmtpServer  # noqa: E402

SEED = 10_000
UPVOTABLE_WITHOUT_CACHE = 4_000  # papers readers upvote from when vectors must be computed
CATEGORY_CHOICES = ["cs.CV", "cs.AI", "cs.CL", "cs.LG", "cs"]  # all frequent in the corpus
KEYWORD_CHOICES = ["language model", "benchmark", "agent", "graph", "3d", "video", "diffusion"]
SAMPLE_EVERY = 500  # subscribers between two RSS samples


def rss_mb() -> float:
    """This process's resident set size now (not the peak)."""
    try:
        import psutil

        return float(psutil.Process().memory_info().rss) / 2**20
    except ImportError:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no way to read the RSS here (install psutil)")


# -- the SMTP server in its own process ----------------------------------------------------


def _serve_smtp(conn: Connection) -> None:
    """Run a SmtpServer; on "take" answer [(recipients, Message-ID)] received since the last
    take and forget them. Only asked while no client is sending."""
    with SmtpServer() as server:
        conn.send(server.port)
        while conn.recv() == "take":
            taken, server.received = server.received, []
            conn.send([(r.recipients, str(r.message["Message-ID"])) for r in taken])


class SmtpProcess:
    def __init__(self, conn: Connection, port: int) -> None:
        self.conn = conn
        self.port = port

    def take(self) -> list[tuple[list[str], str]]:
        self.conn.send("take")
        received: list[tuple[list[str], str]] = self.conn.recv()
        return received


@contextmanager
def smtp_process() -> Iterator[SmtpProcess]:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve_smtp, args=(theirs,), daemon=True)
    process.start()
    try:
        yield SmtpProcess(ours, ours.recv())
    finally:
        ours.send("stop")
        process.join(timeout=30)


# -- the database --------------------------------------------------------------------------


def corpus_store(url: str, parts: list[Path], cache: Path) -> tuple[Store, Embedder, bool]:
    """The corpus, with the cached vectors when there are; True if every paper has one."""
    store = Store.open(url)
    store.migrate()
    start = time.perf_counter()
    summary = import_files(store, "jsonl", parts)
    print(f"import: {summary.line()} in {time.perf_counter() - start:.0f} s", flush=True)
    embedder = default_embedder()
    if cache.is_file():
        stored = import_vectors(store, embedder.name, cache)
        print(f"vectors: {stored:,} from {cache.name}", flush=True)
    missing = index_papers(store, embedder, dry_run=True, summaries=False).to_do
    if missing:
        print(f"vectors: {missing:,} papers have none ({cache.name} missing or stale)", flush=True)
    return store, embedder, missing == 0


def embed_missing(store: Store, embedder: Embedder, ids: list[str]) -> int:
    """Embed those of ``ids`` that have no vector yet (the fallback without the cache)."""
    todo = [
        (pid, paper_text(title, abstract))
        for pid, title, abstract, old in store.search.texts_for_embedding(ids, embedder.name)
        if old is None
    ]
    start = time.perf_counter()
    for first in range(0, len(todo), 256):
        batch = todo[first : first + 256]
        vectors = embedder.embed([text for _, text in batch])
        store.search.save_embeddings(
            embedder.name,
            [(pid, text_hash(text), vectors[i]) for i, (pid, text) in enumerate(batch)],
        )
    if todo:
        seconds = time.perf_counter() - start
        print(f"  embedded {len(todo):,} papers in {seconds:.0f} s", flush=True)
    return len(todo)


def add_readers(store: Store, n: int, upvotable: list[str], rng: random.Random) -> list[int]:
    """``n`` accounts with 5-30 upvotes each among ``upvotable``, in bulk; their ids."""
    now = utcnow()
    with store.writing() as conn:
        conn.execute(
            users.insert(),
            [
                {
                    "username": f"reader{i:05d}",
                    "username_key": f"reader{i:05d}",
                    "email": f"reader{i:05d}@example.org",
                    "email_key": f"reader{i:05d}@example.org",
                    "created_at": now,
                }
                for i in range(n)
            ],
        )
        user_ids = list(
            conn.execute(
                sa.select(users.c.id).where(users.c.username.like("reader%")).order_by(users.c.id)
            ).scalars()
        )
        votes = [
            {"user_id": uid, "paper_id": pid, "created_at": now}
            for uid in user_ids
            for pid in rng.sample(upvotable, rng.randint(5, 30))
        ]
        conn.execute(upvotes.insert(), votes)
        counts = Counter(v["paper_id"] for v in votes)
        conn.execute(
            papers.update()
            .where(papers.c.arxiv_id == sa.bindparam("b_id"))
            .values(upvotes=papers.c.imported_upvotes + sa.bindparam("b_n")),
            [{"b_id": pid, "b_n": count} for pid, count in counts.items()],
        )
    return user_ids


def random_filters(rng: random.Random) -> tuple[list[str], list[str]]:
    roll = rng.random()
    categories = rng.sample(CATEGORY_CHOICES, rng.randint(1, 2)) if roll < 0.25 else []
    keywords = rng.sample(KEYWORD_CHOICES, rng.randint(1, 2)) if 0.2 < roll < 0.4 else []
    return categories, keywords


def add_subscribers(store: Store, user_ids: list[int], rng: random.Random) -> Counter[str]:
    """One confirmed, personalized weekly subscriber per account (through store.digests)."""
    kinds: Counter[str] = Counter()
    now = utcnow()
    for number, user_id in enumerate(user_ids):
        email = f"reader{number:05d}@example.org"
        sub, _ = store.digests.subscribe(email, now=now, confirmed=True, user_id=user_id)
        categories, keywords = random_filters(rng)
        store.digests.set_preferences(
            sub.id,
            frequency="weekly",
            top_n=rng.randint(5, 15),
            categories=categories,
            keywords=keywords,
            personalized=True,
        )
        kinds["category filter"] += bool(categories)
        kinds["keyword filter"] += bool(keywords)
    return kinds


def prepare(url: str, parts: list[Path], n_subscribers: int) -> tuple[Store, dict[str, Any]]:
    full = len(parts) == len(list(CORPUS.glob("part-*.jsonl.gz")))
    cache = OUT / ("arxiv-vectors.npz" if full else "arxiv-vectors-quick.npz")
    store, embedder, every_paper = corpus_store(url, parts, cache)
    period = digest_period(store, "weekly", utcnow().date())
    assert period is not None, "the corpus put no paper on the feed"
    pool_ids = [row.arxiv_id for row in store.feed_rows(period.start, period.end)]
    rng = random.Random(SEED)
    with store.reading() as conn:
        corpus = sorted(conn.execute(sa.select(papers.c.arxiv_id)).scalars())
    upvotable = corpus
    if not every_paper:
        upvotable = rng.sample(corpus, min(UPVOTABLE_WITHOUT_CACHE, len(corpus)))
        print(
            f"NO FULL VECTOR CACHE: readers upvote among a seeded sample of {len(upvotable):,} "
            f"papers, not all {len(corpus):,}; embedding only those and the "
            f"{len(pool_ids):,} papers of {period.key}",
            flush=True,
        )
        partial = OUT / ("digest-vectors.npz" if full else "digest-vectors-quick.npz")
        if partial.is_file():
            print(f"  {import_vectors(store, embedder.name, partial):,} from {partial.name}")
        if embed_missing(store, embedder, sorted(set(pool_ids) | set(upvotable))):
            export_vectors(store, embedder.name, partial)
    start = time.perf_counter()
    user_ids = add_readers(store, n_subscribers, upvotable, rng)
    readers_s = time.perf_counter() - start
    start = time.perf_counter()
    filters = add_subscribers(store, user_ids, rng)
    subscribers_s = time.perf_counter() - start
    with store.reading() as conn:
        votes = conn.execute(sa.select(sa.func.count()).select_from(upvotes)).scalar()
    print(
        f"readers: {len(user_ids):,} accounts and {votes:,} upvotes in bulk in {readers_s:.1f} s;"
        f" subscribers through store.digests in {subscribers_s:.1f} s "
        f"({filters['category filter']:,} with a category filter, "
        f"{filters['keyword filter']:,} with keywords)",
        flush=True,
    )
    setup = {
        "papers": len(corpus),
        "every_paper_embedded": every_paper,
        "upvotable_papers": len(upvotable),
        "period": period.key,
        "pool_papers": len(pool_ids),
        "users": len(user_ids),
        "upvotes": votes,
        "subscribers_s": subscribers_s,
        **filters,
    }
    return store, setup


# -- compose ---------------------------------------------------------------------------------


def compose_all(
    sender: DigestSender, pool: Pool, subs: list[Subscriber], vectors: dict[int, Any]
) -> tuple[dict[str, float], list[tuple[Subscriber, set[str]]]]:
    """Compose and render every subscriber's digest: times and what they held, and the
    personalized subscribers without a "for you" section (with how many papers theirs
    shows)."""
    compose_s = render_s = 0.0
    counts: Counter[str] = Counter()
    sizes = []
    lacking: list[tuple[Subscriber, set[str]]] = []
    for number, sub in enumerate(subs):
        start = time.perf_counter()
        digest = sender.compose_one(pool, sub, vectors)
        composed = time.perf_counter()
        message = digest_message(digest, sender.settings, sender.links)
        compose_s += composed - start
        render_s += time.perf_counter() - composed
        counts["empty"] += digest.count == 0
        counts["with for_you"] += bool(digest.for_you)
        if sub.personalized and not digest.for_you:
            lacking.append((sub, {p.arxiv_id for p in digest.top + digest.trending}))
        counts["papers"] += digest.count
        if number % 100 == 0:
            sizes.append(len(message.as_bytes()))
    return {
        "compose_s": compose_s,
        "render_s": render_s,
        "empty": counts["empty"],
        "with_for_you": counts["with for_you"],
        "papers_per_digest": counts["papers"] / max(len(subs), 1),
        "mail_kb": sum(sizes) / max(len(sizes), 1) / 1024,
    }, lacking


def missed_picks(
    store: Store, pool: Pool, lacking: list[tuple[Subscriber, set[str]]]
) -> tuple[int, int]:
    """(digests whose filters leave no paper beyond those shown, and those already shown to
    the reader or dismissed, e.g. by the mails sent before; digests that had some left for
    "for you" and still got none)."""
    full = missed = 0
    users = [sub.user_id for sub, _ in lacking if sub.user_id is not None]
    known = store.personal.shown_or_dismissed(users)
    for sub, shown in lacking:
        everything = replace(sub, top_n=len(pool.papers), personalized=False)
        left = {p.arxiv_id for p in compose(pool, everything).top} - shown
        if sub.user_id is not None:
            left -= known.get(sub.user_id, set())
        if left:
            missed += 1
        else:
            full += 1
    return full, missed


def bench_compose(sender: DigestSender, problems: list[str]) -> dict[str, Any]:
    start = time.perf_counter()
    sender.digests("weekly", [])  # the pool alone: what an unpersonalized run loads
    pool_s = time.perf_counter() - start
    # then the personalized run's (last: the sender keeps the readers' profiles and the
    # personalization of its latest call, which compose_one uses)
    start = time.perf_counter()
    period, pool, subs, vectors = sender.digests("weekly")
    load_s = time.perf_counter() - start
    assert period is not None and pool is not None
    compose_all(sender, pool, subs[:50], vectors)  # warm up: templates, caches
    personal, lacking = compose_all(sender, pool, subs, vectors)
    plain, _ = compose_all(sender, pool, subs, {})
    no_room, missed = missed_picks(sender.store, pool, lacking)
    personal["no_room_for_you"] = no_room
    personal["load_s"], plain["load_s"] = load_s, pool_s
    for row in (personal, plain):
        row["total_s"] = row["load_s"] + row["compose_s"] + row["render_s"]
        row["digests_per_s"] = len(subs) / row["total_s"]
    if personal["empty"]:
        problems.append(f"{personal['empty']} of {len(subs)} digests are empty")
    if missed:
        problems.append(
            f"{missed} personalized digests have no 'for you' section though their filters "
            "leave papers beyond those shown"
        )
    if plain["with_for_you"]:
        problems.append("digests without personalization have a 'for you' section")
    return {
        "subscribers": len(subs),
        "pool_papers": len(pool.papers),
        "upvoted_vectors_of": len(vectors),
        "upvoted_vectors_mb": sum(v.nbytes for v in vectors.values()) / 2**20,
        "load_average": os.getloadavg(),
        "personalized": personal,
        "baseline (not personalized)": plain,
        "ratio": personal["total_s"] / plain["total_s"],
    }


# -- send ------------------------------------------------------------------------------------


def raw_sends(settings: Settings, smtp: SmtpProcess, n: int) -> float:
    """Mails/s of Mailer.send with one small fixed message over one connection."""
    message = new_message(
        sender=settings.mail_from, to="baseline@example.org", subject="baseline", text="Hello.\n"
    )
    mailer = Mailer.from_settings(settings)
    start = time.perf_counter()
    with mailer:
        for _ in range(n):
            mailer.send(message)
    per_s = n / (time.perf_counter() - start)
    assert len(smtp.take()) == n
    return per_s


def bench_send(
    sender: DigestSender, smtp: SmtpProcess, n: int, problems: list[str]
) -> dict[str, Any]:
    subs = sender.store.digests.receiving("weekly")[:n]
    baseline = raw_sends(sender.settings, smtp, n)
    samples: list[tuple[int, float]] = []  # (subscribers done, RSS in MB)
    started = 0

    def sample(step: int) -> None:  # called as each subscriber's turn starts
        nonlocal started
        started += step
        if started % SAMPLE_EVERY == 1:
            samples.append((started - 1, rss_mb()))

    start = time.perf_counter()
    mailer = Mailer.from_settings(sender.settings)
    summary = sender.send("weekly", mailer, only=subs, progress=sample)
    seconds = time.perf_counter() - start
    samples.append((started, rss_mb()))
    received = smtp.take()
    to = Counter(address for recipients, _ in received for address in recipients)
    if summary.sent != len(subs) or summary.errors:
        problems.append(f"send: {summary.line()} {summary.errors[:3]}")
    if sorted(to) != sorted(s.email for s in subs) or set(to.values()) != {1}:
        repeated = sum(1 for count in to.values() if count > 1)
        problems.append(
            f"the server got {len(received)} mails for {len(to)} addresses ({repeated} repeated),"
            f" expected one for each of {len(subs)}"
        )
    if len({message_id for _, message_id in received}) != len(received):
        problems.append("two mails share a Message-ID")
    again = sender.send("weekly", Mailer.from_settings(sender.settings), only=subs)
    resent = len(smtp.take())
    if again.sent or resent or again.already != len(subs):
        problems.append(f"rerun: {again.line()}, the server got {resent} more")
    return {
        "mails": summary.sent,
        "seconds": seconds,
        "mails_per_s": summary.sent / seconds,
        "baseline_mails_per_s": baseline,
        "ratio": (summary.sent / seconds) / baseline,
        "rss_mb": samples,
        "rerun": again.line(),
        "load_average": os.getloadavg(),
    }


# -- report ----------------------------------------------------------------------------------


def print_compose(result: dict[str, Any]) -> None:
    print(
        f"\n== compose: {result['subscribers']:,} weekly digests, pool of "
        f"{result['pool_papers']:,} papers, upvoted vectors of {result['upvoted_vectors_of']:,} "
        f"readers ({result['upvoted_vectors_mb']:.0f} MB) =="
    )
    print(f"{'':>28} {'load':>7} {'compose':>8} {'render':>7} {'total':>7} {'digests/s':>10}")
    for label in ("personalized", "baseline (not personalized)"):
        row = result[label]
        print(
            f"{label:>28} {row['load_s']:6.2f}s {row['compose_s']:7.2f}s {row['render_s']:6.2f}s "
            f"{row['total_s']:6.2f}s {row['digests_per_s']:10.0f}"
        )
    row = result["personalized"]
    print(
        f"ratio personalized / baseline: x{result['ratio']:.2f}; "
        f"{row['papers_per_digest']:.1f} papers and {row['mail_kb']:.0f} KB a mail; "
        f"'for you' in {row['with_for_you']:,} (in {row['no_room_for_you']} the filters leave "
        "nothing beyond top, trending and what they saw or dismissed), "
        f"empty {row['empty']}  (target: total <= 60 s)"
    )
    print_load(result)


def print_send(result: dict[str, Any]) -> None:
    print(f"\n== send: {result['mails']:,} digests through DigestSender.send to aiosmtpd ==")
    print(
        f"{result['mails_per_s']:.1f} mails/s ({result['seconds']:.1f} s, loading the pool and "
        f"vectors included); Mailer.send of one small fixed message "
        f"{result['baseline_mails_per_s']:.1f}/s; ratio {result['ratio']:.2f}  "
        "(target: >= 50 mails/s)"
    )
    print(
        "RSS after n subscribers: " + ", ".join(f"{n:,}: {mb:.0f} MB" for n, mb in result["rss_mb"])
    )
    print(f"rerun: {result['rerun']}")
    print_load(result)


def print_load(result: dict[str, Any]) -> None:
    one, five, _ = result["load_average"]
    print(
        f"load average after this part: {one:.1f} (1 min), {five:.1f} (5 min) "
        f"on {os.cpu_count()} cores"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 corpus parts, 1,000 subscribers")
    parser.add_argument("--subscribers", type=int, help="default 10,000 (1,000 with --quick)")
    parser.add_argument("--send", type=int, help="mails to send; default 3,000 (500 --quick)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        sys.exit(f"{CORPUS} not found: the benchmark needs ../shared/data")
    OUT.mkdir(exist_ok=True)
    parts = sorted(CORPUS.glob("part-*.jsonl.gz"))[: 2 if args.quick else None]
    n_subs = args.subscribers or (1_000 if args.quick else 10_000)
    n_send = min(args.send or (500 if args.quick else 3_000), n_subs)
    problems: list[str] = []
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, smtp_process() as smtp:
        url = f"sqlite:///{tmp}/digest.sqlite3"
        store, results["setup"] = prepare(url, parts, n_subs)
        settings = Settings.from_env(
            {},
            database_url=url,
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_security="none",
            mail_from="digest@paperfeed.test",
            public_url="https://papers.example.org",
            mail_rate=0.0,
        )
        links = DigestLinks(Accounts(store, settings, utcnow).signer, settings.public_url)
        sender = DigestSender(store, settings, links, sleep=lambda seconds: None)
        try:
            # Sending first: the RSS it shows is not hidden by memory composing freed.
            results["send"] = bench_send(sender, smtp, n_send, problems)
            print_send(results["send"])
            results["compose"] = bench_compose(sender, problems)
            print_compose(results["compose"])
        finally:
            store.close()
    results["problems"] = problems
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
        print(f"\nwritten to {args.json}")
    if problems:
        sys.exit("\nFAILED:\n" + "\n".join(f"  {p}" for p in problems))


if __name__ == "__main__":
    main()
