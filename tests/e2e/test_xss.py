"""Hostile text stays text: XSS payloads in papers, comments, search, sign-up and login,
rendered by Debian's Chromium (Playwright), never run.

The payload tests open pages with the Content-Security-Policy bypassed, so escaping alone
must hold; one test per backend then walks the same pages as readers get them, policy on.
A page is inert when no dialog opened, no payload flag was set, the policy reported no
blocked script, no script error happened, and its DOM holds no script but ours, no ``on*``
handler, no ``javascript:`` URL and no element a payload would bring (svg, img, iframe).
Every page the browser navigates to must carry the policy header.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from conftest import BACKENDS, LiveServer, _new_database
from paperfeed.models import IngestRecord, Paper
from paperfeed.store import Store

pytestmark = pytest.mark.e2e

FEED_DAY = date(2003, 3, 3)
READER, PASSWORD = "reader", "correct horse battery"
# Reflected input (a query, a form field, ``next``) is never stored: one backend is enough.
REFLECTED_ONLY = pytest.mark.parametrize("site", ["sqlite"], indirect=True)
# Every action often enough for a module's tests, all of them from 127.0.0.1.
RATE_LIMITS = "login=1000/1m,signup=1000/1m,reset=1000/1m,submit=1000/1m,comment=1000/1m"

PAYLOADS = {
    "script": "<script>window.__xss=1;alert(1)</script>",
    "img-onerror": '<img src=x onerror="window.__xss=1;alert(1)">',
    "svg-onload": "<svg onload=alert(1)>",
    "attr-break": '"><script>window.__xss=1;alert(1)</script>',
    "single-quote-break": "'><svg onload=\"document.title='pwned';alert(1)\">",
    "md-js-link": "[click](javascript:alert(1))",
    "html-js-link": '<a href="javascript:alert(1)">x</a>',
    "textarea-break": "</textarea><script>window.__xss=1;alert(1)</script>",
    "template": "{{7*7}}",
    "template-statement": "{% print 7*7 %}",
}
JS_LINKS = {
    "plain": "[click](javascript:alert(1))",
    "mixed-case": "[click](JaVaScRiPt:window.__xss=1;alert(1))",
    "entity": "[click](&#x6A;avascript:alert(1))",
    "angle-brackets": "[click](<javascript:alert(1)>)",
    "autolink": "<javascript:alert(1)> click",
    "image": "![click](javascript:alert(1))",
    "data-url": "[click](data:text/html,<script>alert(1)</script>)",
    "reference": "[click][r]\n\n[r]: javascript:alert(1)",
    "html": '<a href="javascript:alert(1)">click</a>',
    "newline-in-scheme": "[click](java%0Ascript:alert(1))",
}
# TeX is rendered (MathML, HTML for text macros): none of this may bring markup or a link.
MATH_PAYLOADS = {
    "math-href": r"$\href{javascript:window.__xss=1;alert(1)}{x}$",
    "math-script": "$<script>window.__xss=1;alert(1)</script>$",
    "math-text-img": r"$\text{<img src=x onerror=alert(1)>}$",
    "math-style": r"$\style{background:url(javascript:alert(1))}{y}$",
    "math-close": "$$</math><script>window.__xss=1;alert(1)</script>$$",
    "math-mglyph": r"$\mathrm{</mi><mglyph><style></math><img src onerror=alert(1)>}$",
    "unbalanced": "$x <svg onload=alert(1)> stays",
    "malformed": r"$\frac{a}{$ <img src=x onerror=alert(1)>",
    "text-href": r"\href{javascript:alert(1)}{click} \url{javascript:alert(1)}",
    "text-bold": r"\textbf{<script>window.__xss=1;alert(1)</script>}",
}
MATH_DAY = date(2003, 3, 4)
HOSTILE_NEXT = {
    "javascript": "javascript:alert(1)",
    "javascript-mixed-case": " JaVaScRiPt:alert(1)",
    "data": "data:text/html,<script>alert(1)</script>",
    "protocol-relative": "//evil.example/",
    "backslash": "/\\evil.example/",
    "tab": "/\t/evil.example/",
}
_emails = itertools.count()


def hostile_paper(number: int, payload: str) -> Paper:
    return Paper(
        arxiv_id=f"0303.{number:05d}",
        title=f"Zebrafish {payload}",
        abstract=f"Zebrafish swim. {payload} More text after the payload.",
        authors=[payload, f"Ada {payload} Lovelace"],
        categories=["cs.CR"],
        comment=payload,
        journal_ref=payload,
        doi=payload,
        license=payload,
        first_seen=datetime(2003, 3, 3),
    )


HOSTILE_PAPERS = [hostile_paper(n, p) for n, p in enumerate(PAYLOADS.values(), start=1)]
MATH_PAPERS = [
    Paper(
        arxiv_id=f"0303.{number:05d}",
        title=f"Quokka bounds in $\\mathcal{{O}}(k)$: {payload}",
        abstract=f"Quokkas hop in $\\mathcal{{O}}(k)$ time, \\emph{{provably}}. {payload} Fin.",
        authors=["Ada Lovelace"],
        categories=["cs.CR"],
        first_seen=datetime(2003, 3, 4),
    )
    for number, payload in enumerate(MATH_PAYLOADS.values(), start=101)
]


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A site whose only feed day holds one hostile paper per payload, and one reader.
    Submitters come from imported data (Hugging Face's daily papers), so they are hostile too."""
    url = _new_database(request, request.param, tmp_path_factory.mktemp("xss"))
    store = Store.open(url)
    store.write_batch(
        [
            IngestRecord(p, "test", p.arxiv_id, feed_day=FEED_DAY, submitted_by=p.comment)
            for p in HOSTILE_PAPERS
        ]
        + [IngestRecord(p, "test", p.arxiv_id, feed_day=MATH_DAY) for p in MATH_PAPERS]
    )
    with LiveServer(store, rate_limits=RATE_LIMITS) as server:
        server.app.state.accounts.create(READER, "reader@example.org", PASSWORD)
        yield server
    store.close()


# -- a browser tab that notices anything that runs ----------------------------------------

_RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sample}`);
});
"""

_PAGE_STATE = """() => {
  const all = [...document.querySelectorAll("*")];
  const urlAttributes = ["href", "src", "action", "formaction", "data", "xlink:href"];
  return {
    xss: window.__xss === undefined ? null : window.__xss,
    title: document.title,
    cspViolations: window.__cspViolations || [],
    scripts: [...document.scripts].map((s) => s.src || "inline: " + s.text.slice(0, 80)),
    handlers: all.flatMap((el) => [...el.attributes]
      .filter((a) => /^(on|hx-on|data-hx-on)/i.test(a.name))
      .map((a) => `<${el.localName} ${a.name}="${a.value}">`)),
    scriptUrls: all.flatMap((el) => urlAttributes
      .map((name) => el.getAttribute(name))
      .filter((v) => v && /^(javascript|vbscript|data):/i.test(v.replace(/[\\x00-\\x20]/g, "")))
      .map((v) => `<${el.localName}> ${v}`)),
    embedded: all.filter((el) => ["svg", "img", "iframe", "object", "embed"].includes(el.localName))
      .map((el) => el.outerHTML.slice(0, 80)),
  };
}"""


@dataclass
class Tab:
    """A page and everything it did that a payload could have caused."""

    page: Any
    origin: str
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    without_policy: list[str] = field(default_factory=list)

    def goto(self, path: str) -> Any:
        return self.page.goto(self.origin + path)

    def csrf_token(self) -> str:
        token = self.page.locator("input[name=csrf_token]").first.get_attribute("value")
        assert token, f"no CSRF token on {self.page.url}"
        return str(token)

    def assert_inert(self, where: str) -> None:
        state = self.page.evaluate(_PAGE_STATE)
        ours = [s for s in state["scripts"] if s.startswith(self.origin + "/static/")]
        problems = {
            "dialogs opened": self.dialogs,
            "window.__xss set": [state["xss"]] if state["xss"] is not None else [],
            "document.title changed": [state["title"]] if state["title"] == "pwned" else [],
            "scripts blocked by the CSP (so the markup was injected)": state["cspViolations"],
            "scripts that are not ours": [s for s in state["scripts"] if s not in ours],
            "event handlers in the DOM": state["handlers"],
            "script URLs in the DOM": state["scriptUrls"],
            "injected elements": state["embedded"],
            "JavaScript errors": self.errors,
            "pages without a strict Content-Security-Policy": self.without_policy,
        }
        found = {what: items for what, items in problems.items() if items}
        assert not found, f"XSS on {where} ({self.page.url}): {found}"


def open_tab(chromium: Any, origin: str, *, csp: bool, storage_state: Any = None) -> Tab:
    context = chromium.new_context(bypass_csp=not csp, storage_state=storage_state)
    context.add_init_script(_RECORD_CSP_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(5000)
    tab = Tab(page, origin)

    def on_dialog(dialog: Any) -> None:
        tab.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_response(response: Any) -> None:
        policy = response.headers.get("content-security-policy", "")
        strict = "script-src 'self'" in policy and "'unsafe-" not in policy
        ours = response.request.is_navigation_request() and response.url.startswith(origin)
        if ours and not strict:
            tab.without_policy.append(f"{response.url}: {policy!r}")

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: tab.errors.append(str(error)))
    page.on("response", on_response)
    return tab


@pytest.fixture(scope="module")
def chromium(request: pytest.FixtureRequest) -> Any:
    """Debian's Chromium (the `browser` fixture of tests/conftest.py)."""
    return request.getfixturevalue("browser")


@pytest.fixture
def tab(chromium: Any, site: LiveServer) -> Iterator[Tab]:
    """A visitor's tab with the CSP bypassed: escaping alone must keep payloads inert."""
    opened = open_tab(chromium, site.url, csp=False)
    yield opened
    opened.page.context.close()


@pytest.fixture(scope="module")
def reader_state(chromium: Any, site: LiveServer) -> Any:
    """The reader's cookies after logging in through the login form (once per site)."""
    visitor = open_tab(chromium, site.url, csp=True)
    visitor.goto("/login")
    log_in(visitor, "/")
    state = visitor.page.context.storage_state()
    visitor.page.context.close()
    return state


@pytest.fixture
def reader_tab(chromium: Any, site: LiveServer, reader_state: Any) -> Iterator[Tab]:
    """The reader's tab, logged in, with the CSP bypassed."""
    opened = open_tab(chromium, site.url, csp=False, storage_state=reader_state)
    yield opened
    opened.page.context.close()


def log_in(tab: Tab, next_field: str) -> Any:
    """Log in through the form on the current (login) page, its hidden ``next`` set to
    ``next_field``; the answer to the POST."""
    page = tab.page
    page.locator("form[action='/login'] input[name=next]").evaluate(
        "(input, target) => { input.value = target; }", next_field
    )
    page.fill("#f-name", READER)
    page.fill("#f-password", PASSWORD)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state()
    assert answer.value.status == 303, f"login failed: {answer.value.status}"
    return answer.value


def post_comments(tab: Tab, paper_id: str, bodies: list[str]) -> list[int]:
    """Post comments over HTTP with the tab's cookies; their ids, in order."""
    tab.goto(f"/papers/{paper_id}")
    token = tab.csrf_token()
    ids = []
    for body in bodies:
        answer = tab.page.request.post(
            f"{tab.origin}/papers/{paper_id}/comments",
            form={"body": body, "csrf_token": token},
            max_redirects=0,
        )
        assert answer.status == 303, f"{answer.status} for the comment {body!r}: {answer.text()}"
        ids.append(int(answer.headers["location"].rsplit("#c", 1)[1]))
    return ids


def card(tab: Tab, paper: Paper) -> Any:
    link = tab.page.locator(f"h3 a[href='/papers/{paper.arxiv_id}']")
    return tab.page.locator("article.card", has=link)


def test_the_detector_sees_payloads_that_run_or_are_blocked(chromium: Any) -> None:
    """Without this, a silent pass could mean the checks see nothing: a payload served
    without the policy runs and is caught; served with it, it is blocked and caught."""
    origin = "http://xss.test"
    tab = open_tab(chromium, origin, csp=True)

    def serve(route: Any) -> None:
        guarded = route.request.url.endswith("/guarded")
        headers = {"Content-Security-Policy": "script-src 'self'"} if guarded else {}
        body = PAYLOADS["script"] + PAYLOADS["img-onerror"]
        route.fulfill(status=200, content_type="text/html", headers=headers, body=body)

    tab.page.route(f"{origin}/**", serve)
    tab.goto("/open")
    tab.page.wait_for_function("window.__xss === 1")
    ran = r"dialogs opened.*window.__xss set.*injected elements.*without a strict Content"
    with pytest.raises(AssertionError, match=ran):
        tab.assert_inert("a page made to fail")
    tab.dialogs.clear()
    tab.without_policy.clear()
    tab.goto("/guarded")
    tab.page.wait_for_function("window.__cspViolations.length === 2")
    with pytest.raises(AssertionError, match=r"^((?!dialogs opened).)*blocked by the CSP"):
        tab.assert_inert("a page made to fail")
    tab.page.context.close()


# -- papers: feed, paper page, search results ---------------------------------------------


def test_feed_page_shows_hostile_papers_as_text(tab: Tab) -> None:
    assert tab.goto(f"/?date={FEED_DAY}").status == 200
    tab.assert_inert("the feed page")
    assert tab.page.locator("article.card").count() == len(HOSTILE_PAPERS)
    for paper in HOSTILE_PAPERS:
        assert card(tab, paper).locator("h3 a").inner_text() == paper.title
        authors = card(tab, paper).locator(".authors").get_attribute("title")
        assert authors == ", ".join(paper.authors)
        submitter = card(tab, paper).locator(".submitter").inner_text()
        assert submitter == f"submitted by {paper.comment}"


_PAPER_PAGE_TEXT = """() => {
  const text = (selector) => document.querySelector(selector)?.innerText;
  const fact = (label) => [...document.querySelectorAll("dl.facts dt")]
    .find((dt) => dt.innerText === label)?.nextElementSibling;
  return {
    title: document.title,
    heading: text("h1"),
    authors: text(".authors-full"),
    abstract: text(".abstract-full"),
    description: document.querySelector("meta[name=description]").content,
    doi_href: fact("DOI")?.querySelector("a")?.getAttribute("href"),
    facts: Object.fromEntries(["Comment", "Journal ref", "DOI", "Licence", "Submitted by"]
      .map((label) => [label, fact(label)?.innerText])),
  };
}"""


def test_paper_pages_show_hostile_fields_as_text(tab: Tab) -> None:
    for paper in HOSTILE_PAPERS:
        where = f"the page of the paper with {paper.comment!r}"
        assert tab.goto(f"/papers/{paper.arxiv_id}").status == 200, where
        tab.assert_inert(where)
        shown = tab.page.evaluate(_PAPER_PAGE_TEXT)
        assert shown["heading"] == paper.title, where
        assert shown["title"].startswith(paper.title + " · "), where
        assert shown["authors"] == ", ".join(paper.authors), where
        assert shown["abstract"] == shown["description"] == paper.abstract, where
        assert set(shown["facts"].values()) == {paper.comment}, f"{where}: {shown['facts']}"
        assert shown["doi_href"] == f"https://doi.org/{paper.doi}", where


def test_search_results_show_hostile_papers_as_text(tab: Tab) -> None:
    assert tab.goto("/search?q=zebrafish&mode=keyword").status == 200
    tab.assert_inert("the search results")
    assert tab.page.locator("article.card").count() == len(HOSTILE_PAPERS)
    for paper in HOSTILE_PAPERS:
        assert card(tab, paper).locator("h3 a").inner_text() == paper.title
        assert card(tab, paper).locator("h3 a mark").inner_text() == "Zebrafish"
        authors = card(tab, paper).locator(".authors")
        assert authors.get_attribute("title") == authors.inner_text() == ", ".join(paper.authors)


_MATH_STATE = """(selector) => [...document.querySelectorAll(selector)].map((el) => ({
  maths: el.querySelectorAll("math").length,
  annotations: [...el.querySelectorAll("annotation")].map((a) => a.textContent),
  elements: [...new Set([...el.querySelectorAll("*")].map((e) => e.localName))],
  links: [...el.querySelectorAll("a")].map((a) => a.getAttribute("href")),
  text: el.innerText,
}))"""
MATHML_SHOWN = {
    "math", "semantics", "annotation", "mrow", "mi", "mn", "mo", "mtext", "mspace", "msub",
    "msup", "mfrac", "mstyle", "em", "strong", "mark", "p",
}  # fmt: skip


def test_tex_in_hostile_papers_renders_as_math_or_text(tab: Tab) -> None:
    """Every formula that parses is MathML (its TeX kept as the annotation); hostile TeX
    brings no element, attribute or link; what does not parse shows as typed."""
    for path in (f"/?date={MATH_DAY}", "/search?q=quokka&mode=keyword"):
        assert tab.goto(path).status == 200
        tab.assert_inert(f"{path} with TeX payloads")
        for where in ("h3 a", ".abstract"):
            shown = tab.page.evaluate(_MATH_STATE, f"article.card {where}")
            assert len(shown) == len(MATH_PAPERS), f"{path} {where}"
            for item in shown:
                assert item["maths"] >= 1, f"{path} {where}: no formula rendered in {item}"
                assert "\\mathcal{O}(k)" in item["annotations"], item
                assert set(item["elements"]) <= MATHML_SHOWN, f"{path} {where}: {item}"
                assert item["links"] == [], f"{path} {where}: {item}"
    for paper, payload in zip(MATH_PAPERS, MATH_PAYLOADS.values(), strict=True):
        where = f"the page of the paper with {payload!r}"
        assert tab.goto(f"/papers/{paper.arxiv_id}").status == 200, where
        tab.assert_inert(where)
        [abstract] = tab.page.evaluate(_MATH_STATE, ".abstract-full")
        assert set(abstract["elements"]) <= MATHML_SHOWN, f"{where}: {abstract}"
        assert "provably" in abstract["text"] and "Fin." in abstract["text"], where
        if payload.startswith(("$x", "$\\frac")):  # does not parse: shown as typed
            assert payload.split(" <")[0] in abstract["text"], f"{where}: {abstract['text']}"
        api = tab.page.request.get(f"{tab.origin}/api/v1/papers/{paper.arxiv_id}").json()
        assert api["paper"]["abstract"] == paper.abstract  # the JSON twin keeps the TeX


@REFLECTED_ONLY
def test_search_queries_are_shown_as_text(tab: Tab) -> None:
    for payload in PAYLOADS.values():
        response = tab.goto("/search?q=" + quote(payload))
        tab.assert_inert(f"the search for {payload!r}")
        assert response.status in (200, 400), f"{response.status} for the query {payload!r}"
        if response.status == 200:
            assert tab.page.locator("#q").input_value() == payload
            assert tab.page.title().startswith(payload + " · Search")
        else:  # a query the syntax refuses, such as an unclosed quote
            assert tab.page.locator(".message").inner_text()
    tab.goto("/")
    tab.page.fill("#header-q", PAYLOADS["script"])
    with tab.page.expect_navigation():
        tab.page.press("#header-q", "Enter")
    assert tab.page.locator("#q").input_value() == PAYLOADS["script"]
    tab.assert_inert("a hostile search typed into the header box")


# -- comments -----------------------------------------------------------------------------


def test_hostile_comments_render_as_text(reader_tab: Tab) -> None:
    """One comment goes through the form on the page, the others over HTTP; each shows as
    typed, and so does the text of its edit box (``</textarea>`` cannot close it)."""
    tab, paper_id = reader_tab, HOSTILE_PAPERS[0].arxiv_id
    tab.goto(f"/papers/{paper_id}")
    tab.page.fill("#new-comment", PAYLOADS["textarea-break"])
    with tab.page.expect_navigation():
        tab.page.click("form.comment-form button[type=submit]")
    fragment = urlsplit(tab.page.url).fragment
    assert fragment.startswith("c"), f"the form did not post the comment: {tab.page.url}"
    tab.assert_inert("the paper page after commenting through the form")
    others = [p for name, p in PAYLOADS.items() if name != "textarea-break"]
    ids = [int(fragment[1:]), *post_comments(tab, paper_id, others)]
    tab.goto(f"/papers/{paper_id}")
    tab.assert_inert("the paper page with every hostile comment")
    for comment, payload in zip(ids, [PAYLOADS["textarea-break"], *others], strict=True):
        body = tab.page.locator(f"#c{comment} .comment-body")
        assert body.inner_text() == payload
        assert body.locator("a").count() == 0, f"{payload!r} became a link"
        assert tab.page.locator(f"#edit-{comment}").input_value() == payload


def test_javascript_links_in_comments_do_nothing_when_clicked(reader_tab: Tab) -> None:
    tab, paper_id = reader_tab, HOSTILE_PAPERS[1].arxiv_id
    paper_url = f"{tab.origin}/papers/{paper_id}"
    ids = post_comments(tab, paper_id, list(JS_LINKS.values()))
    tab.goto(f"/papers/{paper_id}")
    tab.assert_inert("the paper page with javascript: links in comments")
    for comment, markdown in zip(ids, JS_LINKS.values(), strict=True):
        body = tab.page.locator(f"#c{comment} .comment-body")
        links = body.locator("a")
        for n in range(links.count()):
            href = links.nth(n).get_attribute("href") or ""
            scheme = urlsplit(href).scheme
            assert scheme in ("", "http", "https", "mailto"), f"{markdown!r} links to {href!r}"
        if links.count():  # a harmless link left by the sanitiser: it may only navigate here
            with tab.page.expect_navigation():
                links.first.click()
        else:
            body.get_by_text("click").first.click()
            tab.page.evaluate("() => new Promise((done) => setTimeout(done, 50))")
        assert not tab.dialogs, f"clicking {markdown!r} opened {tab.dialogs}"
        assert tab.page.url.startswith(tab.origin + "/"), f"{markdown!r} led to {tab.page.url}"
        if not tab.page.url.startswith(paper_url):
            tab.goto(f"/papers/{paper_id}")
        tab.assert_inert(f"the paper page after clicking {markdown!r}")


# -- sign-up and login --------------------------------------------------------------------


@REFLECTED_ONLY
def test_hostile_usernames_get_a_clean_400(tab: Tab) -> None:
    tab.goto("/signup")
    page = tab.page
    for payload in PAYLOADS.values():
        page.fill("#f-username", payload)
        page.fill("#f-email", f"new{next(_emails)}@example.org")
        page.fill("#f-password", PASSWORD)
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.click("form[action='/signup'] button[type=submit]")
        page.wait_for_load_state()
        assert answer.value.status == 400, f"{answer.value.status} for the username {payload!r}"
        assert "letters, digits" in page.locator("#e-username").inner_text()
        assert page.locator("#f-username").input_value() == payload
        tab.assert_inert(f"the sign-up page refusing {payload!r}")


@REFLECTED_ONLY
def test_login_next_never_leaves_the_site(tab: Tab) -> None:
    """The login page offers no hostile ``next``; a forged form that posts one still lands
    on this site, and the redirect is never to a script or another host."""
    for target in HOSTILE_NEXT.values():
        tab.goto("/login?next=" + quote(target, safe=""))
        next_input = tab.page.locator("form[action='/login'] input[name=next]")
        offered = next_input.get_attribute("value")
        assert offered in ("/", target.strip()), f"next={target!r} offered {offered!r}"
        location = log_in(tab, target).headers["location"]
        assert location.startswith("/") and not re.match(r"^/[\\/\t\n\r]", location), (
            f"next={target!r} redirects to {location!r}"
        )
        landed = urlsplit(tab.page.url)
        assert f"{landed.scheme}://{landed.netloc}" == tab.origin, f"{target!r}: {tab.page.url}"
        tab.assert_inert(f"the page after logging in with next={target!r}")


# -- as readers get the pages: the policy on ----------------------------------------------


def test_hostile_pages_with_the_policy_on(
    chromium: Any, site: LiveServer, reader_state: Any
) -> None:
    """The same pages as readers get them: the CSP header on each, nothing blocked (no
    injected script reached the page), nothing run, and our own script works under it."""
    tab = open_tab(chromium, site.url, csp=True, storage_state=reader_state)
    paper_id = HOSTILE_PAPERS[2].arxiv_id
    post_comments(tab, paper_id, list(PAYLOADS.values()))
    pages = [
        f"/?date={FEED_DAY}",
        f"/papers/{paper_id}",
        "/search?q=zebrafish&mode=keyword",
        "/search?q=" + quote(PAYLOADS["img-onerror"]),
        "/search?q=" + quote(PAYLOADS["attr-break"]),
        "/papers/" + quote(PAYLOADS["script"]),
        "/login?next=javascript:alert(1)",
    ]
    for path in pages:
        tab.goto(path)
        tab.assert_inert(path)
    tab.goto(f"/papers/{paper_id}")
    with tab.page.expect_response(lambda r: r.request.method == "POST") as vote:
        tab.page.click("form.vote-form button")
    assert vote.value.request.headers.get("hx-request") == "true", "htmx did not run"
    tab.page.wait_for_selector("form.vote-form button[aria-pressed=true]")
    tab.assert_inert("the paper page after an htmx upvote")
    tab.page.context.close()
