"""Routes: thin shells that parse the request, ask the library, and render."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from paperfeed.models import InvalidArxivId, split_arxiv_id
from paperfeed.rank.feeds import (
    Period,
    PeriodError,
    calendar_state,
    empty_day_reason,
    feed_page,
    latest_period,
    parse_period,
)
from paperfeed.rank.trending import OrderError, Trending, check_order, feed_now, ordered_page
from paperfeed.search import MODES, QuerySyntaxError, Searcher

from . import present
from .auth import THEME_COOKIE, THEMES, current_user, safe_next, set_cookie
from .personal import mark_cards, paper_state
from .responses import PAGE, SEE_OTHER, PageError, redirect, render, wants_json, whole_number
from .responses import app_settings as _settings
from .responses import app_store as _store
from .topics import chosen_topic, topic_feed_url

router = APIRouter()
RELATED = 5  # related papers on a paper page
SEARCH_PAGE_SIZE = 20


def _page_number(raw: str | None) -> int:
    if raw is None:
        return 1
    number = whole_number(raw, 1, 100_000)
    if number is None:
        raise PageError(400, "bad_page", f"page must be a positive number, not {raw!r}")
    return number


def _feed_data(
    request: Request,
    kind: str,
    label: str | None,
    page: str | None,
    sort: str | None = None,
    topic: str | None = None,
) -> dict[str, Any]:
    store, settings = _store(request), _settings(request)
    try:
        order = check_order(sort)
    except OrderError as exc:
        raise PageError(400, "bad_sort", str(exc)) from None
    period: Period | None
    if label is None:
        period = latest_period(store, kind)
        if period is None:
            raise PageError(
                404, "empty_feed", "No papers yet: import some with `paperfeed import`."
            )
    else:
        try:
            period = parse_period(kind, label)
        except PeriodError as exc:
            raise PageError(400, "bad_date", str(exc)) from None
    number = _page_number(page)
    now = request.app.state.clock()
    why: dict[str, Any] = {}
    chosen = chosen_topic(request, period, topic) if topic is not None else None
    if order == "top" and chosen is None:
        result = feed_page(store, period, page=number, page_size=settings.page_size)
    else:
        result, why = ordered_page(
            store,
            period,
            order,
            now=feed_now(now, store.latest_day()),
            trending=Trending(settings.trending_gravity),
            page=number,
            page_size=settings.page_size,
            only=set(chosen.members) if chosen is not None else None,
        )
    data = present.feed_json(result, settings.abstract_preview_chars)
    data["sort"] = order
    if chosen is not None:
        data["topic"] = {"number": chosen.number, "label": chosen.label}
        data["topic_url"] = topic_feed_url(period, chosen.number)
    for card in data["papers"]:
        if card["id"] in why:
            card["trending"] = why[card["id"]]
    calendar = request.app.state.calendar
    if result.total == 0:
        code, message = "no_papers", f"No papers on the feed for {period.label}."
        if kind == "day":
            code, message = empty_day_reason(calendar, now, period.start)
        links = {
            f"previous {kind}" if code == "no_papers" else "last day with papers": data[
                "previous_url"
            ],
            f"next {kind}": data["next_url"],
        }
        raise PageError(404, code, message, {name: url for name, url in links.items() if url})
    if kind == "day":
        state = calendar_state(calendar, now, period.start, is_latest=label is None)
        data["calendar"] = present.calendar_json(state)
    if number > result.pages:
        raise PageError(404, "no_such_page", f"{period.label} has only {result.pages} page(s).")
    _mark_votes(request, data["papers"])
    return data


def _bare_id(arxiv_id: str) -> str:
    """The id without its version; a 404 for what is no arXiv id."""
    try:
        return split_arxiv_id(arxiv_id)[0]
    except InvalidArxivId as exc:
        raise PageError(404, "bad_arxiv_id", str(exc)) from None


def _paper_data(request: Request, arxiv_id: str) -> dict[str, Any]:
    bare = _bare_id(arxiv_id)
    store = _store(request)
    detail = store.paper_detail(bare)
    viewer = current_user(request)
    hidden = detail is not None and detail.hidden
    if detail is None or (hidden and not (viewer and viewer.is_moderator)):
        raise PageError(404, "unknown_paper", f"No paper {bare} here.")
    data = present.paper_page_json(detail)
    data["hidden"] = hidden
    data["paper"]["voted"] = bool(viewer and store.community.voted(viewer.id, [bare]))
    if viewer is not None:  # the reader's own: Save, Not interested, tags, note, follows
        mine = data["personal"] = paper_state(request, viewer, bare, detail.paper.authors)
        data["paper"].update(saved=mine["saved"], dismissed=mine["dismissed"])
    data["comments"] = present.comments_json(
        store.community.comments_for(bare),
        viewer.id if viewer else None,
        bool(viewer and viewer.is_moderator),
    )
    data["related"] = present.related_json(_searcher(request).related(bare, RELATED))
    return data


def _mark_votes(request: Request, cards: list[dict[str, Any]]) -> None:
    """Flag the cards the viewer has upvoted (one query; nothing for visitors)."""
    viewer = current_user(request)
    if viewer is None or not cards:
        return
    voted = _store(request).community.voted(viewer.id, [card["id"] for card in cards])
    for card in cards:
        card["voted"] = card["id"] in voted
    mark_cards(request, cards)


def _searcher(request: Request) -> Searcher:
    searcher: Searcher = request.app.state.searcher
    return searcher


def _search_data(
    request: Request, q: str | None, mode: str | None, sort: str | None, page: str | None
) -> dict[str, Any]:
    settings = _settings(request)
    mode = mode or "hybrid"
    if mode not in MODES:
        raise PageError(400, "bad_mode", f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    number = _page_number(page)
    form = {"q": q or "", "mode": mode, "sort": sort or ""}
    if not (q or "").strip():
        return {"form": form, "query": None, "papers": [], "total": 0, "pages": 0}
    try:
        results = _searcher(request).search(
            q or "", mode=mode, sort=sort or None, page=number, page_size=SEARCH_PAGE_SIZE
        )
    except QuerySyntaxError as exc:
        raise PageError(400, "bad_query", str(exc), {"search help": "/search"}) from None
    data = present.search_json(results, settings.abstract_preview_chars)
    data["form"] = form
    if results.total and number > results.pages:
        raise PageError(404, "no_such_page", f"The search has only {results.pages} page(s).")
    _mark_votes(request, data["papers"])
    return data


# -- HTML pages (JSON with Accept: application/json) --------------------------------------


@router.get("/", summary="Daily feed: the latest day, or ?date=YYYY-MM-DD", responses=PAGE)
def daily(
    request: Request,
    date: str | None = None,
    page: str | None = None,
    sort: str | None = None,
    topic: str | None = None,
) -> Response:
    return render(request, "feed.html", _feed_data(request, "day", date, page, sort, topic))


@router.get("/week", summary="The latest week", **redirect(307, "The latest week's page"))
def latest_week(request: Request, sort: str | None = None) -> Response:
    return _redirect_to_latest(request, "week", sort)


@router.get("/month", summary="The latest month", **redirect(307, "The latest month's page"))
def latest_month(request: Request, sort: str | None = None) -> Response:
    return _redirect_to_latest(request, "month", sort)


def _redirect_to_latest(request: Request, kind: str, sort: str | None) -> Response:
    period = latest_period(_store(request), kind)
    if period is None:
        raise PageError(404, "empty_feed", "No papers yet: import some with `paperfeed import`.")
    query = f"?sort={check_order(sort)}" if sort in ("trending", "new") else ""
    return RedirectResponse(f"/{kind}/{period.label}{query}", status_code=307)


@router.get("/week/{label}", summary="Papers of an ISO week, e.g. 2025-W50", responses=PAGE)
def weekly(
    request: Request,
    label: str,
    page: str | None = None,
    sort: str | None = None,
    topic: str | None = None,
) -> Response:
    return render(request, "feed.html", _feed_data(request, "week", label, page, sort, topic))


@router.get("/month/{label}", summary="Papers of a month, e.g. 2025-12", responses=PAGE)
def monthly(
    request: Request,
    label: str,
    page: str | None = None,
    sort: str | None = None,
    topic: str | None = None,
) -> Response:
    return render(request, "feed.html", _feed_data(request, "month", label, page, sort, topic))


@router.get(
    "/papers/{arxiv_id:path}/abstract",
    summary="A card's abstract: its preview, or the whole abstract with ?full=1 (for HTMX)",
    responses=PAGE,
)
def abstract(request: Request, arxiv_id: str, full: str | None = None) -> Response:
    bare = _bare_id(arxiv_id)
    store = _store(request)
    paper = store.get_paper(bare)
    if paper is None or store.community.paper_hidden(bare):
        raise PageError(404, "unknown_paper", f"No paper {bare} here.")
    preview = _settings(request).abstract_preview_chars
    data = present.abstract_json(paper, preview, full=full == "1")
    return render(request, "abstract_fragment.html", data)


@router.get("/papers/{arxiv_id:path}", summary="One paper", responses=PAGE)
def paper(request: Request, arxiv_id: str) -> Response:
    return render(request, "paper.html", _paper_data(request, arxiv_id))


@router.get(
    "/search",
    summary='Search: ?q=words "a phrase" -not author: cat: year: since:',
    responses=PAGE,
)
def search(
    request: Request,
    q: str | None = None,
    mode: str | None = None,
    sort: str | None = None,
    page: str | None = None,
) -> Response:
    return render(request, "search.html", _search_data(request, q, mode, sort, page))


@router.post(
    "/theme",
    summary="Light or dark pages, or as the system says (theme=light|dark|system)",
    **SEE_OTHER,
    responses={200: {"description": "With Accept: application/json, the theme chosen"}},
)
def choose_theme(request: Request, theme: str = Form("system"), next: str = Form("/")) -> Response:
    if theme not in THEMES:
        raise PageError(400, "bad_theme", f"theme must be one of {', '.join(THEMES)}")
    response: Response = (
        JSONResponse({"theme": theme})
        if wants_json(request)
        else RedirectResponse(safe_next(next), status_code=303)
    )
    if theme == "system":
        response.delete_cookie(THEME_COOKIE, path="/", httponly=True, samesite="lax")
    else:
        set_cookie(request, response, THEME_COOKIE, theme, 400 * 86400)
    return response


@router.get("/healthz", include_in_schema=False)
def health(request: Request) -> Response:
    _store(request).check()
    state = request.app.state
    return JSONResponse(
        {
            "status": "ok",
            "search": state.searcher.status(),
            "recommendations": state.features.status,  # building, ready, empty or failed
        }
    )


# -- JSON twins under /api/v1 -------------------------------------------------------------


@router.get("/api/v1/feed", summary="Daily feed as JSON (latest day, or ?date=)")
def api_daily(
    request: Request,
    date: str | None = None,
    page: str | None = None,
    sort: str | None = None,
    topic: str | None = None,
) -> Response:
    return JSONResponse(_feed_data(request, "day", date, page, sort, topic))


@router.get("/api/v1/week/{label}", summary="Weekly feed as JSON")
def api_weekly(
    request: Request,
    label: str,
    page: str | None = None,
    sort: str | None = None,
    topic: str | None = None,
) -> Response:
    return JSONResponse(_feed_data(request, "week", label, page, sort, topic))


@router.get("/api/v1/month/{label}", summary="Monthly feed as JSON")
def api_monthly(
    request: Request,
    label: str,
    page: str | None = None,
    sort: str | None = None,
    topic: str | None = None,
) -> Response:
    return JSONResponse(_feed_data(request, "month", label, page, sort, topic))


@router.get("/api/v1/search", summary="Search results as JSON (same parameters as /search)")
def api_search(
    request: Request,
    q: str | None = None,
    mode: str | None = None,
    sort: str | None = None,
    page: str | None = None,
) -> Response:
    return JSONResponse(_search_data(request, q, mode, sort, page))


@router.get(
    "/api/v1/papers/{arxiv_id:path}/related", summary="Nearest papers by embedding (?limit=1..50)"
)
def api_related(request: Request, arxiv_id: str, limit: str | None = None) -> Response:
    bare = _bare_id(arxiv_id)
    detail = _store(request).paper_detail(bare)
    if detail is None or detail.hidden:
        raise PageError(404, "unknown_paper", f"No paper {bare} here.")
    count = RELATED if limit is None else whole_number(limit, 1, 50)
    if count is None:
        raise PageError(400, "bad_limit", f"limit must be a number from 1 to 50, not {limit!r}")
    related = present.related_json(_searcher(request).related(bare, count))
    return JSONResponse({"id": bare, "related": related})


@router.get("/api/v1/papers/{arxiv_id:path}", summary="One paper as JSON")
def api_paper(request: Request, arxiv_id: str) -> Response:
    return JSONResponse(_paper_data(request, arxiv_id))
