"""Page weights and paint timings of a running paperfeed, as Debian's Chromium sees them.

    .venv/bin/python tools/page_weights.py http://127.0.0.1:8000 [--runs 3] [--phone] [--json]

Each page type is loaded in a fresh browser context (an empty cache: a first visit), its
bytes counted as they came over the wire (compressed, headers included, from the DevTools
protocol), and its First Contentful Paint, Largest Contentful Paint and time to first byte
read from the Performance APIs; timings are the median of ``--runs`` loads. Paths to
measure can be given (``--path /week``); by default every page type a visitor sees, with a
paper and a search found from the feed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

CHROMIUM = os.environ.get("PAPERFEED_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}

# LCP entries arrive while the page loads; keep the last one (what Chromium would report).
_OBSERVE_LCP = """
window.__lcp = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__lcp = entry.renderTime || entry.loadTime;
}).observe({type: "largest-contentful-paint", buffered: true});
"""
_TIMINGS = """() => new Promise((done) => requestAnimationFrame(() => setTimeout(() => {
  const paint = performance.getEntriesByName("first-contentful-paint")[0];
  const nav = performance.getEntriesByType("navigation")[0];
  done({
    fcp: paint ? paint.startTime : null,
    lcp: window.__lcp || null,
    ttfb: nav ? nav.responseStart - nav.requestStart : null,
  });
}, 100)))"""


@dataclass
class Resource:
    url: str
    status: int
    encoding: str  # Content-Encoding, "" for none
    transferred: int  # bytes on the wire: headers and (compressed) body
    size: int  # bytes of the body once decoded


@dataclass
class PageLoad:
    name: str
    url: str
    status: int
    resources: list[Resource] = field(default_factory=list)
    fcp_ms: float | None = None
    lcp_ms: float | None = None
    ttfb_ms: float | None = None

    @property
    def transferred(self) -> int:
        return sum(r.transferred for r in self.resources)

    @property
    def size(self) -> int:
        return sum(r.size for r in self.resources)


def load_page(
    browser: Any,
    url: str,
    name: str = "",
    viewport: dict[str, int] = DESKTOP,
    storage_state: Any = None,
) -> PageLoad:
    """One first visit to ``url`` in a fresh context (with the cookies of ``storage_state``
    if given: a signed-in reader): every response and the timings."""
    context = browser.new_context(viewport=viewport, storage_state=storage_state)
    context.add_init_script(_OBSERVE_LCP)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    seen: dict[str, dict[str, Any]] = {}

    def on_response(event: dict[str, Any]) -> None:
        response = event["response"]
        if response["url"].startswith("data:"):  # the browser's own (a date field's icon)
            return
        headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
        seen[event["requestId"]] = {
            "url": response["url"],
            "status": response["status"],
            "encoding": headers.get("content-encoding", ""),
        }

    def on_finished(event: dict[str, Any]) -> None:
        if event["requestId"] in seen:
            seen[event["requestId"]]["transferred"] = int(event["encodedDataLength"])

    def on_data(event: dict[str, Any]) -> None:
        if event["requestId"] in seen:
            entry = seen[event["requestId"]]
            entry["size"] = entry.get("size", 0) + int(event["dataLength"])

    cdp.on("Network.responseReceived", on_response)
    cdp.on("Network.dataReceived", on_data)
    cdp.on("Network.loadingFinished", on_finished)
    answer = page.goto(url, wait_until="load")
    timings = page.evaluate(_TIMINGS)
    page.wait_for_load_state("networkidle")
    result = PageLoad(name or urlsplit(url).path, url, answer.status if answer else 0)
    for entry in seen.values():
        result.resources.append(
            Resource(
                entry["url"],
                entry["status"],
                entry["encoding"],
                entry.get("transferred", 0),
                entry.get("size", 0),
            )
        )
    result.fcp_ms, result.lcp_ms, result.ttfb_ms = timings["fcp"], timings["lcp"], timings["ttfb"]
    context.close()
    return result


def default_paths(browser: Any, origin: str) -> dict[str, str]:
    """Every page type a visitor sees, with a paper and a search taken from the feed."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(origin + "/")
    paper = page.locator("article.card h3 a").first.get_attribute("href") or "/"
    words = " ".join(page.locator("article.card h3 a").first.inner_text().split()[:3])
    context.close()
    return {
        "feed (day)": "/",
        "feed (week)": "/week",
        "feed (month)": "/month",
        "paper": paper,
        "search": "/search?q=" + quote(words),
        "search (help)": "/search",
        "login": "/login",
        "signup": "/signup",
        "error (404)": "/papers/0000.00000",
    }


def measure(
    browser: Any,
    origin: str,
    paths: dict[str, str],
    runs: int = 1,
    viewport: dict[str, int] = DESKTOP,
) -> list[PageLoad]:
    """Each path loaded ``runs`` times: the first load's bytes, the median timings."""
    results = []
    for name, path in paths.items():
        loads = [load_page(browser, origin + path, name, viewport) for _ in range(runs)]
        first = loads[0]
        for attribute in ("fcp_ms", "lcp_ms", "ttfb_ms"):
            values = [getattr(load, attribute) for load in loads if getattr(load, attribute)]
            setattr(first, attribute, statistics.median(values) if values else None)
        results.append(first)
    return results


def _ms(value: float | None) -> str:
    return f"{value:.0f}" if value is not None else "-"


def report(results: list[PageLoad]) -> str:
    lines = [
        f"{'page':<16} {'status':>6} {'requests':>8} {'transferred':>12} {'decoded':>9} "
        f"{'TTFB ms':>8} {'FCP ms':>7} {'LCP ms':>7}"
    ]
    for r in results:
        lines.append(
            f"{r.name:<16} {r.status:>6} {len(r.resources):>8} {r.transferred / 1000:>9.1f} kB "
            f"{r.size / 1000:>6.1f} kB {_ms(r.ttfb_ms):>8} {_ms(r.fcp_ms):>7} {_ms(r.lcp_ms):>7}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--path", action="append", help="a path to measure (repeatable)")
    parser.add_argument("--runs", type=int, default=3, help="loads per page for the timings")
    parser.add_argument("--phone", action="store_true", help="a 360×740 viewport")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    origin = args.url.rstrip("/")
    viewport = PHONE if args.phone else DESKTOP
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        paths = {p: p for p in args.path} if args.path else default_paths(browser, origin)
        results = measure(browser, origin, paths, args.runs, viewport)
        browser.close()
    if args.json:
        print(json.dumps([asdict(r) | {"transferred": r.transferred} for r in results], indent=1))
    else:
        print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
