"""OAI-PMH harvest against the recorded real arXiv pages, served over HTTP as a 2-page list."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from conftest import shared_data
from fixture_server import FixtureServer, route_key
from paperfeed.ingest import SourceError
from paperfeed.ingest.http import PoliteClient
from paperfeed.ingest.oai import OaiError, harvest, parse_page
from paperfeed.store import Store

FIRST = "/oai?verb=ListRecords&metadataPrefix=oai_dc&from=2024-01-25&set=cs"
SECOND = "/oai?verb=ListRecords&resumptionToken=6960524%7C1001"
OAI_HEAD = b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>x</responseDate>'
TOTAL = 5 + 897


@pytest.fixture(scope="module")
def oai_server() -> Iterator[FixtureServer]:
    pages = shared_data("fixtures/oai-pmh")
    first = (pages / "arxiv-oai_dc-ListRecords-cs-2024-01-25-page1-trimmed.xml").read_bytes()
    second = gzip.decompress((pages / "arxiv-oai_dc-ListRecords-2014-12-24.xml.gz").read_bytes())
    routes = {
        route_key(FIRST): first,
        route_key(SECOND): second,
        route_key("/oai?verb=ListRecords&metadataPrefix=oai_dc&from=2030-01-01"): OAI_HEAD
        + b'<error code="noRecordsMatch">no records</error></OAI-PMH>',
        route_key("/oai?verb=ListRecords&metadataPrefix=oai_dc&from=2031-01-01"): OAI_HEAD
        + b'<error code="badArgument">from is in the future</error></OAI-PMH>',
        route_key("/oai?verb=ListRecords&metadataPrefix=oai_dc&from=2032-01-01"): first[:3000],
    }
    with FixtureServer(routes) as server:
        yield server


def client(**options: object) -> PoliteClient:
    settings: dict[str, object] = {"min_interval": 0.0, "backoff": 0.0, **options}
    return PoliteClient(**settings)  # type: ignore[arg-type]


def test_recorded_pages_parse() -> None:
    pages = shared_data("fixtures/oai-pmh")
    last = parse_page(
        gzip.decompress((pages / "arxiv-oai_dc-ListRecords-2014-12-24.xml.gz").read_bytes()), "p2"
    )
    assert len(last.items) == 897 and last.token is None
    golden = next(
        i for i in last.items if not isinstance(i, Exception) and i.paper.arxiv_id == "math/0208210"
    ).paper
    assert golden.authors == ["Leonardo Mondaini"]  # "Mondaini, Leonardo" in Dublin Core
    assert golden.doi == "10.4236/jamp.2014.213134"
    assert golden.journal_ref == "Journal of Applied Mathematics and Physics, 2 (2014) 1149-1152"
    assert golden.comment and golden.comment.startswith("To appear in J. Appl. Math. Phys.")
    assert (str(golden.published.date()), str(golden.updated.date())) == (  # type: ignore[union-attr]
        "2002-08-27",
        "2014-11-11",
    )
    first = parse_page(
        (pages / "arxiv-oai_dc-ListRecords-cs-2024-01-25-page1-trimmed.xml").read_bytes(), "p1"
    )
    assert (len(first.items), first.token, first.complete_size) == (5, "6960524|1001", 1162)


def test_harvest_follows_the_token_and_is_idempotent(
    store: Store, oai_server: FixtureServer
) -> None:
    api = client()
    summary = harvest(
        store,
        api,
        oai_server.url + "/oai",
        since=date(2024, 1, 25),
        set_spec="cs",
        metadata_prefix="oai_dc",
    )
    assert (summary.pages, summary.load.inserted, summary.load.bad) == (2, TOTAL, 0)
    assert store.stats().tables["papers"] == TOTAL
    again = harvest(
        store,
        api,
        oai_server.url + "/oai",
        since=date(2024, 1, 25),
        set_spec="cs",
        metadata_prefix="oai_dc",
    )
    assert again.pages == 0  # finished: nothing fetched
    redo = harvest(
        store,
        api,
        oai_server.url + "/oai",
        since=date(2024, 1, 25),
        set_spec="cs",
        restart=True,
        metadata_prefix="oai_dc",
    )
    assert (redo.load.unchanged, redo.load.inserted) == (TOTAL, 0)


def test_503_retry_after_is_honoured(store: Store, oai_server: FixtureServer) -> None:
    slept: list[float] = []
    oai_server.faults.append((503, b"", {"Retry-After": "7"}))
    summary = harvest(
        store,
        client(sleep=slept.append, backoff=1.0),
        oai_server.url + "/oai",
        since=date(2024, 1, 25),
        set_spec="cs",
        metadata_prefix="oai_dc",
    )
    assert slept == [7.0] and summary.load.inserted == TOTAL


def test_failure_keeps_the_checkpoint_and_a_rerun_resumes(
    store: Store, oai_server: FixtureServer
) -> None:
    url = oai_server.url + "/oai"
    oai_server.faults.extend(
        [
            (
                200,
                (
                    shared_data("fixtures/oai-pmh")
                    / "arxiv-oai_dc-ListRecords-cs-2024-01-25-page1-trimmed.xml"
                ).read_bytes(),
            ),
            (500, b"down"),
            (500, b"down"),
        ]
    )
    with pytest.raises(SourceError, match=r"HTTP 500.*rerun to resume at page 2"):
        harvest(
            store,
            client(retries=1),
            url,
            since=date(2024, 1, 25),
            set_spec="cs",
            metadata_prefix="oai_dc",
        )
    assert store.stats().tables["papers"] == 5
    resumed = harvest(
        store, client(), url, since=date(2024, 1, 25), set_spec="cs", metadata_prefix="oai_dc"
    )
    assert resumed.resumed and (resumed.pages, resumed.load.inserted) == (1, 897)


def test_oai_errors(store: Store, oai_server: FixtureServer) -> None:
    url = oai_server.url + "/oai"
    empty = harvest(store, client(), url, since=date(2030, 1, 1), metadata_prefix="oai_dc")
    assert (empty.pages, empty.load.read) == (1, 0)
    with pytest.raises(OaiError, match="OAI-PMH error badArgument: from is in the future"):
        harvest(store, client(), url, since=date(2031, 1, 1), metadata_prefix="oai_dc")
    with pytest.raises(SourceError, match=r"\(page 1\): malformed XML at line \d+, column \d+"):
        harvest(store, client(), url, since=date(2032, 1, 1), metadata_prefix="oai_dc")


def test_killed_harvest_resumes_without_gaps_or_duplicates(
    database_url: str, oai_server: FixtureServer
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERFEED_")}
    env.update(
        PAPERFEED_DATABASE_URL=database_url,
        PAPERFEED_OAI_URL=oai_server.url + "/oai",
        PAPERFEED_ARXIV_MIN_INTERVAL="0",
        PAPERFEED_HTTP_RETRIES="0",
    )
    command = [
        sys.executable,
        "-m",
        "paperfeed",
        "ingest",
        "oai",
        "--from",
        "2024-01-25",
        "--set",
        "cs",
        "--format",
        "oai_dc",
    ]
    store = Store.open(database_url)
    oai_server.delay[route_key(SECOND)] = 30.0  # the second page hangs: kill the job then
    try:
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while store.stats().tables["papers"] < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        del oai_server.delay[route_key(SECOND)]
    assert store.stats().tables["papers"] == 5
    rerun = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "oai (resumed): 1 page(s)" in rerun.stdout and "897 new" in rerun.stdout
    assert store.stats().tables["papers"] == TOTAL
    store.close()


ARXIV_PAGES = Path(__file__).resolve().parent.parent / "data" / "oai-arxiv"


def arxiv_format_routes(
    since: str, until: str | None = None
) -> dict[tuple[str, frozenset[tuple[str, str]]], bytes]:
    """The two arXiv-format pages, as a harvest of set cs from ``since`` asks for them."""
    first = f"/oai?verb=ListRecords&metadataPrefix=arXiv&from={since}&set=cs"
    if until:
        first += f"&until={until}"
    return {
        route_key(first): (ARXIV_PAGES / "page1.xml").read_bytes(),
        route_key("/oai?verb=ListRecords&resumptionToken=arxiv-format%7C2"): (
            ARXIV_PAGES / "page2.xml"
        ).read_bytes(),
    }


def test_arxiv_format_pages(store: Store) -> None:
    """Pages in arXiv's own format, written from its published schema (see the README there)."""
    with FixtureServer(arxiv_format_routes("2024-01-25")) as server:
        summary = harvest(
            store, client(), server.url + "/oai", since=date(2024, 1, 25), set_spec="cs"
        )
    assert (summary.pages, summary.load.inserted, summary.deleted) == (2, 3, 1)
    thesis = store.get_paper("1303.2033")
    assert thesis is not None
    assert thesis.categories == ["cs.DS", "cs.IT", "math.IT", "math.NA"]
    assert thesis.authors == ["Vilnis Liepins"]
    assert thesis.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert thesis.abstract.startswith("This summary of the doctoral thesis")
    assert str(thesis.published) == "2013-03-08 00:00:00"
    assert str(thesis.updated) == "2024-01-23 00:00:00"
    clustering = store.get_paper("2401.14038")
    assert clustering is not None
    assert clustering.authors == ["Hai-Xin Zhang Jr", "Dong Huang"]
    assert clustering.license is None  # a javascript: "licence" is not kept
    assert store.get_paper("2401.99999") is None  # deleted


def test_oai_sets_of_categories() -> None:
    from paperfeed.ingest.oai import oai_set

    assert oai_set("cs.LG") == "cs" and oai_set("stat.ML") == "stat"
    assert oai_set("cond-mat.stat-mech") == "physics:cond-mat"
    assert oai_set("quant-ph") == "physics:quant-ph"


def test_daily_job(database_url: str) -> None:
    """`paperfeed ingest daily` fills arXiv's current listing, whatever the local time zone:
    new papers of the configured categories go on the feed day of their listing,
    a replaced old paper is stored but not featured, and a rerun adds nothing."""
    from test_cli import paperfeed

    routes = {
        **arxiv_format_routes("2024-01-24"),
        **arxiv_format_routes("2024-01-25"),
        **arxiv_format_routes("2024-01-26"),
    }
    with FixtureServer(routes) as server:
        settings = {
            "PAPERFEED_OAI_URL": server.url + "/oai",
            "PAPERFEED_CATEGORIES": "cs.CL, cs.LG, cs.DS",
            "PAPERFEED_ARXIV_MIN_INTERVAL": "0",
            "PAPERFEED_HTTP_RETRIES": "0",
        }
        # Friday 09:30 in Tokyo is Thursday 19:30 in New York: Friday's listing is not out.
        early = ("ingest", "daily", "--at", "2024-01-26T09:30+09:00", "--dry-run")
        dry = paperfeed(*early, url=database_url, env=settings)
        assert "dry run, nothing written: feed day 2024-01-25 (arXiv listing announced " in (
            dry.stdout
        )
        assert "2024-01-25 01:00 UTC" in dry.stdout
        assert "arXiv set cs since 2024-01-24: 2 page(s)" in dry.stdout
        assert "listing" not in dry.stdout.replace("arXiv listing announced", "")
        store = Store.open(database_url)
        assert store.stats().tables["papers"] == 0
        # At 11:00 in Tokyo (21:00 in New York) Friday's listing is out.
        args = ("ingest", "daily", "--at", "2024-01-26T11:00+09:00")
        real = paperfeed(*args, url=database_url, env=settings)
        assert "feed day 2024-01-26" in real.stdout
        assert "arXiv set cs since 2024-01-25" in real.stdout and "3 new" in real.stdout
        assert "listing 2024-01-26: 2 new paper(s) for the feed" in real.stdout
        items, total = store.feed(date(2024, 1, 26), date(2024, 1, 26), limit=10)
        assert total == 2
        assert {i.paper.arxiv_id for i in items} == {"2401.14040", "2401.14038"}
        assert store.get_paper("1303.2033") is not None  # stored, updated, not featured
        assert store.feed(date(2024, 1, 1), date(2024, 1, 25), limit=10)[1] == 0
        stats = store.stats()
        assert stats.last_ok_runs["ingest daily"].ok
        again = paperfeed(*args, url=database_url, env=settings)
        assert "since 2024-01-26" in again.stdout and "3 unchanged" in again.stdout
        assert store.feed(date(2024, 1, 26), date(2024, 1, 26), limit=10)[1] == 2
        # An explicit listing day harvests up to that day only.
        routes.update(arxiv_format_routes("2024-01-26", until="2024-01-26"))
        explicit = paperfeed(
            "ingest", "daily", "--date", "2024-01-26", url=database_url, env=settings
        )
        assert "feed day 2024-01-26" in explicit.stdout
        routes.update(arxiv_format_routes("2024-01-27", until="2024-01-27"))
        saturday = ("ingest", "daily", "--date", "2024-01-27", "--dry-run")
        saturday_run = paperfeed(*saturday, url=database_url, env=settings)
        assert "note: 2024-01-27 has no arXiv listing" in saturday_run.stderr
        store.close()
    args = ("ingest", "daily", "--date", "2024-01-26")
    down = paperfeed(
        *args,
        url=database_url,
        env={**settings, "PAPERFEED_OAI_URL": "http://127.0.0.1:9/oai"},
        check=False,
    )
    assert down.returncode == 1 and down.stderr.startswith("Error: http://127.0.0.1:9/oai")
