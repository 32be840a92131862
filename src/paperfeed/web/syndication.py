"""Atom feeds and BibTeX: the site's lists and papers for feed readers and reference
managers. Each feed holds the first page of the HTML page it follows, in the same order.

Included before :mod:`.routes`, whose ``/papers/{id}`` would otherwise take ``/papers/{id}.bib``.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from paperfeed.export import FeedInfo, atom_feed, bibtex_entry, citation_key
from paperfeed.models import FeedPage, InvalidArxivId, Paper, split_arxiv_id
from paperfeed.rank.feeds import Period, PeriodError, feed_page, latest_period, parse_period
from paperfeed.rank.trending import Trending, feed_now, ordered_page
from paperfeed.search import QuerySyntaxError, Searcher, SearchResults
from paperfeed.store import Store

from .present import period_heading
from .responses import PageError, document
from .responses import app_settings as _settings
from .responses import app_store as _store
from .routes import SEARCH_PAGE_SIZE
from .topics import chosen_topic

router = APIRouter()
ATOM = "application/atom+xml"
ATOM_FEED = document(ATOM, "The Atom feed")


def _public(request: Request, path: str, **query: str | None) -> str:
    """The absolute address of ``path`` (with the non-empty ``query`` parameters)."""
    params = urlencode({name: value for name, value in query.items() if value})
    return _settings(request).public_url.rstrip("/") + path + (f"?{params}" if params else "")


def _atom(request: Request, info: FeedInfo, papers: Sequence[Paper]) -> Response:
    settings = _settings(request)
    xml = atom_feed(
        info,
        papers,
        public_url=settings.public_url,
        site_name=settings.site_name,
        now=request.app.state.clock(),
    )
    return Response(xml, media_type=f"{ATOM}; charset=utf-8")


def _latest(store: Store, kind: str) -> Period:
    period = latest_period(store, kind)
    if period is None:
        raise PageError(404, "empty_feed", "No papers yet: import some with `paperfeed import`.")
    return period


def _ordered(
    request: Request, period: Period, order: str, topic: str | None
) -> tuple[FeedPage, str]:
    """The first page of ``period`` in ``order``, of topic ``topic`` only when given (the
    number the /topics page and the feed's ``?topic=`` give it), and what to add to the
    feed's title for the topic."""
    store, settings = _store(request), _settings(request)
    chosen = chosen_topic(request, period, topic) if topic is not None else None
    if order == "top" and chosen is None:
        return feed_page(store, period, page_size=settings.page_size), ""
    page, _why = ordered_page(
        store,
        period,
        order,
        now=feed_now(request.app.state.clock(), store.latest_day()),
        trending=Trending(settings.trending_gravity),
        page_size=settings.page_size,
        only=set(chosen.members) if chosen is not None else None,
    )
    return page, f" · Topic {chosen.number}: {chosen.label}" if chosen is not None else ""


@router.get(
    "/feeds/daily.atom",
    summary="Atom feed of the daily papers (latest day, or ?date=; ?topic=N: one topic's)",
    **ATOM_FEED,
)
def daily_atom(request: Request, date: str | None = None, topic: str | None = None) -> Response:
    store, settings = _store(request), _settings(request)
    try:
        period = parse_period("day", date) if date else _latest(store, "day")
    except PeriodError as exc:
        raise PageError(400, "bad_date", str(exc)) from None
    page, of_topic = _ordered(request, period, "top", topic)
    on = f" · {period_heading(page)}" if date else ""
    info = FeedInfo(
        title=f"{settings.site_name} · Daily Papers{on}{of_topic}",
        subtitle=f"The most upvoted papers of {period_heading(page)}{of_topic}",
        self_url=_public(request, "/feeds/daily.atom", date=date, topic=topic),
        page_url=_public(request, "/", date=date, topic=topic),
    )
    return _atom(request, info, [item.paper for item in page.items])


@router.get(
    "/feeds/trending.atom",
    summary="Atom feed of the latest week, trending first (?topic=N: one topic's)",
    **ATOM_FEED,
)
def trending_atom(request: Request, topic: str | None = None) -> Response:
    settings = _settings(request)
    period = _latest(_store(request), "week")
    page, of_topic = _ordered(request, period, "trending", topic)
    info = FeedInfo(
        title=f"{settings.site_name} · Trending papers{of_topic}",
        subtitle=f"Trending in {period_heading(page)}{of_topic}: upvotes decayed by age",
        self_url=_public(request, "/feeds/trending.atom", topic=topic),
        page_url=_public(request, f"/week/{period.label}", sort="trending", topic=topic),
    )
    return _atom(request, info, [item.paper for item in page.items])


def _search(
    request: Request, text: str, sort: str | None, page_size: int, code: str = "bad_query"
) -> SearchResults:
    searcher: Searcher = request.app.state.searcher
    try:
        return searcher.search(text, sort=sort, page_size=page_size)
    except QuerySyntaxError as exc:
        raise PageError(400, code, str(exc), {"search help": "/search"}) from None


@router.get("/feeds/search.atom", summary="Atom feed of a search: ?q= (and ?sort=)", **ATOM_FEED)
def search_atom(request: Request, q: str = "", sort: str | None = None) -> Response:
    settings = _settings(request)
    results = _search(request, q, sort or None, SEARCH_PAGE_SIZE)
    info = FeedInfo(
        title=f"{settings.site_name} · Search: {results.query.canonical()}",
        subtitle=f"The best matches for {q.strip()}",
        self_url=_public(request, "/feeds/search.atom", q=q, sort=sort),
        page_url=_public(request, "/search", q=q, sort=sort),
    )
    return _atom(request, info, [hit.paper for hit in results.hits])


@router.get(
    "/feeds/category/{category}.atom",
    summary="Atom feed of a category, newest first",
    **ATOM_FEED,
)
def category_atom(request: Request, category: str) -> Response:
    settings = _settings(request)
    if not category or any(char.isspace() or char == '"' for char in category):
        raise PageError(400, "bad_category", f"{category!r} is not an arXiv category (like cs.LG)")
    results = _search(request, f"cat:{category}", "date", settings.page_size, "bad_category")
    info = FeedInfo(
        title=f"{settings.site_name} · {category}",
        subtitle=f"The newest papers in {category}",
        self_url=_public(request, f"/feeds/category/{category}.atom"),
        page_url=_public(request, "/search", q=f"cat:{category}", sort="date"),
    )
    return _atom(request, info, [hit.paper for hit in results.hits])


@router.get(
    "/papers/{arxiv_id:path}.bib",
    summary="A paper's BibTeX entry",
    **document("text/x-bibtex", "The BibTeX entry"),
)
def paper_bibtex(request: Request, arxiv_id: str) -> Response:
    try:
        bare, _version = split_arxiv_id(arxiv_id)
    except InvalidArxivId as exc:
        raise PageError(404, "bad_arxiv_id", str(exc)) from None
    paper = _store(request).search.papers([bare]).get(bare)  # None when hidden
    if paper is None:
        raise PageError(404, "unknown_paper", f"No paper {bare} here.")
    disposition = f'inline; filename="{citation_key(paper)}.bib"'
    return Response(
        bibtex_entry(paper),
        media_type="text/x-bibtex; charset=utf-8",
        headers={"Content-Disposition": disposition},
    )
