"""The Hugging Face daily-papers client against the recorded API responses, over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date

import pytest

from conftest import shared_data
from fixture_server import FixtureServer, route_key
from paperfeed.ingest import RecordError, SourceError, load_records
from paperfeed.ingest.hf_daily import HfDailyClient
from paperfeed.store import Store

DAYS = ["2024-05-27", "2024-10-09", "2025-04-09", "2025-11-06", "2026-08-21"]


@pytest.fixture(scope="module")
def hf_server() -> Iterator[FixtureServer]:
    raw = shared_data("hf-daily/raw")
    routes = {
        route_key(f"/api/daily_papers?date={day}"): (raw / f"{day}.json").read_bytes()
        for day in DAYS
    }
    routes[route_key("/api/daily_papers?date=2024-05-25")] = b"[]"  # a Saturday
    routes[route_key("/api/daily_papers?date=2024-05-26")] = b"[]"
    routes[route_key("/api/daily_papers?date=2024-01-01")] = b'[{"paper": {"id": "2401.0'
    routes[route_key("/api/daily_papers?date=2024-01-02")] = b'{"error": "Invalid date"}'
    with FixtureServer(routes) as server:
        yield server


def client(server: FixtureServer) -> HfDailyClient:
    return HfDailyClient(server.url, min_interval=0, backoff=0)


@pytest.mark.parametrize("day", DAYS)
def test_recorded_days(hf_server: FixtureServer, day: str) -> None:
    with client(hf_server) as api:
        items = list(api.fetch_day(date.fromisoformat(day)))
    expected = json.loads((shared_data("hf-daily/raw") / f"{day}.json").read_text())
    assert len(items) == len(expected)
    assert not [i for i in items if isinstance(i, RecordError)]
    first = items[0]
    assert not isinstance(first, RecordError)
    assert str(first.feed_day) == day  # the day asked is the feed day
    assert first.paper.arxiv_id == expected[0]["paper"]["id"]
    assert first.upvotes == expected[0]["paper"]["upvotes"]


def test_bad_answers_are_clear_errors(hf_server: FixtureServer) -> None:
    with client(hf_server) as api:
        with pytest.raises(SourceError, match=r"date=2024-01-01: malformed JSON at line 1"):
            list(api.fetch_day(date(2024, 1, 1)))
        with pytest.raises(SourceError, match="expected a JSON array, got dict"):
            list(api.fetch_day(date(2024, 1, 2)))
        with pytest.raises(SourceError, match="HTTP 404"):
            list(api.fetch_day(date(2030, 1, 1)))


def test_days_are_stored_with_upvotes(store: Store, hf_server: FixtureServer) -> None:
    with client(hf_server) as api:
        summary = load_records(store, enumerate(api.fetch_day(date(2025, 11, 6)), 1))
    assert summary.inserted == summary.feed_entries_added == 8
    items, _ = store.feed(date(2025, 11, 6), date(2025, 11, 6), limit=50)
    assert len(items) == 8 and items[0].paper.upvotes >= items[-1].paper.upvotes > 0


def test_cli_since(database_url: str, hf_server: FixtureServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERFEED_")}
    env.update(
        PAPERFEED_DATABASE_URL=database_url,
        PAPERFEED_HF_API_URL=hf_server.url,
        PAPERFEED_HF_MIN_INTERVAL="0",
        PAPERFEED_HTTP_RETRIES="0",
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "paperfeed", "ingest", "hf-daily", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    result = run("--since", "2024-05-25", "--until", "2024-05-27")
    assert result.returncode == 0, result.stderr
    assert "2024-05-25: 0 records read" in result.stdout
    assert "2024-05-27: 13 records read, 13 new" in result.stdout
    assert "hf-daily, 3 days: 13 records read" in result.stdout
    broken = run("--date", "2024-01-01")
    assert broken.returncode == 1
    assert "malformed JSON" in broken.stderr and len(broken.stderr.strip().splitlines()) == 1
    assert run("--date", "2024-05-27", "--since", "2024-05-27").returncode == 2
