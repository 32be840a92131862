"""Digests filtered by topic, on both backends with the demo data (every paper embedded):
choosing a topic over HTTP stores an anchor, the next week's digest maps it to the nearest
of that week's topics and sends only its papers through a real SMTP server (aiosmtpd), a
week without a close topic gets a note, removing the filter restores the full digest, and
bad choices are refused with nothing stored."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email.message import EmailMessage

import httpx
import numpy as np
import pytest
from click.testing import CliRunner

from conftest import LiveServer
from paperfeed.cli import cli
from paperfeed.digest.compose import Pool
from paperfeed.digest.links import DigestLinks
from paperfeed.digest.topics import MATCH_THRESHOLD, match_topics
from paperfeed.mail import Mailer
from paperfeed.models import IngestRecord, Paper, Subscriber
from paperfeed.personal.topics import TopicIndex, TopicSet, unit_rows
from paperfeed.rank.feeds import parse_period
from paperfeed.search.embed import MODEL_NAME, default_embedder
from paperfeed.store import Store, utcnow
from smtpserver import SmtpServer
from test_digest import _csrf, confirmed, sender_for, settings_for

CHOSEN_FROM = "2025-W49"  # the demo's busiest week: where the reader picks a topic
DIGEST_WEEK = "2025-W50"  # the week after, which the weekly digest covers on SENT_ON
SENT_ON = datetime(2025, 12, 15, 6)  # Monday of 2025-W51: the last ended week is W50
PUBLIC = "https://papers.example.org"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def weekly(store: Store, **preferences: object) -> Subscriber:
    sub = confirmed(store)
    values: dict[str, object] = {
        "frequency": "weekly",
        "top_n": 5,
        "categories": [],
        "keywords": [],
        "personalized": False,
        **preferences,
    }
    store.digests.set_preferences(sub.id, **values)  # type: ignore[arg-type]
    fresh = store.digests.subscriber(sub.id)
    assert fresh is not None
    return fresh


def topics_of(store: Store, label: str) -> TopicSet:
    return TopicIndex(store, MODEL_NAME).topics(parse_period("week", label))


def centroid(store: Store, members: list[str]) -> np.ndarray:
    """The normalised mean of the stored embeddings of ``members``, computed here."""
    vectors = store.digests.vectors(members, MODEL_NAME)
    assert len(vectors) == len(members)
    mean: np.ndarray = unit_rows(np.mean([vectors[m] for m in members], axis=0)[None, :])[0]
    return mean


def a_topic_that_carries_over(store: Store) -> tuple[int, int]:
    """(a topic of CHOSEN_FROM, the DIGEST_WEEK topic it maps to), the match at or above
    the threshold, computed from the stored vectors rather than by the code under test."""
    before, after = topics_of(store, CHOSEN_FROM), topics_of(store, DIGEST_WEEK)
    centres = np.stack([centroid(store, t.members) for t in after.topics])
    for topic in before.topics:
        similarity = centres @ centroid(store, topic.members)
        if similarity.max() >= MATCH_THRESHOLD:
            return topic.number, int(np.argmax(similarity)) + 1
    raise AssertionError("no topic of the demo's W49 has a counterpart in W50")


def mailed_papers(mail: EmailMessage) -> list[str]:
    """The paper ids a digest mail links, in order (the text part)."""
    text = mail.get_body(("plain",)).get_content()
    return re.findall(rf"{re.escape(PUBLIC)}/papers/(\S+)", text)


def web_for(site: LiveServer, sub: Subscriber) -> tuple[httpx.Client, str, str]:
    """A browser at ``sub``'s preferences page: (client, its path, a CSRF token)."""
    path = (
        DigestLinks(site.app.state.accounts.signer, PUBLIC)
        .preferences_url(sub)
        .removeprefix(PUBLIC)
    )
    web = httpx.Client(base_url=site.url, timeout=60)
    return web, path, _csrf(web, path)


@pytest.fixture(scope="module")
def site(demo_store: Store) -> Iterator[LiveServer]:
    """The site as on SENT_ON (a weekly digest's page offers the topics of DIGEST_WEEK)."""
    with LiveServer(demo_store, public_url=PUBLIC, clock=lambda: SENT_ON.replace(tzinfo=UTC)) as s:
        yield s


# -- choosing a topic ------------------------------------------------------------------------


def test_choosing_a_topic_stores_its_anchor(site: LiveServer) -> None:
    store = site.store
    sub = weekly(store)
    web, path, token = web_for(site, sub)
    page = web.get(path, headers={"Accept": "application/json"}).json()
    choices = page["topic_choices"]  # the topics of the digest's own week, as /topics has them
    assert choices["period"] == f"week:{DIGEST_WEEK}" and page["topics_followed"] == []
    listed = httpx.get(
        f"{site.url}/api/v1/topics", params={"period": "week", "date": "2025-12-10"}, timeout=60
    ).json()["topics"]
    assert [(t["number"], t["label"]) for t in choices["topics"]] == [
        (t["number"], t["label"]) for t in listed
    ]
    assert 'name="topic"' in web.get(path).text
    # Topic 2 of the week before (its number and medoid, as the form sends them).
    chosen = topics_of(store, CHOSEN_FROM).topic(2)
    assert chosen is not None
    answer = web.post(
        f"{path}/topics",
        data={
            "csrf_token": token,
            "period": f"week:{CHOSEN_FROM}",
            "topic": f"2:{chosen.medoid}",
        },
    )
    assert answer.status_code == 200 and "now keeps only the papers of" in answer.text
    (anchor,) = store.digests.topic_anchors([sub.id])[sub.id]
    assert (anchor.label, anchor.medoid, anchor.period, anchor.number) == (
        chosen.label,
        chosen.medoid,
        f"week:{CHOSEN_FROM}",
        2,
    )
    assert np.allclose(anchor.vector, centroid(store, chosen.members), atol=1e-5)
    # Choosing it again adds nothing; the page lists it, with a way to remove it.
    web.post(
        f"{path}/topics",
        data={"csrf_token": token, "period": f"week:{CHOSEN_FROM}", "topic": "2"},
    )
    assert len(store.digests.topic_anchors([sub.id])[sub.id]) == 1
    followed = web.get(path, headers={"Accept": "application/json"}).json()["topics_followed"]
    assert [(t["id"], t["label"]) for t in followed] == [(anchor.id, chosen.label)]


# -- the next week's digest ------------------------------------------------------------------


def test_the_next_weeks_digest_sends_only_the_matched_topic(
    demo_store: Store, smtp: SmtpServer
) -> None:
    chosen_number, expected_number = a_topic_that_carries_over(demo_store)
    sub = weekly(demo_store)
    chosen = topics_of(demo_store, CHOSEN_FROM).topic(chosen_number)
    assert chosen is not None
    demo_store.digests.follow_topic(
        sub.id,
        label=chosen.label,
        medoid=chosen.medoid,
        period=f"week:{CHOSEN_FROM}",
        number=chosen.number,
        vector=centroid(demo_store, chosen.members),
        now=utcnow(),
    )
    settings = settings_for(demo_store, smtp, public_url=PUBLIC)
    sender = sender_for(demo_store, settings)
    sender.clock = lambda: SENT_ON
    summary = sender.send("weekly", Mailer.from_settings(settings), only=[sub])
    assert summary.sent == 1 and summary.topic_notes == 0, summary.line()
    assert summary.period is not None and summary.period.label == DIGEST_WEEK
    (mail,) = smtp.messages
    expected = topics_of(demo_store, DIGEST_WEEK).topic(expected_number)
    assert expected is not None
    text = mail.get_body(("plain",)).get_content()
    assert f"Topic: {expected.label} (you follow {chosen.label})" in text
    assert f"Topic: {expected.label}" in mail.get_body(("html",)).get_content()
    # Most upvoted: the topic's own top papers, in the week's order; trending: its papers.
    pool = Pool.load(demo_store, summary.period, now=SENT_ON.replace(tzinfo=UTC), gravity=1.5)
    members = set(expected.members)
    sent = mailed_papers(mail)
    assert sent[:5] == [pid for pid in pool.top if pid in members][:5]
    assert set(sent) <= members and len(sent) > 5
    assert sent[:5] != pool.top[:5]  # the week's overall top is not what was sent


def test_a_week_without_a_close_topic_gets_a_note(demo_store: Store, smtp: SmtpServer) -> None:
    sub = weekly(demo_store)
    text = "Gothic cathedrals of medieval France: stained glass and flying buttresses"
    vector = default_embedder().embed([text])[0]
    week = topics_of(demo_store, DIGEST_WEEK)
    assert (week.centroids @ vector).max() < MATCH_THRESHOLD  # the premise: nothing close
    demo_store.digests.follow_topic(
        sub.id,
        label="cathedrals, gothic",
        medoid="9999.00001",
        period="week:2025-W01",
        number=1,
        vector=vector,
        now=utcnow(),
    )
    settings = settings_for(demo_store, smtp, public_url=PUBLIC)
    sender = sender_for(demo_store, settings)
    sender.clock = lambda: SENT_ON
    dry = sender.send("weekly", Mailer.from_settings(settings), only=[sub], dry_run=True)
    assert (dry.would_send, dry.topic_notes, dry.empty) == (1, 1, 0)
    summary = sender.send("weekly", Mailer.from_settings(settings), only=[sub])
    assert (summary.sent, summary.topic_notes, summary.empty) == (1, 1, 0), summary.line()
    assert "no followed topic came up 1" in summary.line()
    (mail,) = smtp.messages
    assert mail["Subject"] == f"paperfeed: none of your topics in {summary.period.title}"  # type: ignore[union-attr]
    text = mail.get_body(("plain",)).get_content()
    assert "None of the topics you follow came up this week" in text
    assert "Not this week: cathedrals, gothic" in text
    assert f"{PUBLIC}/topics?period=week&date=2025-12-08" in text
    assert mailed_papers(mail) == []  # neither the week's papers nor nothing at all
    (logged,) = [
        row
        for row in demo_store.digests.sends(f"weekly:{DIGEST_WEEK}")
        if row["subscriber_id"] == sub.id
    ]
    assert (logged["status"], logged["papers"]) == ("sent", 0)


def test_removing_the_filter_restores_the_full_digest(site: LiveServer, smtp: SmtpServer) -> None:
    store = site.store
    sub = weekly(store)
    web, path, token = web_for(site, sub)
    for number in ("1", "3"):
        answer = web.post(
            f"{path}/topics",
            data={"csrf_token": token, "period": f"week:{CHOSEN_FROM}", "topic": number},
        )
        assert answer.status_code == 200, answer.text
    first, second = store.digests.topic_anchors([sub.id])[sub.id]
    settings = settings_for(store, smtp, public_url=PUBLIC)
    sender = sender_for(store, settings)
    sender.clock = lambda: SENT_ON

    def top_sent() -> tuple[list[str], Pool]:
        _, pool, _, vectors = sender.digests("weekly", [sub])
        assert pool is not None
        return [p.arxiv_id for p in sender.compose_one(pool, sub, vectors).top], pool

    filtered, pool = top_sent()
    assert filtered != pool.top[:5]
    removed = web.post(f"{path}/topics/remove", data={"csrf_token": token, "anchor": first.id})
    assert removed.status_code == 200 and "Removed 1 topic." in removed.text
    assert store.digests.topic_anchors([sub.id])[sub.id] == [second]
    everything = web.post(f"{path}/topics/remove", data={"csrf_token": token, "all": "1"})
    assert "no longer filtered by topic" in everything.text
    assert store.digests.topic_anchors([sub.id]) == {}
    unfiltered, pool = top_sent()
    assert unfiltered == pool.top[:5]


# -- bad input -------------------------------------------------------------------------------


def _paper_without_embedding(store: Store) -> str:
    """A week with papers on the feed but no embeddings: no topics."""
    paper = Paper(
        arxiv_id="0202.00002",
        title="A paper nobody embedded",
        abstract="It has no vector.",
        authors=["A. Author"],
        categories=["cs.LG"],
        first_seen=datetime(2002, 2, 4),
    )
    store.write_batch([IngestRecord(paper, "test", "test:1", feed_day=date(2002, 2, 4))])
    return "week:2002-W06"


def test_bad_choices_are_refused_and_store_nothing(site: LiveServer) -> None:
    store = site.store
    sub = weekly(store)
    web, path, token = web_for(site, sub)
    week = f"week:{CHOSEN_FROM}"
    unembedded = _paper_without_embedding(store)
    count = len(topics_of(store, CHOSEN_FROM).topics)
    cases = [
        ({"period": week, "topic": str(count + 1)}, 400, "unknown_topic"),
        ({"period": week, "topic": "0"}, 400, "bad_topic"),
        ({"period": week, "topic": "two"}, 400, "bad_topic"),
        ({"period": week, "topic": "1:2501.99999"}, 409, "topics_changed"),  # tampered
        ({"period": week}, 400, "no_topic"),
        ({"period": "week:2025-W99", "topic": "1"}, 400, "bad_period"),
        ({"period": "fortnight:2025-12", "topic": "1"}, 400, "bad_period"),
        ({"topic": "1"}, 400, "bad_period"),
        ({"period": unembedded, "topic": "1"}, 400, "no_topics"),
        ({"period": week, "topic": [str(n) for n in range(1, 12)]}, 400, "too_many_topics"),
    ]
    for form, status, code in cases:
        as_json = web.post(
            f"{path}/topics",
            data={"csrf_token": token, **form},
            headers={"Accept": "application/json"},
        )
        assert as_json.status_code == status, (form, as_json.text)
        assert as_json.json()["error"]["code"] == code, form
        page = web.post(f"{path}/topics", data={"csrf_token": token, **form})
        assert page.status_code == status and 'role="alert"' in page.text, form
    # A valid choice with a tampered token, or without the CSRF token, is refused too.
    good = {"period": week, "topic": "1"}
    forged = web.post(f"{path[:-4]}AAAA/topics", data={"csrf_token": token, **good})
    assert forged.status_code == 400
    assert web.post(f"{path}/topics", data=good).status_code == 403
    assert store.digests.topic_anchors([sub.id]) == {}
    # One of several choices bad: none is stored.
    mixed = web.post(
        f"{path}/topics", data={"csrf_token": token, "period": week, "topic": ["1", "99"]}
    )
    assert mixed.status_code == 400 and store.digests.topic_anchors([sub.id]) == {}
    # Removing a topic this digest does not follow (another's, or none) changes nothing.
    other = weekly(store)
    web.post(f"{path}/topics", data={"csrf_token": token, **good})
    other_web, other_path, other_token = web_for(site, other)
    other_web.post(f"{other_path}/topics", data={"csrf_token": other_token, **good})
    (theirs,) = store.digests.topic_anchors([other.id])[other.id]
    for anchor in (str(theirs.id), "x", ""):
        refused = web.post(f"{path}/topics/remove", data={"csrf_token": token, "anchor": anchor})
        assert refused.status_code == 400, anchor
    assert len(store.digests.topic_anchors([sub.id, other.id])) == 2


def test_unsubscribe_stays_one_click_with_topics(site: LiveServer) -> None:
    store = site.store
    sub = weekly(store)
    web, path, token = web_for(site, sub)
    web.post(
        f"{path}/topics", data={"csrf_token": token, "period": f"week:{CHOSEN_FROM}", "topic": "1"}
    )
    one_click = httpx.post(
        site.url + path.replace("/digest/preferences/", "/unsubscribe/"),
        data={"List-Unsubscribe": "One-Click"},
    )
    assert one_click.status_code == 200
    assert store.digests.subscriber(sub.id).status == "unsubscribed"  # type: ignore[union-attr]


# -- the command line ------------------------------------------------------------------------


def test_the_command_line_follows_lists_and_removes_topics(demo_store: Store) -> None:
    sub = weekly(demo_store)

    def run(*args: str) -> str:
        result = CliRunner().invoke(
            cli, ["--database-url", demo_store.url, "subscribers", "topics", sub.email, *args]
        )
        assert result.exit_code == 0, result.output
        return result.output

    out = run("--follow", "2", "--date", "2025-12-03")
    chosen = topics_of(demo_store, CHOSEN_FROM).topic(2)
    assert chosen is not None
    assert f"now follows topic 2 of {CHOSEN_FROM}: {chosen.label}" in out
    (anchor,) = demo_store.digests.topic_anchors([sub.id])[sub.id]
    assert f"{anchor.id}\t{chosen.label}\t(topic 2 of week:{CHOSEN_FROM})" in run()
    bad = CliRunner().invoke(
        cli,
        [
            *("--database-url", demo_store.url, "subscribers", "topics", sub.email),
            *("--follow", "99", "--date", "2025-12-03"),
        ],
    )
    assert bad.exit_code == 1 and "there is no topic 99" in bad.output
    assert "removed 1 topic(s)" in run("--clear")
    assert demo_store.digests.topic_anchors([sub.id]) == {}


def test_matching_is_by_nearest_centroid_above_the_threshold() -> None:
    """The library function on its own: the nearest topic wins, a far one is no match."""
    from paperfeed.personal.topics import find_topics
    from paperfeed.store.digests import TopicAnchor

    rng = np.random.default_rng(1)
    centres = unit_rows(rng.normal(size=(3, 384)))
    matrix = np.vstack([centres[i] + 0.05 * rng.normal(size=(20, 384)) for i in range(3)])
    ids = [f"2501.{n:05d}" for n in range(60)]
    found = find_topics(ids, ["words here"] * 60, matrix, k=3)

    def anchor(vector: np.ndarray) -> TopicAnchor:
        return TopicAnchor(1, 1, "x", "2501.00000", "week:2025-W01", 1, unit_rows(vector[None])[0])

    near = match_topics([anchor(centres[1] + 0.01 * rng.normal(size=384))], found)
    (match,) = near.matches
    assert match.topic is not None and ids[20] in match.topic.members
    assert near.papers == set(match.topic.members) and not near.nothing_matched
    far = match_topics([anchor(rng.normal(size=384))], found)
    assert far.nothing_matched and far.papers == frozenset() and far.matches[0].nearest
