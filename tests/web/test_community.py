"""Accounts, votes, submissions, comments, moderation, tokens and abuse protection, over real
HTTP against the running app on both backends (mail through a real local SMTP server, arXiv
from recorded responses on a local HTTP server)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

import httpx
import pytest

from conftest import LiveServer, arxiv_routes
from fixture_server import FixtureServer
from paperfeed.community.auth import Accounts
from paperfeed.community.submit import SubmitError, parse_submission
from paperfeed.models import IngestRecord, Paper, User
from paperfeed.store import Store, utcnow
from smtpserver import SmtpServer

PASSWORD = "correct horse battery"
PAPER = "2310.06110"  # in the demo set
NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """A cookie-keeping HTTP client that fills in the CSRF token as a browser's form does."""

    def __init__(self, live: LiveServer) -> None:
        self.http = httpx.Client(base_url=live.url, follow_redirects=False, timeout=30)
        self.csrf = ""

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        response = self.http.get(path, **kwargs)  # type: ignore[arg-type]
        found = CSRF_RE.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, path: str, data: dict[str, str] | None = None, **kw: object) -> httpx.Response:
        if not self.csrf:
            self.get("/login")
        form = {"csrf_token": self.csrf, **(data or {})}
        return self.http.post(path, data=form, **kw)  # type: ignore[arg-type]

    def signup(self, name: str, email: str | None = None) -> httpx.Response:
        self.get("/signup")
        return self.post(
            "/signup",
            {"username": name, "email": email or f"{name}@example.org", "password": PASSWORD},
        )

    def login(self, name: str, password: str = PASSWORD) -> httpx.Response:
        self.get("/login")
        return self.post("/login", {"name": name, "password": password})

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="module")
def site(demo_store: Store) -> Iterator[LiveServer]:
    limits = (
        "login=1000/1h,signup=1000/1h,reset=1000/1h,submit=1000/1h,vote=5000/1h,comment=1000/1h"
    )
    with LiveServer(demo_store, clock=lambda: NOW, rate_limits=limits) as server:
        yield server


@pytest.fixture
def browser(site: LiveServer) -> Iterator[Browser]:
    b = Browser(site)
    yield b
    b.close()


_names = iter(range(10**6))


def fresh(prefix: str = "user") -> str:
    return f"{prefix}{next(_names)}"


def accounts(site: LiveServer) -> Accounts:
    return Accounts(site.store, site.settings, utcnow)


def make_user(site: LiveServer, role: str = "user") -> User:
    name = fresh(role)
    return accounts(site).create(name, f"{name}@example.org", PASSWORD, role)


# -- accounts -----------------------------------------------------------------------------


def test_signup_logs_in_with_safe_cookies(browser: Browser) -> None:
    name = fresh()
    response = browser.signup(name)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = next(c for c in response.headers.get_list("set-cookie") if "pf_session=" in c)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP here; see the HTTPS test below
    page = browser.get("/")
    assert f">{name}</a>" in page.text and "Log out" in page.text
    assert browser.post("/logout").status_code == 303
    assert "Log in" in browser.get("/").text


def test_cookies_are_secure_behind_https(demo_store: Store) -> None:
    with LiveServer(demo_store, secure_cookies="always") as server:
        response = httpx.get(server.url + "/login")
        assert "Secure" in response.headers["set-cookie"]
    # "auto" (the default): Secure when a trusted proxy says the request came over HTTPS.
    with LiveServer(demo_store) as server:
        plain = httpx.get(server.url + "/login")
        proxied = httpx.get(server.url + "/login", headers={"X-Forwarded-Proto": "https"})
        assert "Secure" not in plain.headers["set-cookie"]
        assert "Secure" in proxied.headers["set-cookie"]


@pytest.mark.parametrize(
    ("username", "email", "password", "field"),
    [
        ("a b", "x@example.org", PASSWORD, "username"),
        ("admin", "x@example.org", PASSWORD, "username"),
        ("x" * 33, "x@example.org", PASSWORD, "username"),
        ("okname", "not-an-address", PASSWORD, "email"),
        ("okname", "x@y@example.org", PASSWORD, "email"),  # the parser's own error: was a 500
        ("okname", "x@example.org", "short", "password"),
        ("okname", "x@example.org", "okname", "password"),
    ],
)
def test_signup_rules(
    browser: Browser, username: str, email: str, password: str, field: str
) -> None:
    browser.get("/signup")
    response = browser.post("/signup", {"username": username, "email": email, "password": password})
    assert response.status_code == 400
    assert f'id="e-{field}"' in response.text
    assert "pf_session" not in response.headers.get("set-cookie", "")


def test_no_user_enumeration(site: LiveServer, browser: Browser) -> None:
    taken = make_user(site)
    browser.get("/signup")
    same_email = browser.post(
        "/signup",
        {"username": fresh(), "email": str(taken.email).upper(), "password": PASSWORD},
    )
    assert same_email.status_code == 400
    assert "cannot be used" in same_email.text and "already" not in same_email.text
    # Reset: one answer whether or not the address has an account.
    answers = []
    for address in (str(taken.email), "nobody-here@example.org"):
        browser.get("/reset")
        answers.append(browser.post("/reset", {"email": address}))
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].text.replace(str(taken.email), "") == answers[1].text.replace(
        "nobody-here@example.org", ""
    )
    # Login: one message for an unknown name and a wrong password.
    unknown, wrong = browser.login(fresh()), browser.login(taken.username, "wrong password!")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.text.count("do not match") == wrong.text.count("do not match") == 1


def test_login_gives_a_new_session(site: LiveServer, browser: Browser) -> None:
    """Session fixation: a session id the browser had before login is never the logged-in one."""
    user = make_user(site)
    planted = "A" * 43
    browser.http.cookies.set("pf_session", planted, domain="127.0.0.1")
    response = browser.login(user.username)
    assert response.status_code == 303
    new = response.cookies.get("pf_session")
    assert new and new != planted
    assert accounts(site).session_user(planted) is None
    assert accounts(site).session_user(new) == user
    again = browser.login(user.username)
    assert accounts(site).session_user(new) is None  # the previous session ended
    assert accounts(site).session_user(again.cookies["pf_session"]) == user


def test_password_change_ends_other_sessions(site: LiveServer) -> None:
    user = make_user(site)
    phone, laptop = Browser(site), Browser(site)
    phone.login(user.username), laptop.login(user.username)
    laptop.get("/settings")
    wrong = laptop.post("/settings/password", {"current": "not it at all", "password": "x" * 12})
    assert wrong.status_code == 400 and "not right" in wrong.text
    done = laptop.post("/settings/password", {"current": PASSWORD, "password": "a new passphrase"})
    assert done.status_code == 200 and "password is changed" in done.text
    assert "Log in" in phone.get("/").text  # logged out
    assert user.username in laptop.get("/").text  # still in
    assert phone.login(user.username).status_code == 401
    assert phone.login(user.username, "a new passphrase").status_code == 303


def test_password_reset_by_mail(demo_store: Store) -> None:
    with (
        SmtpServer() as smtp,
        LiveServer(
            demo_store,
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_security="none",
            public_url="http://paperfeed.test",
        ) as server,
    ):
        user = make_user(server)
        browser = Browser(server)
        browser.get("/reset")
        assert browser.post("/reset", {"email": "nobody@example.org"}).status_code == 200
        assert smtp.messages == []  # no mail for an unknown address
        browser.post("/reset", {"email": str(user.email)})
        (mail,) = smtp.messages
        assert mail["To"] == user.email
        text = mail.get_body(("plain",)).get_content()
        link = re.search(r"http://paperfeed\.test(/reset/\S+)", text)
        assert link, text
        path = link.group(1)
        assert browser.get(path).status_code == 200
        short = browser.post(path, {"password": "short"})
        assert short.status_code == 400 and "at least 10" in short.text
        assert browser.post(path, {"password": "brand new secret"}).status_code == 303
        assert user.username in browser.get("/").text  # logged in
        assert browser.get(path).status_code == 400  # a used link is dead
        assert Browser(server).login(user.username, "brand new secret").status_code == 303
        assert browser.get("/reset/1.99999999999.forged").status_code == 400


def test_reset_survives_a_broken_mail_server(demo_store: Store) -> None:
    """SMTP down: the visitor gets the usual answer (no enumeration), nothing breaks."""
    with LiveServer(demo_store, smtp_host="127.0.0.1", smtp_port=1, smtp_security="none") as s:
        user = make_user(s)
        browser = Browser(s)
        browser.get("/reset")
        response = browser.post("/reset", {"email": str(user.email)})
        assert response.status_code == 200 and "on its way" in response.text


# -- CSRF -----------------------------------------------------------------------------------


def test_posts_without_a_valid_csrf_token_are_refused(site: LiveServer, browser: Browser) -> None:
    user = make_user(site)
    assert browser.login(user.username).status_code == 303
    before = site.store.community.upvote_count(PAPER)
    for token in (None, "", "forged", browser.csrf[:-2] + "xx"):
        data = {"vote": "1"} if token is None else {"vote": "1", "csrf_token": token}
        response = browser.http.post(f"/papers/{PAPER}/vote", data=data)
        assert response.status_code == 403, token
        assert "did not come from this site" in response.text
    # A token from another browser does not fit this browser's cookie.
    other = Browser(site)
    other.get("/login")
    stolen = browser.http.post(
        f"/papers/{PAPER}/vote", data={"vote": "1", "csrf_token": other.csrf}
    )
    assert stolen.status_code == 403
    assert site.store.community.upvote_count(PAPER) == before


def test_every_state_changing_route_checks_csrf(site: LiveServer) -> None:
    """Walk the app's routes: each POST/PUT/PATCH/DELETE refuses a cookie-only request."""
    user = make_user(site, "admin")
    browser = Browser(site)
    browser.login(user.username)
    checked = 0
    # RFC 8058 one-click unsubscribe comes from mail clients without cookies or a form:
    # its signed link is the authorisation (tested in test_digest.py).
    exempt = {"/unsubscribe/{token}"}
    for template, operations in site.app.openapi()["paths"].items():
        for method in set(operations) & {"post", "put", "patch", "delete"}:
            path = re.sub(r"\{[^}]+\}", "1", template)
            response = browser.http.request(method.upper(), path, data={"x": "1"})
            if template in exempt:
                assert response.status_code in (400, 404), (template, response.status_code)
                continue
            assert response.status_code == 403, (method, template, response.status_code)
            checked += 1
    assert checked >= 18


# -- votes ----------------------------------------------------------------------------------


def test_vote_without_javascript(site: LiveServer, browser: Browser) -> None:
    anonymous = browser.post(f"/papers/{PAPER}/vote", {"vote": "1", "next": "/"})
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    user = make_user(site)
    browser.login(user.username)
    before = site.store.community.upvote_count(PAPER) or 0
    page = browser.get(f"/papers/{PAPER}")
    assert 'aria-pressed="false"' in page.text
    up = browser.post(f"/papers/{PAPER}/vote", {"vote": "1", "next": f"/papers/{PAPER}"})
    assert up.status_code == 303 and up.headers["location"] == f"/papers/{PAPER}"
    assert site.store.community.upvote_count(PAPER) == before + 1
    browser.post(f"/papers/{PAPER}/vote", {"vote": "1"})  # a double click counts once
    assert site.store.community.upvote_count(PAPER) == before + 1
    assert 'aria-pressed="true"' in browser.get(f"/papers/{PAPER}").text
    browser.post(f"/papers/{PAPER}/vote", {"vote": "0"})
    assert site.store.community.upvote_count(PAPER) == before
    evil = browser.post(f"/papers/{PAPER}/vote", {"vote": "1", "next": "//evil.example/x"})
    assert evil.headers["location"] == "/"  # never off-site
    browser.post(f"/papers/{PAPER}/vote", {"vote": "0"})


def test_vote_with_htmx_returns_the_button(site: LiveServer, browser: Browser) -> None:
    user = make_user(site)
    browser.login(user.username)
    before = site.store.community.upvote_count(PAPER) or 0
    response = browser.post(f"/papers/{PAPER}/vote", {"vote": "1"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<form class="vote-form"')
    assert 'aria-pressed="true"' in response.text and f">{before + 1}<" in response.text
    browser.post(f"/papers/{PAPER}/vote", {"vote": "0"})
    anonymous = Browser(site).post(
        f"/papers/{PAPER}/vote", {"vote": "1"}, headers={"HX-Request": "true"}
    )
    assert anonymous.headers["HX-Redirect"].startswith("/login")


def test_feed_cards_show_your_votes(site: LiveServer, browser: Browser) -> None:
    user = make_user(site)
    browser.login(user.username)
    day = site.store.paper_detail(PAPER).feed_days[0]  # type: ignore[union-attr]
    browser.post(f"/papers/{PAPER}/vote", {"vote": "1"})
    data = browser.http.get(f"/api/v1/feed?date={day}").json()
    marked = {card["id"]: card.get("voted") for card in data["papers"]}
    assert marked[PAPER] is True
    assert sum(1 for v in marked.values() if v) == 1
    browser.post(f"/papers/{PAPER}/vote", {"vote": "0"})


# -- API tokens -----------------------------------------------------------------------------


def test_api_votes_with_a_token(site: LiveServer) -> None:
    user = make_user(site)
    token_id, token = accounts(site).create_token(user, "script")
    api = httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {token}"})
    before = site.store.community.upvote_count(PAPER) or 0
    first = api.post(f"/api/v1/papers/{PAPER}/upvote").json()
    second = api.post(f"/api/v1/papers/{PAPER}/upvote").json()
    assert first == {"id": PAPER, "upvotes": before + 1, "voted": True, "changed": True}
    assert second["upvotes"] == before + 1 and second["changed"] is False
    assert api.delete(f"/api/v1/papers/{PAPER}/upvote").json()["upvotes"] == before
    assert api.delete(f"/api/v1/papers/{PAPER}/upvote").json()["changed"] is False
    assert api.post("/api/v1/papers/1234.56789/upvote").status_code == 404
    assert site.store.community.tokens(user.id)[0].last_used_at is not None
    # The token is stored hashed; revoked, it stops working.
    assert token not in str(site.store.community.tokens(user.id))
    site.store.community.revoke_token(token_id, now=utcnow())
    revoked = api.post(f"/api/v1/papers/{PAPER}/upvote")
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "bad_token"
    anonymous = httpx.post(f"{site.url}/api/v1/papers/{PAPER}/upvote")
    assert anonymous.status_code == 401


def test_api_with_a_session_needs_the_csrf_header(site: LiveServer, browser: Browser) -> None:
    user = make_user(site)
    browser.login(user.username)
    assert browser.http.post(f"/api/v1/papers/{PAPER}/upvote").status_code == 403
    ok = browser.http.post(f"/api/v1/papers/{PAPER}/upvote", headers={"X-CSRF-Token": browser.csrf})
    assert ok.status_code == 200 and ok.json()["voted"] is True
    browser.http.delete(f"/api/v1/papers/{PAPER}/upvote", headers={"X-CSRF-Token": browser.csrf})


def test_tokens_page(site: LiveServer, browser: Browser) -> None:
    user = make_user(site)
    browser.login(user.username)
    browser.get("/settings")
    created = browser.post("/settings/tokens", {"name": "my script"})
    token = re.search(r'class="token">(pf_[^<]+)<', created.text)
    assert token and "my script" in created.text
    assert accounts(site).token_user(token.group(1)) == user
    token_id = site.store.community.tokens(user.id)[0].id
    browser.post(f"/settings/tokens/{token_id}/revoke")
    assert accounts(site).token_user(token.group(1)) is None


# -- submissions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2310.06110", "2310.06110"),
        ("2310.06110v2", "2310.06110"),
        ("arXiv:2310.06110v1", "2310.06110"),
        ("https://arxiv.org/abs/2310.06110", "2310.06110"),
        ("https://arxiv.org/abs/2310.06110v3", "2310.06110"),
        ("http://arxiv.org/pdf/2310.06110v3", "2310.06110"),
        ("https://arxiv.org/pdf/2310.06110.pdf", "2310.06110"),
        ("https://export.arxiv.org/abs/hep-th/9901001v2", "hep-th/9901001"),
        ("arxiv.org/html/2310.06110v1", "2310.06110"),
        ("hep-th/9901001", "hep-th/9901001"),
    ],
)
def test_submission_forms(text: str, expected: str) -> None:
    assert parse_submission(text) == expected


@pytest.mark.parametrize(
    "text", ["", "hello", "https://example.org/abs/2310.06110", "2310.06110'; DROP TABLE papers;--"]
)
def test_bad_submissions(text: str) -> None:
    with pytest.raises(SubmitError):
        parse_submission(text)


def test_submit_fetches_from_arxiv_once(demo_store: Store) -> None:
    with (
        FixtureServer(*arxiv_routes()) as arxiv,
        LiveServer(
            demo_store,
            clock=lambda: NOW,
            arxiv_api_url=arxiv.url + "/api/query",
            arxiv_min_interval=0.0,
        ) as server,
    ):
        user = make_user(server)
        _, token = accounts(server).create_token(user, "t")
        api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
        new = api.post("/api/v1/papers", json={"arxiv_id": "https://arxiv.org/abs/1605.08386v1"})
        assert new.status_code == 201, new.text
        assert new.json()["added"] is True and new.json()["day"] == "2026-11-30"
        feed = api.get("/api/v1/feed?date=2026-11-30").json()
        card = next(c for c in feed["papers"] if c["id"] == "1605.08386")
        assert card["submitted_by"] == user.username and card["title"]
        again = api.post("/api/v1/papers", json={"arxiv_id": "1605.08386"})
        assert again.status_code == 200 and again.json()["added"] is False
        assert "already on the feed, since 2026-11-30" in again.json()["message"]
        assert len([r for r in arxiv.requests if "1605.08386" in r["path"]]) == 1
        # A paper already on an older feed day is not moved or duplicated.
        old = api.post("/api/v1/papers", json={"arxiv_id": PAPER}).json()
        assert old["added"] is False and old["day"] < "2026-11-30"
        unknown = api.post("/api/v1/papers", json={"arxiv_id": "0000.0000"})
        assert unknown.status_code == 400
        assert "Could not get" in unknown.json()["error"]["message"]
        bad = api.post(
            "/api/v1/papers", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_json"
        # The same through the form.
        browser = Browser(server)
        browser.login(user.username)
        browser.get("/submit")
        page = browser.post("/submit", {"arxiv": "arXiv:1605.08386"})
        assert page.status_code == 200 and "already on the feed" in page.text
        wrong = browser.post("/submit", {"arxiv": "not an id"})
        assert wrong.status_code == 400 and "is not an arXiv id" in wrong.text


# -- comments -------------------------------------------------------------------------------


def _comment_id(response: httpx.Response) -> int:
    return int(urlsplit(response.headers["location"]).fragment[1:])


def test_comments_markdown_math_and_ownership(site: LiveServer) -> None:
    alice, bob = make_user(site), make_user(site)
    a, b = Browser(site), Browser(site)
    a.login(alice.username), b.login(bob.username)
    a.get(f"/papers/{PAPER}")
    posted = a.post(
        f"/papers/{PAPER}/comments",
        {"body": "**Nice** result: $a_1 * b_2 * c$ <script>alert(1)</script>"},
    )
    assert posted.status_code == 303
    cid = _comment_id(posted)
    page = b.get(f"/papers/{PAPER}").text
    assert "<strong>Nice</strong>" in page and "$a_1 * b_2 * c$" in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
    # Bob cannot edit or delete Alice's comment.
    assert b.post(f"/comments/{cid}/edit", {"body": "hijacked"}).status_code == 403
    assert b.post(f"/comments/{cid}/delete").status_code == 403
    assert "hijacked" not in a.get(f"/papers/{PAPER}").text
    assert a.post(f"/comments/{cid}/edit", {"body": "edited text"}).status_code == 303
    assert "edited text" in b.get(f"/papers/{PAPER}").text
    empty = a.post(f"/papers/{PAPER}/comments", {"body": "   "})
    assert empty.status_code == 400 and "cannot be empty" in empty.text
    assert a.post(f"/comments/{cid}/delete").status_code == 303
    page = b.get(f"/papers/{PAPER}").text
    assert "edited text" not in page and "This comment was deleted" in page
    anonymous = Browser(site).post(f"/papers/{PAPER}/comments", {"body": "hi"})
    assert anonymous.status_code == 401


# -- moderation -----------------------------------------------------------------------------


def _stored_paper(store: Store, arxiv_id: str, day: date) -> None:
    paper = Paper(
        arxiv_id=arxiv_id, title=f"Paper {arxiv_id}", abstract="An abstract.", authors=["A. Author"]
    )
    store.write_batch([IngestRecord(paper=paper, source="test", location="t", feed_day=day)])


def test_moderators_hide_comments_and_papers_and_ban(site: LiveServer) -> None:
    moderator, author, reader = make_user(site, "moderator"), make_user(site), make_user(site)
    m, a, r = Browser(site), Browser(site), Browser(site)
    for browser, user in ((m, moderator), (a, author), (r, reader)):
        assert browser.login(user.username).status_code == 303
    a.get(f"/papers/{PAPER}")
    cid = _comment_id(a.post(f"/papers/{PAPER}/comments", {"body": "spam spam spam"}))
    # Readers cannot moderate.
    assert r.post(f"/comments/{cid}/hide", {"hide": "1"}).status_code == 403
    assert r.post(f"/users/{author.username}/ban").status_code == 403
    assert r.get("/mod/log").status_code == 403
    assert m.post(f"/comments/{cid}/hide", {"hide": "1", "reason": "spam"}).status_code == 303
    assert "spam spam spam" not in r.get(f"/papers/{PAPER}").text
    assert "spam spam spam" in m.get(f"/papers/{PAPER}").text  # moderators still see it
    assert a.post(f"/comments/{cid}/edit", {"body": "sneaky"}).status_code == 409
    # Hide a paper: gone from its feed day, its page and search.
    _stored_paper(site.store, "2601.00001", date(2026, 1, 5))
    assert r.get("/papers/2601.00001").status_code == 200
    assert (
        m.post("/papers/2601.00001/hide", {"hide": "1", "reason": "not a paper"}).status_code == 303
    )
    assert r.get("/papers/2601.00001").status_code == 404
    assert m.get("/papers/2601.00001").status_code == 200
    assert r.get("/?date=2026-01-05").status_code == 404  # the day's only paper is hidden
    # Ban: the author's session ends, logging in and tokens are refused.
    _, token = accounts(site).create_token(author, "t")
    assert m.post(f"/users/{author.username}/ban", {"reason": "spam"}).status_code == 303
    assert "Log in" in a.get("/").text
    banned_login = a.login(author.username)
    assert banned_login.status_code == 403 and "banned" in banned_login.text
    api = httpx.post(
        f"{site.url}/api/v1/papers/{PAPER}/upvote", headers={"Authorization": f"Bearer {token}"}
    )
    assert api.status_code == 401
    log = m.get("/mod/log", headers={"Accept": "application/json"}).json()["entries"]
    actions = [(e["action"], e["target_type"], e["actor"]) for e in log[:3]]
    assert actions == [
        ("ban", "user", moderator.username),
        ("hide", "paper", moderator.username),
        ("hide", "comment", moderator.username),
    ]
    assert log[0]["reason"] == "spam"
    # Only an admin bans a moderator.
    assert m.post(f"/users/{make_user(site, 'moderator').username}/ban").status_code == 403


# -- abuse ----------------------------------------------------------------------------------


def test_rate_limits_answer_429_with_retry_after(store: Store) -> None:
    _stored_paper(store, PAPER, date(2026, 1, 5))  # a fresh database: no earlier counts
    with LiveServer(store, rate_limits="login=3/15m,vote=2/1m") as server:
        user = make_user(server)
        browser = Browser(server)
        codes = [browser.login(user.username, "wrong password!").status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        limited = browser.login(user.username)  # even the right password waits
        assert limited.status_code == 429
        assert 0 < int(limited.headers["Retry-After"]) <= 900
        assert "Too many login requests" in limited.text
        _, token = accounts(server).create_token(user, "t")
        api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
        votes = [api.post(f"/api/v1/papers/{PAPER}/upvote").status_code for _ in range(3)]
        assert votes == [200, 200, 429]
        assert api.post(f"/api/v1/papers/{PAPER}/upvote").json()["error"]["code"] == "rate_limited"


@pytest.mark.parametrize(
    "evil",
    [
        "' OR '1'='1",
        "admin'--",
        "x'; DROP TABLE users; --",
        '" OR ""="',
        "1; SELECT pg_sleep(5)",
        "%' UNION SELECT password_hash FROM users --",
    ],
)
def test_sql_injection_strings_are_just_text(site: LiveServer, browser: Browser, evil: str) -> None:
    browser.get("/signup")
    signup = browser.post(
        "/signup", {"username": evil, "email": "x@example.org", "password": PASSWORD}
    )
    assert signup.status_code == 400
    assert browser.login(evil, evil).status_code == 401
    browser.get("/reset")
    assert browser.post("/reset", {"email": evil}).status_code == 200
    assert browser.get("/search", params={"q": evil, "mode": "keyword"}).status_code in (200, 400)
    assert browser.get(f"/papers/{evil}").status_code == 404
    user = make_user(site)
    browser.login(user.username)
    assert browser.post("/submit", {"arxiv": evil}).status_code == 400
    browser.get(f"/papers/{PAPER}")
    posted = browser.post(f"/papers/{PAPER}/comments", {"body": evil})
    assert posted.status_code == 303
    assert site.store.community.comment(_comment_id(posted)).body == evil.strip()  # type: ignore[union-attr]
    assert len(site.store.community.list_users()) > 1  # the users table is still there


def test_banned_user_cannot_act(site: LiveServer) -> None:
    user = make_user(site)
    browser = Browser(site)
    browser.login(user.username)
    site.store.community.set_banned(user.id, True, now=utcnow())
    assert browser.post(f"/papers/{PAPER}/vote", {"vote": "1"}).status_code == 303  # to login
    assert browser.post(f"/papers/{PAPER}/comments", {"body": "hi"}).status_code == 401
    assert browser.login(user.username).status_code == 403


def test_nobody_votes_for_someone_else(site: LiveServer) -> None:
    """A vote is always the authenticated account's: no field names another voter."""
    alice, bob = make_user(site), make_user(site)
    _, token = accounts(site).create_token(alice, "t")
    api = httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {token}"})
    response = api.post(
        f"/api/v1/papers/{PAPER}/upvote", params={"user_id": bob.id}, json={"user_id": bob.id}
    )
    assert response.status_code == 200
    assert site.store.community.voted(alice.id, [PAPER]) == {PAPER}
    assert site.store.community.voted(bob.id, [PAPER]) == set()
    browser = Browser(site)
    browser.login(alice.username)
    browser.post(f"/papers/{PAPER}/vote", {"vote": "0", "user_id": str(bob.id)})
    assert site.store.community.voted(alice.id, [PAPER]) == set()
    api.close()


def test_vote_from_a_feed_page_returns_to_it(site: LiveServer, browser: Browser) -> None:
    user = make_user(site)
    browser.login(user.username)
    day = site.store.paper_detail(PAPER).feed_days[0]  # type: ignore[union-attr]
    page = browser.get(f"/?date={day}")
    assert f'name="next" value="/?date={day}"' in page.text
    back = browser.post(f"/papers/{PAPER}/vote", {"vote": "1", "next": f"/?date={day}"})
    assert back.headers["location"] == f"/?date={day}"
    browser.post(f"/papers/{PAPER}/vote", {"vote": "0"})


def test_native_api_comments_related_subscribe(site: LiveServer) -> None:
    user = make_user(site)
    _, token = accounts(site).create_token(user, "t")
    api = httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {token}"})
    posted = api.post(f"/api/v1/papers/{PAPER}/comments", json={"body": "*API* comment $x_1$"})
    assert posted.status_code == 201, posted.text
    assert "<em>API</em>" in posted.json()["html"]
    listed = httpx.get(f"{site.url}/api/v1/papers/{PAPER}/comments").json()
    mine = next(c for c in listed["comments"] if c["id"] == posted.json()["id"])
    assert mine["author"] == user.username and "$x_1$" in mine["html"]
    assert listed["total"] == len(listed["comments"])
    assert api.post(f"/api/v1/papers/{PAPER}/comments", json={"text": "x"}).status_code == 400
    anonymous = httpx.post(f"{site.url}/api/v1/papers/{PAPER}/comments", json={"body": "x"})
    assert anonymous.status_code == 401
    related = httpx.get(f"{site.url}/api/v1/papers/{PAPER}/related?limit=3").json()
    assert related["id"] == PAPER and len(related["related"]) == 3
    assert all(r["id"] != PAPER for r in related["related"])
    assert httpx.get(f"{site.url}/api/v1/papers/{PAPER}/related?limit=0").status_code == 400
    assert httpx.get(f"{site.url}/api/v1/papers/1234.56789/related").status_code == 404
    subscribed = httpx.post(f"{site.url}/api/v1/subscribe", json={"email": "api@example.org"})
    assert subscribed.status_code == 202 and "confirmation link" in subscribed.json()["message"]
    assert site.store.digests.by_email("api@example.org").status == "pending"  # type: ignore[union-attr]
    bad = httpx.post(f"{site.url}/api/v1/subscribe", json={"email": "nope"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_email"


def test_login_limit_counts_per_account_across_addresses(store: Store) -> None:
    """An attacker with many addresses still gets few guesses at one account."""
    with LiveServer(store, rate_limits="login=3/15m") as server:
        target, other = make_user(server), make_user(server)
        codes = []
        for n in range(4):
            browser = Browser(server)
            browser.http.headers["X-Forwarded-For"] = f"10.0.0.{n + 1}"  # trusted: loopback
            codes.append(browser.login(target.username, "wrong password!"))
        assert [r.status_code for r in codes] == [401, 401, 401, 429]
        assert "for this account" in codes[-1].text
        fresh_browser = Browser(server)
        fresh_browser.http.headers["X-Forwarded-For"] = "10.0.0.9"
        assert fresh_browser.login(other.username).status_code == 303  # others unaffected


def test_ids_beyond_the_databases_integers_are_a_400(site: LiveServer) -> None:
    """Found by schemathesis: SQLite raised OverflowError past 2**63, PostgreSQL past 2**31."""
    _, token = accounts(site).create_token(make_user(site, "moderator"), "t")
    api = httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {token}"})
    for number in (0, 2**31, 2**63, -(2**64)):
        for action in ("edit", "delete", "hide"):
            answer = api.post(f"/comments/{number}/{action}", data={"body": "x"})
            assert answer.status_code == 400, (number, action, answer.text)
        assert api.post(f"/settings/tokens/{number}/revoke").status_code == 400
    assert api.post(f"/comments/{2**31 - 1}/edit", data={"body": "x"}).status_code == 404


def test_malformed_addresses_are_a_400_on_the_api(site: LiveServer) -> None:
    """Found by schemathesis: email's HeaderParseError (not a ValueError) was a 500."""
    for address in ("x@y@example.org", "@example.org", ",./;'[]\\-=<>?:\"{}|_+!@#$%^&*()`~"):
        answer = httpx.post(f"{site.url}/api/v1/subscribe", json={"email": address})
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "bad_email"
