"""arXiv's announcement calendar: which days have a listing, and which is the current one.

arXiv announces new papers at 20:00 US Eastern on Sunday to Thursday evenings and not on its
holidays (https://info.arxiv.org/help/availability.html). Readers know an announcement by
the date of the listing it makes, the day after the evening: Sunday's announcement is
Monday's listing. paperfeed dates its feed days the same way, so feed days are Monday to
Friday, minus the day after a holiday evening.

Because 20:00 US Eastern is 00:00 or 01:00 UTC of the next day, "today's listing" depends on
the time zone you ask from; every function here takes an aware ``now`` and works in
US Eastern, so a cron job in Tokyo and a reader in California agree on the current listing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("America/New_York")
ANNOUNCE_AT = time(20, 0)
# Monday=0 ... Sunday=6: announcements are made on these evenings (US Eastern).
ANNOUNCEMENT_WEEKDAYS = frozenset({6, 0, 1, 2, 3})

# Evenings (US Eastern dates) without an announcement, as arXiv published them in
# "On Deferred Mailings" of its availability page (github.com/arXiv/arxiv-docs,
# source/help/availability.md; the 2023 list at commit 0187150, the 2025 list at 782dfdf).
# arXiv publishes each year's list during the year: add new dates with
# PAPERFEED_ARXIV_HOLIDAYS until a release bundles them.
PUBLISHED_HOLIDAYS: Mapping[date, str] = {
    date(2023, 1, 16): "Martin Luther King Jr. Day",
    date(2023, 6, 14): "arXiv holiday",
    date(2023, 6, 19): "Juneteenth",
    date(2023, 7, 4): "Independence Day",
    date(2023, 9, 4): "Labor Day",
    date(2023, 11, 23): "Thanksgiving",
    date(2023, 12, 25): "Christmas",
    date(2023, 12, 27): "arXiv winter holiday",
    date(2025, 1, 1): "New Year's Day",
    date(2025, 1, 20): "Martin Luther King Jr. Day",
    date(2025, 6, 19): "Juneteenth",
    date(2025, 7, 6): "Independence Day (observed)",
    date(2025, 9, 1): "Labor Day",
    date(2025, 11, 27): "Thanksgiving",
}

_WEEKEND_WHY = (
    "arXiv announces on Sunday to Thursday evenings (US Eastern), which are the listings "
    "of Monday to Friday; there is no listing on Saturdays and Sundays."
)


class HolidayError(ValueError):
    """A holiday date that does not parse."""


def parse_holidays(text: str) -> dict[date, str]:
    """``"2026-11-26, 2026-12-24"`` (US Eastern evenings) as a holiday mapping."""
    holidays: dict[date, str] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        try:
            holidays[date.fromisoformat(item)] = "arXiv holiday"
        except ValueError:
            raise HolidayError(f"{item!r} is not a date (YYYY-MM-DD)") from None
    return holidays


@dataclass(frozen=True)
class DayStatus:
    """What the arXiv calendar says about one listing date."""

    day: date
    is_listing: bool
    reason: str | None  # "weekend" or "holiday" when there is no listing
    holiday: str | None  # the holiday's name when reason == "holiday"
    announced_at: datetime | None  # when this day's listing is (or was) announced, UTC
    explanation: str


class ArxivCalendar:
    """The announcement rules plus a set of holiday evenings."""

    def __init__(self, holidays: Mapping[date, str] | Iterable[date] = PUBLISHED_HOLIDAYS):
        if isinstance(holidays, Mapping):
            self.holidays: dict[date, str] = dict(holidays)
        else:
            self.holidays = dict.fromkeys(holidays, "arXiv holiday")

    @classmethod
    def with_extra(cls, extra: str) -> ArxivCalendar:
        """The published holidays plus ``extra`` (the ``PAPERFEED_ARXIV_HOLIDAYS`` text)."""
        return cls({**PUBLISHED_HOLIDAYS, **parse_holidays(extra)})

    # -- evenings and listings ------------------------------------------------------------

    def is_announcement_evening(self, evening: date) -> bool:
        return evening.weekday() in ANNOUNCEMENT_WEEKDAYS and evening not in self.holidays

    def is_listing_day(self, day: date) -> bool:
        return self.is_announcement_evening(day - timedelta(days=1))

    def announcement_time(self, day: date) -> datetime:
        """When the listing dated ``day`` is announced: 20:00 US Eastern the evening
        before, as an aware UTC datetime (whether or not ``day`` has a listing)."""
        evening = datetime.combine(day - timedelta(days=1), ANNOUNCE_AT, tzinfo=EASTERN)
        return evening.astimezone(UTC)

    def current_listing(self, now: datetime) -> date:
        """The listing of the latest announcement at or before ``now`` (an aware time)."""
        eastern = _aware(now).astimezone(EASTERN)
        evening = eastern.date()
        if eastern.time() < ANNOUNCE_AT:
            evening -= timedelta(days=1)
        for _ in range(60):
            if self.is_announcement_evening(evening):
                return evening + timedelta(days=1)
            evening -= timedelta(days=1)
        raise ValueError(f"no arXiv announcement in the 60 days before {now}")

    def next_listing(self, now: datetime) -> date:
        """The listing of the first announcement after ``now``."""
        day = self.current_listing(now) + timedelta(days=1)
        for _ in range(60):
            if self.is_listing_day(day) and self.announcement_time(day) > _aware(now):
                return day
            day += timedelta(days=1)
        raise ValueError(f"no arXiv announcement in the 60 days after {now}")

    def previous_listing(self, day: date) -> date:
        """The last listing day strictly before ``day``."""
        day -= timedelta(days=1)
        for _ in range(60):
            if self.is_listing_day(day):
                return day
            day -= timedelta(days=1)
        raise ValueError(f"no arXiv listing in the 60 days before {day}")

    # -- for readers ----------------------------------------------------------------------

    def status(self, day: date) -> DayStatus:
        """Whether ``day`` has an arXiv listing, and why not, in words for readers."""
        evening = day - timedelta(days=1)
        announced = self.announcement_time(day)
        if evening.weekday() not in ANNOUNCEMENT_WEEKDAYS:
            return DayStatus(day, False, "weekend", None, None, _WEEKEND_WHY)
        if evening in self.holidays:
            name = self.holidays[evening]
            why = (
                f"arXiv made no announcement on the evening of {evening:%A} "
                f"{_human(evening)} ({name}), so there is no listing for {day:%A} "
                f"{_human(day)}."
            )
            return DayStatus(day, False, "holiday", name, None, why)
        why = (
            f"The listing of {day:%A} {_human(day)} is announced on {evening:%A} "
            f"{_human(evening)} at 20:00 US Eastern ({announced:%H:%M} UTC)."
        )
        return DayStatus(day, True, None, None, announced, why)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _human(day: date) -> str:
    return f"{day:%b} {day.day}, {day.year}"
