"""A reader's first visit, in Debian's Chromium driven by Playwright (no downloaded browser)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import IN_CI, LiveServer

CHROMIUM = os.environ.get("PAPERFEED_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"{CHROMIUM} missing: `make test` installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.mark.parametrize("viewport", [(390, 844), (1280, 900)], ids=["phone", "desktop"])
def test_read_the_feed_and_open_a_paper(
    browser: object, live: LiveServer, viewport: tuple[int, int], request: pytest.FixtureRequest
) -> None:
    out = ARTIFACTS / request.node.name.replace("/", "_")
    out.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})  # type: ignore[attr-defined]
    page.goto(live.url + "/")
    cards = page.locator("article.card")
    assert cards.count() > 0
    assert page.locator("h1").inner_text() == "Daily Papers"
    first_title = cards.first.locator("h3 a").inner_text()
    assert cards.first.locator(".meta").inner_text().split(" ")[1].startswith("author")
    page.screenshot(path=str(out / "feed.png"), full_page=False)
    cards.first.locator("h3 a").click()
    page.wait_for_url("**/papers/**")
    assert page.locator("h1").inner_text() == first_title
    assert page.locator("a", has_text="arXiv page").get_attribute("href", timeout=5000)
    page.screenshot(path=str(out / "paper.png"), full_page=True)
    page.go_back()
    page.locator("a[rel=prev]").first.click()
    page.wait_for_url("**/?date=*")
    assert page.locator("article.card").count() > 0
    page.close()


@pytest.mark.parametrize("viewport", [(390, 844), (1280, 900)], ids=["phone", "desktop"])
def test_search_from_the_header_box(
    browser: object, live: LiveServer, viewport: tuple[int, int], request: pytest.FixtureRequest
) -> None:
    """No JavaScript needed: the header's box is a GET form; results mark the matches, and
    a paper page lists related papers."""
    out = ARTIFACTS / request.node.name.replace("/", "_")
    out.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": viewport[0], "height": viewport[1]}, java_script_enabled=False
    )
    page = context.new_page()
    page.goto(live.url + "/")
    page.fill("#header-q", "hebbian learning replica")
    page.press("#header-q", "Enter")
    page.wait_for_url("**/search?q=*")
    cards = page.locator("article.card")
    assert cards.count() == 20
    assert page.locator("article.card mark").count() > 0
    assert page.locator("#q").input_value() == "hebbian learning replica"
    page.screenshot(path=str(out / "search.png"), full_page=False)
    cards.first.locator("h3 a").click()
    page.wait_for_url("**/papers/**")
    related = page.locator(".related-list li")
    assert related.count() == 5
    page.screenshot(path=str(out / "paper-related.png"), full_page=True)
    page.goto(live.url + '/search?q=spin+"glass')
    assert "a quote is not closed" in page.locator(".message").inner_text()
    context.close()


def _count(page: object, selector: str) -> int:
    return int(page.locator(selector).first.inner_text())  # type: ignore[attr-defined]


def test_sign_up_vote_and_comment_without_javascript(browser: object, live: LiveServer) -> None:
    """Every community action is a plain form: it works with JavaScript off."""
    context = browser.new_context(java_script_enabled=False)  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(live.url + "/")
    page.click("text=Sign up")
    page.fill("#f-username", "nojs-reader")
    page.fill("#f-email", "nojs@example.org")
    page.fill("#f-password", "a long enough passphrase")
    page.click("button:has-text('Sign up')")
    page.wait_for_url(live.url + "/")
    assert page.locator(".account .who").inner_text() == "nojs-reader"
    card = page.locator("article.card").first
    before = int(card.locator(".count").inner_text())
    card.locator("button.votes").click()
    page.wait_for_url(live.url + "/")  # back on the feed after the POST and redirect
    card = page.locator("article.card").nth(0)
    voted = page.locator("article.card button.votes[aria-pressed=true]")
    assert voted.count() == 1
    assert int(voted.locator(".count").inner_text()) == before + 1
    card.locator("h3 a").click()
    page.wait_for_url("**/papers/**")
    page.fill("#new-comment", "Nice bound: $\\|x_i\\|_2 \\le 1$ holds *uniformly*.")
    page.click("button:has-text('Comment')")
    page.wait_for_url("**/papers/**#c*")
    body = page.locator(".comment-body").last
    assert "$\\|x_i\\|_2 \\le 1$" in body.inner_text()
    assert body.locator("em").inner_text() == "uniformly"
    page.screenshot(path=str(ARTIFACTS / "paper-comments.png"), full_page=True)
    context.close()


def test_vote_with_htmx_does_not_reload(browser: object, live: LiveServer) -> None:
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(live.url + "/signup")
    page.fill("#f-username", "htmx-reader")
    page.fill("#f-email", "htmx@example.org")
    page.fill("#f-password", "a long enough passphrase")
    page.click("button:has-text('Sign up')")
    page.wait_for_url(live.url + "/")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    button = page.locator("article.card button.votes").nth(1)
    before = int(button.locator(".count").inner_text())
    button.click()
    page.wait_for_selector("article.card >> nth=1 >> button.votes[aria-pressed=true]")
    assert int(page.locator("article.card").nth(1).locator(".count").inner_text()) == before + 1
    page.locator("article.card").nth(1).locator("button.votes").click()  # and withdraw it
    page.wait_for_selector("article.card >> nth=1 >> button.votes[aria-pressed=false]")
    assert int(page.locator("article.card").nth(1).locator(".count").inner_text()) == before
    assert navigations == []  # swapped in place, no page load
    context.close()
