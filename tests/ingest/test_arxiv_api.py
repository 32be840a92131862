"""The arXiv API client against recorded real responses served over real HTTP on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BROKEN_ID, arxiv_routes, shared_data
from fixture_server import FixtureServer
from paperfeed.ingest import RecordError, SourceError, load_records
from paperfeed.ingest.arxiv_api import ArxivApiError, ArxivClient, parse_feed
from paperfeed.store import Store


def fixtures() -> tuple[Path, list[dict[str, object]]]:
    directory = shared_data("fixtures/arxiv-api")
    return directory, json.loads((directory / "index.json").read_text())


@pytest.fixture(scope="module")
def arxiv_server() -> Iterator[FixtureServer]:
    with FixtureServer(*arxiv_routes()) as server:
        yield server


def client(server: FixtureServer, **options: object) -> ArxivClient:
    settings: dict[str, object] = {"min_interval": 0.0, "backoff": 0.0, **options}
    return ArxivClient(server.url + "/api/query", **settings)  # type: ignore[arg-type]


def test_every_recorded_response_parses() -> None:
    directory, index = fixtures()
    for entry in index:
        data = (directory / str(entry["file"])).read_bytes()
        if entry["is_error_feed"]:
            with pytest.raises(ArxivApiError, match="incorrect id format"):
                parse_feed(data, str(entry["file"]))
            continue
        page = parse_feed(data, str(entry["file"]))
        assert len(page.records) == entry["entries"], entry["file"]
        for record in page.records:
            paper = record.paper
            assert paper.title and paper.abstract and paper.authors, entry["file"]
            assert paper.categories and paper.published is not None


def test_one_paper_with_every_field(arxiv_server: FixtureServer) -> None:
    with client(arxiv_server) as api:
        record = api.fetch_one("1707.08567")
    paper = record.paper
    assert (paper.arxiv_id, paper.version) == ("1707.08567", 1)
    assert paper.title.startswith("Proceedings of Workshop AEW10")
    assert len(paper.authors) == 34
    assert paper.authors[0] == "Kees A. Schouhamer Immink"
    assert paper.authors[-1] == "Hirosuke Yamamoto"
    assert paper.primary_category == "cs.IT"
    assert paper.comment and paper.comment.startswith("44 pages")
    assert str(paper.published) == "2017-07-27 08:18:33"


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ("astro-ph/0601001", ("astro-ph/0601001", None)),
        ("quant-ph/0201082v1", ("quant-ph/0201082", 1)),
        ("hep-ex/0406020v1", ("hep-ex/0406020", 1)),
        ("2104.12255v1", ("2104.12255", 1)),
    ],
)
def test_old_style_and_versioned_ids(
    arxiv_server: FixtureServer, wanted: str, expected: tuple[str, int | None]
) -> None:
    with client(arxiv_server) as api:
        paper = api.fetch_one(wanted).paper
    assert paper.arxiv_id == expected[0]
    assert expected[1] is None or paper.version is not None


def test_unknown_id_is_named(arxiv_server: FixtureServer) -> None:
    with client(arxiv_server) as api:
        items = list(api.fetch_ids(["0808.05394", "1707.08567"]))
        assert [i.paper.arxiv_id for i in items if not isinstance(i, RecordError)] == ["1707.08567"]
        errors = [str(i) for i in items if isinstance(i, RecordError)]
        assert errors == ["arXiv id 0808.05394: arXiv has no paper with this id"]
        with pytest.raises(ArxivApiError, match=r"0000\.0000: arXiv has no paper"):
            api.fetch_one("0000.0000")


def test_error_feed_is_an_error(arxiv_server: FixtureServer) -> None:
    with client(arxiv_server) as api, pytest.raises(ArxivApiError, match="incorrect id format"):
        list(api.fetch_ids(["abc"]))


def test_search_pages_through_results(arxiv_server: FixtureServer) -> None:
    before = len(arxiv_server.requests)
    with client(arxiv_server) as api:
        records = list(api.search("testing", 30, page_size=10))
    assert len(records) == 30
    paths = [r["path"] for r in arxiv_server.requests[before:]]
    assert [p.split("start=")[1].split("&")[0] for p in paths] == ["0", "10", "20"]


def test_requests_are_spaced_and_identified(arxiv_server: FixtureServer) -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    before = len(arxiv_server.requests)
    with client(
        arxiv_server,
        min_interval=3.0,
        sleep=sleep,
        clock=lambda: now[0],
        contact="mailto:admin@example.org",
    ) as api:
        for arxiv_id in ("1707.08567", "1605.08386", "astro-ph/0601001"):
            api.fetch_one(arxiv_id)
    assert slept == [3.0, 3.0]
    agents = {r["headers"]["User-Agent"] for r in arxiv_server.requests[before:]}
    assert len(agents) == 1
    agent = agents.pop()
    assert agent.startswith("paperfeed/") and "mailto:admin@example.org" in agent


def test_server_errors_are_retried_then_reported(arxiv_server: FixtureServer) -> None:
    slept: list[float] = []
    with client(arxiv_server, retries=2, backoff=1.0, sleep=slept.append) as api:
        arxiv_server.faults.extend([(503, b"busy"), (502, b"bad gateway")])
        assert api.fetch_one("1707.08567").paper.arxiv_id == "1707.08567"
        assert slept == [1.0, 2.0]
        arxiv_server.faults.extend([(503, b"")] * 3)
        with pytest.raises(ArxivApiError, match=r"HTTP 503 \(after 3 attempt\(s\)\)"):
            api.fetch_one("1707.08567")
        arxiv_server.faults.append((400, b"bad request"))
        with pytest.raises(ArxivApiError, match=r"HTTP 400 \(after 1 attempt\(s\)\)"):
            api.fetch_one("1707.08567")


def test_unreachable_server_is_a_clear_error() -> None:
    with (
        ArxivClient("http://127.0.0.1:9/api/query", min_interval=0, retries=1, backoff=0) as api,
        pytest.raises(ArxivApiError, match="ConnectError"),
    ):
        api.fetch_one("1707.08567")


def test_truncated_xml_names_the_position(arxiv_server: FixtureServer) -> None:
    with (
        client(arxiv_server) as api,
        pytest.raises(SourceError, match=r"malformed XML at line \d+, column \d+"),
    ):
        api.fetch_one(BROKEN_ID)


def test_hostile_xml_is_refused() -> None:
    bomb = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<feed xmlns="http://www.w3.org/2005/Atom"><title>&lol2;</title></feed>"""
    with pytest.raises(SourceError, match="refused XML"):
        parse_feed(bomb, "bomb.xml")


def test_fetched_papers_are_stored(store: Store, arxiv_server: FixtureServer) -> None:
    with client(arxiv_server) as api:
        # one request for both ids (recorded as such), then one for an old-style id
        summary = load_records(store, enumerate(api.fetch_ids(["0808.05394", "1707.08567"]), 1))
        old_style = load_records(store, enumerate(api.fetch_ids(["astro-ph/0601001"]), 1))
    assert (summary.inserted, summary.bad, old_style.inserted) == (1, 1, 1)
    stored = store.get_paper("1707.08567")
    assert stored is not None and len(stored.authors) == 34 and stored.version == 1
    assert store.get_paper("astro-ph/0601001") is not None
    with client(arxiv_server) as api:
        again = load_records(store, enumerate(api.fetch_ids(["1707.08567"]), 1))
    assert again.unchanged == 1


def test_cli_ingest_arxiv(database_url: str, arxiv_server: FixtureServer) -> None:
    from test_cli import paperfeed

    env_url = arxiv_server.url + "/api/query"
    result = paperfeed_with(
        database_url,
        env_url,
        "ingest",
        "arxiv",
        "--ids",
        "0808.05394",
        "1707.08567",
        "--feed-day",
        "2025-12-11",
    )
    assert "1 new" in result.stdout and "1 bad records skipped" in result.stdout
    positional = paperfeed_with(
        database_url, env_url, "ingest", "arxiv", "hep-ex/0406020v1", "--feed-day", "2025-12-11"
    )
    assert "1 new" in positional.stdout
    assert "warning: arXiv id 0808.05394: arXiv has no paper with this id" in result.stderr
    stats = json.loads(paperfeed("stats", "--json", url=database_url).stdout)
    assert stats["tables"]["feed_entries"] == 2 and stats["first_day"] == "2025-12-11"
    bad = paperfeed_with(database_url, env_url, "ingest", "arxiv", "--ids", "nope", check=False)
    assert bad.returncode == 2 and "is not an arXiv id" in bad.stderr
    down = paperfeed_with(
        database_url,
        "http://127.0.0.1:9/api/query",
        "ingest",
        "arxiv",
        "--ids",
        "1707.08567",
        check=False,
    )
    assert down.returncode == 1 and down.stderr.startswith("Error: http://127.0.0.1:9/api/query")


def paperfeed_with(database_url: str, api_url: str, *args: str, check: bool = True):  # type: ignore[no-untyped-def]
    from test_cli import paperfeed

    settings = {
        "PAPERFEED_ARXIV_API_URL": api_url,
        "PAPERFEED_ARXIV_MIN_INTERVAL": "0",
        "PAPERFEED_HTTP_RETRIES": "0",
    }
    return paperfeed(*args, url=database_url, check=check, env=settings)
