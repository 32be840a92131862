"""The feed as Hugging Face's ``/api/daily_papers`` lists it: a day, an ISO week, a month or
the whole history; optionally only one submitter's papers; in the "top", "new" or "trending"
order of the site's feed pages; one page given by a 0-based number and a size.

The orders are those of :meth:`Store.feed` ("top") and :func:`~.trending.ordered_page`
("new", "trending"), with the same scores and tie-breaks; ``tests/web/test_hf_compat.py``
checks that they agree with the site's pages.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from paperfeed.models import FeedItem
from paperfeed.store import Store
from paperfeed.store.hfcompat import HfCompatStore
from paperfeed.store.store import FeedRow

from .feeds import Period
from .trending import Trending, age_hours

ALL_TIME = Period("all", "all", date(1, 1, 1), date(9999, 12, 31))


def order_rows(
    rows: list[FeedRow], order: str, *, now: datetime, trending: Trending
) -> list[FeedRow]:
    """``rows`` best first: "top" (most upvoted, then newest), "new" (newest on arXiv) or
    "trending" (votes decayed by hours on the feed)."""
    if order == "trending":
        scores = {r.arxiv_id: trending.score(r.upvotes, age_hours(r.day, now)) for r in rows}
        return sorted(rows, key=lambda r: (scores[r.arxiv_id], r.upvotes, r.arxiv_id), reverse=True)
    if order == "new":
        return sorted(rows, key=lambda r: (r.shown, r.arxiv_id), reverse=True)
    return sorted(rows, key=lambda r: (r.upvotes, r.shown, r.arxiv_id), reverse=True)


def daily_list(
    store: Store,
    period: Period,
    order: str,
    *,
    submitter: str | None = None,
    page: int = 0,
    limit: int = 50,
    now: datetime,
    trending: Trending,
) -> list[FeedItem]:
    """Page ``page`` (from 0) of ``limit`` papers of ``period`` in ``order``; with
    ``submitter``, only the papers that user put on the feed then. Hidden papers are left
    out. Two queries (three with a submitter), whatever the period and the page."""
    rows = store.feed_rows(period.start, period.end)
    if submitter is not None:
        names = HfCompatStore(store).submissions(period.start, period.end, submitter)
        rows = [replace(r, submitted_by=names[r.arxiv_id]) for r in rows if r.arxiv_id in names]
    start = max(page, 0) * limit
    shown = order_rows(rows, order, now=now, trending=trending)[start : start + limit]
    found = store.search.papers(r.arxiv_id for r in shown)
    return [
        FeedItem(paper=found[r.arxiv_id], day=r.day, submitted_by=r.submitted_by)
        for r in shown
        if r.arxiv_id in found
    ]
