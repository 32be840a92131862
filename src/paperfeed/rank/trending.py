"""Orders of a feed besides "top" (most upvoted): "trending" and "new".

Trending decays votes with age, the way Hacker News ranks stories:

    score = votes / (age_hours + 2) ^ gravity

``votes`` is the paper's upvote count (imported and local), ``age_hours`` the hours since the
start (00:00 UTC) of the first day the paper was on this feed, ``gravity`` the setting
``PAPERFEED_TRENDING_GRAVITY`` (default 1.5: at midday, a paper from the day before needs
(38 / 14)^1.5 ≈ 4.5× the votes of today's to rank level with it; one from a week before,
about 47×). The 2 hours keep a brand-new
paper from dividing by almost nothing. Every trending card says how its score came about.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from paperfeed.models import FeedItem, FeedPage
from paperfeed.store import Store

from .feeds import Period, period_of

ORDERS = ("top", "trending", "new")
OFFSET_HOURS = 2.0


class OrderError(ValueError):
    """An unknown feed order."""


def check_order(order: str | None) -> str:
    if order in (None, ""):
        return "top"
    if order not in ORDERS:
        raise OrderError(f"sort must be one of {', '.join(ORDERS)}, not {order!r}")
    return order


@dataclass(frozen=True)
class Trending:
    gravity: float

    def score(self, votes: int, age_hours: float) -> float:
        return float(max(votes, 0) / (max(age_hours, 0.0) + OFFSET_HOURS) ** self.gravity)

    def explain(self, votes: int, age_hours: float) -> str:
        score = self.score(votes, age_hours)
        return (
            f"{votes} upvote{'' if votes == 1 else 's'}, {age_hours:.0f} h on the feed: "
            f"score {votes} / ({age_hours:.0f} + 2)^{self.gravity:g} = {score:.4f}"
        )


def feed_now(now: datetime, latest_day: date | None) -> datetime:
    """The "now" ages count to: the clock, but no later than the end of the feed's latest
    day, so a feed that stopped being updated (or the demo) still ranks by relative age."""
    if latest_day is None:
        return now
    end = datetime.combine(latest_day + timedelta(days=1), time(0), tzinfo=UTC)
    return min(now, end)


def age_hours(first_day: date, now: datetime) -> float:
    start = datetime.combine(first_day, time(0), tzinfo=UTC)
    return max((now - start) / timedelta(hours=1), 0.0)


def ordered_page(
    store: Store,
    period: Period,
    order: str,
    *,
    now: datetime,
    trending: Trending,
    page: int = 1,
    page_size: int = 30,
    only: Collection[str] | None = None,
) -> tuple[FeedPage, dict[str, dict[str, float | str]]]:
    """A page of ``period`` in the "trending", "new" or "top" order (two queries; the
    feed's own "top" page is one SQL query, :meth:`Store.feed`), keeping only the papers in
    ``only`` when given (a topic's), with the trending explanation of each card (empty for
    the other orders)."""
    rows = store.feed_rows(period.start, period.end)
    if only is not None:
        rows = [r for r in rows if r.arxiv_id in only]
    if order == "trending":
        scored = {r.arxiv_id: trending.score(r.upvotes, age_hours(r.day, now)) for r in rows}
        rows.sort(key=lambda r: (scored[r.arxiv_id], r.upvotes, r.arxiv_id), reverse=True)
    elif order == "top":
        rows.sort(key=lambda r: (r.upvotes, r.shown, r.arxiv_id), reverse=True)
    else:
        rows.sort(key=lambda r: (r.shown, r.arxiv_id), reverse=True)
    start = (max(page, 1) - 1) * page_size
    shown = rows[start : start + page_size]
    found = store.search.papers(r.arxiv_id for r in shown)
    items = [
        FeedItem(paper=found[r.arxiv_id], day=r.day, submitted_by=r.submitted_by)
        for r in shown
        if r.arxiv_id in found
    ]
    why: dict[str, dict[str, float | str]] = {}
    if order == "trending":
        for r in shown:
            hours = age_hours(r.day, now)
            why[r.arxiv_id] = {
                "votes": r.upvotes,
                "age_hours": round(hours, 1),
                "score": round(trending.score(r.upvotes, hours), 6),
                "explanation": trending.explain(r.upvotes, hours),
            }
    base = FeedPage(
        kind=period.kind,
        label=period.label,
        start=period.start,
        end=period.end,
        items=items,
        total=len(rows),
        page=max(page, 1),
        page_size=page_size,
    )
    before, after = store.neighbour_days(period.start, period.end)
    return (
        replace(
            base,
            previous=period_of(period.kind, before).label if before else None,
            next=period_of(period.kind, after).label if after else None,
        ),
        why,
    )
