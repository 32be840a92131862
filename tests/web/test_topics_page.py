"""The topics page, its JSON twin and the feed's ``?topic=`` filter, over real HTTP on both
backends with the demo data (all of whose papers have embeddings)."""

from __future__ import annotations

import json
import re

import defusedxml.ElementTree as ET
import httpx
from click.testing import CliRunner

from conftest import LiveServer, QueryCounter
from paperfeed.cli import cli
from paperfeed.personal.topics import TopicIndex
from paperfeed.rank.feeds import parse_period, period_of

WEEK = "2025-W49"  # the demo's busiest week, 973 papers
IN_WEEK = "2025-12-03"
SVG = "{http://www.w3.org/2000/svg}"


def get(live: LiveServer, path: str, **params: str) -> httpx.Response:
    return httpx.get(live.url + path, params=params, timeout=60)


def week_topics(live: LiveServer) -> TopicIndex:
    index: TopicIndex = live.app.state.topic_index  # made by the first request for topics
    return index


def test_topics_page_and_its_json_twin(live: LiveServer) -> None:
    page = get(live, "/topics", period="week", date=IN_WEEK)
    assert page.status_code == 200
    data = get(live, "/api/v1/topics", period="week", date=IN_WEEK).json()
    by_accept = httpx.get(
        live.url + f"/topics?period=week&date={IN_WEEK}",
        headers={"Accept": "application/json"},
        timeout=60,
    ).json()
    assert by_accept == data
    week = get(live, f"/api/v1/week/{WEEK}").json()
    assert data["label"] == WEEK and data["papers"] == week["total"] == 973
    assert data["k_by"] == "silhouette" and str(data["k"]) in data["silhouettes"]
    assert 2 <= data["k"] == len(data["topics"]) <= 16
    assert sum(t["size"] for t in data["topics"]) == data["papers"]
    html = page.text
    assert html.count('<li class="topic-card"') == data["k"]
    for topic in data["topics"]:
        assert topic["terms"] and f"Topic {topic['number']}: {topic['label']}" in html
        assert f'href="/week/{WEEK}?topic={topic["number"]}"' in html
        assert f'href="{topic["medoid"]["url"]}"' in html and len(topic["members"]) == 4
    assert 'rel="stylesheet" href="/static/topics.' in html


def test_the_map_is_well_formed_svg_without_script(live: LiveServer) -> None:
    html = get(live, "/topics", period="week", date=IN_WEEK).text
    found = re.search(r"<svg .*?</svg>", html, re.S)
    assert found is not None and "<script" not in found[0]
    root = ET.fromstring(found[0])
    assert root.get("role") == "img" and root.find(SVG + "title") is not None
    elements = list(root.iter())
    assert {e.tag.removeprefix(SVG) for e in elements} <= {
        "svg",
        "title",
        "desc",
        "rect",
        "g",
        "circle",
        "text",
    }
    assert not any(name.startswith("on") or name == "style" for e in elements for name in e.attrib)
    assert len(root.findall(f"{SVG}g/{SVG}circle")) <= 1_200 + 16


def test_the_latest_week_by_default_and_an_empty_period(live: LiveServer) -> None:
    latest = get(live, "/api/v1/topics").json()
    newest = live.store.latest_day()
    assert newest is not None and latest["label"] == period_of("week", newest).label
    empty = get(live, "/topics", period="day", date="2001-01-01")
    assert empty.status_code == 200 and "No papers with embeddings" in empty.text
    assert "<svg" not in empty.text
    data = get(live, "/api/v1/topics", period="day", date="2001-01-01").json()
    assert data["topics"] == [] and data["papers"] == 0 and data["map_svg"] is None
    by_label = get(live, "/api/v1/topics", period="week", date="2025-W48").json()
    assert by_label["label"] == "2025-W48" and by_label["start"] == "2025-11-24"
    assert by_label["papers"] == get(live, "/api/v1/week/2025-W48").json()["total"]


def test_bad_parameters_are_400s(live: LiveServer) -> None:
    for params, code in [
        ({"period": "year"}, "bad_period"),
        ({"period": "week", "date": "2025-13-45"}, "bad_date"),
        ({"period": "week", "date": "2025-W99"}, "bad_date"),
    ]:
        answer = get(live, "/api/v1/topics", **params)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == code
    for topic, status, code in [
        ("0", 400, "bad_topic"),
        ("x", 400, "bad_topic"),
        ("16", 404, "unknown_topic"),
    ]:
        answer = get(live, f"/api/v1/week/{WEEK}", topic=topic)
        assert answer.status_code == status and answer.json()["error"]["code"] == code


def test_the_feed_filtered_by_topic(live: LiveServer) -> None:
    topics = get(live, "/api/v1/topics", period="week", date=IN_WEEK).json()["topics"]
    found = week_topics(live).topics(parse_period("week", WEEK))
    for card in topics[:2]:
        members = set(found.topic(card["number"]).members)  # type: ignore[union-attr]
        first = get(live, f"/api/v1/week/{WEEK}", topic=str(card["number"])).json()
        assert first["total"] == card["size"] == len(members)
        seen = [p["id"] for p in first["papers"]]
        if first["pages"] > 1:
            second = get(live, f"/api/v1/week/{WEEK}", topic=str(card["number"]), page="2")
            seen += [p["id"] for p in second.json()["papers"]]
        assert set(seen) <= members and len(seen) == len(set(seen)) == min(card["size"], 60)
        votes = [p["upvotes"] for p in first["papers"]]
        assert votes == sorted(votes, reverse=True)
        assert first["topic"] == {"number": card["number"], "label": card["label"]}
    trending = get(live, f"/api/v1/week/{WEEK}", topic="1", sort="trending").json()
    scores = [p["trending"]["score"] for p in trending["papers"]]
    assert scores == sorted(scores, reverse=True) and trending["total"] == topics[0]["size"]
    html = get(live, f"/week/{WEEK}", topic="1").text
    assert 'id="topic-filter"' in html and f'href="/week/{WEEK}?topic=1&amp;sort=new"' in html
    assert topics[0]["size"] > 30 and 'href="?topic=1&amp;page=2"' in html  # the pager keeps it
    assert 'id="topics-link"' in get(live, f"/week/{WEEK}").text


def test_a_day_filtered_by_topic(live: LiveServer) -> None:
    day = get(live, "/api/v1/topics", period="day", date=IN_WEEK).json()
    assert day["label"] == IN_WEEK and day["topics"]
    filtered = get(live, "/api/v1/feed", date=IN_WEEK, topic="1").json()
    assert filtered["total"] == day["topics"][0]["size"]
    html = get(live, "/", date=IN_WEEK, topic="1").text
    assert f'href="/?date={IN_WEEK}&amp;topic=1&amp;sort=trending"' in html


def test_topics_are_clustered_once_per_period(live: LiveServer) -> None:
    get(live, "/api/v1/topics", period="day", date="2025-12-02")
    with QueryCounter(live.store.engine) as counter:
        again = get(live, "/api/v1/topics", period="day", date="2025-12-02")
    assert again.status_code == 200 and again.json()["papers"] > 0
    # The embeddings' version, the papers shown on the cards, the neighbouring days.
    assert len(counter.statements) == 3, counter.statements


def test_the_command_line_prints_the_same_topics(live: LiveServer) -> None:
    def paperfeed(*args: str) -> str:
        result = CliRunner().invoke(cli, ["--database-url", live.store.url, "topics", *args])
        assert result.exit_code == 0, result.output
        return result.output

    data = json.loads(paperfeed("--date", IN_WEEK, "--json"))
    page = get(live, "/api/v1/topics", period="week", date=IN_WEEK).json()
    assert data["period"] == WEEK and data["papers"] == page["papers"]
    assert [(t["size"], t["terms"], t["medoid"]["id"]) for t in data["topics"]] == [
        (t["size"], t["terms"], t["medoid"]["id"]) for t in page["topics"]
    ]
    lines = paperfeed("--period", "day", "--date", IN_WEEK, "--k", "3").splitlines()
    assert lines[0].startswith(f"{IN_WEEK}: ") and "3 topics (as asked" in lines[0]
    assert [line.split(".")[0].strip() for line in lines[1::2]] == ["1", "2", "3"]
