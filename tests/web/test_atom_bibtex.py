"""Atom feeds and BibTeX over real HTTP, on both backends, read back by the libraries feed
readers and reference managers use (feedparser, bibtexparser)."""

from __future__ import annotations

import html
import re
from datetime import date, datetime
from typing import Any

import bibtexparser
import feedparser
import httpx
from bibtexparser.middlewares import SeparateCoAuthors
from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db

from conftest import LiveServer
from paperfeed.models import IngestRecord, Paper

ATOM_TYPE = "application/atom+xml; charset=utf-8"
FEED_LINK = re.compile(
    r'<link rel="alternate" type="application/atom\+xml" title="[^"]*" href="([^"]*)">'
)


def get(live: LiveServer, path: str, **params: str) -> httpx.Response:
    return httpx.get(live.url + path, params=params or None, timeout=60)  # keep path's query


def api(live: LiveServer, path: str, **params: str) -> dict[str, Any]:
    response = get(live, path, **params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def atom(live: LiveServer, path: str, **params: str) -> Any:
    """The feed at ``path``, parsed by feedparser, which must find nothing wrong with it."""
    response = get(live, path, **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == ATOM_TYPE
    feed = feedparser.parse(response.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed


def paper_ids(live: LiveServer, feed: Any) -> list[str]:
    """The papers of the feed's entries, from their alternate links (to the paper pages)."""
    prefix = live.settings.public_url + "/papers/"
    ids = []
    for entry in feed.entries:
        alternate = [link.href for link in entry.links if link.rel == "alternate"]
        assert len(alternate) == 1 and alternate[0].startswith(prefix), entry.links
        ids.append(alternate[0].removeprefix(prefix))
    return ids


def error_code(live: LiveServer, path: str, status: int, **params: str) -> str:
    response = httpx.get(
        live.url + path, params=params, headers={"Accept": "application/json"}, timeout=60
    )
    assert response.status_code == status, response.text
    code: str = response.json()["error"]["code"]
    return code


# -- Atom -------------------------------------------------------------------------------------


def test_daily_feed_follows_the_home_page(live: LiveServer) -> None:
    feed = atom(live, "/feeds/daily.atom")
    page = api(live, "/api/v1/feed")
    assert paper_ids(live, feed) == [card["id"] for card in page["papers"]]
    assert feed.feed.id == live.settings.public_url + "/feeds/daily.atom"
    assert {link.rel for link in feed.feed.links} == {"self", "alternate"}
    for entry, card in zip(feed.entries, page["papers"], strict=True):
        assert entry.title == " ".join(card["title"].split())
        assert [author.name for author in entry.authors] == card["authors"]
        assert entry.id.startswith(f"https://arxiv.org/abs/{card['id']}")
        assert entry.updated_parsed is not None
        related = {link.title: link.href for link in entry.links if link.rel == "related"}
        assert related["arXiv"] == f"https://arxiv.org/abs/{card['id']}"
    again = atom(live, "/feeds/daily.atom")
    assert [(e.id, e.updated) for e in again.entries] == [(e.id, e.updated) for e in feed.entries]
    assert again.feed.updated == feed.feed.updated


def test_daily_feed_of_a_date(live: LiveServer) -> None:
    day = api(live, "/api/v1/feed")["previous"]
    feed = atom(live, "/feeds/daily.atom", date=day)
    page = api(live, "/api/v1/feed", date=day)
    assert paper_ids(live, feed) == [card["id"] for card in page["papers"]]
    assert feed.feed.id == f"{live.settings.public_url}/feeds/daily.atom?date={day}"
    assert error_code(live, "/feeds/daily.atom", 400, date="2025-13-01") == "bad_date"
    assert get(live, "/feeds/daily.atom", date="yesterday").status_code == 400


def test_trending_feed_is_the_latest_week_trending_first(live: LiveServer) -> None:
    page = api(live, f"/api/v1/week/{_latest_week(live)}", sort="trending")
    feed = atom(live, "/feeds/trending.atom")
    assert paper_ids(live, feed) == [card["id"] for card in page["papers"]]
    assert len(feed.entries) > 1


def _latest_week(live: LiveServer) -> str:
    latest = live.store.latest_day()
    assert latest is not None
    year, week, _ = latest.isocalendar()
    return f"{year}-W{week:02d}"


def test_daily_and_trending_feeds_of_one_topic(live: LiveServer) -> None:
    """``?topic=N`` keeps the papers of the /topics page's topic N, as the feed pages do."""
    day = "2025-12-03"
    topic = api(live, "/api/v1/topics", period="day", date=day)["topics"][1]
    feed = atom(live, "/feeds/daily.atom", date=day, topic="2")
    page = api(live, "/api/v1/feed", date=day, topic="2")
    assert page["total"] == topic["size"] and page["topic"]["label"] == topic["label"]
    assert paper_ids(live, feed) == [card["id"] for card in page["papers"]]
    assert paper_ids(live, feed) != paper_ids(live, atom(live, "/feeds/daily.atom", date=day))
    assert feed.feed.title.endswith(f" · Topic 2: {topic['label']}")
    assert feed.feed.id == f"{live.settings.public_url}/feeds/daily.atom?date={day}&topic=2"
    html_page = get(live, "/", date=day, topic="2").text
    links = [html.unescape(href) for href in FEED_LINK.findall(html_page)]
    assert f"/feeds/daily.atom?date={day}&topic=2" in links
    week = _latest_week(live)
    trending = atom(live, "/feeds/trending.atom", topic="1")
    listed = api(live, f"/api/v1/week/{week}", sort="trending", topic="1")
    assert paper_ids(live, trending) == [card["id"] for card in listed["papers"]]
    assert len(trending.entries) > 1
    for path in ("/feeds/daily.atom", "/feeds/trending.atom"):
        assert error_code(live, path, 400, topic="x") == "bad_topic"
        assert error_code(live, path, 400, topic="0") == "bad_topic"
        assert error_code(live, path, 404, topic="16") == "unknown_topic"


def test_search_feed_is_the_first_page_of_the_search(live: LiveServer) -> None:
    for params in ({"q": "neural networks"}, {"q": "language models", "sort": "date"}):
        feed = atom(live, "/feeds/search.atom", **params)
        page = api(live, "/api/v1/search", **params)
        assert page["mode"] == "hybrid" and len(page["papers"]) > 1
        assert paper_ids(live, feed) == [card["id"] for card in page["papers"]]
    assert error_code(live, "/feeds/search.atom", 400, q='"not closed') == "bad_query"
    assert error_code(live, "/feeds/search.atom", 400, q="   ") == "bad_query"
    assert error_code(live, "/feeds/search.atom", 400) == "bad_query"
    page = get(live, "/feeds/search.atom", q="year:twenty")
    assert page.status_code == 400 and "<h1>" in page.text  # the usual error page


def test_category_feed_is_the_newest_papers_of_the_category(live: LiveServer) -> None:
    feed = atom(live, "/feeds/category/cs.LG.atom")
    listing = [
        card["id"]
        for number in ("1", "2")
        for card in api(live, "/api/v1/search", q="cat:cs.LG", sort="date", page=number)["papers"]
    ]
    ids = paper_ids(live, feed)
    assert len(ids) == live.settings.page_size and ids == listing[: len(ids)]
    assert all("cs.LG" in [tag.term for tag in entry.tags] for entry in feed.entries)
    assert error_code(live, "/feeds/category/cs LG.atom", 400) == "bad_category"
    assert error_code(live, "/feeds/category/no!such.atom", 400) == "bad_category"
    assert error_code(live, '/feeds/category/cs.LG" x ".atom', 400) == "bad_category"


def test_hostile_text_stays_text(live: LiveServer) -> None:
    hostile = Paper(
        arxiv_id="0003.00003",
        title="<script>alert('title')</script> & Co ]]>",
        abstract="</summary><img src=x onerror=alert(1)> $a<b$ && \\emph{x}\x0c done",
        authors=["<b>Mallory</b>", "Ève d'Arc & Sons"],
        categories=["cs.CR"],
        version=3,
        first_seen=datetime(2001, 1, 1),
    )
    live.store.write_batch([IngestRecord(hostile, "test", "test:1", feed_day=date(2001, 1, 1))])
    response = get(live, "/feeds/daily.atom", date="2001-01-01")
    assert "<script>" not in response.text and "<img" not in response.text
    assert "<b>" not in response.text
    feed = atom(live, "/feeds/daily.atom", date="2001-01-01")
    (entry,) = feed.entries
    assert entry.title == hostile.title
    assert entry.summary == hostile.abstract.replace("\x0c", "")  # not allowed in XML
    assert [author.name for author in entry.authors] == hostile.authors
    assert entry.id == "https://arxiv.org/abs/0003.00003v3"


def test_pages_link_their_feeds(live: LiveServer) -> None:
    paper_id = api(live, "/api/v1/search", q="cat:cs.LG")["papers"][0]["id"]
    primary = api(live, f"/api/v1/papers/{paper_id}")["paper"]["primary_category"]
    uncategorised = _paper_without_categories(live)
    expected = {
        "/": ["/feeds/daily.atom", "/feeds/trending.atom"],
        "/week?sort=trending": ["/feeds/daily.atom", "/feeds/trending.atom"],
        '/search?q=a%26b+"x"+-y&sort=date': ["/feeds/search.atom?q=a%26b%20%22x%22%20-y&sort=date"],
        f"/papers/{paper_id}": [f"/feeds/category/{primary}.atom"],
        f"/papers/{uncategorised}": [],
        "/search": [],
    }
    for path, feeds in expected.items():
        page = httpx.get(live.url + path, timeout=60, follow_redirects=True)
        found = [html.unescape(href) for href in FEED_LINK.findall(page.text)]
        assert found == feeds, path
        for href in found:
            assert atom(live, href).feed.title  # a feed reader finds a valid feed there


# -- BibTeX -----------------------------------------------------------------------------------

_LATEX = get_default_latex_context_db()
_LATEX.add_context_category(
    "paperfeed-escapes",
    prepend=True,
    macros=[
        MacroTextSpec("textbraceleft", "{"),
        MacroTextSpec("textbraceright", "}"),
        MacroTextSpec("textasciicircum", "^"),
        MacroTextSpec("textasciitilde", "~"),
        MacroTextSpec("textbackslash", "\\"),
    ],
)
_TO_TEXT = LatexNodes2Text(latex_context=_LATEX, math_mode="verbatim", strict_latex_spaces=True)


def latex_to_text(value: str) -> str:
    return str(_TO_TEXT.latex_to_text(value))


def parse_bibtex(text: str) -> list[Any]:
    """The entries of ``text``, which must all parse, with balanced braces in every field
    counted the way BibTeX counts them (a backslash does not escape a brace)."""
    library = bibtexparser.parse_string(text, append_middleware=[SeparateCoAuthors()])
    assert library.failed_blocks == [] and library.entries
    for entry in library.entries:
        for field in entry.fields:
            values = field.value if isinstance(field.value, list) else [field.value]
            for value in values:
                depth = 0
                for char in value:
                    depth += {"{": 1, "}": -1}.get(char, 0)
                    assert depth >= 0, value
                assert depth == 0, value
    return list(library.entries)


def fields(entry: Any) -> dict[str, Any]:
    return {field.key: field.value for field in entry.fields}


def get_bibtex(live: LiveServer, arxiv_id: str) -> Any:
    response = get(live, f"/papers/{arxiv_id}.bib")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/x-bibtex; charset=utf-8"
    (entry,) = parse_bibtex(response.text)
    return entry


def _paper_without_categories(live: LiveServer) -> str:
    """A demo paper known only from the Hugging Face daily list: arXiv's fields missing."""
    for card in api(live, "/api/v1/feed")["papers"]:
        if not api(live, f"/api/v1/papers/{card['id']}")["paper"]["categories"]:
            return str(card["id"])
    raise AssertionError("every paper of the latest day has categories")


def test_bibtex_of_demo_papers(live: LiveServer) -> None:
    with_categories = api(live, "/api/v1/search", q="cat:cs.LG")["papers"][0]["id"]
    for arxiv_id in (with_categories, _paper_without_categories(live)):
        _check_demo_bibtex(live, api(live, f"/api/v1/papers/{arxiv_id}")["paper"])
    assert error_code(live, "/papers/2999.00001.bib", 404) == "unknown_paper"
    assert error_code(live, "/papers/not-an-id.bib", 404) == "bad_arxiv_id"


def _check_demo_bibtex(live: LiveServer, paper: dict[str, Any]) -> None:
    entry = get_bibtex(live, paper["id"])
    found = fields(entry)
    assert entry.entry_type == ("article" if paper["journal_ref"] or paper["doi"] else "misc")
    assert re.fullmatch(r"[a-z]+\d{4}[a-z0-9]+", entry.key)
    assert latex_to_text(found["title"]) == " ".join(paper["title"].split())
    assert [latex_to_text(name) for name in found["author"]] == paper["authors"]
    assert found["eprint"] == paper["id"] and found["archivePrefix"] == "arXiv"
    assert found.get("primaryClass") == paper["primary_category"]
    assert found["url"] == paper["arxiv_url"]
    assert found["year"] == (paper["published"] or paper["first_seen"])[:4]
    versioned = get(live, f"/papers/{paper['id']}v1.bib")
    assert versioned.text == get(live, f"/papers/{paper['id']}.bib").text
    assert entry.key in versioned.headers["content-disposition"]
    page = get(live, f"/papers/{paper['id']}").text
    assert f'href="/papers/{paper["id"]}.bib"' in page and ">Cite</a>" in page


TRICKY_TITLES = [
    "Braces {in} a Title and \\emph{x}",
    "100% of the time: Q&A #1 with a_b",
    "Bounds for $x^2$ and $\\ell_{2,p}$-norms",
    "Tildes ~ and carets ^ and a lone $ sign",
    "BERT and GPT-4 on ImageNet: 3D π_RL",
]
TRICKY_AUTHORS = ["Jürgen Müller", "Zoë Ångström-Łukasiewicz", "李雷", "ATLAS and CMS Teams"]


def test_bibtex_round_trips_tricky_text(live: LiveServer) -> None:
    records = [
        IngestRecord(
            Paper(
                arxiv_id=f"0004.{number:05d}",
                title=title,
                abstract="A.",
                authors=TRICKY_AUTHORS,
                categories=["hep-th", "cs.LG"],
                journal_ref="J. Stat. Mech. & Co 10% (2024)" if number == 1 else None,
                doi="10.1000/xyz_123" if number == 1 else None,
                published=datetime(2024, 3, 1),
            ),
            "test",
            f"test:{number}",
        )
        for number, title in enumerate(TRICKY_TITLES)
    ]
    live.store.write_batch(records)
    for record in records:
        paper = record.paper
        entry = get_bibtex(live, paper.arxiv_id)
        found = fields(entry)
        assert latex_to_text(found["title"]) == paper.title
        assert [latex_to_text(name) for name in found["author"]] == TRICKY_AUTHORS
        assert entry.key.startswith("muller2024")
        assert found["primaryClass"] == "hep-th" and found["year"] == "2024"
        if paper.journal_ref:
            assert entry.entry_type == "article"
            assert latex_to_text(found["journal"]) == paper.journal_ref
            assert found["doi"] == paper.doi
        else:
            assert entry.entry_type == "misc" and "journal" not in found
    title = fields(get_bibtex(live, "0004.00004"))["title"]
    assert "{BERT}" in title and "{ImageNet:}" in title and "{3D}" in title  # case kept
    assert "{$x^2$}" in fields(get_bibtex(live, "0004.00002"))["title"]  # maths stays maths
