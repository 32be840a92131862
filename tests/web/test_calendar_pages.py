"""The feed explains arXiv's calendar: no listing on weekends and holidays, a listing not out
yet, a listing out but not loaded; over real HTTP with the demo data (latest day Wednesday
2025-12-31) and a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from conftest import LiveServer
from paperfeed.store import Store


def serve(store: Store, now: str, holidays: str = "") -> LiveServer:
    moment = datetime.fromisoformat(now).replace(tzinfo=UTC)
    return LiveServer(store, clock=lambda: moment, arxiv_holidays=holidays)


def notice(server: LiveServer, path: str = "/") -> str | None:
    response = httpx.get(server.url + path, headers={"Accept": "application/json"}, timeout=30)
    assert response.status_code == 200, response.text
    calendar = response.json()["calendar"]
    html = httpx.get(server.url + path, timeout=30).text
    if calendar["notice"]:
        assert f'<p class="notice" role="status">{calendar["notice"]}</p>' in html.replace(
            "&#39;", "'"
        )
    else:
        assert 'class="notice"' not in html
    return calendar["notice"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def latest(demo_store: Store) -> Iterator[Store]:
    assert str(demo_store.latest_day()) == "2025-12-31"
    yield demo_store


def test_fresh_feed_has_no_notice(latest: Store) -> None:
    with serve(latest, "2025-12-31T12:00") as server:
        assert notice(server) is None
        data = httpx.get(server.url + "/api/v1/feed", timeout=30).json()["calendar"]
        assert data["current_listing"] == "2025-12-31" and data["is_listing_day"]
        assert data["next_listing"] == "2026-01-01"
        assert data["next_announcement"] == "2026-01-01T01:00+00:00"


def test_before_tonights_announcement(latest: Store) -> None:
    # Thursday 00:30 UTC is Wednesday 19:30 in New York: Thursday's listing is not out.
    with serve(latest, "2026-01-01T00:30") as server:
        assert notice(server) == (
            "No new arXiv papers yet today. The next listing, Thursday Jan 1, 2026, "
            "is announced at 20:00 US Eastern (Thu 01:00 UTC)."
        )


def test_listing_out_but_not_loaded(latest: Store) -> None:
    with serve(latest, "2026-01-03T12:00") as server:
        assert notice(server) == (
            "arXiv's listing of Friday Jan 2, 2026 is out but not on this feed yet; "
            "the newest papers here are from Wednesday Dec 31, 2025."
        )


def test_weekend_after_holidays(latest: Store) -> None:
    # With no announcement on the evenings of Dec 31 and Jan 1, Wednesday's listing is the
    # last one, and on Saturday readers are told why nothing is new.
    with serve(latest, "2026-01-03T12:00", holidays="2025-12-31,2026-01-01") as server:
        text = notice(server)
        assert text is not None
        assert text.startswith("No new arXiv papers yet today. arXiv announces on Sunday")
        assert "no listing on Saturdays and Sundays" in text
        assert text.endswith(
            "The next listing, Monday Jan 5, 2026, is announced at 20:00 US "
            "Eastern (Mon 01:00 UTC)."
        )
        holiday = httpx.get(server.url + "/?date=2026-01-02", timeout=30)
        assert holiday.status_code == 404
        assert "arXiv made no announcement on the evening of Thursday Jan 1, 2026" in (holiday.text)
        assert 'href="/?date=2025-12-31"' in holiday.text


@pytest.mark.parametrize(
    ("day", "code", "words"),
    [
        ("2025-12-27", "no_announcement", "no listing on Saturdays and Sundays"),
        ("2026-01-06", "not_announced_yet", "It is not out yet."),
        ("2025-12-30", None, None),
    ],
)
def test_days_without_papers_say_why(
    latest: Store, day: str, code: str | None, words: str | None
) -> None:
    with serve(latest, "2026-01-03T12:00") as server:
        response = httpx.get(
            server.url + f"/api/v1/feed?date={day}",
            headers={"Accept": "application/json"},
            timeout=30,
        )
        if code is None:  # a day with papers
            assert response.status_code == 200
            return
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == code and words in error["message"]
        assert error["links"]["last day with papers"].startswith("/?date=2025-12-")
        html = httpx.get(server.url + f"/?date={day}", timeout=30).text
        assert words in html.replace("&#39;", "'")
