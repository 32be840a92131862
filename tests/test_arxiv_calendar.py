"""arXiv's announcement calendar: listings, time zones, daylight saving and holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paperfeed.arxiv_calendar import ArxivCalendar, HolidayError, parse_holidays
from paperfeed.models import IngestRecord, Paper
from paperfeed.settings import Settings, SettingsError

CAL = ArxivCalendar()
TOKYO = ZoneInfo("Asia/Tokyo")
LA = ZoneInfo("America/Los_Angeles")


def at(text: str, zone: timezone | ZoneInfo = UTC) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def test_listing_days_are_weekdays_after_announcement_evenings() -> None:
    # Week of 2024-01-22: Monday to Friday have listings, the weekend none.
    week = [date(2024, 1, 22) + timedelta(days=i) for i in range(7)]
    assert [CAL.is_listing_day(d) for d in week] == [True] * 5 + [False] * 2


def test_announcement_time_follows_daylight_saving() -> None:
    # 20:00 US Eastern is 01:00 UTC in winter (EST) and 00:00 UTC in summer (EDT).
    assert CAL.announcement_time(date(2024, 1, 26)) == at("2024-01-26T01:00")
    assert CAL.announcement_time(date(2024, 7, 9)) == at("2024-07-09T00:00")
    # The Sunday when clocks go forward (2024-03-10): the evening is already EDT.
    assert CAL.announcement_time(date(2024, 3, 11)) == at("2024-03-11T00:00")


def test_current_listing_is_the_same_from_every_time_zone() -> None:
    # Thursday 2024-01-25, 19:59 US Eastern: Thursday's listing is still the current one;
    # a minute later Friday's is out. Tokyo and Los Angeles see the same instants.
    before, after = at("2024-01-26T00:59"), at("2024-01-26T01:00")
    assert CAL.current_listing(before) == date(2024, 1, 25)
    assert CAL.current_listing(after) == date(2024, 1, 26)
    assert CAL.current_listing(before.astimezone(TOKYO)) == date(2024, 1, 25)
    assert CAL.current_listing(after.astimezone(LA)) == date(2024, 1, 26)
    # Tokyo's Friday morning, 09:30, is still Thursday evening before 20:00 in New York.
    assert CAL.current_listing(at("2024-01-26T09:30", TOKYO)) == date(2024, 1, 25)


def test_weekend_keeps_fridays_listing_until_sunday_evening() -> None:
    for moment in ("2024-01-27T12:00", "2024-01-28T23:00", "2024-01-29T00:59"):
        assert CAL.current_listing(at(moment)) == date(2024, 1, 26), moment
    assert CAL.current_listing(at("2024-01-29T01:00")) == date(2024, 1, 29)
    assert CAL.next_listing(at("2024-01-27T12:00")) == date(2024, 1, 29)


def test_published_holidays_skip_a_listing() -> None:
    # Thanksgiving, Thursday 2025-11-27: no announcement that evening, so no Friday listing;
    # Wednesday's listing (Thursday 27th) stays current until Sunday evening.
    assert not CAL.is_listing_day(date(2025, 11, 28))
    assert CAL.current_listing(at("2025-11-28T12:00")) == date(2025, 11, 27)
    assert CAL.next_listing(at("2025-11-28T12:00")) == date(2025, 12, 1)
    status = CAL.status(date(2025, 11, 28))
    assert (status.is_listing, status.reason, status.holiday) == (False, "holiday", "Thanksgiving")
    assert "no announcement on the evening of Thursday Nov 27, 2025" in status.explanation
    # Independence Day 2025 was observed on Sunday 6 July: no Monday 7 July listing.
    assert not CAL.is_listing_day(date(2025, 7, 7)) and CAL.is_listing_day(date(2025, 7, 8))
    assert CAL.previous_listing(date(2025, 7, 8)) == date(2025, 7, 4)


def test_weekend_and_future_status_read_well() -> None:
    saturday = CAL.status(date(2024, 1, 27))
    assert (saturday.is_listing, saturday.reason, saturday.announced_at) == (
        False,
        "weekend",
        None,
    )
    assert "no listing on Saturdays and Sundays" in saturday.explanation
    monday = CAL.status(date(2024, 1, 29))
    assert monday.is_listing and monday.announced_at == at("2024-01-29T01:00")
    assert "announced on Sunday Jan 28, 2024 at 20:00 US Eastern (01:00 UTC)" in (
        monday.explanation
    )


def test_configured_holidays_add_to_the_published_ones() -> None:
    # Thanksgiving 2026 is not in a list arXiv had published when this was written.
    assert CAL.is_listing_day(date(2026, 11, 27))
    calendar = ArxivCalendar.with_extra("2026-11-26, 2026-12-24")
    assert not calendar.is_listing_day(date(2026, 11, 27))
    assert not calendar.is_listing_day(date(2025, 11, 28))  # the published ones stay
    assert parse_holidays(" ") == {}
    with pytest.raises(HolidayError, match="'26/11/2026' is not a date"):
        parse_holidays("2026-11-26,26/11/2026")
    settings = Settings.from_env({"PAPERFEED_ARXIV_HOLIDAYS": "2026-11-26"})
    assert not settings.arxiv_calendar().is_listing_day(date(2026, 11, 27))
    with pytest.raises(SettingsError, match="PAPERFEED_ARXIV_HOLIDAYS: 'soon' is not a date"):
        Settings.from_env({"PAPERFEED_ARXIV_HOLIDAYS": "soon"})


moments = st.datetimes(
    min_value=datetime(2023, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@given(moments, st.sampled_from([UTC, TOKYO, LA, ZoneInfo("Pacific/Kiritimati")]))
def test_current_and_next_listing_bracket_now(now: datetime, zone: ZoneInfo) -> None:
    local = now.astimezone(zone)
    current, upcoming = CAL.current_listing(local), CAL.next_listing(local)
    assert CAL.is_listing_day(current) and CAL.is_listing_day(upcoming)
    assert CAL.announcement_time(current) <= now < CAL.announcement_time(upcoming)
    # Nothing was announced in between.
    day = current + timedelta(days=1)
    while day < upcoming:
        assert not CAL.is_listing_day(day)
        day += timedelta(days=1)
    assert CAL.previous_listing(upcoming) == current


def record(arxiv_id: str, stamp: date | None, *, updated: datetime | None = None) -> IngestRecord:
    paper = Paper(arxiv_id=arxiv_id, title="t", abstract="a", authors=["A"], updated=updated)
    return IngestRecord(paper=paper, source="oai", location="page 1", datestamp=stamp)


def test_announced_listing_of_harvested_records() -> None:
    from paperfeed.ingest.daily import announced_listing

    friday = date(2024, 1, 26)
    # As in the recorded page: a new paper stamped with its listing day is news of that day.
    assert announced_listing(record("2401.14038", friday), last=friday) == friday
    # A later run for Monday still files it under Friday, its own listing.
    assert announced_listing(record("2401.14038", friday), last=date(2024, 1, 29)) == friday
    # ...but a run filling Thursday leaves it for later.
    assert announced_listing(record("2401.14038", friday), last=date(2024, 1, 25)) is None
    # The replaced 2013 thesis of that page is an update, not news.
    old = record("1303.2033", date(2024, 1, 25), updated=datetime(2024, 1, 23))
    assert announced_listing(old, last=friday) is None
    assert announced_listing(record("1303.2033", friday), last=friday) is None
    assert announced_listing(record("hep-th/9901001", friday), last=friday) is None
    assert announced_listing(record("2401.14038", None), last=friday) is None
    # Across a month's end: Sunday 2025-11-30's announcement (ids 2511.*) is Monday's listing.
    monday = date(2025, 12, 1)
    assert announced_listing(record("2511.23001", monday), last=monday) == monday
    assert announced_listing(record("2512.00001", date(2025, 12, 2)), last=monday) is None
