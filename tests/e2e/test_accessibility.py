"""WCAG 2.2 AA on every page type: axe-core (from the npm registry, `make install-dev`)
injected by Playwright into Debian's Chromium, in the light and the dark theme; no serious
or critical violation anywhere. Each page's findings go to test-artifacts/axe/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import IN_CI, ROOT, LiveServer
from paperfeed.digest.links import DigestLinks
from paperfeed.rank.feeds import feed_page, parse_period
from paperfeed.store import Store

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("demo_store", ["sqlite"], indirect=True)]

AXE = ROOT / "tests" / "e2e" / ".axe" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts" / "axe"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
BLOCKING = ("serious", "critical")
PASSWORD = "a long enough passphrase"

_RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: tags}, resultTypes: ["violations"],
  });
  return {
    violations: result.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => ({
        target: n.target.join(" "), summary: n.failureSummary,
      })),
    })),
    rules: result.passes.length + result.violations.length + result.incomplete.length,
  };
}"""


def axe_path() -> Path:
    if not AXE.exists():
        if IN_CI:
            pytest.fail(f"{AXE} is missing: `make install-dev` installs axe-core from npm")
        pytest.skip(f"{AXE} missing: run `make install-dev` (npm install axe-core)")
    return AXE


def run_axe(page: Any, name: str) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now; all of them saved, blocking ones returned."""
    page.add_script_tag(path=str(axe_path()))
    result = page.evaluate(_RUN_AXE, WCAG_TAGS)
    assert result["rules"] > 20, f"axe ran only {result['rules']} rules on {name}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(result["violations"], indent=2))
    return [v for v in result["violations"] if v["impact"] in BLOCKING]


@pytest.fixture(scope="module")
def site(live: LiveServer, demo_store: Store) -> dict[str, str]:
    """Accounts for a reader and a moderator, a digest subscriber, and the addresses of
    every page type."""
    accounts = live.app.state.accounts
    accounts.create("axe-reader", "axe-reader@example.org", PASSWORD)
    moderator = accounts.create("axe-mod", "axe-mod@example.org", PASSWORD)
    demo_store.community.set_role(moderator.id, "moderator")
    sub, _ = demo_store.digests.subscribe("axe-sub@example.org", now=datetime(2025, 12, 1))
    links = DigestLinks(accounts.signer, "")
    now = datetime.now(UTC).replace(tzinfo=None)
    day = demo_store.latest_day()
    assert day is not None
    iso = day.isocalendar()
    paper = feed_page(demo_store, parse_period("day", day.isoformat())).items[0].paper.arxiv_id
    return {
        "feed-day": "/",
        "feed-week": f"/week/{iso.year}-W{iso.week:02d}",
        "feed-month": f"/month/{day:%Y-%m}",
        "feed-trending": f"/week/{iso.year}-W{iso.week:02d}?sort=trending",
        "paper": f"/papers/{paper}",
        "search-help": "/search",
        "search-results": "/search?q=hebbian+learning",
        "login": "/login",
        "signup": "/signup",
        "reset": "/reset",
        "error-404": "/papers/9999.99999",
        "error-empty-day": "/?date=2001-01-01",
        "subscribe-confirm": links.confirm_url(sub, now),
        "digest-preferences": links.preferences_url(sub),
        "unsubscribe": links.unsubscribe_url(sub),
        "paper-as-reader": f"/papers/{paper}",
        "submit": "/submit",
        "settings": "/settings",
        "moderation-log": "/mod/log",
        "paper-as-moderator": f"/papers/{paper}",
        "library-empty": "/library",
        "following": "/following",
        "for-you": "/for-you",
        "settings-personal": "/settings/personal",
    }


def log_in(page: Any, origin: str, name: str) -> None:
    page.goto(origin + "/login")
    page.fill("#f-name", name)
    page.fill("#f-password", PASSWORD)
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")


@pytest.fixture(params=["light", "dark"])
def contexts(
    request: pytest.FixtureRequest, browser: Any, live: LiveServer
) -> Iterator[dict[str, Any]]:
    """A page for a visitor, a reader and a moderator, in one color scheme, CSP bypassed
    (axe is injected as an inline script)."""
    pages = {}
    for who in ("visitor", "axe-reader", "axe-mod"):
        context = browser.new_context(
            bypass_csp=True, color_scheme=request.param, viewport={"width": 1280, "height": 900}
        )
        page = context.new_page()
        page.set_default_timeout(10_000)
        if who != "visitor":
            log_in(page, live.url, who)
        pages[who] = page
    yield {"scheme": request.param, **pages}
    for page in pages.values():
        page.context.close()


def who_for(name: str) -> str:
    if name in ("submit", "settings", "paper-as-reader") or name.startswith(
        ("library", "following", "for-you", "settings-")
    ):
        return "axe-reader"
    if name in ("moderation-log", "paper-as-moderator"):
        return "axe-mod"
    return "visitor"


def test_every_page_type_has_no_serious_violations(
    contexts: dict[str, Any], live: LiveServer, site: dict[str, str]
) -> None:
    found: dict[str, list[dict[str, Any]]] = {}
    for name, path in site.items():
        page = contexts[who_for(name)]
        page.goto(path if path.startswith("http") else live.url + path)
        blocking = run_axe(page, f"{name}-{contexts['scheme']}")
        if blocking:
            found[name] = blocking
    # states that scripts bring: an abstract opened in place, the keyboard help
    page = contexts["axe-reader"]
    page.goto(live.url + "/week")
    page.locator("article.card .abstract .more").first.click()
    page.wait_for_selector("article.card .abstract.full")
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()
    if blocking := run_axe(page, f"feed-expanded-help-{contexts['scheme']}"):
        found["feed-expanded-help"] = blocking
    # a form answered: the subscribe box on the feed, then the page it leads to
    page = contexts["visitor"]
    page.goto(live.url + "/")
    page.fill("#sub-email", "axe-new@example.org")
    with page.expect_navigation():
        page.click("form.subscribe button[type=submit]")
    if blocking := run_axe(page, f"subscribe-answer-{contexts['scheme']}"):
        found["subscribe-answer"] = blocking
    page.goto(live.url + "/signup")
    page.fill("#f-username", "bad name!")
    page.fill("#f-email", "x@example.org")
    page.fill("#f-password", "short")
    with page.expect_navigation():
        page.click("form[action='/signup'] button[type=submit]")
    assert page.locator("[aria-invalid=true]").count() >= 1
    if blocking := run_axe(page, f"signup-errors-{contexts['scheme']}"):
        found["signup-errors"] = blocking
    assert not found, json.dumps(found, indent=1)


def test_axe_finds_what_it_should(browser: Any, live: LiveServer) -> None:
    """The check can fail: a page with an unlabelled field and low-contrast text has
    serious violations."""
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.goto(live.url + "/login")
    page.evaluate(
        """() => {
      document.querySelector("label[for=f-name]").remove();
      document.querySelector("h1").style.color = "#c4c4c4";
    }"""
    )
    ids = {v["id"] for v in run_axe(page, "made-to-fail")}
    assert {"label", "color-contrast"} <= ids, ids
    context.close()
