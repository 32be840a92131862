"""A papers API shaped like the Hugging Face Hub's, so that ``huggingface_hub`` works
unchanged against a paperfeed server: ``HfApi(endpoint="https://papers.example.org")`` then
``list_daily_papers``, ``list_papers``, ``paper_info`` and ``read_paper``.

    GET /api/daily_papers   ?date= | ?week= | ?month=, &submitter= &sort= &p= &limit=
    GET /api/papers/search  ?q= &limit=   (paperfeed's hybrid search)
    GET /api/papers/{id}    one paper
    GET /papers/{id}.md     one paper as Markdown

Field names and nesting follow the Hub's recorded responses (``/api/daily_papers`` items
carry a ``paper`` object); only what paperfeed knows is served. Errors are
``{"error": message}`` with an ``X-Error-Message`` header, which the client turns into an
``HfHubHTTPError`` (``BadRequestError`` for 400).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from datetime import date, datetime, time
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

from paperfeed.models import FeedItem, InvalidArxivId, PaperDetail, split_arxiv_id
from paperfeed.rank.daily_list import ALL_TIME, daily_list
from paperfeed.rank.feeds import Period, PeriodError, parse_period
from paperfeed.rank.trending import Trending, feed_now
from paperfeed.search import QuerySyntaxError, Searcher
from paperfeed.store import Store
from paperfeed.store.hfcompat import HfCompatStore

from .responses import HTML, Answers, ErrorBody, document, whole_number
from .responses import app_settings as _settings
from .responses import app_store as _store

DEFAULT_LIMIT = 50  # as on the Hub
MAX_LIMIT = 100
MAX_PAGE = 100_000
# The Hub's sort names -> paperfeed's feed orders. Without one, a day, week or month is in
# upvote order (as the Hub's recorded date listings are), the whole history newest first.
SORTS = {"publishedAt": "new", "trending": "trending"}


class HubError(Exception):
    """An error answered the way the Hub answers it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> Response:
        header = "".join(c if " " <= c <= "~" else "?" for c in self.message)  # printable ASCII
        return JSONResponse(
            {"error": self.message},
            status_code=self.status,
            headers={"X-Error-Message": header},
        )


class HubErrorBody(BaseModel):
    """A :class:`HubError` as the client sees it (the message again in X-Error-Message)."""

    error: str


HUB_ERRORS: Answers = {
    400: {"model": HubErrorBody, "description": "A bad parameter"},
    404: {
        "model": HubErrorBody | ErrorBody,
        "description": "No such paper; or, for an id no route takes (a line break), the "
        "site's own error (an HTML page off /api/)",
        "content": HTML,
    },
}


class _HubRoute(APIRoute):
    """Routes whose :class:`HubError` becomes a Hub-shaped answer (the app's own error
    pages have another shape)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except HubError as exc:
                return exc.response()

        return answer


router = APIRouter(route_class=_HubRoute, tags=["Hugging Face compatible"], responses=HUB_ERRORS)


# -- JSON in the Hub's shape --------------------------------------------------------------


def hub_time(value: date | datetime) -> str:
    """``2025-12-01T17:34:15.000Z``: UTC with milliseconds, as the Hub writes times."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0))
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"


def user_json(name: str) -> dict[str, str]:
    """A submitter; ``user`` is what the client reads as the username."""
    return {"name": name, "user": name, "fullname": name, "type": "user"}


def paper_json(item: FeedItem) -> dict[str, Any]:
    """The Hub's paper object, with the item's day on the feed and its submitter."""
    paper = item.paper
    data: dict[str, Any] = {
        "id": paper.arxiv_id,
        "authors": [{"name": name, "hidden": False} for name in paper.authors],
        "title": paper.title,
        "summary": paper.abstract,
        "upvotes": paper.upvotes,
    }
    published = paper.published or paper.first_seen  # the site's shown date
    if published:
        data["publishedAt"] = hub_time(published)
    if item.day:
        data["submittedOnDailyAt"] = hub_time(item.day)
    if item.submitted_by:
        data["submittedOnDailyBy"] = user_json(item.submitted_by)
    return data


def daily_paper_json(item: FeedItem, comments: int) -> dict[str, Any]:
    """An item of ``/api/daily_papers``. The client takes ``id``, ``authors``,
    ``publishedAt`` (the arXiv date), ``summary`` and ``upvotes`` from the nested paper,
    the rest from the top: ``title``, ``numComments``, ``submittedBy`` and, as the day the
    paper appeared on the feed, the top ``publishedAt``. ``upvotes`` is repeated on top
    because the client skips a nested 0 (``paper.get("upvotes") or top.get("upvotes")``)."""
    paper = paper_json(item)
    data: dict[str, Any] = {"paper": paper}
    if "submittedOnDailyAt" in paper:
        data["publishedAt"] = paper["submittedOnDailyAt"]
    data |= {"title": item.paper.title, "summary": item.paper.abstract}
    data["numComments"] = comments
    if "submittedOnDailyBy" in paper:
        data["submittedBy"] = paper["submittedOnDailyBy"]
    data["upvotes"] = item.paper.upvotes
    return data


def paper_info_json(detail: PaperDetail, comments: int) -> dict[str, Any]:
    """``/api/papers/{id}``: the paper object, flat, with its comment count."""
    first_day = detail.feed_days[0] if detail.feed_days else None
    return paper_json(FeedItem(detail.paper, first_day, detail.submitted_by)) | {
        "numComments": comments
    }


def paper_markdown(detail: PaperDetail, comments: int, public_url: str) -> str:
    """The paper page as Markdown: title, authors, links, dates, votes, abstract."""
    paper = detail.paper
    lines = [f"# {' '.join(paper.title.split())}", ""]
    if paper.authors:
        lines.append(f"**Authors:** {', '.join(paper.authors)}")
        lines.append("")
    lines += [
        f"- arXiv: [{paper.arxiv_id}]({paper.abs_url}) ([PDF]({paper.pdf_url}))",
        f"- On paperfeed: {public_url.rstrip('/')}/papers/{paper.arxiv_id}",
    ]
    if paper.published:
        lines.append(f"- Published: {paper.published.date().isoformat()}")
    if detail.feed_days:
        days = ", ".join(day.isoformat() for day in detail.feed_days)
        by = f" (submitted by {detail.submitted_by})" if detail.submitted_by else ""
        lines.append(f"- On the feed: {days}{by}")
    lines.append(f"- Upvotes: {paper.upvotes}")
    lines.append(f"- Comments: {comments}")
    lines += ["", "## Abstract", "", paper.abstract.strip(), ""]
    return "\n".join(lines)


# -- parameters ---------------------------------------------------------------------------


def _number(name: str, raw: str | None, low: int, high: int, default: int) -> int:
    if raw is None or raw == "":
        return default
    number = whole_number(raw, low, high)
    if number is None:
        raise HubError(400, f"{name} must be a whole number from {low} to {high}, not {raw!r}")
    return number


def _period(day: str | None, week: str | None, month: str | None) -> Period:
    labels = (("day", day), ("week", week), ("month", month))
    given = [(kind, label) for kind, label in labels if label]
    if len(given) > 1:
        raise HubError(400, "give one of date, week or month, not several")
    if not given:
        return ALL_TIME
    [(kind, label)] = given
    try:
        return parse_period(kind, label)
    except PeriodError as exc:
        raise HubError(400, str(exc)) from None


def _order(sort: str | None, period: Period) -> str:
    if not sort:
        return "new" if period is ALL_TIME else "top"
    if sort not in SORTS:
        raise HubError(400, f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
    return SORTS[sort]


def _visible_paper(store: Store, arxiv_id: str) -> PaperDetail:
    """The paper, or the Hub's 404 (hidden papers are not there for the API)."""
    try:
        bare, _version = split_arxiv_id(arxiv_id)
    except InvalidArxivId:
        raise HubError(404, f"Paper {arxiv_id!r} not found") from None
    detail = store.paper_detail(bare)
    if detail is None or detail.hidden:
        raise HubError(404, f"Paper {bare} not found")
    return detail


# -- routes -------------------------------------------------------------------------------


def _daily_json(store: Store, items: Sequence[FeedItem]) -> Response:
    counts = HfCompatStore(store).comment_counts(item.paper.arxiv_id for item in items)
    return JSONResponse(
        [daily_paper_json(item, counts.get(item.paper.arxiv_id, 0)) for item in items]
    )


def _listing(
    request: Request,
    period: Period,
    order: str,
    submitter: str | None,
    page: int,
    limit: int,
) -> list[FeedItem]:
    store, settings = _store(request), _settings(request)
    now: datetime = request.app.state.clock()
    if order == "trending":
        now = feed_now(now, store.latest_day())
    return daily_list(
        store,
        period,
        order,
        submitter=submitter or None,
        page=page,
        limit=limit,
        now=now,
        trending=Trending(settings.trending_gravity),
    )


@router.get("/api/daily_papers", summary="Hugging Face-style daily papers (list_daily_papers)")
def daily_papers(
    request: Request,
    day: str | None = Query(None, alias="date", description="a day, YYYY-MM-DD"),
    week: str | None = Query(None, description="an ISO week, YYYY-Www"),
    month: str | None = Query(None, description="a month, YYYY-MM"),
    submitter: str | None = Query(None, description="only this user's submissions"),
    sort: str | None = Query(None, description="publishedAt (newest first) or trending"),
    p: str | None = Query(None, description="page number, from 0"),
    limit: str | None = Query(None, description=f"papers per page, 1-{MAX_LIMIT}"),
) -> Response:
    period = _period(day, week, month)
    order = _order(sort, period)
    page = _number("p", p, 0, MAX_PAGE, 0)
    size = _number("limit", limit, 1, MAX_LIMIT, DEFAULT_LIMIT)
    return _daily_json(_store(request), _listing(request, period, order, submitter, page, size))


@router.get("/api/papers/search", summary="Hugging Face-style search (HfApi.list_papers)")
def search_papers(
    request: Request,
    q: str | None = Query(None, description="paperfeed's query language, hybrid search"),
    limit: str | None = Query(None, description=f"at most this many papers, 1-{MAX_LIMIT}"),
) -> Response:
    size = _number("limit", limit, 1, MAX_LIMIT, DEFAULT_LIMIT)
    store = _store(request)
    if not (q or "").strip():  # no query: the newest papers
        return _daily_json(store, _listing(request, ALL_TIME, "new", None, 0, size))
    searcher: Searcher = request.app.state.searcher
    try:
        results = searcher.search(q or "", mode="hybrid", page=1, page_size=size)
    except QuerySyntaxError as exc:
        raise HubError(400, str(exc)) from None
    firsts = HfCompatStore(store).first_entries(hit.paper.arxiv_id for hit in results.hits)
    items = [
        FeedItem(hit.paper, first.day, first.submitted_by)
        if (first := firsts.get(hit.paper.arxiv_id))
        else FeedItem(hit.paper, None)
        for hit in results.hits
    ]
    return _daily_json(store, items)


@router.get("/api/papers/{arxiv_id:path}", summary="Hugging Face-style paper (HfApi.paper_info)")
def paper_info(request: Request, arxiv_id: str) -> Response:
    store = _store(request)
    detail = _visible_paper(store, arxiv_id)
    comments = HfCompatStore(store).comment_counts([detail.paper.arxiv_id])
    return JSONResponse(paper_info_json(detail, comments.get(detail.paper.arxiv_id, 0)))


@router.get(
    "/papers/{arxiv_id:path}.md",
    summary="A paper as Markdown (HfApi.read_paper)",
    **document("text/markdown", "The paper as Markdown"),
)
def paper_as_markdown(request: Request, arxiv_id: str) -> Response:
    store = _store(request)
    detail = _visible_paper(store, arxiv_id)
    comments = HfCompatStore(store).comment_counts([detail.paper.arxiv_id])
    text = paper_markdown(
        detail, comments.get(detail.paper.arxiv_id, 0), _settings(request).public_url
    )
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")
