"""The site over real HTTP against a running server, on both backends, with the demo data."""

from __future__ import annotations

import re
from datetime import date, datetime

import httpx
import pytest

from conftest import LiveServer, QueryCounter
from paperfeed.models import IngestRecord, Paper

CARD = re.compile(r'<article class="card"')
VOTES = re.compile(r'<span class="count">(\d+)</span>')


def get(live: LiveServer, path: str, **kwargs: object) -> httpx.Response:
    return httpx.get(live.url + path, timeout=30, **kwargs)  # type: ignore[arg-type]


def get_json(live: LiveServer, path: str) -> dict:  # type: ignore[type-arg]
    response = get(live, path, headers={"Accept": "application/json"})
    assert response.headers["content-type"] == "application/json"
    return response.json()  # type: ignore[no-any-return]


def test_home_shows_the_latest_day(live: LiveServer) -> None:
    response = get(live, "/")
    assert response.status_code == 200
    html = response.text
    assert "<h1>Daily Papers</h1>" in html
    data = get_json(live, "/")
    assert data["label"] == str(live.store.latest_day())
    assert len(CARD.findall(html)) == len(data["papers"]) == min(data["total"], 30)
    votes = [int(v) for v in VOTES.findall(html)]
    assert votes == sorted(votes, reverse=True)
    first = data["papers"][0]
    assert first["title"] in html and f"{first['n_authors']} authors" in html


def test_json_twin_has_the_same_data(live: LiveServer) -> None:
    day = str(live.store.latest_day())
    by_accept = get_json(live, f"/?date={day}")
    by_path = get(live, f"/api/v1/feed?date={day}").json()
    assert by_accept == by_path
    assert {"id", "title", "abstract_preview", "n_authors", "date", "upvotes"} <= set(
        by_path["papers"][0]
    )


def test_day_navigation_skips_empty_days(live: LiveServer) -> None:
    data = get_json(live, "/")
    previous = data["previous"]
    assert previous is not None and data["next"] is None
    between_start = date.fromisoformat(previous)
    _, total = live.store.feed(
        date.fromordinal(between_start.toordinal() + 1),
        date.fromordinal(date.fromisoformat(data["label"]).toordinal() - 1),
        limit=1,
    )
    assert total == 0  # nothing was skipped over
    earlier = get_json(live, data["previous_url"])
    assert earlier["next"] == data["label"]
    assert f'href="{data["previous_url"]}"' in get(live, "/").text


def test_week_and_month_views(live: LiveServer) -> None:
    response = get(live, "/week", follow_redirects=False)
    assert response.status_code == 307
    week = get_json(live, response.headers["location"])
    assert week["kind"] == "week" and week["total"] >= len(week["papers"]) > 0
    ids = [p["id"] for p in week["papers"]]
    assert len(ids) == len(set(ids))
    month_label = week["start"][:7]
    month = get_json(live, f"/month/{month_label}")
    assert month["total"] >= week["total"] or month["start"] > week["start"]
    assert "<h1>Monthly Papers</h1>" in get(live, f"/month/{month_label}").text
    assert get(live, "/api/v1/week/2025-W50").status_code == 200


def test_pagination(live: LiveServer) -> None:
    month = get_json(live, "/month/2025-12")
    assert month["pages"] > 1
    second = get_json(live, "/month/2025-12?page=2")
    assert {p["id"] for p in second["papers"]}.isdisjoint({p["id"] for p in month["papers"]})
    assert 'href="?page=2"' in get(live, "/month/2025-12").text
    assert get(live, "/month/2025-12?page=0").status_code == 400
    assert get(live, f"/month/2025-12?page={month['pages'] + 1}").status_code == 404


def test_paper_page(live: LiveServer) -> None:
    html = get(live, "/papers/2310.06110").text
    assert "Grokking as the Transition from Lazy to Rich Training Dynamics" in html
    assert "dynamical mean field theory (DMFT)" in html  # the full abstract
    assert 'href="https://arxiv.org/abs/2310.06110"' in html
    assert 'href="https://arxiv.org/pdf/2310.06110"' in html
    data = get_json(live, "/papers/2310.06110v2")  # a version suffix finds the paper
    assert data["paper"]["id"] == "2310.06110" and len(data["paper"]["authors"]) == 4
    assert get(live, "/api/v1/papers/2310.06110").json() == data


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/papers/2101.99999", 404, "unknown_paper"),
        ("/papers/not-an-id", 404, "bad_arxiv_id"),
        ("/papers/..%2F..%2Fetc%2Fpasswd", 404, "bad_arxiv_id"),
        ("/?date=2025-13-45", 400, "bad_date"),
        ("/?date=yesterday", 400, "bad_date"),
        ("/?date=1999-01-01", 404, "no_papers"),
        ("/week/2025-W60", 400, "bad_date"),
        ("/month/2025-00", 400, "bad_date"),
        # Past the ends of the calendar a neighbouring day or month overflowed (a 500).
        ("/?date=0001-01-01", 400, "bad_date"),
        ("/?date=9999-12-31&sort=new", 400, "bad_date"),
        ("/week/9999-W52", 400, "bad_date"),
        ("/month/9999-12?sort=trending", 400, "bad_date"),
        ("/?page=²", 400, "bad_page"),  # a digit to str.isdigit, not to int()
        ("/no/such/page", 404, "not_found"),
    ],
)
def test_errors_are_proper_pages(live: LiveServer, path: str, status: int, code: str) -> None:
    html = get(live, path)
    assert html.status_code == status
    assert html.headers["content-type"].startswith("text/html")
    assert "Traceback" not in html.text and "<h1>" in html.text
    data = get(live, path, headers={"Accept": "application/json"})
    assert data.status_code == status
    assert data.json()["error"]["code"] == code and data.json()["error"]["message"]


def test_api_numbers_are_ascii_digits(live: LiveServer) -> None:
    for query in ("limit=²", "limit=" + "1" * 5000):  # int() refuses both (was a 500)
        answer = get(live, f"/api/v1/papers/2310.06110/related?{query}")
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "bad_limit"


def test_empty_day_links_to_the_nearest_days(live: LiveServer) -> None:
    latest = live.store.latest_day()
    assert latest is not None
    after = date.fromordinal(latest.toordinal() + 1)
    response = get(live, f"/?date={after}")
    assert response.status_code == 404
    assert f'href="/?date={latest}"' in response.text


def test_hostile_text_is_escaped(live: LiveServer) -> None:
    hostile = Paper(
        arxiv_id="0001.00001",
        title="<script>alert('title')</script> & Co",
        abstract="</p><img src=x onerror=alert(1)> $a<b$ && \\emph{x}",
        authors=["<b>Mallory</b>"],
        categories=["cs.CR"],
        first_seen=datetime(2001, 1, 1),
    )
    live.store.write_batch([IngestRecord(hostile, "test", "test:1", feed_day=date(2001, 1, 1))])
    for path in ("/papers/0001.00001", "/?date=2001-01-01"):
        html = get(live, path).text
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>Mallory" not in html
        assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt; &amp; Co" in html
    data = get_json(live, "/papers/0001.00001")
    assert data["paper"]["abstract"] == hostile.abstract


def test_query_count_does_not_grow_with_cards(live: LiveServer) -> None:
    if live.store.feed(date(2001, 1, 1), date(2001, 1, 1), limit=1)[1] == 0:
        test_hostile_text_is_escaped(live)  # a day with a single card

    def queries(path: str) -> tuple[int, int]:
        with QueryCounter(live.store.engine) as counter:
            assert get(live, path).status_code == 200
        return len(counter.statements), len(get_json(live, path)["papers"])

    pairs = [
        ("/?date=2001-01-01", "/?date=2025-12-02"),  # a day of the demo's arXiv window
        ("/week/2001-W01", "/week/2025-W50"),
        ("/month/2001-01", "/month/2025-12"),
    ]
    for one_card, many_cards in pairs:
        (few_queries, few), (many_queries, many) = queries(one_card), queries(many_cards)
        assert few == 1 and many > 10
        assert few_queries == many_queries <= 3, (one_card, few_queries, many_queries)
    assert queries("/")[0] <= 4  # plus "which day is the latest"
    get(live, "/papers/2310.06110")  # the related papers' index is loaded and fresh
    index = live.app.state.searcher.semantic.index
    if index is not None:  # no "did the vectors change?" check (every 2 s) in the count
        index.check_every, every = 3600.0, index.check_every
    try:
        with QueryCounter(live.store.engine) as counter:
            get(live, "/papers/2310.06110")
    finally:
        if index is not None:
            index.check_every = every
    # The paper with its feed days, its versions, its comments and its related papers: on
    # SQLite from the in-process index plus one query for their rows, on PostgreSQL one
    # pgvector query (after one SET for the HNSW scan).
    expected = 4 if live.store.backend == "sqlite" else 5
    assert len(counter.statements) == expected, counter.statements
    assert len(get_json(live, "/papers/2310.06110")["related"]) == 5


def test_revised_paper_says_so(live: LiveServer) -> None:
    revised = Paper(
        arxiv_id="0002.00002",
        title="A revised paper",
        abstract="Text.",
        authors=["A. Author"],
        version=4,
        published=datetime(2001, 2, 1),
        updated=datetime(2001, 3, 5),
        first_seen=datetime(2001, 2, 1),
    )
    live.store.write_batch([IngestRecord(revised, "arxiv-api", "test:1")])
    html = get(live, "/papers/0002.00002").text
    assert "updated to v4 on Mar 5, 2001" in html and "from arxiv-api" in html
    data = get_json(live, "/papers/0002.00002")
    assert data["versions"] == [{"version": 4, "date": "2001-03-05T00:00:00Z"}]


def test_cards_and_paper_pages_show_the_tldr(live: LiveServer) -> None:
    """The demo set ships TL;DRs with its vectors: a sentence of each abstract, on the cards
    and the paper page, in the JSON too."""
    data = get_json(live, "/")
    with_tldr = [p for p in data["papers"] if p.get("tldr")]
    assert with_tldr, "the demo's cards carry TL;DRs"
    card = with_tldr[0]
    paper = get_json(live, card["url"])["paper"]
    assert card["tldr"] == paper["tldr"] and card["tldr"] in paper["abstract"]
    page = get(live, card["url"]).text
    assert 'class="tldr"' in page and "TL;DR" in page
