"""The ``paperfeed`` command: a thin shell over the library.

Every error the user can cause (a bad file, a bad record with ``--strict``, a database that
cannot be reached) ends the command with one clear line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import click

from paperfeed import __version__
from paperfeed.settings import Settings, SettingsError, env_sample, markdown_table
from paperfeed.store import DatabaseError, JobLocked, Store

DEMO_DIR = Path(__file__).parent / "demo"
DEMO_VECTORS = DEMO_DIR / "embeddings.npz"


class Context:
    """Settings and a lazily opened store, shared by the subcommands."""

    def __init__(self, database_url: str | None) -> None:
        try:
            self.settings = Settings.from_env(database_url=database_url)
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None
        self._store: Store | None = None

    def store(self, *, current_schema: bool = True) -> Store:
        if self._store is None:
            with _friendly_errors():
                store = Store.open(
                    self.settings.resolved_database_url, pool_size=self.settings.db_pool_size
                )
                if current_schema:
                    store.require_current_schema()
            self._store = store
        return self._store


def _http_options(settings: Settings, source: str) -> dict[str, Any]:
    """Politeness of requests to ``source`` ("arxiv" or "hf"): spacing, retries, contact."""
    interval = settings.arxiv_min_interval if source == "arxiv" else settings.hf_min_interval
    return {"min_interval": interval, "retries": settings.http_retries, "contact": settings.contact}


@contextmanager
def _job_run(store: Store, job: str) -> Iterator[list[str]]:
    """Log the run of ``job`` (ok or failed, with its summary) for `paperfeed stats`.

    The body appends its summary line(s) to the yielded list.
    """
    from paperfeed.store import utcnow

    started = utcnow()
    lines: list[str] = []
    try:
        yield lines
    except BaseException as exc:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        store.record_job_run(job, started, False, "; ".join([*lines, f"failed: {message}"]))
        raise
    store.record_job_run(job, started, True, "; ".join(lines))


@contextmanager
def _friendly_errors() -> Iterator[None]:
    """Turn the errors people can cause into one line, not a traceback."""
    from paperfeed.ingest import ImportStopped, SourceError

    try:
        yield
    except (DatabaseError, JobLocked, SourceError) as exc:
        raise click.ClickException(str(exc)) from None
    except ImportStopped as exc:
        raise click.ClickException(
            f"{exc} (stopped by --strict; batches before this record are saved)"
        ) from None


pass_context = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--database-url",
    envvar="PAPERFEED_DATABASE_URL",
    help="Database to use (default: SQLite file in PAPERFEED_DATA_DIR).",
)
@click.version_option(__version__, prog_name="paperfeed")
@click.pass_context
def cli(ctx: click.Context, database_url: str | None) -> None:
    """paperfeed: a self-hostable feed of new research papers.

    Typical start: `paperfeed db upgrade`, `paperfeed import demo`, `paperfeed serve`.
    """
    ctx.obj = Context(database_url)


# -- serve ----------------------------------------------------------------------------------


@cli.command()
@click.option("--host", help="Address to listen on (default PAPERFEED_HOST, 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default PAPERFEED_PORT, 8000).")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="'warning' hides the per-request access log.",
)
@pass_context
def serve(ctx: Context, host: str | None, port: int | None, log_level: str) -> None:
    """Serve the web site and the JSON API."""
    import uvicorn

    from paperfeed.web import create_app

    app = create_app(ctx.settings, ctx.store())
    # The keyword index, the vectors, the model and then the recommender's features are made
    # ready while the site already answers (searches rank with the database until the
    # keyword index is built; For you shows its plain candidates until the features are).
    threading.Thread(target=_warm_up, args=(app.state,), daemon=True).start()
    uvicorn.run(
        app,
        host=host or ctx.settings.host,
        port=port or ctx.settings.port,
        log_level=log_level,
        proxy_headers=True,
        forwarded_allow_ips=ctx.settings.trusted_proxies,
    )


def _warm_up(state: Any) -> None:
    for name, step in (
        ("search", state.searcher.warm_up),
        ("recommendations", state.features.start),
    ):
        try:
            step()
        except Exception:  # the site works without it: the first requests build what they need
            logging.getLogger("paperfeed").exception("warming up %s failed", name)


# -- db -------------------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Create and migrate the database schema."""


@db.command()
@pass_context
def upgrade(ctx: Context) -> None:
    """Create the tables or bring them up to date (safe to rerun)."""
    store = ctx.store(current_schema=False)
    with _friendly_errors():
        before = store.schema_revision()
        store.migrate()
        after = store.schema_revision()
    from paperfeed.store import describe_url

    where = describe_url(store.url)
    if before == after:
        click.echo(f"{where}: schema already at revision {after}")
    else:
        click.echo(f"{where}: schema upgraded from {before or 'empty'} to {after}")


@db.command()
@pass_context
def current(ctx: Context) -> None:
    """Print the schema revision of the database."""
    store = ctx.store(current_schema=False)
    with _friendly_errors():
        click.echo(f"{store.schema_revision() or 'empty'} (head {store.head_revision()})")


# -- import ---------------------------------------------------------------------------------


@cli.group(name="import")
def import_() -> None:
    """Load papers from files (idempotent: rerunning changes nothing)."""


def _import_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--strict",
            is_flag=True,
            help="Stop at the first bad record instead of skipping it "
            "(earlier batches stay saved).",
        ),
        click.option(
            "--no-resume",
            is_flag=True,
            help="Read files from the start even if an earlier run finished them.",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(1, 100_000),
            default=1000,
            show_default=True,
            help="Records per transaction.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@import_.command("jsonl")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_import_options
@pass_context
def import_jsonl(
    ctx: Context, paths: tuple[Path, ...], strict: bool, no_resume: bool, batch_size: int
) -> None:
    """Import arXiv JSONL dumps (plain or .gz); a record's feed day is its first_seen date."""
    _run_import(ctx, "jsonl", list(paths), strict, no_resume, batch_size)


@import_.command("hf-daily")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--date",
    "day",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Feed day for every entry (default: the day each entry was put on the daily feed).",
)
@_import_options
@pass_context
def import_hf_daily(
    ctx: Context,
    paths: tuple[Path, ...],
    day: Any,
    strict: bool,
    no_resume: bool,
    batch_size: int,
) -> None:
    """Import Hugging Face daily-papers API responses (JSON) or dumps (JSONL, .gz)."""
    from paperfeed.ingest import hf_daily_reader

    reader = hf_daily_reader(day.date() if day else None)
    _run_import(ctx, "hf-daily", list(paths), strict, no_resume, batch_size, reader=reader)


@import_.command("demo")
@pass_context
def import_demo(ctx: Context) -> None:
    """Load the small demo data set bundled with paperfeed (fast when already loaded),
    with its search embeddings, so search works without running `paperfeed index`."""
    from paperfeed.search.embed import MODEL_NAME
    from paperfeed.search.indexer import import_vectors

    _run_import(ctx, "jsonl", sorted(DEMO_DIR.glob("arxiv-*.jsonl.gz")), False, False, 1000)
    _run_import(ctx, "hf-daily", sorted(DEMO_DIR.glob("hf-daily-*.jsonl.gz")), False, False, 1000)
    with _friendly_errors():
        stored = import_vectors(ctx.store(), MODEL_NAME, DEMO_VECTORS)
    click.echo(f"embeddings: {stored:,} stored from the demo set")


def _run_import(
    ctx: Context,
    kind: str,
    paths: list[Path],
    strict: bool,
    no_resume: bool,
    batch_size: int,
    reader: Any = None,
) -> None:
    from paperfeed.ingest import import_files

    store = ctx.store()
    with _job_run(store, f"import {kind}") as log, _friendly_errors(), _progress_bar() as progress:
        summary = import_files(
            store,
            kind,
            paths,
            reader=reader,
            strict=strict,
            resume=not no_resume,
            batch_size=batch_size,
            progress=progress,
            warn=lambda message: click.echo(f"warning: {message}", err=True),
        )
        log.append(summary.line())
    for path, position in summary.resumed_at.items():
        click.echo(f"{path}: resumed after record {position:,}", err=True)
    click.echo(f"{kind}: {summary.line()}")


@contextmanager
def _progress_bar(
    label: str = "importing", log_every: int | None = None
) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal. When stderr is a pipe or a file: nothing, or with
    ``log_every``, a line each time that many more items are done."""
    if not sys.stderr.isatty():
        if log_every is None:
            yield None
            return
        logged = {"at": 0}

        def log_line(done: int, total: int) -> None:
            if done - logged["at"] >= log_every or done == total:
                click.echo(f"{label}: {done:,}/{total:,}", err=True)
                logged["at"] = done

        yield log_line
        return
    state: dict[str, Any] = {"bar": None, "total": 0, "done": 0}

    def update(done: int, total: int) -> None:
        if state["bar"] is None or state["total"] != total:
            if state["bar"] is not None:
                state["bar"].render_finish()
            state["bar"] = click.progressbar(length=total, label=label, file=sys.stderr)
            state["bar"].__enter__()
            state["total"], state["done"] = total, 0
        state["bar"].update(done - state["done"])
        state["done"] = done

    try:
        yield update
    finally:
        if state["bar"] is not None:
            state["bar"].render_finish()


# -- ingest from live sources ---------------------------------------------------------------


@cli.group()
def ingest() -> None:
    """Fetch papers from live sources (arXiv API) into the database."""


@ingest.command("arxiv")
@click.option(
    "--ids", "ids", multiple=True, help="arXiv ids, with or without version (repeatable)."
)
@click.argument("more_ids", nargs=-1)
@click.option("--query", help="An arXiv API query, e.g. 'cat:cs.LG AND ti:grokking'.")
@click.option(
    "--max",
    "max_results",
    type=click.IntRange(1, 30_000),
    default=100,
    show_default=True,
    help="At most this many papers for --query.",
)
@click.option(
    "--feed-day",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Also put the fetched papers on the feed of this day.",
)
@pass_context
def ingest_arxiv(
    ctx: Context,
    ids: tuple[str, ...],
    more_ids: tuple[str, ...],
    query: str | None,
    max_results: int,
    feed_day: Any,
) -> None:
    """Fetch papers by id (`--ids 2310.06110 2306.16185v2`) or by `--query` and upsert them."""
    from dataclasses import replace

    from paperfeed.ingest import SourceError, load_records
    from paperfeed.ingest.arxiv_api import ArxivClient
    from paperfeed.models import InvalidArxivId, split_arxiv_id

    wanted = [*ids, *more_ids]
    if bool(wanted) == bool(query):
        raise click.UsageError("give arXiv ids or --query (one of them)")
    for arxiv_id in wanted:
        try:
            split_arxiv_id(arxiv_id)
        except InvalidArxivId as exc:
            raise click.UsageError(str(exc)) from None
    settings = ctx.settings
    store = ctx.store()
    day = feed_day.date() if feed_day else None
    with (
        ArxivClient(
            settings.arxiv_api_url,
            **_http_options(settings, "arxiv"),
        ) as client,
        _job_run(store, "ingest arxiv") as log,
        _friendly_errors(),
        store.job_lock("ingest-arxiv"),
    ):
        found = client.fetch_ids(wanted) if wanted else client.search(query or "", max_results)
        items = (
            (i, replace(item, feed_day=day) if day and not isinstance(item, Exception) else item)
            for i, item in enumerate(found, 1)
        )
        try:
            summary = load_records(
                store, items, warn=lambda m: click.echo(f"warning: {m}", err=True)
            )
        except SourceError as exc:
            raise click.ClickException(f"{exc} (papers fetched before this are saved)") from None
        log.append(summary.line())
    click.echo(f"arxiv: {summary.line()}")


@ingest.command("oai")
@click.option(
    "--from",
    "since",
    type=click.DateTime(["%Y-%m-%d"]),
    required=True,
    help="Harvest records changed on or after this day.",
)
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="... and on or before this day.")
@click.option("--set", "set_spec", help="An arXiv set, e.g. cs or physics:cond-mat.")
@click.option(
    "--format",
    "metadata_prefix",
    type=click.Choice(["arXiv", "oai_dc"]),
    default="arXiv",
    show_default=True,
    help="arXiv (category codes, licence, names split) or oai_dc (Dublin Core).",
)
@click.option("--restart", is_flag=True, help="Ignore the checkpoint of an earlier run.")
@pass_context
def ingest_oai(
    ctx: Context,
    since: Any,
    until: Any,
    set_spec: str | None,
    metadata_prefix: str,
    restart: bool,
) -> None:
    """Harvest arXiv's OAI-PMH ListRecords; resumes where an interrupted run stopped."""
    from paperfeed.ingest.http import PoliteClient
    from paperfeed.ingest.oai import harvest

    settings = ctx.settings
    store = ctx.store()

    def page_done(number: int, page: Any) -> None:
        size = f" of {page.complete_size:,}" if page.complete_size else ""
        click.echo(f"page {number}: {len(page.items):,} records{size}", err=True)

    client = PoliteClient(
        **_http_options(settings, "arxiv"),
    )
    with _job_run(store, "ingest oai") as log, _friendly_errors(), store.job_lock("ingest-oai"):
        try:
            summary = harvest(
                store,
                client,
                settings.oai_url,
                since=since.date(),
                until=until.date() if until else None,
                set_spec=set_spec,
                metadata_prefix=metadata_prefix,
                restart=restart,
                on_page=page_done,
                warn=lambda m: click.echo(f"warning: {m}", err=True),
            )
        finally:
            client.close()
        log.append(f"{summary.pages} page(s), {summary.load.line()}")
    resumed = " (resumed)" if summary.resumed else ""
    click.echo(
        f"oai{resumed}: {summary.pages} page(s), {summary.deleted} deleted records "
        f"skipped, {summary.load.line()}"
    )


@ingest.command("daily")
@click.option(
    "--date",
    "day",
    type=click.DateTime(["%Y-%m-%d"]),
    help="The listing day to fill, harvesting up to it only (default: arXiv's current listing).",
)
@click.option(
    "--at",
    type=click.DateTime(["%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S%z"]),
    help="Run as if at this instant (ISO 8601 with a UTC offset), e.g. for a backfill.",
)
@click.option("--with-hf", is_flag=True, help="Also pull the Hugging Face daily papers.")
@click.option("--dry-run", is_flag=True, help="Fetch and count, write nothing.")
@pass_context
def ingest_daily(ctx: Context, day: Any, at: Any, with_hf: bool, dry_run: bool) -> None:
    """The cron job: harvest new arXiv papers of PAPERFEED_CATEGORIES onto the day's feed.

    The feed day is arXiv's current listing: the one of the latest announcement (20:00 US
    Eastern, Sunday to Thursday, not on arXiv holidays), whatever the server's time zone,
    so a run on a Saturday or a holiday refreshes the last listing instead of inventing a
    new day. Harvests arXiv's OAI-PMH from the day of the last successful run (or the day
    before the listing) for the sets holding the categories and stores the papers in those
    categories; each new paper goes on the feed day of the listing that announced it (its
    OAI datestamp), so a missed run catches up day by day, while replacements and updates
    of older papers are stored without being featured again. With --with-hf, also the
    listing day's Hugging Face daily papers.
    """
    from collections import Counter
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from paperfeed.ingest import load_records
    from paperfeed.ingest.daily import announced_listing
    from paperfeed.ingest.hf_daily import HfDailyClient
    from paperfeed.ingest.http import PoliteClient
    from paperfeed.ingest.oai import harvest, oai_set
    from paperfeed.models import IngestRecord

    settings = ctx.settings
    calendar = settings.arxiv_calendar()
    now = at.astimezone(UTC) if at else datetime.now(UTC)
    feed_day = day.date() if day else calendar.current_listing(now)
    categories = set(settings.category_list)
    if not categories:
        raise click.UsageError("PAPERFEED_CATEGORIES is empty")
    status = calendar.status(feed_day)
    if not status.is_listing:
        click.echo(f"note: {feed_day} has no arXiv listing: {status.explanation}", err=True)
    store = ctx.store()
    last_ok = store.stats().last_ok_runs.get("ingest daily")
    since = last_ok.finished_at.date() if last_ok else feed_day - timedelta(days=1)
    since = min(since, feed_day)
    until = feed_day if day else None
    new_on: Counter[date] = Counter()

    def on_feed(record: IngestRecord) -> IngestRecord | None:
        if not categories.intersection(record.paper.categories or ()):
            return None
        listing = announced_listing(record, last=feed_day)
        if listing is None:
            return record  # a replacement or an update of an older paper: stored, not featured
        new_on[listing] += 1
        return replace(record, feed_day=listing)

    announced = f"{calendar.announcement_time(feed_day):%Y-%m-%d %H:%M} UTC"
    lines = []
    client = PoliteClient(
        **_http_options(settings, "arxiv"),
    )
    job: contextlib.AbstractContextManager[list[str]] = (
        contextlib.nullcontext([]) if dry_run else _job_run(store, "ingest daily")
    )
    with job as log, _friendly_errors(), store.job_lock("ingest-daily"):
        try:
            for set_spec in sorted({oai_set(c) for c in categories}):
                summary = harvest(
                    store,
                    client,
                    settings.oai_url,
                    since=since,
                    until=until,
                    set_spec=set_spec,
                    transform=on_feed,
                    dry_run=dry_run,
                )
                lines.append(
                    f"arXiv set {set_spec} since {since}: {summary.pages} page(s), "
                    f"{summary.filtered:,} outside the categories, "
                    f"{summary.load.line()}"
                )
            for listing, count in sorted(new_on.items()):
                lines.append(f"listing {listing}: {count:,} new paper(s) for the feed")
            if with_hf:
                with HfDailyClient(
                    settings.hf_api_url,
                    **_http_options(settings, "hf"),
                ) as hf:
                    items = list(hf.fetch_day(feed_day))
                    if dry_run:
                        lines.append(f"hf-daily {feed_day}: {len(items)} entries (dry run)")
                    else:
                        hf_summary = load_records(store, enumerate(items, 1))
                        lines.append(f"hf-daily {feed_day}: {hf_summary.line()}")
        finally:
            client.close()
        log.extend(lines)
    prefix = "dry run, nothing written: " if dry_run else ""
    click.echo(f"{prefix}feed day {feed_day} (arXiv listing announced {announced})")
    for line in lines:
        click.echo(prefix + line)


@ingest.command("hf-daily")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="One feed day.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Every day from this one.")
@click.option(
    "--until", type=click.DateTime(["%Y-%m-%d"]), help="Last day for --since (default: today, UTC)."
)
@pass_context
def ingest_hf_daily(ctx: Context, day: Any, since: Any, until: Any) -> None:
    """Fetch Hugging Face daily papers (with upvotes) for a day or a range of days."""
    from datetime import UTC, datetime, timedelta

    from paperfeed.ingest import SourceError, load_records
    from paperfeed.ingest.hf_daily import HfDailyClient

    if bool(day) == bool(since):
        raise click.UsageError("give --date or --since (one of them)")
    first = (day or since).date()
    last = first if day else (until.date() if until else datetime.now(UTC).date())
    if last < first:
        raise click.UsageError("--until is before --since")
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    settings = ctx.settings
    store = ctx.store()
    total = None
    with (
        HfDailyClient(
            settings.hf_api_url,
            **_http_options(settings, "hf"),
        ) as client,
        _job_run(store, "ingest hf-daily") as log,
        _friendly_errors(),
        store.job_lock("ingest-hf-daily"),
    ):
        for current in days:
            items = enumerate(client.fetch_day(current), 1)
            try:
                summary = load_records(
                    store, items, warn=lambda m: click.echo(f"warning: {m}", err=True)
                )
            except SourceError as exc:
                raise click.ClickException(f"{exc} (days before {current} are saved)") from None
            click.echo(f"{current}: {summary.line()}")
            log.append(f"{current}: {summary.line()}")
            if total is None:
                total = summary
            else:
                total.merge(summary)
    if total is not None and len(days) > 1:
        click.echo(f"hf-daily, {len(days)} days: {total.line()}")


# -- search -------------------------------------------------------------------------------


@cli.command("index")
@click.option("--batch-size", type=click.IntRange(1, 1024), default=64, show_default=True)
@click.option("--limit", type=click.IntRange(1), help="Embed at most this many papers.")
@click.option("--dry-run", is_flag=True, help="Count what needs embedding, embed nothing.")
@pass_context
def index_cmd(ctx: Context, batch_size: int, limit: int | None, dry_run: bool) -> None:
    """Embed new and changed papers for semantic search, and bring the keyword index up
    to date (both incremental and resumable).

    Only papers without a vector, or whose title or abstract changed since, are embedded;
    each batch is committed, so an interrupted run continues where it stopped. The keyword
    index (PAPERFEED_KEYWORD_ENGINE=tantivy) is a copy of the papers that searches also
    keep in step by themselves; building it here spares the first searches the wait. So
    are the recommender's features (kept in a file the servers and the digest read).
    """
    from paperfeed.search.embed import default_embedder
    from paperfeed.search.indexer import index_papers
    from paperfeed.search.keyword import KeywordIndex, default_directory

    store = ctx.store()
    if dry_run:
        summary = index_papers(store, default_embedder(), limit=limit, dry_run=True)
        click.echo(f"dry run: {summary.to_do:,} papers new or changed, nothing embedded")
        return
    job = _job_run(store, "index")
    with job as log, _friendly_errors(), store.job_lock("index"):
        with _progress_bar("embedding", log_every=1000) as progress:
            summary = index_papers(
                store, default_embedder(), batch_size=batch_size, limit=limit, progress=progress
            )
        log.append(summary.line())
        click.echo(f"index: {summary.line()}")
        settings = ctx.settings
        if settings.keyword_engine == "tantivy":
            directory = default_directory(store, settings.data_dir, settings.search_index_dir)
            keyword = KeywordIndex(store, directory)
            with _progress_bar("keyword index", log_every=10_000) as progress:
                written = keyword.sync(progress=progress)
            stats = keyword.stats()
            line = (
                f"keyword index: {written:,} papers written, {stats['papers']:,} in all, "
                f"{stats['bytes'] / 1e6:.1f} MB in {stats['directory'] or 'memory'}"
            )
            log.append(line)
            click.echo(line)
        from paperfeed.personal.features import FeatureCache, features_file

        kept = features_file(store, settings.data_dir)
        if kept is not None:  # the recommender's features, read back by the servers
            cache = FeatureCache(store, path=kept)
            features = cache.build_now()
            line = (
                f"recommender features: {len(features.ids) if features else 0:,} papers "
                f"({cache.status}) in {kept}"
            )
            log.append(line)
            click.echo(line)


@cli.command("search")
@click.argument("text")
@click.option("--mode", type=click.Choice(["hybrid", "keyword", "semantic"]), default="hybrid")
@click.option("--sort", type=click.Choice(["relevance", "date", "upvotes"]))
@click.option("--limit", type=click.IntRange(1, 200), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_context
def search_cmd(
    ctx: Context, text: str, mode: str, sort: str | None, limit: int, as_json: bool
) -> None:
    """Search the papers: words, "a phrase", -word, author:, cat:, year:, since:, until:.

    Example: paperfeed search 'spin glass -quantum cat:cond-mat year:2023'
    """
    from paperfeed.search import QuerySyntaxError, Searcher

    try:
        with _friendly_errors():
            searcher = Searcher(ctx.store(), settings=ctx.settings)
            results = searcher.search(text, mode=mode, sort=sort, page_size=limit)
    except QuerySyntaxError as exc:
        raise click.UsageError(f"bad query: {exc}") from None
    if as_json:
        from paperfeed.web.present import search_json

        click.echo(json.dumps(search_json(results, 300), indent=2))
        return
    if not results.hits:
        click.echo("no results")
        return
    for rank, hit in enumerate(results.hits, start=1):
        paper = hit.paper
        when = paper.published or paper.first_seen
        authors = ", ".join(paper.authors[:3]) + (" et al." if len(paper.authors) > 3 else "")
        click.echo(f"{rank:>2}. {paper.title}")
        click.echo(
            f"    {paper.arxiv_id} · {when:%Y-%m-%d} · {paper.upvotes} upvotes · {authors}"
            if when
            else f"    {paper.arxiv_id} · {paper.upvotes} upvotes · {authors}"
        )
    click.echo(f"{len(results.hits)} of {results.total:,} results ({results.mode})")


@cli.group("eval")
def eval_group() -> None:
    """Measure search and recommendation quality on a relevance benchmark."""


@eval_group.command("beir")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", default="test", show_default=True, help="The qrels split to score.")
@click.option("--tune-on", help="Also tune the hybrid fusion on this split (say, train).")
@click.option(
    "--scratch-url",
    help="An empty database to load the data set into (default: a temporary SQLite file).",
)
@click.option(
    "--vectors",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Cache of the corpus embeddings (.npz): read if it matches, else written.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def eval_beir(
    path: Path,
    split: str,
    tune_on: str | None,
    scratch_url: str | None,
    vectors: Path | None,
    as_json: bool,
) -> None:
    """nDCG@10 and Recall@100 of keyword, semantic and hybrid search on a BEIR data set
    (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv), e.g. SciFact, through the product's
    own indexing and ranking code."""
    import tempfile

    from paperfeed.search import Searcher
    from paperfeed.search.evaluate import prepare_store, report

    with tempfile.TemporaryDirectory() as tmp, _friendly_errors():
        url = scratch_url or f"sqlite:///{tmp}/eval.sqlite3"
        with _progress_bar("embedding", log_every=1000) as progress:
            store, data, tuning = prepare_store(url, path, split, tune_on, vectors, progress)
        try:
            result = report(Searcher(store), data, tuning)
        finally:
            store.close()
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    size = f"{result['queries']} queries, {result['documents']:,} documents"
    engine = result["keyword_engine"]
    click.echo(f"{path.name} ({split}, {size}, {result['backend']}, keyword ranking: {engine})")
    click.echo(f"{'ranker':<10} {'nDCG@10':>8} {'R@100':>8} {'p50 ms':>8}")
    for mode, figures in result["rankers"].items():
        click.echo(
            f"{mode:<10} {figures['ndcg@10']:>8.4f} {figures['recall@100']:>8.4f} "
            f"{figures['p50_ms']:>8.1f}"
        )
    if "tuned" in result:
        tuned = result["tuned"]
        how = (
            f"convex, alpha {tuned['alpha']:g}"
            if tuned["method"] == "convex"
            else f"rrf, k={tuned['k']:g}, keyword weight {tuned['keyword_weight']:g}"
        )
        click.echo(
            f"fusion tuned on {tune_on}: {how} (train nDCG@10 {tuned['train ndcg@10']:.4f}) "
            f"-> {split} nDCG@10 {tuned['ndcg@10']:.4f}"
        )


eval_group.add_command(eval_beir, "scifact")


@eval_group.command("recommend")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--vectors",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Cache of the corpus embeddings (.npz, `paperfeed index`'s export): read, or written.",
)
@click.option("--limit-authors", type=click.IntRange(1), help="Score a random sample of authors.")
@click.option("--seed", type=int, default=0, show_default=True, help="For sampling and bootstrap.")
@click.option(
    "--split",
    type=click.Choice(["test", "tune"]),
    default="test",
    show_default=True,
    help="The reported split, or the one the recommender was tuned on.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def eval_recommend(
    path: Path,
    vectors: Path | None,
    limit_authors: int | None,
    seed: int,
    split: str,
    as_json: bool,
) -> None:
    """Recall@50, nDCG@50 and MRR of recommenders on "author continuation" over a folder
    of arXiv JSONL parts: each prolific author's earlier papers are the profile, their later
    papers what should be found (title and abstract only; co-authors as a reference)."""
    from paperfeed.personal.evaluate import corpus_vectors, evaluate, load_corpus

    with _friendly_errors():
        corpus = load_corpus(path)
        with _progress_bar("embedding", log_every=1000) as progress:
            matrix = corpus_vectors(corpus, vectors, progress=progress)
        with _progress_bar("authors", log_every=200) as progress:
            result = evaluate(corpus, matrix, split, limit_authors, seed, progress=progress)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(
        f"{path.name} ({split}): {result['authors']:,} authors, {result['papers']:,} papers, "
        f"{result['candidates']:,} ranked after {result['cutoff']}"
    )
    click.echo(
        f"{'method':<10} {'R@50':>22} {'nDCG@50':>22} {'MRR':>22} {'R@50 vs tfidf_svm':>18} "
        f"{'p50 ms':>7}"
    )
    rows = {**result["methods"], "(coauthor)": result["reference"]["coauthor"]}
    for name, figures in rows.items():
        cells = [
            f"{figures[m]:.4f} [{figures[m + '_ci'][0]:.3f}, {figures[m + '_ci'][1]:.3f}]"
            for m in ("recall@50", "ndcg@50", "mrr")
        ]
        low, high = figures["recall@50_vs_tfidf_svm_ci"]  # bootstrap over the same authors
        ratio = f"{figures['recall@50_vs_tfidf_svm']:.2f} [{low:.2f}, {high:.2f}]"
        click.echo(
            f"{name:<10} "
            + " ".join(f"{c:>22}" for c in cells)
            + f" {ratio:>18} {figures['p50_ms']:>7.1f}"
        )


# -- stats and settings -------------------------------------------------------------------


# -- the reader's library ------------------------------------------------------------------


@cli.group()
def library() -> None:
    """A reader's saved papers, tags, notes and followed authors."""


def _library_call(call: Callable[[], Any]) -> Any:
    from paperfeed.personal.library import LibraryError

    try:
        return call()
    except LibraryError as exc:
        raise click.ClickException(exc.message) from None


@library.command("save")
@click.argument("user_name", metavar="USER")
@click.argument("arxiv_id")
@click.option("--tag", "tag_names", multiple=True, help="Tag it (repeat for more tags).")
@click.option("--note", help="Your note on it (replaces the one there).")
@pass_context
def library_save(
    ctx: Context, user_name: str, arxiv_id: str, tag_names: tuple[str, ...], note: str | None
) -> None:
    """Save the stored paper ARXIV_ID to USER's library (again: nothing doubles)."""
    from functools import partial

    from paperfeed.personal import library as lib
    from paperfeed.store import utcnow

    user, store = _find_user(ctx, user_name), ctx.store()
    paper = _library_call(lambda: lib.paper_id(store, arxiv_id))
    checked = [_library_call(partial(lib.check_tag, t)) for t in tag_names]
    text = _library_call(lambda: lib.check_note(note)) if note is not None else None
    added = store.personal.save(user.id, paper, now=utcnow())
    for name, key in checked:
        store.personal.add_tag(user.id, paper, name, key, now=utcnow())
    if note is not None:
        store.personal.set_note(user.id, paper, text, now=utcnow())
    click.echo(f"{paper} {'saved to' if added else 'already in'} {user.username}'s library")


@library.command("list")
@click.argument("user_name", metavar="USER")
@click.option("--tag", help="Only the papers with this tag.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_context
def library_list(ctx: Context, user_name: str, tag: str | None, as_json: bool) -> None:
    """USER's saved papers, most recently saved first: id, date saved, tags, title."""
    from paperfeed.personal.library import tag_key

    user, store = _find_user(ctx, user_name), ctx.store()
    key = tag_key(tag) if tag is not None else None
    if key is not None and store.personal.tag(user.id, key) is None:
        raise click.ClickException(f"{user.username} has no tag {tag!r}")
    entries, _total = store.personal.library(user.id, tag_key=key, limit=1_000_000)
    if as_json:
        rows = [
            {
                "id": e.paper.arxiv_id,
                "title": e.paper.title,
                "saved_at": e.saved_at.isoformat(timespec="seconds") + "Z",
                "tags": list(e.tags),
                "note": e.note,
            }
            for e in entries
        ]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for e in entries:
        tags = ",".join(e.tags) or "-"
        click.echo(
            f"{e.paper.arxiv_id}\t{e.saved_at:%Y-%m-%d}\t{tags}\t{' '.join(e.paper.title.split())}"
        )


@library.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--user", "user_name", required=True, help="Whose library to fill.")
@click.option("--tag", "tag_name", help="Tag every imported paper with this tag.")
@click.option(
    "--fetch/--no-fetch",
    default=True,
    show_default=True,
    help="Fetch papers this site does not have from the arXiv API (by arXiv id).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_context
def library_import(
    ctx: Context, path: Path, user_name: str, tag_name: str | None, fetch: bool, as_json: bool
) -> None:
    """Seed USER's library from a BibTeX, RIS or CSL-JSON file, or a list of arXiv ids.

    References are matched by arXiv id, DOI or title; unknown arXiv ids are fetched from
    arXiv. Prints what matched, what did not and the entries that could not be read, each
    with its line; importing the same file again saves nothing twice.
    """
    from paperfeed.ingest.arxiv_api import ArxivClient
    from paperfeed.personal import library as lib
    from paperfeed.personal.library_import import LibraryError, arxiv_fetcher, import_library
    from paperfeed.store import utcnow

    user, store, settings = _find_user(ctx, user_name), ctx.store(), ctx.settings
    tag = _library_call(lambda: lib.check_tag(tag_name)) if tag_name else None
    keyword = _keyword_ranking(store, settings)
    with contextlib.ExitStack() as stack:
        fetcher = None
        if fetch:
            client = stack.enter_context(
                ArxivClient(settings.arxiv_api_url, **_http_options(settings, "arxiv"))
            )
            fetcher = arxiv_fetcher(store, client)
        try:
            report = import_library(
                store,
                user.id,
                path.read_bytes(),
                path.name,
                now=utcnow(),
                keyword=keyword,
                fetch=fetcher,
                tag=tag,
            )
        except LibraryError as exc:
            raise click.ClickException(f"{path}: {exc}") from None
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    for problem in report.problems:
        click.echo(f"{path}: {problem.where}: {problem.message}", err=True)
    for problem in report.unmatched:
        click.echo(f"{path}: {problem.where}: unmatched: {problem.message}", err=True)
    click.echo(f"{path.name} ({report.format}): {report.line()}")
    if report.coauthors:
        names = ", ".join(f"{name} ({n})" for name, n in report.coauthors[:5])
        click.echo(f"authors on several of these papers, to follow: {names}")


def _keyword_ranking(store: Store, settings: Settings) -> Any:
    """The keyword ranking library import matches titles with (the configured engine)."""
    from paperfeed.search import Searcher
    from paperfeed.search.query import Query

    searcher = Searcher(store, settings=settings)

    def keyword(words: Any, filt: Any, limit: int) -> Any:
        return searcher.rank_keyword(Query(words=list(words)), limit)

    return keyword


@library.command("follow")
@click.argument("user_name", metavar="USER")
@click.argument("name")
@pass_context
def library_follow(ctx: Context, user_name: str, name: str) -> None:
    """USER follows the author NAME (their new papers are always in "For you")."""
    from paperfeed.personal.library import check_author
    from paperfeed.store import utcnow

    user = _find_user(ctx, user_name)
    shown, key = _library_call(lambda: check_author(name))
    added = ctx.store().personal.follow(user.id, shown, key, now=utcnow())
    click.echo(f"{user.username} {'now follows' if added else 'already follows'} {shown}")


@library.command("unfollow")
@click.argument("user_name", metavar="USER")
@click.argument("name")
@pass_context
def library_unfollow(ctx: Context, user_name: str, name: str) -> None:
    """USER stops following the author NAME."""
    from paperfeed.personal.library import author_key

    user = _find_user(ctx, user_name)
    removed = ctx.store().personal.unfollow(user.id, author_key(name))
    click.echo(f"{user.username} {'no longer follows' if removed else 'did not follow'} {name}")


# -- users and tokens -----------------------------------------------------------------------


def _accounts(ctx: Context) -> Any:
    from paperfeed.community.auth import Accounts
    from paperfeed.store import utcnow

    return Accounts(ctx.store(), ctx.settings, utcnow)


def _find_user(ctx: Context, name: str) -> Any:
    user = ctx.store().community.user_by_name(name)
    if user is None:
        raise click.ClickException(f"no user {name!r}")
    return user


@cli.group()
def users() -> None:
    """Create, list, ban and promote accounts."""


@users.command("create")
@click.argument("name")
@click.option("--email", help="E-mail address (for password resets).")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
@click.option(
    "--role",
    type=click.Choice(["user", "moderator", "admin"]),
    default="user",
    show_default=True,
)
@click.option("--admin", "admin_flag", is_flag=True, help="Same as --role admin.")
@pass_context
def users_create(
    ctx: Context,
    name: str,
    email: str | None,
    password_stdin: bool,
    role: str,
    admin_flag: bool,
) -> None:
    """Create the account NAME. Without a password it cannot log in until one is set
    (`paperfeed users password NAME`) or reset by e-mail."""
    from paperfeed.community.auth import AccountConflict, AccountError

    password = _read_password(password_stdin)
    try:
        user = _accounts(ctx).create(name, email, password, "admin" if admin_flag else role)
    except AccountError as exc:
        raise click.ClickException(exc.message) from None
    except AccountConflict as exc:
        raise click.ClickException(f"that {exc.field} is taken") from None
    click.echo(f"created {user.role} {user.username} (id {user.id})")


def _read_password(from_stdin: bool) -> str | None:
    if not from_stdin:
        return None
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise click.ClickException("no password on stdin")
    return line


@users.command("password")
@click.argument("name")
@pass_context
def users_password(ctx: Context, name: str) -> None:
    """Set NAME's password from the first line of stdin (ends their sessions)."""
    from paperfeed.community.auth import AccountError, check_password, hash_password
    from paperfeed.store import utcnow

    user = _find_user(ctx, name)
    password = _read_password(True) or ""
    try:
        check_password(password, username=user.username, email=user.email or "")
    except AccountError as exc:
        raise click.ClickException(exc.message) from None
    ctx.store().community.set_password(user.id, hash_password(password), now=utcnow())
    click.echo(f"password of {user.username} changed")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_context
def users_list(ctx: Context, as_json: bool) -> None:
    """Every account with its role."""
    found = ctx.store().community.list_users()
    if as_json:
        click.echo(json.dumps([asdict(u) for u in found], default=_json_default, indent=2))
        return
    for user in found:
        banned = " (banned)" if user.is_banned else ""
        click.echo(f"{user.id}\t{user.username}\t{user.role}\t{user.email or '-'}{banned}")


@users.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(["user", "moderator", "admin"]))
@pass_context
def users_role(ctx: Context, name: str, role: str) -> None:
    """Give NAME a role."""
    user = _find_user(ctx, name)
    ctx.store().community.set_role(user.id, role)
    click.echo(f"{user.username} is now {role}")


@users.command("ban")
@click.argument("name")
@click.option("--unban", is_flag=True, help="Lift the ban.")
@click.option("--reason", help="Kept in the moderation log.")
@pass_context
def users_ban(ctx: Context, name: str, unban: bool, reason: str | None) -> None:
    """Ban NAME (logs them out everywhere; their tokens stop working) or lift a ban."""
    from paperfeed.models import User
    from paperfeed.store import utcnow

    user = _find_user(ctx, name)
    community = ctx.store().community
    community.set_banned(user.id, not unban, now=utcnow())
    operator = User(id=0, username="(command line)", role="admin")
    community.log_action(
        operator, "unban" if unban else "ban", "user", user.username, reason, now=utcnow()
    )
    click.echo(f"{user.username} is {'no longer ' if unban else ''}banned")


@cli.group()
def tokens() -> None:
    """API tokens for scripts (Authorization: Bearer …)."""


@tokens.command("create")
@click.argument("user_name", metavar="NAME")
@click.option("--label", default="cli", show_default=True, help="What the token is for.")
@pass_context
def tokens_create(ctx: Context, user_name: str, label: str) -> None:
    """A new token for user NAME, printed once (only its hash is stored)."""
    user = _find_user(ctx, user_name)
    token_id, token = _accounts(ctx).create_token(user, label)
    click.echo(f"token {token_id} for {user.username} ({label}); it is shown only now:", err=True)
    click.echo(token)


@tokens.command("list")
@click.argument("user_name", metavar="[NAME]", required=False)
@pass_context
def tokens_list(ctx: Context, user_name: str | None) -> None:
    """Tokens (of NAME, or everyone's): id, prefix, owner, label, state."""
    user_id = _find_user(ctx, user_name).id if user_name else None
    for t in ctx.store().community.tokens(user_id):
        state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "live"
        used = f"last used {t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
        click.echo(f"{t.id}\t{t.prefix}…\t{t.username}\t{t.name}\t{state}\t{used}")


@tokens.command("revoke")
@click.argument("token_ids", metavar="ID...", nargs=-1, type=int, required=True)
@pass_context
def tokens_revoke(ctx: Context, token_ids: tuple[int, ...]) -> None:
    """Revoke tokens by id (see `paperfeed tokens list`)."""
    from paperfeed.store import utcnow

    failed = False
    for token_id in token_ids:
        if ctx.store().community.revoke_token(token_id, now=utcnow()):
            click.echo(f"token {token_id} revoked")
        else:
            click.echo(f"no live token {token_id}", err=True)
            failed = True
    if failed:
        sys.exit(1)


# -- digests and subscribers ----------------------------------------------------------------


def _digest_sender(ctx: Context) -> Any:
    from paperfeed.digest.links import DigestLinks
    from paperfeed.digest.send import DigestSender

    links = DigestLinks(_accounts(ctx).signer, ctx.settings.public_url)
    return DigestSender(ctx.store(), ctx.settings, links)


@cli.group()
def digest() -> None:
    """E-mail digests: send a period's mails, preview one."""


@digest.command("send")
@click.option("--period", "kind", type=click.Choice(["daily", "weekly"]), default="daily")
@click.option("--dry-run", is_flag=True, help="Compose and count, send nothing, log nothing.")
@click.option("--to", "address", help="Only this subscriber (must be confirmed).")
@pass_context
def digest_send(ctx: Context, kind: str, dry_run: bool, address: str | None) -> None:
    """Send the digest of the latest day (or ended ISO week) to each confirmed subscriber of
    that frequency who has not had it. Safe to rerun; holds a lock."""
    from paperfeed.mail import Mailer

    store = ctx.store()
    sender = _digest_sender(ctx)
    only = None
    if address:
        sub = store.digests.by_email(address)
        if sub is None or sub.status != "confirmed":
            raise click.ClickException(f"{address} is not a confirmed subscriber")
        only = [sub]
    mailer = Mailer.from_settings(ctx.settings)
    if not mailer.enabled and not dry_run:
        raise click.ClickException("no SMTP server: set PAPERFEED_SMTP_HOST (or use --dry-run)")
    with (
        _friendly_errors(),
        store.job_lock(f"digest-{kind}"),
        _job_run(store, f"digest {kind}") as log,
    ):
        summary = sender.send(kind, mailer, dry_run=dry_run, only=only)
        log.append(summary.line())
        click.echo(summary.line())
        for error in summary.errors[:20]:
            click.echo(f"  {error}", err=True)
        if summary.stopped:
            raise click.ClickException(summary.stopped)


@digest.command("preview")
@click.argument("address")
@click.option("--period", "kind", type=click.Choice(["daily", "weekly"]))
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the HTML part to this file (default: print the text part).",
)
@pass_context
def digest_preview(ctx: Context, address: str, kind: str | None, html_path: Path | None) -> None:
    """Render ADDRESS's next digest without sending it."""
    from paperfeed.digest.render import render

    store = ctx.store()
    sub = store.digests.by_email(address)
    if sub is None:
        raise click.ClickException(f"{address} is not a subscriber")
    sender = _digest_sender(ctx)
    period, pool, _, vectors = sender.digests(kind or sub.frequency, [sub])
    if period is None or pool is None:
        raise click.ClickException("no papers on the feed yet")
    composed = sender.compose_one(pool, sub, vectors)
    if composed.count == 0 and not composed.topic_note:
        click.echo(f"nothing for {address} in {period.key}: no paper matches the preferences")
        return
    text, html = render(composed, ctx.settings, sender.links)
    if html_path:
        html_path.write_text(html, encoding="utf-8")
        click.echo(f"wrote {html_path} ({composed.count} papers of {period.key})")
    else:
        click.echo(text)


@cli.group()
def subscribers() -> None:
    """The digest's mailing list."""


@subscribers.command("import")
@click.argument("path", type=click.File("r", encoding="utf-8"))
@click.option(
    "--confirmed",
    is_flag=True,
    required=True,
    help="The addresses opted in elsewhere (required: this skips double opt-in).",
)
@pass_context
def subscribers_import(ctx: Context, path: Any, confirmed: bool) -> None:
    """Import addresses (one per line; blank lines and # comments skipped)."""
    from paperfeed.community.auth import AccountError, check_email
    from paperfeed.store import utcnow

    store = ctx.store()
    added = existing = bad = 0
    for number, line in enumerate(path, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            address = check_email(text)
        except AccountError:
            click.echo(f"{path.name}:{number}: not an e-mail address: {text[:80]!r}", err=True)
            bad += 1
            continue
        before = store.digests.by_email(address)
        store.digests.subscribe(address, now=utcnow(), confirmed=confirmed)
        if before is None:
            added += 1
        else:
            existing += 1
    click.echo(f"added {added}, already there {existing}, invalid {bad}")


@subscribers.command("list")
@click.option("--status", type=click.Choice(["pending", "confirmed", "unsubscribed", "bounced"]))
@pass_context
def subscribers_list(ctx: Context, status: str | None) -> None:
    """Every subscriber: address, status, frequency."""
    for sub in ctx.store().digests.all(status):
        click.echo(f"{sub.email}\t{sub.status}\t{sub.frequency}\t{sub.top_n}")


@subscribers.command("remove")
@click.argument("addresses", nargs=-1, required=True)
@pass_context
def subscribers_remove(ctx: Context, addresses: tuple[str, ...]) -> None:
    """Delete subscribers and their send history."""
    failed = False
    for address in addresses:
        if ctx.store().digests.remove(address):
            click.echo(f"removed {address}")
        else:
            click.echo(f"no subscriber {address}", err=True)
            failed = True
    if failed:
        sys.exit(1)


@subscribers.command("topics")
@click.argument("address")
@click.option(
    "--follow",
    type=click.IntRange(1),
    multiple=True,
    help="Follow topic N of the digest's current day or week (as /topics numbers it); repeat.",
)
@click.option(
    "--date",
    "day",
    type=click.DateTime(["%Y-%m-%d"]),
    help="With --follow: the topics of the day or week (by the digest's frequency) of this day.",
)
@click.option("--remove", type=click.IntRange(1), multiple=True, help="Stop following topic ID.")
@click.option("--clear", is_flag=True, help="Stop following every topic: the full digest again.")
@pass_context
def subscribers_topics(
    ctx: Context,
    address: str,
    follow: tuple[int, ...],
    day: Any,
    remove: tuple[int, ...],
    clear: bool,
) -> None:
    """The topics ADDRESS's digest keeps (ID, label, where it was chosen); follow or remove
    some. A followed topic is matched to the nearest topic of each digest's period."""
    from paperfeed.digest.compose import digest_period
    from paperfeed.digest.topics import (
        TOPIC_KIND,
        TopicChoiceError,
        chosen_topic,
        follow_topic,
        topic_period,
    )
    from paperfeed.personal.topics import TopicIndex
    from paperfeed.rank.feeds import period_of
    from paperfeed.search.embed import MODEL_NAME
    from paperfeed.store import utcnow

    store = ctx.store()
    sub = store.digests.by_email(address)
    if sub is None:
        raise click.ClickException(f"{address} is not a subscriber")
    if clear or remove:
        mine = {a.id for a in store.digests.topic_anchors([sub.id]).get(sub.id, [])}
        unknown = sorted(set(remove) - mine)
        if unknown:
            raise click.ClickException(f"{address} follows no topic {unknown[0]}: nothing removed")
        removed = store.digests.unfollow_topics(sub.id, None if clear else remove)
        click.echo(f"removed {removed} topic(s)")
    if follow:
        with _friendly_errors():
            if day:
                period = period_of(TOPIC_KIND[sub.frequency], day.date())
            else:
                current = digest_period(store, sub.frequency, utcnow().date())
                if current is None:
                    raise click.ClickException("no papers on the feed yet: import some first")
                period = topic_period(current)
            topic_set = TopicIndex(store, MODEL_NAME).topics(period)
        try:
            chosen = [chosen_topic(topic_set, period, number) for number in follow]
            for topic in chosen:
                added = follow_topic(store, sub.id, topic_set, period, topic, now=utcnow())
                state = "now follows" if added else "already follows"
                click.echo(
                    f"{address} {state} topic {topic.number} of {period.label}: {topic.label}"
                )
        except TopicChoiceError as exc:
            raise click.ClickException(exc.message) from None
    for anchor in store.digests.topic_anchors([sub.id]).get(sub.id, []):
        click.echo(f"{anchor.id}\t{anchor.label}\t(topic {anchor.number} of {anchor.period})")


# -- export -------------------------------------------------------------------------------


@cli.group()
def export() -> None:
    """Papers in formats other programs read."""


@export.command("bibtex")
@click.option("--day", type=click.DateTime(["%Y-%m-%d"]), help="The papers of this feed day.")
@click.option("--search", "query", help="The best matches of a search (as `paperfeed search`).")
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=200,
    show_default=True,
    help="At most this many entries (a search finds at most 200).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (default: standard output).",
)
@pass_context
def export_bibtex(
    ctx: Context, day: Any, query: str | None, limit: int, output: Path | None
) -> None:
    """BibTeX entries for the papers of a day (most upvoted first) or of a search.

    Example: paperfeed export bibtex --search 'grokking cat:cs.LG' --output grokking.bib
    """
    from paperfeed.export import bibtex_entries
    from paperfeed.rank.feeds import feed_page, period_of
    from paperfeed.search import QuerySyntaxError, Searcher

    if (day is None) == (query is None):
        raise click.UsageError("give either --day or --search")
    store = ctx.store()
    try:
        with _friendly_errors():
            if day is not None:
                page = feed_page(store, period_of("day", day.date()), page_size=limit)
                papers = [item.paper for item in page.items]
            else:
                searcher = Searcher(store, settings=ctx.settings)
                results = searcher.search(query or "", page_size=limit)
                papers = [hit.paper for hit in results.hits]
    except QuerySyntaxError as exc:
        raise click.UsageError(f"bad query: {exc}") from None
    if not papers:
        where = f"no papers on the feed for {day:%Y-%m-%d}" if day else "no results"
        raise click.ClickException(f"nothing to export: {where}")
    text = bibtex_entries(papers)
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {len(papers)} entries to {output}", err=True)


@cli.command("topics")
@click.option(
    "--period",
    "kind",
    type=click.Choice(["day", "week", "month", "all"]),
    default="week",
    show_default=True,
    help="The papers of a day, a week or a month of the feed, or all papers.",
)
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="A day of the period.")
@click.option("--k", type=click.IntRange(1, 64), help="This many topics (default: by silhouette).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_context
def topics_cmd(ctx: Context, kind: str, day: Any, k: int | None, as_json: bool) -> None:
    """Group papers into topics: k-medoids (FasterPAM) on their embeddings, each topic
    labelled by its distinctive terms and its medoid paper. The latest period by default;
    papers without embeddings (run `paperfeed index`) are left out."""
    from paperfeed.personal.topics import TopicIndex
    from paperfeed.rank.feeds import latest_period, period_of
    from paperfeed.search.embed import MODEL_NAME

    store = ctx.store()
    with _friendly_errors():
        period = None
        if kind != "all":
            period = period_of(kind, day.date()) if day else latest_period(store, kind)
            if period is None:
                raise click.ClickException("no papers on the feed yet: import some first")
        found = TopicIndex(store, MODEL_NAME).topics(period, k)
        medoids = store.search.papers(t.medoid for t in found.topics)
    what = period.label if period else "all papers"
    if as_json:
        topics = [
            {
                "number": t.number,
                "terms": t.terms,
                "size": t.size,
                "medoid": {"id": t.medoid, "title": medoids[t.medoid].title}
                if t.medoid in medoids
                else {"id": t.medoid},
                "members": t.members,
            }
            for t in found.topics
        ]
        summary = {
            "period": what,
            "papers": found.papers,
            "k_by": found.k_by,
            "silhouette": found.silhouette,
            "silhouettes": found.silhouettes,
            "sample": found.sample,
            "seconds": found.seconds,
            "topics": topics,
        }
        click.echo(json.dumps(summary, indent=2))
        return
    how = {"silhouette": "chosen by silhouette", "setting": "as asked", "size": "too few papers"}
    score = f", silhouette {found.silhouette:.3f}" if found.silhouette is not None else ""
    click.echo(
        f"{what}: {found.papers:,} papers, {len(found.topics)} topic"
        f"{'' if len(found.topics) == 1 else 's'} ({how[found.k_by]}"
        f"{score}; medoids among {found.sample:,} papers) in {found.seconds:.1f} s"
    )
    for t in found.topics:
        click.echo(f"{t.number:>3}. {t.label} ({t.size:,} papers)")
        title = medoids[t.medoid].title if t.medoid in medoids else ""
        click.echo(f"     medoid {t.medoid}  {title}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_context
def stats(ctx: Context, as_json: bool) -> None:
    """Counts per table and the date range of the feed."""
    with _friendly_errors():
        result = ctx.store().stats()
    if as_json:
        click.echo(json.dumps(asdict(result), default=_json_default, indent=2))
        return
    click.echo(f"backend: {result.backend}")
    for table, count in result.tables.items():
        click.echo(f"{table:>20}: {count:,}")
    if result.first_day:
        click.echo(f"feed days: {result.feed_days:,} from {result.first_day} to {result.last_day}")
    else:
        click.echo("feed days: none (import some papers)")
    for source, count in sorted(result.sources.items()):
        click.echo(f"papers from {source}: {count:,}")
    for job, run in sorted(result.last_runs.items()):
        state = "ok" if run.ok else "FAILED"
        ok_run = result.last_ok_runs.get(job)
        last_ok = f"; last success {ok_run.finished_at:%Y-%m-%d %H:%M} UTC" if ok_run else ""
        click.echo(f"last {job}: {run.finished_at:%Y-%m-%d %H:%M} UTC, {state}{last_ok}")


def _json_default(value: Any) -> str:
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    raise TypeError(type(value).__name__)


@cli.command("settings")
@click.option("--env", "fmt", flag_value="env", default=True, help="As .env.sample (default).")
@click.option("--markdown", "fmt", flag_value="markdown", help="As the README's table.")
def settings_cmd(fmt: str) -> None:
    """Print every setting with its default and meaning."""
    click.echo(env_sample() if fmt == "env" else markdown_table())


def main() -> None:
    cli(prog_name="paperfeed")
