"""The reader's own pages over real HTTP on both backends: Save and Not interested with and
without HTMX, the library and tag pages (escaped, private, with a helpful empty state),
tags and notes with clear limits, following, keyword rules, the JSON twins under
/api/v1/me, and private Atom/JSON feeds read back by feedparser (and BibTeX by
bibtexparser)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import bibtexparser
import feedparser
import httpx
import pytest
from test_community import Browser

from conftest import LiveServer
from paperfeed.community.auth import Accounts
from paperfeed.models import User
from paperfeed.personal import library as lib
from paperfeed.search.embed import MODEL_NAME
from paperfeed.store import Store, utcnow

PASSWORD = "correct horse battery"
PAPER, OTHER, THIRD = "2310.06110", "2511.21695", "2511.21697"  # in the demo set
EVIL = "<script>alert(1)</script>"
_names = iter(range(10**6))


@pytest.fixture(scope="module")
def site(demo_store: Store) -> Iterator[LiveServer]:
    """The site a few days after the demo's papers OTHER and THIRD (so they are new)."""
    other = demo_store.get_paper(OTHER)
    assert other is not None
    shown = other.published or other.first_seen  # the arXiv metadata file has no dates
    assert shown is not None
    now = (shown + timedelta(days=3)).replace(tzinfo=UTC)
    limits = "login=1000/1h,save=1000/1h,follow=1000/1h"
    with LiveServer(demo_store, clock=lambda: now, rate_limits=limits) as server:
        yield server


def reader(site: LiveServer) -> tuple[User, Browser]:
    name = f"reader{next(_names)}"
    user = Accounts(site.store, site.settings, utcnow).create(name, None, PASSWORD)
    browser = Browser(site)
    browser.get("/login")
    assert browser.post("/login", {"name": name, "password": PASSWORD}).status_code == 303
    return user, browser


def api_client(site: LiveServer, user: User) -> httpx.Client:
    _, token = Accounts(site.store, site.settings, utcnow).create_token(user, "test")
    return httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {token}"})


def test_save_without_javascript_and_idempotent(site: LiveServer) -> None:
    user, browser = reader(site)
    page = browser.get(f"/papers/{PAPER}")
    assert 'action="/papers/2310.06110/save"' in page.text and ">Save<" in page.text
    for _ in range(2):  # a double click saves once
        done = browser.post(f"/papers/{PAPER}/save", {"save": "1", "next": "/"})
        assert done.status_code == 303 and done.headers["location"] == "/"
    assert site.store.personal.library(user.id)[1] == 1
    assert ">Saved<" in browser.get(f"/papers/{PAPER}").text
    off = browser.post(f"/papers/{PAPER}/save", {"save": "0", "next": "//evil.example"})
    assert off.headers["location"] == "/" and site.store.personal.library(user.id)[1] == 0
    anonymous = Browser(site).post(f"/papers/{PAPER}/save", {"save": "1"})
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


def test_htmx_swaps_the_buttons_in_place(site: LiveServer) -> None:
    user, browser = reader(site)
    day = site.store.paper_detail(PAPER).feed_days[0]  # type: ignore[union-attr]
    feed = browser.get(f"/?date={day}")
    assert feed.text.count('class="personal-actions"') >= 1
    hx = {"HX-Request": "true"}
    saved = browser.post(f"/papers/{PAPER}/save", {"save": "1"}, headers=hx)
    assert saved.status_code == 200
    assert saved.text.lstrip().startswith('<div class="personal-actions">')
    assert 'aria-pressed="true"' in saved.text and ">Saved<" in saved.text
    dismissed = browser.post(f"/papers/{OTHER}/not-interested", {"on": "1"}, headers=hx)
    assert "Not interested ✓" in dismissed.text
    cards = browser.http.get(f"/api/v1/feed?date={day}").json()["papers"]
    marks = {c["id"]: (c.get("saved"), c.get("dismissed")) for c in cards}
    assert marks[PAPER] == (True, False)
    assert site.store.personal.dismissed_ids(user.id) == {OTHER}
    anonymous = Browser(site).post(f"/papers/{PAPER}/save", {"save": "1"}, headers=hx)
    assert anonymous.status_code == 204 and anonymous.headers["HX-Redirect"].startswith("/login")


def test_new_post_routes_need_csrf(site: LiveServer) -> None:
    user, browser = reader(site)
    rule = site.store.personal
    rule.add_rule(user.id, *lib.check_rule("include", "x"), now=utcnow())
    rule_id = rule.rules(user.id)[0].id
    made = lib.create_feed_token(site.store, user.id, "r", now=utcnow())
    posts = [
        f"/papers/{PAPER}/save",
        f"/papers/{PAPER}/not-interested",
        f"/papers/{PAPER}/tags",
        f"/papers/{PAPER}/tags/remove",
        f"/papers/{PAPER}/note",
        "/following",
        "/following/remove",
        "/settings/personal/rules",
        f"/settings/personal/rules/{rule_id}/delete",
        "/settings/personal/feeds",
        f"/settings/personal/feeds/{made.id}/revoke",
    ]
    for path in posts:
        for token in (None, "forged"):
            data = {"tag": "t", "note": "n", "name": "Parisi", "kind": "include", "text": "y"}
            if token is not None:
                data["csrf_token"] = token
            assert browser.http.post(path, data=data).status_code == 403, path
    for method, path in [
        ("POST", f"/api/v1/me/library/{PAPER}"),
        ("DELETE", f"/api/v1/me/library/{PAPER}"),
        ("POST", "/api/v1/me/following"),
        ("DELETE", f"/api/v1/me/rules/{rule_id}"),
    ]:  # a session without the X-CSRF-Token header
        assert browser.http.request(method, path, json={"name": "x"}).status_code == 403
    assert rule.library(user.id)[1] == 0 and len(rule.rules(user.id)) == 1
    assert rule.followed(user.id) == [] and len(rule.feed_tokens(user.id)) == 1


def test_tags_notes_and_the_library_pages(site: LiveServer) -> None:
    user, browser = reader(site)
    empty = browser.get("/library")
    assert "Your library is empty." in empty.text and "press <strong>Save</strong>" in empty.text
    browser.get(f"/papers/{PAPER}")
    for typed in ("Deep Learning", "deep   LEARNING", EVIL.replace("/", "")):
        assert browser.post(f"/papers/{PAPER}/tags", {"tag": typed}).status_code == 303
    browser.post(f"/papers/{OTHER}/tags", {"tag": "other"})
    note = f"{EVIL} read §3"
    assert browser.post(f"/papers/{PAPER}/note", {"note": note}).status_code == 303
    assert [t.name for t in site.store.personal.tags(user.id)] == [
        "<script>alert(1)<script>",
        "Deep Learning",
        "other",
    ]
    library = browser.get("/library")
    assert library.status_code == 200 and EVIL not in library.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; read §3" in library.text
    assert f'/papers/{OTHER}"' in library.text and f'/papers/{PAPER}"' in library.text
    tag_page = browser.get("/library/tags/" + quote("DEEP learning"))
    assert tag_page.status_code == 200 and "Tag: Deep Learning" in tag_page.text
    assert f"/papers/{PAPER}" in tag_page.text and f'/papers/{OTHER}"' not in tag_page.text
    assert site.store.personal.seen_ids(user.id, via="web") == {PAPER}  # the tag page showed it
    bib = browser.get("/library/tags/deep%20learning.bib")
    assert bib.headers["content-type"] == "text/x-bibtex; charset=utf-8"
    entries = bibtexparser.parse_string(bib.text).entries
    assert [e["eprint"] for e in entries] == [PAPER]
    as_json = browser.http.get("/library?tag=other", headers={"Accept": "application/json"})
    assert [p["id"] for p in as_json.json()["papers"]] == [OTHER]
    assert browser.get("/library/tags/nope").status_code == 404
    # Untagging the last paper of a tag removes the tag; unsaving removes note and tags.
    browser.post(f"/papers/{OTHER}/tags/remove", {"tag": "OTHER"})
    assert "other" not in [t.key for t in site.store.personal.tags(user.id)]
    browser.post(f"/papers/{PAPER}/save", {"save": "0"})
    assert site.store.personal.tags(user.id) == [] and site.store.personal.library(user.id)[1] == 1


@pytest.mark.parametrize(
    ("path", "data", "code"),
    [
        (f"/papers/{PAPER}/tags", {"tag": "x" * 65}, "bad_tag"),
        (f"/papers/{PAPER}/tags", {"tag": "  "}, "bad_tag"),
        (f"/papers/{PAPER}/tags", {"tag": "a/b"}, "bad_tag"),
        (f"/papers/{PAPER}/note", {"note": "n" * 5001}, "bad_note"),
    ],
)
def test_limits_are_a_clear_400(
    site: LiveServer, path: str, data: dict[str, str], code: str
) -> None:
    user, browser = reader(site)
    response = browser.post(path, data)
    assert response.status_code == 400 and "That request did not work" in response.text
    assert re.search(r"A (tag|note) (has at most|needs at least|cannot hold)", response.text)
    api = api_client(site, user)
    if "tags" in path:
        answer = api.post(f"/api/v1/me/library/{PAPER}/tags", json=data)
    else:
        answer = api.put(f"/api/v1/me/library/{PAPER}/note", json=data)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == code
    assert site.store.personal.library(user.id)[1] == 0  # nothing saved by a refused write


def test_another_users_library_is_never_visible(site: LiveServer) -> None:
    _, ada_browser = reader(site)
    _, bob_browser = reader(site)
    ada_browser.get(f"/papers/{PAPER}")
    ada_browser.post(f"/papers/{PAPER}/tags", {"tag": "secret plans"})
    ada_browser.post(f"/papers/{PAPER}/note", {"note": "ada's private note"})
    assert "secret plans" in ada_browser.get("/library").text
    for path in ("/library", f"/papers/{PAPER}"):
        text = bob_browser.get(path).text
        assert "secret plans" not in text and "ada's private note" not in text, path
    other = bob_browser.get("/library/tags/secret%20plans")  # (its own address is echoed)
    assert other.status_code == 404 and "ada's private note" not in other.text
    assert bob_browser.get("/library/tags/secret%20plans.bib").status_code == 404
    assert httpx.get(f"{site.url}/library").status_code == 401  # no one logged in
    assert httpx.get(f"{site.url}/api/v1/me/library").status_code == 401


def test_api_twins_with_a_token(site: LiveServer) -> None:
    user, _ = reader(site)
    api = api_client(site, user)
    assert api.post(f"/api/v1/me/library/{PAPER}").json()["changed"] is True
    assert api.post(f"/api/v1/me/library/{PAPER}v2").json()["changed"] is False
    tagged = api.post(f"/api/v1/me/library/{PAPER}/tags", json={"tag": "To Read"}).json()
    assert [t["name"] for t in tagged["tags"]] == ["To Read"]
    noted = api.put(f"/api/v1/me/library/{PAPER}/note", json={"note": "hi"}).json()
    assert noted["note"] == "hi"
    listed = api.get("/api/v1/me/library", params={"tag": "to read"}).json()
    assert listed["total"] == 1 and listed["papers"][0]["note"] == "hi"
    assert api.get("/api/v1/me/tags").json()["tags"][0]["papers"] == 1
    assert api.delete(f"/api/v1/me/library/{PAPER}/tags/TO%20READ").json()["tags"] == []
    assert api.post("/api/v1/me/following", json={"name": "Ada Lovelace"}).json()["changed"]
    assert not api.post("/api/v1/me/following", json={"name": "ada  lovelace"}).json()["changed"]
    assert [a["name"] for a in api.get("/api/v1/me/following").json()["authors"]] == [
        "Ada Lovelace"
    ]
    assert api.delete("/api/v1/me/following/ADA%20LOVELACE").json()["changed"] is True
    rules = api.post("/api/v1/me/rules", json={"kind": "exclude", "text": "Survey"}).json()
    assert rules["rules"][0]["text"] == "Survey"
    assert api.post("/api/v1/me/rules", json={"kind": "maybe", "text": "x"}).status_code == 400
    assert api.post("/api/v1/me/rules", json={"kind": "include"}).status_code == 400
    assert api.delete(f"/api/v1/me/rules/{rules['rules'][0]['id']}").json()["changed"] is True
    assert api.post(f"/api/v1/me/not-interested/{OTHER}").json()["changed"] is True
    assert api.delete(f"/api/v1/me/not-interested/{OTHER}").json()["changed"] is True
    assert api.post("/api/v1/me/library/1234.56789").status_code == 404
    assert api.delete(f"/api/v1/me/library/{PAPER}").json()["changed"] is True


def test_following_page_and_follow_buttons(site: LiveServer) -> None:
    user, browser = reader(site)
    authors = site.store.get_paper(PAPER).authors  # type: ignore[union-attr]
    page = browser.get(f"/papers/{PAPER}")
    assert f'<input type="hidden" name="name" value="{authors[0]}">' in page.text
    assert browser.get("/following").text.count("You follow nobody yet") == 1
    done = browser.post("/following", {"name": authors[0], "next": f"/papers/{PAPER}"})
    assert done.headers["location"] == f"/papers/{PAPER}"
    assert "following ✓" in browser.get(f"/papers/{PAPER}").text
    refused = browser.post("/following", {"name": "   "})
    assert refused.status_code == 400 and 'id="e-name"' in refused.text
    browser.post("/following/remove", {"name": authors[0].upper()})
    assert site.store.personal.followed(user.id) == []


def test_for_you_and_private_feeds(site: LiveServer) -> None:
    user, browser = reader(site)
    personal = site.store.personal
    empty = browser.get("/for-you")
    assert "Nothing for you yet." in empty.text and 'href="/following"' in empty.text
    for paper_id in (OTHER, THIRD):
        first = site.store.get_paper(paper_id).authors[0]  # type: ignore[union-attr]
        personal.follow(user.id, *lib.check_author(first), now=utcnow())
    features_ready(site)  # the list below is ranked (the tag saves a paper) from the start
    page = browser.get("/for-you")
    assert f"/papers/{OTHER}" in page.text and f"/papers/{THIRD}" in page.text
    assert "followed author: " in page.text and "<strong>new</strong>" in page.text
    assert {OTHER, THIRD} <= personal.seen_ids(user.id, via="web")
    assert "<strong>new</strong>" not in browser.get("/for-you").text  # seen now
    browser.post(f"/papers/{OTHER}/not-interested", {"on": "1"})
    made = lib.create_feed_token(site.store, user.id, "reader", now=utcnow())
    personal.add_tag(user.id, PAPER, *lib.check_tag("Reading Group"), now=utcnow())
    base = f"{site.url}/feeds/private/{made.token}"
    atom = httpx.get(f"{base}/tags/reading%20group.atom")
    assert atom.status_code == 200 and atom.headers["content-type"].startswith("application/atom")
    feed = feedparser.parse(atom.content)
    assert feed.bozo == 0 and feed.feed.title.endswith("Reading Group")
    assert [e.id.removeprefix("https://arxiv.org/abs/")[:10] for e in feed.entries] == [PAPER]
    as_json = httpx.get(f"{base}/tags/Reading%20Group.json").json()
    assert [p["id"] for p in as_json["papers"]] == [PAPER]
    for_you = feedparser.parse(httpx.get(f"{base}/for-you.atom").content)
    assert for_you.bozo == 0
    entries = [e.id.removeprefix("https://arxiv.org/abs/")[:10] for e in for_you.entries]
    assert THIRD in entries and OTHER not in entries  # not interested: never
    candidates = httpx.get(f"{base}/for-you.json").json()["papers"]
    assert [p["id"] for p in candidates] == entries  # a second read: the same list
    followed = [p for p in candidates if p["followed_authors"]]
    assert candidates[: len(followed)] == followed and THIRD in {p["id"] for p in followed}
    assert all(p["reasons"][0].startswith("followed author: ") for p in followed)
    assert f"/papers/{OTHER}" not in browser.get("/for-you").text
    # Unknown, revoked or mistyped tokens, and formats: a 404 like any missing page.
    personal.revoke_feed_token(user.id, made.id, now=utcnow())
    for path in (
        f"{base}/for-you.atom",
        f"{site.url}/feeds/private/pff_nothing/for-you.json",
        f"{site.url}/feeds/private/{made.token[:-2]}/tags/x.atom",
        f"{site.url}/feeds/private/x/for-you.xml",
    ):
        assert httpx.get(path).status_code == 404, path
    assert made.token not in str(personal.feed_tokens(user.id))


def features_ready(site: LiveServer) -> None:
    """Wait for the recommender's features (a build starts at the first need of them)."""
    features = site.app.state.features
    features.get()
    assert features.wait(60) is not None


def site_now(site: LiveServer) -> datetime:
    now: datetime = site.app.state.clock()
    return now.astimezone(UTC).replace(tzinfo=None)


def older_papers_about(site: LiveServer, word: str, count: int) -> list[str]:
    """``count`` demo papers mentioning ``word``, from before For you's 30 days."""
    found = site.store.search.embedded_papers(MODEL_NAME)
    since = site_now(site) - timedelta(days=30)
    papers = site.store.search.papers(found.ids)
    old = [
        pid
        for pid, p in sorted(papers.items())
        if word in f"{p.title} {p.abstract}".lower()
        and (p.published or p.first_seen or since) < since
    ]
    return old[:count]


def about(site: LiveServer, ids: list[str], word: str) -> int:
    """How many of ``ids`` mention ``word``."""
    papers = site.store.search.papers(ids)
    return sum(word in f"{p.title} {p.abstract}".lower() for p in papers.values())


def test_for_you_is_ranked_by_the_model_and_says_why(site: LiveServer) -> None:
    """A reader who saved robotics papers: For you, its JSON twin and the private feeds
    list robotics papers, each "similar to <a saved paper> you saved or upvoted"."""
    user, browser = reader(site)
    saved = older_papers_about(site, "robot", 6)
    for paper_id in saved:
        assert browser.post(f"/papers/{paper_id}/save", {"save": "1"}).status_code == 303
    features_ready(site)
    page = browser.get("/for-you")
    assert page.status_code == 200 and page.text.count(" you saved or upvoted</p>") == 50
    assert "being prepared" not in page.text
    data = api_client(site, user).get("/api/v1/me/for-you").json()
    assert (data["status"], data["profile"], data["features"]) == ("ranked", 6, "ready")
    listed = [p["id"] for p in data["papers"]]
    assert len(listed) == 50 and about(site, listed[:10], "robot") >= 8
    titles = site.store.search.titles(saved)
    for card in data["papers"]:
        assert card["similar_to"]["id"] in saved and card["new"] is False  # the page showed it
        title = titles[card["similar_to"]["id"]]
        assert card["explanation"] == f"similar to {title} you saved or upvoted"
        assert card["reasons"] == [card["explanation"]]
    scores = [card["score"] for card in data["papers"]]
    assert scores == sorted(scores, reverse=True)
    made = lib.create_feed_token(site.store, user.id, "reader", now=utcnow())
    base = f"{site.url}/feeds/private/{made.token}"
    feed = feedparser.parse(httpx.get(f"{base}/for-you.atom").content)
    assert feed.bozo == 0
    assert [e.id.removeprefix("https://arxiv.org/abs/")[:10] for e in feed.entries] == listed
    assert all(e.summary.startswith("Why: similar to ") for e in feed.entries)
    as_json = httpx.get(f"{base}/for-you.json").json()["papers"]
    assert [(p["id"], p["explanation"]) for p in as_json] == [
        (p["id"], p["explanation"]) for p in data["papers"]
    ]


def test_for_you_answers_while_the_features_are_built(site: LiveServer) -> None:
    """Before the first build is done, For you shows the followed authors' papers at once,
    says recommendations are being prepared, and is ranked once they are."""
    from paperfeed.personal.features import FeatureCache, build_features

    user, browser = reader(site)
    name = site.store.get_paper(OTHER).authors[0]  # type: ignore[union-attr]
    site.store.personal.follow(user.id, *lib.check_author(name), now=utcnow())
    for paper_id in older_papers_about(site, "medical", 5):
        site.store.personal.save(user.id, paper_id, now=utcnow())
    release = threading.Event()

    def held(store: Store, model: str) -> Any:
        release.wait(60)
        return build_features(store, model)

    original, held_features = site.app.state.features, FeatureCache(site.store, build=held)
    site.app.state.features = held_features
    try:
        started = time.monotonic()
        page = browser.get("/for-you")
        assert page.status_code == 200 and time.monotonic() - started < 10
        assert "Recommendations are being prepared" in page.text
        assert f"/papers/{OTHER}" in page.text
        api = api_client(site, user)
        waiting = api.get("/api/v1/me/for-you").json()
        assert (waiting["status"], waiting["features"]) == ("no_features", "building")
        assert waiting["papers"] and all(p["followed_authors"] for p in waiting["papers"])
        assert all(p["explanation"] is None for p in waiting["papers"])
        release.set()
        assert held_features.wait(60) is not None
        ranked = api.get("/api/v1/me/for-you").json()
        assert ranked["status"] == "ranked" and len(ranked["papers"]) > len(waiting["papers"])
        assert ranked["papers"][0]["followed_authors"] == [name]
    finally:
        release.set()
        site.app.state.features = original


def test_a_tag_page_recommends_papers_like_its_own(site: LiveServer) -> None:
    user, browser = reader(site)
    tagged = older_papers_about(site, "robot", 5)
    for paper_id in tagged:
        browser.post(f"/papers/{paper_id}/tags", {"tag": "Robots"})
    features_ready(site)
    page = browser.get("/library/tags/robots")
    assert "Recommended for this tag" in page.text and page.text.count(" tagged “robots”</p>") == 10
    data = browser.http.get("/api/v1/me/library?tag=Robots").json()["recommended"]
    assert (data["status"], data["profile"]) == ("ranked", 5)
    listed = [p["id"] for p in data["papers"]]
    assert len(listed) == 10 and about(site, listed, "robot") >= 8
    assert all(p["similar_to"]["id"] in tagged and p["explanation"] for p in data["papers"])
    assert site.store.personal.seen_ids(user.id, via="web") >= set(listed)  # shown
    made = lib.create_feed_token(site.store, user.id, "reader", now=utcnow())
    base = f"{site.url}/feeds/private/{made.token}/tags"
    feed = feedparser.parse(httpx.get(f"{base}/Robots/recommended.atom").content)
    assert feed.bozo == 0 and feed.feed.title.endswith("like Robots")
    assert [e.id.removeprefix("https://arxiv.org/abs/")[:10] for e in feed.entries] == listed
    assert all(e.summary.startswith("Why: similar to ") for e in feed.entries)
    as_json = httpx.get(f"{base}/robots/recommended.json").json()
    assert [p["id"] for p in as_json["papers"]] == listed
    assert httpx.get(f"{base}/nothing/recommended.atom").status_code == 404


def test_settings_page_creates_and_revokes_feed_addresses(site: LiveServer) -> None:
    user, browser = reader(site)
    browser.get("/settings/personal")
    created = browser.post("/settings/personal/feeds", {"name": "Reeder"})
    token = re.search(r"/feeds/private/(pff_[A-Za-z0-9_-]+)/for-you\.atom", created.text)
    assert token and lib.feed_token_user(site.store, token.group(1), now=utcnow()) == user.id
    feed_id = site.store.personal.feed_tokens(user.id)[0].id
    browser.post(f"/settings/personal/feeds/{feed_id}/revoke")
    assert httpx.get(f"{site.url}/feeds/private/{token.group(1)}/for-you.atom").status_code == 404
    browser.post("/settings/personal/rules", {"kind": "exclude", "text": "survey"})
    bad = browser.post("/settings/personal/rules", {"kind": "exclude", "text": "x" * 101})
    assert bad.status_code == 400 and 'id="e-text"' in bad.text
    assert [r.text for r in site.store.personal.rules(user.id)] == ["survey"]
    settings = browser.get("/settings/personal").text
    assert '<span class="tag">exclude</span> survey' in settings


def test_not_interested_never_in_for_you(site: LiveServer, demo_store: Store) -> None:
    """With a keyword rule that matches many demo papers, "not interested" still removes one."""
    user, _ = reader(site)
    personal = demo_store.personal
    personal.add_rule(user.id, *lib.check_rule("include", "learning"), now=utcnow())
    now = datetime(2026, 1, 5, tzinfo=UTC).replace(tzinfo=None)  # after the demo's December
    from paperfeed.personal.foryou import for_you_candidates

    before = [c.paper.arxiv_id for c in for_you_candidates(demo_store, user.id, now=now, days=60)]
    assert len(before) > 3
    personal.dismiss(user.id, before[0], now=utcnow())
    after = [c.paper.arxiv_id for c in for_you_candidates(demo_store, user.id, now=now, days=60)]
    assert before[0] not in after and after[: len(before) - 1] == before[1:]


# -- library import ----------------------------------------------------------------------

LIBRARY_BIB = f"""@article{{a, title={{Anything}}, journal={{arXiv preprint arXiv:{PAPER}}}}}
@misc{{b, title={{B}}, eprint={{{OTHER}v2}}, archivePrefix={{arXiv}}}}
@article{{c, title={{{EVIL} nobody wrote this}}}}
@article{{broken, title={{unclosed
"""


def test_import_a_library_file_through_the_form(site: LiveServer) -> None:
    user, browser = reader(site)
    page = browser.get("/library/import")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    files = {"file": ("refs.bib", LIBRARY_BIB.encode(), "text/x-bibtex")}
    done = browser.post("/library/import", {"tag": "Imported"}, files=files)
    assert done.status_code == 200, done.text
    assert "2 matched" in done.text and "2 newly saved" in done.text
    assert "line 3" in done.text and "line 4" in done.text  # unmatched, unreadable
    assert EVIL not in done.text and "&lt;script&gt;" in done.text
    assert site.store.personal.saved_ids(user.id) == {PAPER, OTHER}
    assert {t.key for t in site.store.personal.tags(user.id)} == {lib.tag_key("Imported")}
    again = browser.post("/library/import", files=files)
    assert "0 newly saved" in again.text  # nothing twice
    # no file, an unreadable one, one over the limit: a clear 400, nothing saved
    assert browser.post("/library/import").status_code == 400
    bad = browser.post("/library/import", files={"file": ("x.bib", b"\xff\xfe", "text/plain")})
    assert bad.status_code == 400 and "not UTF-8" in bad.text
    huge = b"%" * (50 * 1024 * 1024 + 10)
    over = browser.post("/library/import", files={"file": ("big.bib", huge, "text/plain")})
    assert over.status_code == 400 and "at most 50 MB" in over.text
    # CSRF: a form post without the token is refused
    forged = browser.http.post("/library/import", files=files)
    assert forged.status_code == 403


def test_import_through_the_api(site: LiveServer) -> None:
    user, _ = reader(site)
    with api_client(site, user) as api:
        answer = api.post(
            "/api/v1/me/library/import",
            files={
                "file": ("ids.txt", f"{THIRD}\n# a comment\nnot-an-id\n".encode(), "text/plain")
            },
        )
        assert answer.status_code == 200, answer.text
        report = answer.json()
        assert [m["arxiv_id"] for m in report["matched"]] == [THIRD]
        assert report["problems"] == [
            {"where": "line 3", "message": "not an arXiv id or URL: 'not-an-id'"}
        ]
        assert api.post("/api/v1/me/library/import").status_code == 400
    assert site.store.personal.saved_ids(user.id) == {THIRD}


def test_uploads_over_the_limit_are_refused_before_reading(demo_store: Store) -> None:
    from fastapi.testclient import TestClient

    from paperfeed.settings import Settings
    from paperfeed.web import create_app

    app = create_app(Settings.from_env({}, database_url=demo_store.url), demo_store)
    with TestClient(app) as client:
        answer = client.post(
            "/library/import",
            content=b"x" * 10,
            headers={
                "content-type": "multipart/form-data; boundary=b",
                "content-length": str(60 * 1024 * 1024),
            },
        )
    assert answer.status_code == 413 and "at most 50 MB" in answer.text
