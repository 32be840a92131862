"""Readers' journeys in Debian's Chromium driven by Playwright (no downloaded browser): read
today's feed, open a paper, search, sign up, upvote, submit, subscribe, change preferences;
the HTMX interactions and keyboard shortcuts, and the same actions with JavaScript off.
Each journey saves screenshots at phone (360×740) and desktop (1280×900) size to
test-artifacts/screenshots/."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import LiveServer
from paperfeed.digest.links import DigestLinks
from paperfeed.models import IngestRecord, Paper
from paperfeed.store import Store

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
VIEWPORTS = {"phone": {"width": 360, "height": 740}, "desktop": {"width": 1280, "height": 900}}
PASSWORD = "a long enough passphrase"
# Stored, on no feed: a reader submits one at each size.
UNLISTED = {"phone": "0909.00001", "desktop": "0909.00002"}
NOW = datetime(2025, 12, 31, 22, 0, tzinfo=UTC)  # the demo's latest day: submissions go there
_names = itertools.count()

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def live(demo_store: Store) -> Iterator[LiveServer]:
    """The demo site with room for the many sign-ups and logins of these journeys."""
    demo_store.write_batch(
        [
            IngestRecord(
                Paper(
                    arxiv_id=arxiv_id,
                    title=r"Wombat burrows are $\mathcal{O}(n^{3/2})$ \emph{cubes}",
                    abstract="A stored paper on no feed day, submitted in a browser test.",
                    authors=["Ada Lovelace"],
                    categories=["q-bio.PE"],
                    first_seen=datetime(2009, 9, 1),
                ),
                "test",
                f"test:{arxiv_id}",
            )
            for arxiv_id in UNLISTED.values()
        ]
    )
    limits = "login=1000/1m,signup=1000/1m,submit=1000/1m,vote=1000/1m,subscribe=1000/1m"
    with LiveServer(demo_store, clock=lambda: NOW, rate_limits=limits) as server:
        yield server


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def new_page(browser: Any, viewport: str = "desktop", **options: Any) -> Any:
    context = browser.new_context(viewport=VIEWPORTS[viewport], **options)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def shot(page: Any, name: str, viewport: str, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{viewport}.png"), full_page=full_page)


def sign_up(page: Any, live: LiveServer) -> str:
    name = f"reader-{next(_names)}"
    page.goto(live.url + "/signup")
    page.fill("#f-username", name)
    page.fill("#f-email", f"{name}@example.org")
    page.fill("#f-password", PASSWORD)
    with page.expect_navigation():
        page.click("form[action='/signup'] button[type=submit]")
    return name


def count(locator: Any) -> int:
    return int(locator.inner_text())


# -- journeys ------------------------------------------------------------------------------


def test_read_the_feed_and_open_a_paper(browser: Any, live: LiveServer, viewport: str) -> None:
    page = new_page(browser, viewport)
    page.goto(live.url + "/")
    cards = page.locator("article.card")
    assert cards.count() > 0
    assert page.locator("h1").inner_text() == "Daily Papers"
    assert cards.first.locator(".meta").inner_text().split(" ")[1].startswith("author")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[viewport]["width"], f"the feed scrolls sideways: {width}px"
    shot(page, "feed", viewport)
    page.emulate_media(color_scheme="dark")
    shot(page, "feed-dark", viewport)
    page.emulate_media(color_scheme="light")
    first_title = cards.first.locator("h3 a").inner_text()
    cards.first.locator("h3 a").click()
    page.wait_for_url("**/papers/**")
    assert page.locator("h1").inner_text() == first_title
    assert page.locator("a", has_text="arXiv page").get_attribute("href")
    shot(page, "paper", viewport, full_page=True)
    page.go_back()
    page.locator("a[rel=prev]").first.click()
    page.wait_for_url("**/?date=*")
    assert page.locator("article.card").count() > 0
    page.context.close()


def test_math_renders_as_mathml(browser: Any, live: LiveServer, viewport: str) -> None:
    page = new_page(browser, viewport)
    page.goto(live.url + "/papers/2511.22120")  # GoPrune: … with $\ell_{2,p}$-Norm …
    heading = page.locator("h1")
    assert heading.locator("math").count() == 1
    assert heading.locator("annotation").text_content() == r"\ell_{2,p}"
    box = heading.locator("math msub").bounding_box()  # laid out as mathematics: a box
    assert box and box["width"] > 10 and box["height"] > 10
    assert page.locator(".abstract-full math").count() >= 2
    shot(page, "paper-math", viewport)
    page.goto(live.url + f"/papers/{UNLISTED['phone']}")
    assert page.locator("h1 em").inner_text() == "cubes"  # \emph{cubes}
    assert page.locator("h1 annotation").text_content() == r"\mathcal{O}(n^{3/2})"
    page.context.close()


def test_search_from_the_header(browser: Any, live: LiveServer, viewport: str) -> None:
    """No JavaScript needed: a GET form (on a phone, the header's search button opens the
    search page); results mark the matches, a paper page lists related papers."""
    page = new_page(browser, viewport, java_script_enabled=False)
    page.goto(live.url + "/")
    if viewport == "phone":
        assert not page.locator("#header-q").is_visible()
        page.click("a.search-link")
        page.fill("#q", "hebbian learning replica")
        page.press("#q", "Enter")
    else:
        page.fill("#header-q", "hebbian learning replica")
        page.press("#header-q", "Enter")
    page.wait_for_url("**/search?q=*")
    cards = page.locator("article.card")
    assert cards.count() == 20
    assert page.locator("article.card mark").count() > 0
    assert page.locator("#q").input_value() == "hebbian learning replica"
    shot(page, "search", viewport)
    cards.first.locator("h3 a").click()
    page.wait_for_url("**/papers/**")
    assert page.locator(".related-list li").count() == 5
    page.goto(live.url + '/search?q=spin+"glass')
    assert "a quote is not closed" in page.locator(".message").inner_text()
    page.context.close()


def test_sign_up_upvote_and_submit(browser: Any, live: LiveServer, viewport: str) -> None:
    page = new_page(browser, viewport)
    page.goto(live.url + "/")
    page.click("text=Log in")
    page.click("text=Create an account")
    shot(page, "signup", viewport)
    name = sign_up(page, live)
    assert page.locator(".account .who").inner_text() == name
    button = page.locator("article.card").nth(1).locator("button.votes")
    before = count(button.locator(".count"))
    button.click()
    page.wait_for_selector("article.card >> nth=1 >> button.votes[aria-pressed=true]")
    assert count(page.locator("article.card").nth(1).locator(".count")) == before + 1
    shot(page, "upvoted", viewport)
    page.goto(live.url + "/submit")
    page.fill("#f-arxiv", f"https://arxiv.org/abs/{UNLISTED[viewport]}v1")
    with page.expect_navigation():
        page.click("form[action='/submit'] button[type=submit]")
    assert "2025-12-31" in page.locator(".notice").inner_text()
    shot(page, "submitted", viewport)
    page.click(".notice >> text=the feed of")
    mine = page.locator(f"article.card:has(h3 a[href='/papers/{UNLISTED[viewport]}'])")
    assert mine.locator(".submitter").inner_text() == f"submitted by {name}"
    page.context.close()


def test_subscribe_and_change_preferences(browser: Any, live: LiveServer, viewport: str) -> None:
    page = new_page(browser, viewport)
    address = f"digest-{next(_names)}@example.org"
    page.goto(live.url + "/")
    page.fill("#sub-email", address)
    with page.expect_navigation():
        page.click("form.subscribe button[type=submit]")
    assert "confirmation link" in page.locator(".notice").inner_text()
    shot(page, "subscribed", viewport)
    sub = live.store.digests.by_email(address)
    assert sub is not None and sub.status == "pending"
    links = DigestLinks(live.app.state.accounts.signer, live.url)
    page.goto(links.confirm_url(sub, datetime.now(UTC).replace(tzinfo=None)))
    with page.expect_navigation():
        page.click("text=Yes, subscribe")
    assert page.locator("text=Choose daily or weekly").count() == 1  # (links to public_url)
    page.goto(links.preferences_url(sub))
    page.check("input[name=frequency][value=weekly]")
    page.fill("#f-top", "7")
    page.fill("#f-cat", "cs.LG, cond-mat")
    with page.expect_navigation():
        page.click("form.stack button[type=submit]")
    assert page.locator(".notice").inner_text() == "Saved."
    shot(page, "preferences", viewport)
    saved = live.store.digests.by_email(address)
    assert saved and (saved.frequency, saved.top_n, saved.status) == ("weekly", 7, "confirmed")
    assert saved.categories == ("cs.LG", "cond-mat")
    page.context.close()


def test_the_theme_switch(browser: Any, live: LiveServer) -> None:
    """With JavaScript the switch applies at once and is remembered; without, the same
    form posts and the page comes back in the theme chosen."""
    page = new_page(browser, "desktop", color_scheme="light")
    page.goto(live.url + "/")
    background = "() => getComputedStyle(document.body).backgroundColor"
    light = page.evaluate(background)
    page.evaluate("window.__still_here = true")
    page.click(".theme-switch button")  # system -> dark
    page.wait_for_selector("html[data-theme=dark]", state="attached")
    assert page.evaluate(background) != light
    assert page.evaluate("window.__still_here") is True  # no reload
    page.wait_for_timeout(300)  # the cookie's POST
    page.reload()
    assert page.locator("html").get_attribute("data-theme") == "dark"
    page.click(".theme-switch button")  # dark -> light
    page.click(".theme-switch button")  # light -> system
    page.wait_for_selector("html:not([data-theme])", state="attached")
    page.context.close()
    plain = new_page(browser, "desktop", java_script_enabled=False, color_scheme="light")
    plain.goto(live.url + "/week")
    with plain.expect_navigation():
        plain.click(".theme-switch button")
    assert plain.locator("html").get_attribute("data-theme") == "dark"
    assert "/week/" in plain.url  # back where the reader was
    shot(plain, "week-dark", "desktop")
    plain.context.close()


# -- HTMX interactions ---------------------------------------------------------------------


def test_more_papers_and_abstracts_in_place(browser: Any, live: LiveServer, viewport: str) -> None:
    page = new_page(browser, viewport)
    page.goto(live.url + "/month/2025-12")
    page.evaluate("window.__still_here = true")
    cards = page.locator("article.card")
    first_page = cards.count()
    assert first_page == 30
    page.click("#more-papers")
    page.wait_for_selector("article.card >> nth=30")
    assert cards.count() == 60 and page.locator("#pager").count() == 1
    assert "Page 2 of" in page.locator("#pager").inner_text()
    assert len(set(page.eval_on_selector_all("article.card", "els => els.map(e => e.id)"))) == 60
    card = cards.first
    preview = card.locator(".abstract").inner_text()
    card.locator(".abstract .more").click()
    page.wait_for_selector(f"#{card.get_attribute('id')} .abstract.full")
    whole = card.locator(".abstract").inner_text()
    assert len(whole) > len(preview)
    shot(page, "abstract-expanded", viewport)
    card.locator(".abstract .more").click()  # "less"
    page.wait_for_selector(f"#{card.get_attribute('id')} .abstract:not(.full)")
    assert page.evaluate("window.__still_here") is True
    page.context.close()


def test_date_navigation_in_place(browser: Any, live: LiveServer) -> None:
    from playwright.sync_api import expect

    page = new_page(browser)
    page.goto(live.url + "/")
    page.evaluate("window.__still_here = true")
    heading = page.locator("h2.period").inner_text()
    page.click("#period-prev")
    page.wait_for_url("**/?date=*")
    expect(page.locator("h2.period")).not_to_have_text(heading)
    assert page.evaluate("window.__still_here") is True  # <main> swapped, no reload
    assert page.title().startswith("Daily Papers · ")
    day = date.fromisoformat(page.url.rsplit("=", 1)[1])
    page.fill("#date-jump", "2025-12-01")
    page.click("form.date-jump button")
    page.wait_for_url("**/?date=2025-12-01")
    assert page.locator("#date-jump").input_value() == "2025-12-01"
    assert page.evaluate("window.__still_here") is True
    page.fill("#date-jump", "2001-01-01")  # no papers that day: the page says so
    page.click("form.date-jump button")
    page.wait_for_selector(".error-page")
    assert "2001-01-01" in page.url and page.evaluate("window.__still_here") is True
    page.go_back()
    page.go_back()
    page.wait_for_url(f"**/?date={day}")
    page.context.close()


def test_search_as_you_type(browser: Any, live: LiveServer, viewport: str) -> None:
    page = new_page(browser, viewport)
    page.goto(live.url + "/search")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/search?" in r.url else None)
    page.locator("#q").press_sequentially("hebbian learning", delay=40)
    page.wait_for_selector("#results article.card")
    page.wait_for_timeout(400)
    assert len(requests) <= 2, f"not debounced: {requests}"  # one per pause, not per key
    assert parse_qs(urlsplit(page.url).query)["q"] == ["hebbian learning"]  # the address too
    announced = page.locator("#search-status").text_content() or ""
    assert announced == page.locator("#results .count-line").inner_text(), announced
    assert re.match(r"^\d+ results", announced), announced
    assert page.locator("#results mark").count() > 0
    shot(page, "search-as-you-type", viewport)
    page.locator("#q").press_sequentially(' "open', delay=20)
    page.wait_for_selector("#search-results .message")
    assert "quote is not closed" in page.locator("#search-results .message").inner_text()
    page.context.close()


def test_keyboard_shortcuts(browser: Any, live: LiveServer) -> None:
    page = new_page(browser)
    sign_up(page, live)
    page.goto(live.url + "/week")
    cards = page.locator("article.card")
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.id") == cards.nth(0).get_attribute("id")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the current card shows no focus"
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert page.evaluate("document.activeElement.id") == cards.nth(1).get_attribute("id")
    before = count(cards.nth(1).locator(".count"))
    page.keyboard.press("u")
    page.wait_for_selector("article.card >> nth=1 >> button.votes[aria-pressed=true]")
    assert count(cards.nth(1).locator(".count")) == before + 1
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()
    shot(page, "keyboard-help", "desktop")
    page.keyboard.press("Escape")
    assert not page.locator("#shortcuts").is_visible()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "header-q"
    page.keyboard.type("j")  # typing in a field is typing, not a shortcut
    assert page.locator("#header-q").input_value() == "j"
    page.locator("#header-q").blur()
    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_url("**/papers/**")
    page.context.close()


# -- the same without JavaScript -------------------------------------------------------------


def test_sign_up_vote_and_comment_without_javascript(browser: Any, live: LiveServer) -> None:
    """Every community action is a plain form: it works with JavaScript off."""
    page = new_page(browser, java_script_enabled=False)
    page.goto(live.url + "/")
    name = sign_up(page, live)
    assert page.locator(".account .who").inner_text() == name
    card = page.locator("article.card").first
    before = count(card.locator(".count"))
    card.locator("button.votes").click()
    page.wait_for_url(live.url + "/")  # back on the feed after the POST and redirect
    voted = page.locator("article.card button.votes[aria-pressed=true]")
    assert voted.count() == 1
    assert count(voted.locator(".count")) == before + 1
    page.locator("article.card").first.locator(".abstract .more").click()  # the paper page
    page.wait_for_url("**/papers/**#abstract")
    page.fill("#new-comment", "Nice bound: $\\|x_i\\|_2 \\le 1$ holds *uniformly*.")
    page.click("button:has-text('Comment')")
    page.wait_for_url("**/papers/**#c*")
    body = page.locator(".comment-body").last
    assert "$\\|x_i\\|_2 \\le 1$" in body.inner_text()
    assert body.locator("em").inner_text() == "uniformly"
    shot(page, "paper-comments", "desktop", full_page=True)
    page.goto(live.url + "/month/2025-12")
    page.click("#more-papers")  # without HTMX: the next page
    page.wait_for_url("**/month/2025-12?page=2")
    assert page.locator("article.card").count() == 30
    page.context.close()


def test_vote_with_htmx_does_not_reload(browser: Any, live: LiveServer) -> None:
    page = new_page(browser)
    sign_up(page, live)
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    button = page.locator("article.card button.votes").nth(1)
    before = count(button.locator(".count"))
    button.click()
    page.wait_for_selector("article.card >> nth=1 >> button.votes[aria-pressed=true]")
    assert count(page.locator("article.card").nth(1).locator(".count")) == before + 1
    page.locator("article.card").nth(1).locator("button.votes").click()  # and withdraw it
    page.wait_for_selector("article.card >> nth=1 >> button.votes[aria-pressed=false]")
    assert count(page.locator("article.card").nth(1).locator(".count")) == before
    assert navigations == []  # swapped in place, no page load
    page.context.close()
