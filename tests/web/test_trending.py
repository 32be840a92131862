"""Feed orders: top (upvotes), trending (votes decayed by age, explained on each card), new."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import httpx
import pytest

from conftest import LiveServer
from paperfeed.models import IngestRecord, Paper
from paperfeed.rank.trending import Trending, age_hours, feed_now
from paperfeed.store import Store

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # Wednesday of 2026-W10


def test_formula() -> None:
    trending = Trending(gravity=1.5)
    assert trending.score(10, 0) == pytest.approx(10 / 2**1.5)
    assert trending.score(10, 22) == pytest.approx(10 / 24**1.5)
    assert trending.score(-3, 5) == 0  # never negative
    # At gravity 1.5, at midday, yesterday's paper needs (38 / 14)^1.5 = 4.47x the votes.
    assert trending.score(44, 36) < trending.score(10, 12) < trending.score(45, 36)
    assert trending.explain(1, 22) == "1 upvote, 22 h on the feed: score 1 / (22 + 2)^1.5 = 0.0085"
    assert age_hours(date(2026, 3, 4), NOW) == 12
    assert feed_now(NOW, date(2026, 3, 1)) == datetime(2026, 3, 2, tzinfo=UTC)  # a stale feed
    assert feed_now(NOW, date(2026, 3, 4)) == NOW


def _paper(store: Store, arxiv_id: str, day: date, votes: int, published: datetime) -> None:
    paper = Paper(
        arxiv_id=arxiv_id,
        title=f"Paper {arxiv_id}",
        abstract="Abstract.",
        authors=["A. B"],
        published=published.replace(tzinfo=None),
    )
    record = IngestRecord(paper=paper, source="t", location="t", feed_day=day, upvotes=votes)
    store.write_batch([record])


@pytest.fixture
def week(store: Store) -> Iterator[LiveServer]:
    _paper(store, "2603.00001", date(2026, 3, 2), 40, datetime(2026, 3, 1))  # Monday, many votes
    _paper(store, "2603.00002", date(2026, 3, 4), 12, datetime(2026, 3, 3))  # today, fewer
    _paper(store, "2603.00003", date(2026, 3, 3), 1, datetime(2026, 3, 2, 12))  # newest
    with LiveServer(store, clock=lambda: NOW, trending_gravity=1.5) as server:
        yield server


def _ids(server: LiveServer, query: str) -> list[str]:
    data = httpx.get(f"{server.url}/api/v1/week/2026-W10{query}").json()
    return [card["id"] for card in data["papers"]]


def test_orders(week: LiveServer) -> None:
    assert _ids(week, "") == ["2603.00001", "2603.00002", "2603.00003"]
    assert _ids(week, "?sort=top") == _ids(week, "")
    # 12 / (12 + 2)^1.5 = 0.229 beats 40 / (60 + 2)^1.5 = 0.082.
    assert _ids(week, "?sort=trending") == ["2603.00002", "2603.00001", "2603.00003"]
    assert _ids(week, "?sort=new") == ["2603.00002", "2603.00003", "2603.00001"]
    bad = httpx.get(f"{week.url}/api/v1/week/2026-W10?sort=hot")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_sort"


def test_trending_cards_say_why(week: LiveServer) -> None:
    data = httpx.get(f"{week.url}/api/v1/week/2026-W10?sort=trending").json()
    why = data["papers"][0]["trending"]
    assert why == {
        "votes": 12,
        "age_hours": 12.0,
        "score": round(12 / 14**1.5, 6),
        "explanation": "12 upvotes, 12 h on the feed: score 12 / (12 + 2)^1.5 = 0.2291",
    }
    page = httpx.get(f"{week.url}/week/2026-W10?sort=trending").text
    assert "why is this here?" in page and "score 12 / (12 + 2)^1.5" in page
    assert 'sort=trending" aria-current="page"' in page
    redirect = httpx.get(f"{week.url}/week?sort=trending")
    assert redirect.status_code == 307
    assert redirect.headers["location"] == "/week/2026-W10?sort=trending"
