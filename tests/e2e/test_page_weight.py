"""The speed budget: every page type under 100 kB transferred on a first visit (empty
cache, compressed, headers included), nothing from another origin, every text answer
compressed, and paint timings that exist. Measured by tools/page_weights.py in Debian's
Chromium; the figures go to test-artifacts/page-weights.txt."""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

import pytest
from test_accessibility import PASSWORD, log_in

from conftest import ROOT, LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("demo_store", ["sqlite"], indirect=True)]
BUDGET = 100_000
_spec = importlib.util.spec_from_file_location("page_weights", ROOT / "tools" / "page_weights.py")
assert _spec and _spec.loader
page_weights = importlib.util.module_from_spec(_spec)
sys.modules["page_weights"] = page_weights  # dataclasses look their module up there
_spec.loader.exec_module(page_weights)


@pytest.fixture(scope="module")
def reader_state(browser: Any, live: LiveServer) -> Any:
    live.app.state.accounts.create("weigher", "weigher@example.org", PASSWORD)
    context = browser.new_context()
    page = context.new_page()
    log_in(page, live.url, "weigher")
    state = context.storage_state()
    context.close()
    return state


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_every_page_type_is_within_the_budget(
    browser: Any, live: LiveServer, reader_state: Any, viewport: str
) -> None:
    size = page_weights.PHONE if viewport == "phone" else page_weights.DESKTOP
    paths = page_weights.default_paths(browser, live.url)
    results = page_weights.measure(browser, live.url, paths, runs=1, viewport=size)
    for name, path in (("submit", "/submit"), ("settings", "/settings")):
        results.append(page_weights.load_page(browser, live.url + path, name, size, reader_state))
    table = page_weights.report(results)
    out = ROOT / "test-artifacts" / f"page-weights-{viewport}.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text(table + "\n")
    for result in results:
        assert result.status in (200, 404), f"{result.name}: {result.status}"
        assert 0 < result.transferred < BUDGET, f"{result.name} is over budget\n{table}"
        assert result.fcp_ms and result.lcp_ms, f"{result.name}: no paint timings\n{table}"
        for resource in result.resources:
            assert resource.url.startswith(live.url), f"{result.name} loads {resource.url}"
            if resource.size > 1000:  # text worth compressing: pages, CSS, JS
                assert resource.encoding == "br", f"{resource.url}: {resource.encoding!r}"
        # the stylesheet and the script are part of each page: a first visit pays for both
        urls = " ".join(r.url for r in result.resources)
        assert "/static/style." in urls and "/static/htmx-" in urls, urls
    feed = results[0]
    assert feed.size > 2 * feed.transferred, "the feed was not compressed"
