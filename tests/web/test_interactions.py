"""What the pages' HTMX interactions ask the server for, over real HTTP on both backends:
a card's abstract whole or shortened, the theme switch, and the plain links and forms
each interaction falls back to without JavaScript."""

from __future__ import annotations

import re
from datetime import datetime

import httpx
import pytest

from conftest import LiveServer

PAPER = "2310.06110"  # in the demo set; its abstract is longer than a card's preview


def get(live: LiveServer, path: str, **kwargs: object) -> httpx.Response:
    return httpx.get(live.url + path, timeout=30, **kwargs)  # type: ignore[arg-type]


def csrf(client: httpx.Client, live: LiveServer) -> str:
    html = client.get(live.url + "/login").text
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_a_cards_abstract_expands_and_collapses(live: LiveServer) -> None:
    paper = get(live, f"/api/v1/papers/{PAPER}").json()["paper"]
    full = get(live, f"/papers/{PAPER}/abstract?full=1")
    assert full.status_code == 200 and "<html" not in full.text  # a fragment, not a page
    assert 'class="abstract full" id="a-p-2310-06110"' in full.text
    assert "dynamical mean field theory (DMFT)" in full.text  # near the end: the whole text
    assert 'hx-get="/papers/2310.06110/abstract"' in full.text and ">less</button>" in full.text
    short = get(live, f"/papers/{PAPER}/abstract")
    assert "dynamical mean field theory (DMFT)" not in short.text and "…" in short.text
    assert 'hx-get="/papers/2310.06110/abstract?full=1"' in short.text
    assert f'href="/papers/{PAPER}#abstract"' in short.text  # without JavaScript: the page
    twin = get(live, f"/papers/{PAPER}/abstract?full=1", headers={"Accept": "application/json"})
    assert twin.json()["abstract"] == paper["abstract"] and twin.json()["full"] is True
    assert get(live, "/papers/2310.99999/abstract").status_code == 404
    assert get(live, "/papers/not-an-id/abstract").status_code == 404


def test_hidden_papers_have_no_abstract_either(live: LiveServer) -> None:
    community = live.store.community
    community.set_paper_hidden(PAPER, True, now=datetime(2026, 1, 1))
    try:
        assert get(live, f"/papers/{PAPER}/abstract?full=1").status_code == 404
    finally:
        community.set_paper_hidden(PAPER, False, now=datetime(2026, 1, 1))


def test_the_theme_switch_is_a_cookie_the_pages_follow(live: LiveServer) -> None:
    with httpx.Client(timeout=30) as client:
        token = csrf(client, live)
        html = client.get(live.url + "/").text
        assert '<html lang="en">' in html and 'value="dark" data-theme-now="system"' in html
        answer = client.post(
            live.url + "/theme", data={"theme": "dark", "next": "/week", "csrf_token": token}
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/week"
        assert "HttpOnly" in answer.headers["set-cookie"]
        html = client.get(live.url + "/").text
        assert '<html lang="en" data-theme="dark">' in html
        assert '<meta name="color-scheme" content="dark">' in html
        assert 'value="light" data-theme-now="dark"' in html  # the next press: light
        answer = client.post(
            live.url + "/theme",
            data={"theme": "system", "csrf_token": token},
            headers={"Accept": "application/json"},
        )
        assert answer.json() == {"theme": "system"}
        assert '<html lang="en">' in client.get(live.url + "/").text
        bad = client.post(live.url + "/theme", data={"theme": "pink", "csrf_token": token})
        assert bad.status_code == 400
        forged = client.post(live.url + "/theme", data={"theme": "dark"})
        assert forged.status_code == 403  # a form like any other: CSRF-checked
        client.cookies.set("pf_theme", '"><script>alert(1)</script>')
        assert '<html lang="en">' in client.get(live.url + "/").text  # unknown: ignored


def test_each_interaction_has_a_plain_fallback(live: LiveServer) -> None:
    """Load more is the next page's link, date navigation plain links and a GET form,
    search-as-you-type a GET form: HTMX attributes only add to them."""
    month = get(live, "/month/2025-12").text
    more = re.search(
        r'<a class="button" id="more-papers" rel="next" href="([^"]+)" hx-get="([^"]+)"', month
    )
    assert more and more.group(1) == more.group(2) == "?page=2"
    assert 'hx-select="#cards > .card, #pager" hx-target="#pager"' in month
    day = live.store.latest_day()
    html = get(live, f"/?date={day}").text
    assert '<form class="date-jump" action="/" method="get"' in html
    assert f'name="date" type="date" value="{day}"' in html
    assert re.search(r'<nav class="period-nav"[^>]*hx-boost="true"', html)
    assert 'rel="prev" href="/?date=' in html
    search = get(live, "/search?q=glass").text
    form = re.search(r'<form class="search-form"[^>]*>', search)
    assert form and 'action="/search" method="get"' in form.group(0)
    assert 'hx-trigger="input changed delay:300ms from:#q' in form.group(0)


@pytest.mark.parametrize("path", ["/", "/search?q=glass", f"/papers/{PAPER}"])
def test_pages_offer_the_keyboard_help(live: LiveServer, path: str) -> None:
    html = get(live, path).text
    assert '<dialog id="shortcuts"' in html and "<kbd>j</kbd>" in html
    assert re.search(r'<script src="/static/app\.[0-9a-f]{10}\.js" defer></script>', html)
