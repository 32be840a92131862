"""Feeds of a day, an ISO week or a month, with links to the neighbouring non-empty periods.

Order: most upvoted first, then the most recent (published on arXiv, else first seen).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from paperfeed.arxiv_calendar import ArxivCalendar, DayStatus
from paperfeed.models import YEARS, FeedPage
from paperfeed.store import Store

KINDS = ("day", "week", "month")
_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodError(ValueError):
    """A day, week or month label that does not parse."""


@dataclass(frozen=True)
class Period:
    kind: str
    label: str
    start: date
    end: date  # inclusive


def parse_period(kind: str, label: str) -> Period:
    """``day`` 2025-12-11, ``week`` 2025-W50 (ISO 8601) or ``month`` 2025-12."""
    if kind == "day":
        try:
            day = date.fromisoformat(label)
        except ValueError:
            raise PeriodError(f"{label!r} is not a date (YYYY-MM-DD)") from None
        if len(label) != 10:
            raise PeriodError(f"{label!r} is not a date (YYYY-MM-DD)")
        _check_year(label, day.year)
        return period_of("day", day)
    if kind == "week":
        match = _WEEK_RE.match(label)
        if not match:
            raise PeriodError(f"{label!r} is not an ISO week (YYYY-Www, like 2025-W50)")
        _check_year(label, int(match[1]))
        try:
            monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
        except ValueError:
            raise PeriodError(f"{label!r} is not a week of that year") from None
        return period_of("week", monday)
    if kind == "month":
        match = _MONTH_RE.match(label)
        if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
            raise PeriodError(f"{label!r} is not a month (YYYY-MM)")
        _check_year(label, int(match[1]))
        return period_of("month", date(int(match[1]), int(match[2]), 1))
    raise PeriodError(f"unknown period kind {kind!r}")


def _check_year(label: str, year: int) -> None:
    if year not in YEARS:
        raise PeriodError(f"{label!r} is out of range (years {YEARS[0]} to {YEARS[-1]})")


def period_of(kind: str, day: date) -> Period:
    """The day, ISO week or month that contains ``day``."""
    if kind == "day":
        return Period("day", day.isoformat(), day, day)
    if kind == "week":
        year, week, weekday = day.isocalendar()
        monday = day - timedelta(days=weekday - 1)
        return Period("week", f"{year}-W{week:02d}", monday, monday + timedelta(days=6))
    if kind == "month":
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return Period("month", f"{day.year:04d}-{day.month:02d}", first, following - timedelta(1))
    raise PeriodError(f"unknown period kind {kind!r}")


def feed_page(store: Store, period: Period, *, page: int = 1, page_size: int = 30) -> FeedPage:
    """One page of the feed of ``period``. A constant number of queries."""
    page = max(page, 1)
    items, total = store.feed(
        period.start, period.end, limit=page_size, offset=(page - 1) * page_size
    )
    before, after = store.neighbour_days(period.start, period.end)
    return FeedPage(
        kind=period.kind,
        label=period.label,
        start=period.start,
        end=period.end,
        items=items,
        total=total,
        page=page,
        page_size=page_size,
        previous=period_of(period.kind, before).label if before else None,
        next=period_of(period.kind, after).label if after else None,
    )


def latest_period(store: Store, kind: str) -> Period | None:
    """The day, week or month holding the latest feed day, or None for an empty feed."""
    latest = store.latest_day()
    return period_of(kind, latest) if latest else None


@dataclass(frozen=True)
class CalendarState:
    """The arXiv calendar around a day page, as of ``now``."""

    day: DayStatus
    current_listing: date
    next_listing: date
    next_announcement: datetime
    notice: str | None  # shown on top of the page when readers would wonder


def calendar_state(
    calendar: ArxivCalendar, now: datetime, day: date, *, is_latest: bool
) -> CalendarState:
    """Where ``day`` stands in arXiv's calendar; for the home page (``is_latest``: ``day``
    is the newest day on the feed), a notice when there is nothing newer to show and why."""
    current = calendar.current_listing(now)
    upcoming = calendar.next_listing(now)
    announced = calendar.announcement_time(upcoming)
    notice = None
    if is_latest:
        today = now.astimezone(UTC).date()
        if day < current:
            notice = (
                f"arXiv's listing of {_human(current)} is out but not on this feed yet; "
                f"the newest papers here are from {_human(day)}."
            )
        elif today > current:
            status = calendar.status(today)
            why = status.explanation if not status.is_listing else ""
            notice = (
                f"No new arXiv papers yet today. {why} The next listing, {_human(upcoming)}, "
                f"is announced at 20:00 US Eastern ({announced:%a %H:%M} UTC)."
            ).replace("  ", " ")
    return CalendarState(calendar.status(day), current, upcoming, announced, notice)


def empty_day_reason(calendar: ArxivCalendar, now: datetime, day: date) -> tuple[str, str]:
    """The error code and message for a day page without papers."""
    status = calendar.status(day)
    if not status.is_listing:
        return "no_announcement", status.explanation
    if status.announced_at and status.announced_at > now:
        return "not_announced_yet", f"{status.explanation} It is not out yet."
    return "no_papers", f"No papers on the feed for {day.isoformat()}."


def _human(day: date) -> str:
    return f"{day:%A} {day:%b} {day.day}, {day.year}"
