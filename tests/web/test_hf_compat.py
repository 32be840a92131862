"""The Hugging Face-compatible API, driven by the real ``huggingface_hub`` client (and its
``hf`` command) over real HTTP against a running server, on both backends, with the demo
data."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import BadRequestError, HfHubHTTPError
from huggingface_hub.hf_api import PaperInfo

from conftest import LiveServer, QueryCounter, shared_data
from paperfeed.models import FeedItem, Paper
from paperfeed.rank.daily_list import ALL_TIME, daily_list
from paperfeed.rank.feeds import feed_page, parse_period
from paperfeed.rank.trending import Trending, feed_now, ordered_page
from paperfeed.store import utcnow

DAY = date(2025, 12, 11)  # 174 papers on the demo feed, from HF and from arXiv
WEEK = "2025-W50"  # 2025-12-08 .. 2025-12-14
HUB_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def api(live: LiveServer) -> HfApi:
    return HfApi(endpoint=live.url, token=False)  # never send a Hub token to another server


def ids(papers: Iterator[PaperInfo] | list[PaperInfo]) -> list[str]:
    return [p.id for p in papers]


def feed_of(live: LiveServer, start: date, end: date) -> list[FeedItem]:
    items, _total = live.store.feed(start, end, limit=100_000)
    return items


def site_feed_ids(live: LiveServer, path: str, sort: str, wanted: int = 100_000) -> list[str]:
    """The first ``wanted`` papers of a feed of the site (its JSON twin), page after page;
    ``path`` is a week's or a month's, or a date for a day."""
    found: list[str] = []
    params = {"sort": sort}
    if "/" not in path:  # a day
        path, params["date"] = "/api/v1/feed", path
    page = 1
    while True:
        params["page"] = str(page)
        data = httpx.get(live.url + path, params=params, timeout=30).json()
        found += [card["id"] for card in data["papers"]]
        if page >= data["pages"] or len(found) >= wanted:
            return found[:wanted]
        page += 1


def shown(paper: Paper) -> datetime | None:
    """The paper's date as the site shows it (arXiv's, else first seen), in UTC."""
    when = paper.published or paper.first_seen
    return when.replace(tzinfo=UTC) if when else None


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# -- list_daily_papers ----------------------------------------------------------------------


def test_a_day_field_by_field(api: HfApi, live: LiveServer) -> None:
    expected = feed_of(live, DAY, DAY)
    first = list(api.list_daily_papers(date=DAY.isoformat(), limit=100))
    rest = list(api.list_daily_papers(date=DAY.isoformat(), limit=100, p=1))
    papers = first + rest
    assert len(first) == 100 and len(papers) == len(expected) == 174
    assert ids(papers) == [item.paper.arxiv_id for item in expected]  # most upvoted first
    for got, item in zip(papers, expected, strict=True):
        paper = item.paper
        assert got.title == paper.title and got.summary == paper.abstract
        assert [a.name for a in got.authors or []] == paper.authors
        assert got.upvotes == paper.upvotes  # 0 too, not None
        assert got.published_at == shown(paper)
        assert got.submitted_at == midnight(DAY)
        assert (got.submitted_by.username if got.submitted_by else None) == item.submitted_by
        assert got.comments == 0
    assert 0 in [p.upvotes for p in rest] and any(p.submitted_by for p in first)


@pytest.mark.parametrize(
    ("sort", "site_sort"), [(None, "top"), ("publishedAt", "new"), ("trending", "trending")]
)
def test_each_sort_is_the_sites_order(
    api: HfApi, live: LiveServer, sort: Any, site_sort: str
) -> None:
    periods = (
        ("date", str(DAY), str(DAY)),
        ("week", WEEK, f"/api/v1/week/{WEEK}"),
    )
    for kind, label, path in periods:
        got = list(api.list_daily_papers(**{kind: label}, sort=sort, limit=100))
        assert ids(got) == site_feed_ids(live, path, site_sort, wanted=100)
    if sort is None:
        votes = [p.upvotes or 0 for p in got]
        assert votes == sorted(votes, reverse=True)
    elif sort == "publishedAt":
        published = [p.published_at for p in got]
        assert published == sorted(published, reverse=True)
    else:  # trending decays votes with age: not plain upvote order over a week
        votes = [p.upvotes or 0 for p in got]
        assert votes != sorted(votes, reverse=True)


def test_orders_match_the_feed_code_on_every_page(live: LiveServer) -> None:
    """The listing's orders are those of the site's feed code, for a whole week and month."""
    store = live.store
    trending = Trending(live.settings.trending_gravity)
    now = feed_now(datetime.now(UTC), store.latest_day())
    for period in (parse_period("week", WEEK), parse_period("month", "2025-10")):
        everything: dict[str, Any] = {"limit": 100_000, "now": now, "trending": trending}
        top = feed_page(store, period, page=1, page_size=100_000)
        listed = daily_list(store, period, "top", **everything)
        assert [i.paper.arxiv_id for i in listed] == [i.paper.arxiv_id for i in top.items]
        for order in ("new", "trending"):
            site, _why = ordered_page(
                store, period, order, now=now, trending=trending, page=1, page_size=100_000
            )
            listed = daily_list(store, period, order, **everything)
            assert [i.paper.arxiv_id for i in listed] == [i.paper.arxiv_id for i in site.items]


def test_pages_with_p_and_limit(api: HfApi) -> None:
    whole = ids(api.list_daily_papers(date=DAY.isoformat(), limit=100)) + ids(
        api.list_daily_papers(date=DAY.isoformat(), limit=100, p=1)
    )
    pages = [ids(api.list_daily_papers(date=DAY.isoformat(), limit=25, p=p)) for p in range(8)]
    assert [len(page) for page in pages] == [25] * 6 + [24, 0]
    assert [i for page in pages for i in page] == whole
    assert len(ids(api.list_daily_papers(date=DAY.isoformat()))) == 50  # the Hub's default


def test_week_and_month(api: HfApi, live: LiveServer) -> None:
    week = parse_period("week", WEEK)
    got = list(api.list_daily_papers(week=WEEK, limit=100))
    assert ids(got) == [i.paper.arxiv_id for i in feed_of(live, week.start, week.end)][:100]
    assert all(p.submitted_at and week.start <= p.submitted_at.date() <= week.end for p in got)
    october = list(api.list_daily_papers(month="2025-10", limit=100))
    expected = feed_of(live, date(2025, 10, 1), date(2025, 10, 31))
    assert ids(october) == [i.paper.arxiv_id for i in expected][:100]
    assert {p.submitted_at.month for p in october if p.submitted_at} == {10}
    assert list(api.list_daily_papers(month="2024-02")) == []  # nothing then


def test_submitter(api: HfApi, live: LiveServer) -> None:
    week = parse_period("week", WEEK)
    feed = feed_of(live, week.start, week.end)
    name, n = Counter(i.submitted_by for i in feed if i.submitted_by).most_common(1)[0]
    assert n > 5
    theirs = [i.paper.arxiv_id for i in feed if i.submitted_by == name]
    got = list(api.list_daily_papers(week=WEEK, submitter=name))
    assert ids(got) == theirs
    assert {p.submitted_by.username for p in got if p.submitted_by} == {name}
    shouted = api.list_daily_papers(week=WEEK, submitter=name.upper())
    assert ids(shouted) == theirs  # user names are not case-sensitive
    trending_site = site_feed_ids(live, f"/api/v1/week/{WEEK}", "trending")
    trending = ids(api.list_daily_papers(week=WEEK, submitter=name, sort="trending"))
    assert trending == [i for i in trending_site if i in set(theirs)] != theirs
    paged = [ids(api.list_daily_papers(week=WEEK, submitter=name, limit=2, p=p)) for p in (0, 1)]
    assert paged[0] + paged[1] == theirs[:4]
    month = list(api.list_daily_papers(month="2025-12", submitter=name, limit=100))
    assert len(month) > n and {p.submitted_by.username for p in month if p.submitted_by} == {name}
    assert list(api.list_daily_papers(week=WEEK, submitter="nobody-at-all")) == []


def test_without_a_period_the_newest_papers_of_all_days(api: HfApi, live: LiveServer) -> None:
    first = list(api.list_daily_papers(limit=20))
    second = list(api.list_daily_papers(limit=20, p=1))
    published = [p.published_at for p in first + second]
    assert len(published) == 40 and published == sorted(published, reverse=True)
    rows = live.store.feed_rows(ALL_TIME.start, ALL_TIME.end)
    newest = max(rows, key=lambda r: (r.shown, r.arxiv_id))
    assert first[0].id == newest.arxiv_id
    by_submitter = list(api.list_daily_papers(submitter="taesiri", limit=100))
    assert len(by_submitter) == 100  # across all days
    assert {p.submitted_by.username for p in by_submitter if p.submitted_by} == {"taesiri"}


@pytest.mark.parametrize(
    "params",
    [
        {"date": "2025-13-01"},
        {"date": "yesterday"},
        {"week": "2025-W60"},
        {"month": "2025-13"},
        {"date": "2025-12-11", "week": WEEK},
        {"sort": "hot"},
        {"limit": 0},
        {"limit": 101},
        {"p": -1},
        {"p": "²"},  # a digit to str.isdigit, not to int()
        {"month": "9999-12"},  # its end overflowed the calendar (a 500)
        {"week": "9999-W52"},
        {"date": "0001-01-01"},
        {"date": "2025-12-1é\n"},  # the reason goes back in a header too
    ],
)
def test_bad_parameters_are_bad_requests(api: HfApi, params: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError) as caught:
        list(api.list_daily_papers(**params))
    assert caught.value.response.status_code == 400
    assert caught.value.server_message  # the reason, from {"error": ...}


def test_a_page_takes_a_constant_number_of_queries(api: HfApi, live: LiveServer) -> None:
    counts = []
    runs: list[tuple[int, Any]] = [(5, None), (100, None), (100, "trending")]
    for limit, sort in runs:
        with QueryCounter(live.store.engine) as counter:
            list(api.list_daily_papers(week=WEEK, limit=limit, sort=sort))
        counts.append(len(counter.statements))
    assert counts[0] == counts[1] <= 3 and counts[2] == counts[1] + 1  # + the latest day


# -- list_papers (search) -------------------------------------------------------------------


def test_search_is_the_hybrid_search(api: HfApi, live: LiveServer) -> None:
    query = "dense hebbian replica symmetric"
    got = list(api.list_papers(query=query, limit=5))
    expected = live.app.state.searcher.search(query, mode="hybrid", page_size=5).hits
    assert ids(got) == [hit.paper.arxiv_id for hit in expected] and len(got) == 5
    assert "2212.00606" in ids(got)[:3]  # "Dense Hebbian neural networks: a replica symmetric …"
    words = query.split()
    for paper in got[:2]:  # the best matches share words with the query (not only meaning)
        text = f"{paper.title} {paper.summary}".lower()
        assert sum(word in text for word in words) >= 2
    hit = next(p for p in got if p.id == "2212.00606")
    stored = live.store.paper_detail("2212.00606")
    assert stored is not None
    assert hit.title == stored.paper.title and hit.upvotes == stored.paper.upvotes
    assert hit.submitted_at == midnight(stored.feed_days[0])


def test_search_in_the_query_language(api: HfApi) -> None:
    by_author = list(api.list_papers(query="author:parisien", limit=10))
    assert by_author
    assert all(any("parisien" in a.name.lower() for a in p.authors or []) for p in by_author)
    with pytest.raises(BadRequestError) as caught:
        list(api.list_papers(query='"an unclosed quote'))
    assert "quote" in (caught.value.server_message or "")
    newest = list(api.list_papers(limit=3))  # no query: the newest papers
    assert ids(newest) == ids(api.list_daily_papers(limit=3))


# -- paper_info, read_paper -------------------------------------------------------------------


def _submitted_paper(live: LiveServer) -> FeedItem:
    return next(i for i in feed_of(live, DAY, DAY) if i.submitted_by and i.paper.upvotes)


def test_paper_info(api: HfApi, live: LiveServer) -> None:
    item = _submitted_paper(live)
    paper = item.paper
    info = api.paper_info(paper.arxiv_id)
    assert info.id == paper.arxiv_id and info.title == paper.title
    assert info.summary == paper.abstract
    assert [a.name for a in info.authors or []] == paper.authors
    assert info.upvotes == paper.upvotes and info.published_at == shown(paper)
    detail = live.store.paper_detail(paper.arxiv_id)
    assert detail is not None and DAY in detail.feed_days
    assert info.submitted_at == midnight(detail.feed_days[0])  # its first day on the feed
    assert info.submitted_by is not None and info.submitted_by.username == detail.submitted_by
    assert api.paper_info(f"{paper.arxiv_id}v9").id == paper.arxiv_id  # versions are one paper


def test_comments_count_what_readers_see(api: HfApi, live: LiveServer) -> None:
    store = live.store
    paper_id = feed_of(live, DAY, DAY)[5].paper.arxiv_id
    user = store.create_user(f"reader{os.getpid()}")
    now = utcnow()
    made = [
        store.community.add_comment(paper_id, user.id, f"c{n}", f"<p>c{n}</p>", now=now)
        for n in range(4)
    ]
    assert store.community.delete_comment(made[0], user.id, now=now)
    assert store.community.set_comment_hidden(made[1], True, now=now)
    assert api.paper_info(paper_id).comments == 2
    listed = {p.id: p for p in api.list_daily_papers(date=DAY.isoformat(), limit=100)}
    assert listed[paper_id].comments == 2
    assert "Comments: 2" in api.read_paper(paper_id)


def test_read_paper(api: HfApi, live: LiveServer) -> None:
    item = _submitted_paper(live)
    paper = item.paper
    text = api.read_paper(paper.arxiv_id)
    assert text.startswith(f"# {paper.title}\n")
    assert paper.abstract.strip() in text
    assert all(name in text for name in paper.authors)
    assert f"https://arxiv.org/abs/{paper.arxiv_id}" in text
    assert f"Upvotes: {paper.upvotes}" in text
    detail = live.store.paper_detail(paper.arxiv_id)
    assert detail is not None
    days = ", ".join(str(day) for day in detail.feed_days)
    assert f"On the feed: {days} (submitted by {detail.submitted_by})" in text
    assert paper.published and f"Published: {paper.published.date()}" in text
    response = httpx.get(f"{live.url}/papers/{paper.arxiv_id}.md", timeout=30)
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    page = httpx.get(f"{live.url}/papers/{paper.arxiv_id}", timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]


@pytest.mark.parametrize("paper_id", ["2999.99999", "not-a-paper", "hep-th/9999999"])
def test_unknown_papers_are_not_found(api: HfApi, paper_id: str) -> None:
    for call in (api.paper_info, api.read_paper):
        with pytest.raises(HfHubHTTPError) as caught:
            call(paper_id)
        assert caught.value.response.status_code == 404
        assert "not found" in (caught.value.server_message or "")
        assert not isinstance(caught.value, BadRequestError)


def test_hidden_papers_are_not_there(api: HfApi, live: LiveServer) -> None:
    store = live.store
    paper = _submitted_paper(live).paper
    assert store.community.set_paper_hidden(paper.arxiv_id, True, now=utcnow())
    try:
        assert paper.arxiv_id not in ids(api.list_daily_papers(date=DAY.isoformat(), limit=100))
        assert paper.arxiv_id not in ids(api.list_daily_papers(week=WEEK, limit=100))
        assert paper.arxiv_id not in ids(api.list_papers(query=paper.title, limit=20))
        for call in (api.paper_info, api.read_paper):
            with pytest.raises(HfHubHTTPError) as caught:
                call(paper.arxiv_id)
            assert caught.value.response.status_code == 404
    finally:
        store.community.set_paper_hidden(paper.arxiv_id, False, now=utcnow())
    assert paper.arxiv_id in ids(api.list_papers(query=paper.title, limit=20))
    assert api.paper_info(paper.arxiv_id).id == paper.arxiv_id


# -- the shape of the Hub's responses -------------------------------------------------------

# What paperfeed cannot fill (thumbnails, media, organizations, AI summaries, GitHub links,
# the Hub's discussion ids, whether an author takes part) is left out rather than faked.
NOT_SERVED = {"thumbnail", "mediaUrls", "organization", "isAuthorParticipating"}
NOT_SERVED_IN_PAPER = {
    "discussionId",
    "ai_summary",
    "ai_summary_model",
    "ai_keywords",
    "githubRepo",
    "githubRepoAddedBy",
    "githubStars",
    "projectPage",
    "organization",
    "mediaUrls",
}
ADDED = {"upvotes"}  # on top too: the client reads a nested 0 as missing
FILLED = (
    "id",
    "authors",
    "published_at",
    "title",
    "summary",
    "upvotes",
    "comments",
    "submitted_at",
    "submitted_by",
)


def test_items_have_the_hubs_recorded_shape(live: LiveServer) -> None:
    recorded = json.loads(shared_data("hf-daily/raw/2026-08-21.json").read_text())[0]
    response = httpx.get(f"{live.url}/api/daily_papers", params={"date": str(DAY)}, timeout=30)
    assert response.status_code == 200
    ours = next(item for item in response.json() if "submittedBy" in item)

    assert set(ours) == (set(recorded) - NOT_SERVED) | ADDED
    assert set(ours["paper"]) == set(recorded["paper"]) - NOT_SERVED_IN_PAPER
    for key in set(ours) & set(recorded):
        assert type(ours[key]) is type(recorded[key]), key
    for key, value in ours["paper"].items():
        assert type(value) is type(recorded["paper"][key]), f"paper.{key}"
    for mine, theirs in ((ours, recorded), (ours["paper"], recorded["paper"])):
        for key in ("publishedAt", "submittedOnDailyAt"):
            if key in mine:
                assert HUB_TIME.match(mine[key]) and HUB_TIME.match(theirs[key]), key
    assert set(ours["paper"]["authors"][0]) <= set(recorded["paper"]["authors"][0])
    user_keys = set(recorded["submittedBy"]) | set(recorded["paper"]["submittedOnDailyBy"])
    assert set(ours["submittedBy"]) <= user_keys
    assert set(ours["paper"]["submittedOnDailyBy"]) <= user_keys
    assert ours["title"] == ours["paper"]["title"] and ours["upvotes"] == ours["paper"]["upvotes"]
    theirs, mine = (PaperInfo(**copy.deepcopy(item)) for item in (recorded, ours))
    for attribute in FILLED:  # what the client reads from a recorded item, it reads from ours
        assert getattr(theirs, attribute) is not None and getattr(mine, attribute) is not None


def test_openapi_lists_the_hub_routes(live: LiveServer) -> None:
    paths = httpx.get(f"{live.url}/api/openapi.json", timeout=30).json()["paths"]
    assert {"/api/daily_papers", "/api/papers/search", "/api/papers/{arxiv_id}"} <= set(paths)


# -- the README's example and the `hf` command -----------------------------------------------


def test_the_readme_example(live: LiveServer, capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Hugging Face-compatible API", 1)[1]
    example = re.search(r"```python\n(.*?)```", section, re.S)
    assert example is not None
    exec(example[1].replace("http://127.0.0.1:8000", live.url), {})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6 and all("2025-12-" in line for line in lines[:5])


def test_the_hf_command(live: LiveServer, tmp_path: Path) -> None:
    hf = Path(sys.executable).parent / "hf"
    if not hf.exists():
        pytest.skip("the hf command of huggingface_hub is not installed")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "HF_HOME": str(tmp_path / "hf"),  # no saved token
        "HF_ENDPOINT": live.url,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
    }

    def run(*args: str) -> str:
        done = subprocess.run(
            [str(hf), "papers", *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    listed = json.loads(run("ls", "--date", str(DAY), "--limit", "3", "--json"))
    assert [p["id"] for p in listed] == [i.paper.arxiv_id for i in feed_of(live, DAY, DAY)][:3]
    paper = feed_of(live, DAY, DAY)[0].paper
    assert listed[0]["title"] == paper.title
    assert run("read", paper.arxiv_id).startswith(f"# {paper.title}")
