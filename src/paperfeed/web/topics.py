"""The topics page: the papers of a day, week or month clustered into topics, as cards and
a map, and its JSON twin; and the feed's ``?topic=N`` filter, which reads the same topics."""

from __future__ import annotations

import datetime
import re
import threading
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from paperfeed.models import FeedPage, Paper
from paperfeed.personal.topics import K_MAX, Topic, TopicIndex, TopicSet, map_svg
from paperfeed.rank.feeds import KINDS, Period, PeriodError, latest_period, parse_period, period_of
from paperfeed.search.embed import MODEL_NAME
from paperfeed.store import Store

from . import present
from .responses import PAGE, PageError, render, whole_number
from .responses import app_store as _store

router = APIRouter()
MEMBERS_SHOWN = 4  # papers listed on a topic card besides its medoid
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_index_lock = threading.Lock()


def topic_index(request: Request) -> TopicIndex:
    """The app's :class:`TopicIndex`, made on first use (it holds the cached clusterings)."""
    with _index_lock:
        index: TopicIndex | None = getattr(request.app.state, "topic_index", None)
        if index is None:
            index = request.app.state.topic_index = TopicIndex(_store(request), MODEL_NAME)
        return index


def feed_url(period: Period) -> str:
    return f"/?date={period.label}" if period.kind == "day" else f"/{period.kind}/{period.label}"


def topic_feed_url(period: Period, number: int) -> str:
    """The feed of ``period`` keeping only topic ``number``'s papers."""
    return f"{feed_url(period)}{'&' if period.kind == 'day' else '?'}topic={number}"


def parse_topic(raw: str) -> int:
    number = whole_number(raw, 1, K_MAX)
    if number is None:
        raise PageError(400, "bad_topic", f"topic must be a number from 1 to {K_MAX}, not {raw!r}")
    return number


def _period(store: Store, kind: str | None, day: str | None) -> Period | None:
    """The period asked for: ``kind`` (default week) holding ``day`` (YYYY-MM-DD, or the
    period's own label, 2025-W50), the latest one without ``day``; None for an empty feed."""
    kind = kind or "week"
    if kind not in KINDS:
        raise PageError(
            400, "bad_period", f"period must be one of {', '.join(KINDS)}, not {kind!r}"
        )
    if not day:
        return latest_period(store, kind)
    try:
        if _DAY.match(day):
            return period_of(kind, parse_period("day", day).start)
        return parse_period(kind, day)
    except PeriodError as exc:
        raise PageError(400, "bad_date", str(exc)) from None


def _paper_link(paper: Paper) -> dict[str, str]:
    return {"id": paper.arxiv_id, "title": paper.title, "url": f"/papers/{paper.arxiv_id}"}


def topic_json(topic: Topic, period: Period, papers: dict[str, Paper]) -> dict[str, Any]:
    """A topic card: its terms, size, medoid paper and most typical members (the papers
    readers may see; a hidden one is left out)."""
    typical = [pid for pid in topic.members[1 : 1 + MEMBERS_SHOWN] if pid in papers]
    medoid = papers.get(topic.medoid)
    return {
        "number": topic.number,
        "label": topic.label,
        "terms": topic.terms,
        "size": topic.size,
        "css_class": topic.css_class,
        "medoid": _paper_link(medoid) if medoid else None,
        "members": [_paper_link(papers[pid]) for pid in typical],
        "feed_url": topic_feed_url(period, topic.number),
    }


def topics_json(topic_set: TopicSet, period: Period, store: Store) -> dict[str, Any]:
    """The page's data: the topics and how they were found, the map, the neighbouring
    periods. Two queries besides the clustering (which is cached)."""
    shown = [pid for t in topic_set.topics for pid in t.members[: 1 + MEMBERS_SHOWN]]
    papers = store.search.papers(shown)
    before, after = store.neighbour_days(period.start, period.end)
    heading = present.period_heading(
        FeedPage(period.kind, period.label, period.start, period.end, [], 0, 1, 1)
    )

    def topics_url(day: datetime.date | None) -> str | None:
        return f"/topics?period={period.kind}&date={day.isoformat()}" if day else None

    return {
        "kind": period.kind,
        "label": period.label,
        "heading": heading,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "feed_url": feed_url(period),
        "previous_url": topics_url(before),
        "next_url": topics_url(after),
        "periods": {
            kind: f"/topics?period={kind}&date={period.start.isoformat()}" for kind in KINDS
        },
        "papers": topic_set.papers,
        "k": len(topic_set.topics),
        "k_by": topic_set.k_by,
        "silhouette": None if topic_set.silhouette is None else round(topic_set.silhouette, 4),
        "silhouettes": {str(k): round(v, 4) for k, v in topic_set.silhouettes.items()},
        "sample": topic_set.sample,
        "seconds": round(topic_set.seconds, 3),
        "topics": [topic_json(t, period, papers) for t in topic_set.topics],
        "map_svg": map_svg(topic_set, f"Map of the {topic_set.papers:,} papers of {heading}")
        if topic_set.topics
        else None,
    }


def _topics_data(request: Request, period: str | None, date: str | None) -> dict[str, Any]:
    """The topics as the silhouette chooses them: the page has no ``k`` (``paperfeed
    topics --k`` has), so that a card's number is the one the feed's ``?topic=`` reads."""
    store = _store(request)
    chosen = _period(store, period, date)
    if chosen is None:
        raise PageError(404, "empty_feed", "No papers yet: import some with `paperfeed import`.")
    return topics_json(topic_index(request).topics(chosen), chosen, store)


def chosen_topic(request: Request, period: Period, raw: str) -> Topic:
    """Topic ``raw`` (a number) of ``period``, for the feed's ``?topic=`` filter."""
    number = parse_topic(raw)
    topic = topic_index(request).topics(period).topic(number)
    if topic is None:
        topics_url = f"/topics?period={period.kind}&date={period.start.isoformat()}"
        message = f"{period.label} has no topic {number}."
        raise PageError(404, "unknown_topic", message, {"topics": topics_url})
    return topic


@router.get(
    "/topics",
    summary="Topics of a day, week or month: ?period=day|week|month&date=YYYY-MM-DD",
    responses=PAGE,
)
def topics(request: Request, period: str | None = None, date: str | None = None) -> Response:
    return render(request, "topics.html", _topics_data(request, period, date))


@router.get("/api/v1/topics", summary="Topics as JSON (same parameters as /topics)")
def api_topics(request: Request, period: str | None = None, date: str | None = None) -> Response:
    return JSONResponse(_topics_data(request, period, date))
