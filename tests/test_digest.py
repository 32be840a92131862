"""E-mail digests end to end: double opt-in over HTTP, composing, sending through a real
local SMTP server (aiosmtpd), exactly-once under reruns and kills, bounces, one-click
unsubscribe, preferences, the admin commands."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from conftest import LiveServer
from paperfeed.community.auth import Accounts
from paperfeed.digest.compose import Pool, compose, digest_period
from paperfeed.digest.links import DigestLinks
from paperfeed.digest.send import DigestSender
from paperfeed.mail import Mailer
from paperfeed.models import Subscriber
from paperfeed.settings import Settings
from paperfeed.store import Store, utcnow
from smtpserver import SmtpServer
from test_cli import paperfeed

_n = iter(range(10**6))


def address(prefix: str = "reader") -> str:
    return f"{prefix}{next(_n)}@example.org"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def settings_for(store: Store, smtp: SmtpServer, **extra: object) -> Settings:
    values: dict[str, object] = {
        "database_url": store.url,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_security": "none",
        "mail_from": "digest@paperfeed.test",
        "public_url": "https://papers.example.org",
        "mail_rate": 0.0,
        **extra,
    }
    return Settings.from_env({}, **values)


def sender_for(store: Store, settings: Settings) -> DigestSender:
    signer = Accounts(store, settings, utcnow).signer
    return DigestSender(
        store, settings, DigestLinks(signer, settings.public_url), sleep=lambda s: None
    )


def confirmed(store: Store, email: str | None = None) -> Subscriber:
    sub, _ = store.digests.subscribe(email or address(), now=utcnow(), confirmed=True)
    return sub


# -- subscribing ----------------------------------------------------------------------------


def _csrf(client: httpx.Client, path: str = "/login") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found
    return found.group(1)


def test_double_opt_in(demo_store: Store, smtp: SmtpServer) -> None:
    with LiveServer(
        demo_store,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_security="none",
        public_url="https://papers.example.org",
    ) as site:
        web = httpx.Client(base_url=site.url)
        token = _csrf(web, "/")
        assert 'action="/subscribe"' in web.get("/").text  # on every feed page
        email = address()
        answer = web.post("/subscribe", data={"email": email, "csrf_token": token})
        assert answer.status_code == 200 and "confirmation link" in answer.text
        assert demo_store.digests.by_email(email).status == "pending"  # type: ignore[union-attr]
        (mail,) = smtp.messages
        link = re.search(
            r"https://papers\.example\.org(/subscribe/confirm/\S+)", mail.get_content()
        )
        assert link and mail["To"] == email
        path = link.group(1)
        # Nothing is sent to a pending address, and the link shows a button (no GET change).
        assert web.get(path).status_code == 200
        assert demo_store.digests.by_email(email).status == "pending"  # type: ignore[union-attr]
        done = web.post(path, data={"csrf_token": _csrf(web, path)})
        assert done.status_code == 200 and "Confirmed" in done.text
        assert demo_store.digests.by_email(email).status == "confirmed"  # type: ignore[union-attr]
        # Resubscribing is idempotent and answers the same: no way to learn who subscribed.
        again = web.post("/subscribe", data={"email": email.upper(), "csrf_token": token})
        stranger = web.post("/subscribe", data={"email": address(), "csrf_token": token})
        assert again.text == stranger.text
        assert len(smtp.messages) == 2  # only the stranger got a confirmation mail
        # Tampered, foreign and expired links get a clear page, not a 500.
        for bad in (path[:-3] + "abc", "/subscribe/confirm/999999.1.x", "/subscribe/confirm/x"):
            response = web.get(bad)
            assert response.status_code in (400, 404), bad
            assert "link" in response.text
        sub = demo_store.digests.by_email(email)
        links = DigestLinks(site.app.state.accounts.signer, "https://papers.example.org")
        expired = links.confirm_token(sub, utcnow() - timedelta(days=4))  # type: ignore[arg-type]
        response = web.get(f"/subscribe/confirm/{expired}")
        assert response.status_code == 400 and "expired" in response.text


@pytest.mark.parametrize(
    "hostile",
    ["a@example.org\r\nBcc: victim@example.org", "x" * 300 + "@example.org", "no-at-sign", ""],
)
def test_hostile_addresses_are_refused(live: LiveServer, hostile: str) -> None:
    web = httpx.Client(base_url=live.url)
    response = web.post("/subscribe", data={"email": hostile, "csrf_token": _csrf(web, "/")})
    assert response.status_code == 400 and "not an e-mail address" in response.text


def test_unicode_domain_becomes_idna(live: LiveServer) -> None:
    web = httpx.Client(base_url=live.url)
    web.post("/subscribe", data={"email": "ada@bücher.example", "csrf_token": _csrf(web, "/")})
    assert live.store.digests.by_email("ada@xn--bcher-kva.example") is not None


# -- composing and sending ------------------------------------------------------------------


def test_send_once_with_list_headers(demo_store: Store, smtp: SmtpServer) -> None:
    settings = settings_for(demo_store, smtp)
    sender = sender_for(demo_store, settings)
    subs = [confirmed(demo_store) for _ in range(3)]
    summary = sender.send("daily", Mailer.from_settings(settings), only=subs)
    assert (summary.sent, summary.already) == (3, 0), summary.line()
    period = summary.period
    assert period is not None and period.key == f"daily:{demo_store.latest_day()}"
    mail: EmailMessage = next(m for m in smtp.messages if m["To"] == subs[0].email)
    assert mail["From"] == "digest@paperfeed.test" and mail["Date"]
    assert mail["Message-ID"] == f"<digest.daily.{period.label}.{subs[0].id}@paperfeed.test>"
    assert mail["List-Id"] == "paperfeed daily digest <digest.papers.example.org>"
    unsubscribe = sender.links.unsubscribe_url(subs[0])
    assert mail["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Most upvoted" in text and unsubscribe in text and unsubscribe in html
    assert "<img" not in html and "<link" not in html and "<script" not in html  # no remote content
    top = demo_store.feed(period.start, period.end, limit=1)[0][0].paper
    assert " ".join(top.title.split()) in text
    # A rerun sends nothing twice.
    again = sender.send("daily", Mailer.from_settings(settings), only=subs)
    assert (again.sent, again.already) == (0, 3)
    assert len(smtp.messages) == 3


def test_filters_can_leave_nothing(demo_store: Store, smtp: SmtpServer) -> None:
    settings = settings_for(demo_store, smtp)
    sub = confirmed(demo_store)
    demo_store.digests.set_preferences(
        sub.id, frequency="daily", top_n=5, categories=["q-bio.XX"], keywords=[], personalized=False
    )
    sub = demo_store.digests.subscriber(sub.id)
    summary = sender_for(demo_store, settings).send(
        "daily", Mailer.from_settings(settings), only=[sub]
    )  # type: ignore[list-item]
    assert summary.empty == 1 and summary.sent == 0 and smtp.messages == []
    assert "nothing to send 1" in summary.line()


def test_keywords_categories_and_personalized_picks(demo_store: Store) -> None:
    period = digest_period(demo_store, "weekly", utcnow().date())
    assert period is not None
    pool = Pool.load(demo_store, period, now=datetime.now(UTC), gravity=1.5)
    assert pool.papers and pool.matrix is not None
    word = next(iter(pool.papers.values())).title.split()[0].lower()
    sub = Subscriber(id=1, email="a@example.org", status="confirmed", top_n=3, keywords=(word,))
    digest = compose(pool, sub)
    shown = digest.top + digest.trending
    assert shown and all(word in f"{p.title} {p.abstract}".lower() for p in shown)
    assert len(digest.top) <= 3
    # Personalized: the papers nearest to what the reader upvoted, none shown twice.
    liked = pool.matrix[:2]
    sub = Subscriber(id=2, email="b@example.org", status="confirmed", top_n=2, personalized=True)
    digest = compose(pool, sub, liked)
    assert len(digest.for_you) == 5
    ids = [p.arxiv_id for p in digest.top + digest.trending + digest.for_you]
    assert len(ids) == len(set(ids))


def test_temporary_failures_are_retried_and_bounces_counted(
    demo_store: Store, smtp: SmtpServer
) -> None:
    settings = settings_for(demo_store, smtp)
    flaky, dead = confirmed(demo_store), confirmed(demo_store)
    smtp.reply_for[flaky.email] = ["451 4.3.0 try again later"]  # once, then accepted
    smtp.reply_for[dead.email] = "550 5.1.1 no such user"
    summary = sender_for(demo_store, settings).send(
        "daily", Mailer.from_settings(settings), only=[flaky, dead]
    )
    assert summary.sent == 1 and summary.bounced == 1
    assert [m["To"] for m in smtp.messages] == [flaky.email]
    assert "550" in summary.errors[0]
    assert demo_store.digests.subscriber(dead.id).bounces == 1  # type: ignore[union-attr]
    for _ in range(2):
        demo_store.digests.record_bounce(dead.id, 3)
    assert demo_store.digests.subscriber(dead.id).status == "bounced"  # type: ignore[union-attr]


def test_deleted_subscriber_gets_nothing(demo_store: Store, smtp: SmtpServer) -> None:
    settings = settings_for(demo_store, smtp)
    sub = confirmed(demo_store)
    demo_store.digests.remove(sub.email)  # after the run read its list
    summary = sender_for(demo_store, settings).send(
        "daily", Mailer.from_settings(settings), only=[sub]
    )
    assert summary.gone == 1 and smtp.messages == []


# -- the command ----------------------------------------------------------------------------


def _env(store: Store, smtp_port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERFEED_")}
    env.update(
        PAPERFEED_DATABASE_URL=store.url,
        PAPERFEED_SMTP_HOST="127.0.0.1",
        PAPERFEED_SMTP_PORT=str(smtp_port),
        PAPERFEED_SMTP_SECURITY="none",
        PAPERFEED_MAIL_FROM="digest@paperfeed.test",
        **extra,
    )
    return env


def _digest_cmd(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paperfeed", "digest", "send", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_killed_send_resumes_without_duplicates(store: Store, tmp_path: Path) -> None:
    """SIGKILL mid-run, rerun: everyone gets one mail; at most the one in flight twice,
    with the same Message-ID."""
    from paperfeed.cli import DEMO_DIR
    from paperfeed.ingest import import_files

    import_files(store, "hf-daily", sorted(DEMO_DIR.glob("hf-daily-*.jsonl.gz")))
    subs = [confirmed(store) for _ in range(40)]
    with SmtpServer() as smtp:
        env = _env(store, smtp.port, PAPERFEED_MAIL_RATE="20")
        process = subprocess.Popen(
            [sys.executable, "-m", "paperfeed", "digest", "send"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 120
        while len(smtp.messages) < 8 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
        before = len(smtp.messages)
        assert 8 <= before < 40, before
        rerun = _digest_cmd(env)
        assert rerun.returncode == 0, rerun.stderr
        assert "already sent" in rerun.stdout
        received = Counter(m["To"] for m in smtp.messages)
        assert set(received) == {s.email for s in subs}
        twice = [to for to, n in received.items() if n > 1]
        assert len(twice) <= 1 and all(n <= 2 for n in received.values())
        for to in twice:
            ids = {m["Message-ID"] for m in smtp.messages if m["To"] == to}
            assert len(ids) == 1  # a receiver can drop the repeat
        third = _digest_cmd(env)
        assert "sent 0" in third.stdout and len(smtp.messages) == sum(received.values())


def test_smtp_down_at_start_loses_nothing(store: Store) -> None:
    from paperfeed.cli import DEMO_DIR
    from paperfeed.ingest import import_files

    import_files(store, "hf-daily", sorted(DEMO_DIR.glob("hf-daily-*.jsonl.gz")))
    subs = [confirmed(store) for _ in range(3)]
    with SmtpServer() as smtp:
        port = smtp.port
    down = _digest_cmd(_env(store, port))  # nothing listens there now
    assert down.returncode == 1 and "rerun to send the rest" in down.stderr
    assert store.digests.sends() == []
    with SmtpServer() as smtp:
        up = _digest_cmd(_env(store, smtp.port))
        assert up.returncode == 0, up.stderr
        assert sorted(m["To"] for m in smtp.messages) == sorted(s.email for s in subs)
    dry = _digest_cmd(_env(store, 1), "--dry-run")
    assert dry.returncode == 0 and "sent 0" in dry.stdout


def test_subscribers_commands_and_preview(store: Store, tmp_path: Path) -> None:
    from paperfeed.cli import DEMO_DIR
    from paperfeed.ingest import import_files

    import_files(store, "hf-daily", sorted(DEMO_DIR.glob("hf-daily-*.jsonl.gz")))
    listing = tmp_path / "list.txt"
    listing.write_text(
        "# moved from the old list\nada@example.org\nADA@example.org\n\n"
        "not an address\nbob@example.org\n"
    )
    out = paperfeed("subscribers", "import", str(listing), "--confirmed", url=store.url)
    assert "added 2, already there 1, invalid 1" in out.stdout
    assert "list.txt:5: not an e-mail address" in out.stderr
    assert paperfeed("subscribers", "list", url=store.url).stdout.splitlines() == [
        "ada@example.org\tconfirmed\tdaily\t10",
        "bob@example.org\tconfirmed\tdaily\t10",
    ]
    preview = paperfeed("digest", "preview", "ada@example.org", url=store.url).stdout
    assert "Most upvoted" in preview and "Unsubscribe: " in preview
    html = tmp_path / "d.html"
    paperfeed("digest", "preview", "ada@example.org", "--html", str(html), url=store.url)
    assert html.read_text().startswith("<!doctype html>")
    assert paperfeed("subscribers", "remove", "bob@example.org", url=store.url).returncode == 0
    gone = paperfeed("subscribers", "remove", "bob@example.org", url=store.url, check=False)
    assert gone.returncode == 1


# -- unsubscribe and preferences ------------------------------------------------------------


def test_one_click_unsubscribe_and_preferences(live: LiveServer) -> None:
    store = live.store
    sub = confirmed(store)
    links = DigestLinks(live.app.state.accounts.signer, live.settings.public_url)
    path = links.unsubscribe_url(sub).removeprefix(live.settings.public_url)
    # RFC 8058: a mail client POSTs this body, with no cookie and no CSRF token.
    one_click = httpx.post(live.url + path, data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    assert store.digests.subscriber(sub.id).status == "unsubscribed"  # type: ignore[union-attr]
    forged = httpx.post(live.url + path[:-4] + "AAAA", data={"List-Unsubscribe": "One-Click"})
    assert forged.status_code == 400
    web = httpx.Client(base_url=live.url)
    prefs = links.preferences_url(sub).removeprefix(live.settings.public_url)
    page = web.get(prefs)
    assert page.status_code == 200 and sub.email in page.text
    token = _csrf(web, prefs)
    bad = web.post(prefs, data={"csrf_token": token, "frequency": "hourly", "top_n": "5"})
    assert bad.status_code == 400
    superscript = web.post(prefs, data={"csrf_token": token, "frequency": "daily", "top_n": "²"})
    assert superscript.status_code == 400  # int("²") was a 500
    saved = web.post(
        prefs,
        data={
            "csrf_token": token,
            "frequency": "weekly",
            "top_n": "7",
            "categories": "cs.LG, cond-mat",
            "keywords": "spin glass",
        },
    )
    assert saved.status_code == 200 and "Saved." in saved.text
    fresh = store.digests.subscriber(sub.id)
    assert fresh is not None and fresh.status == "confirmed"  # saving resubscribed
    assert (fresh.frequency, fresh.top_n, fresh.categories, fresh.keywords) == (
        "weekly",
        7,
        ("cs.LG", "cond-mat"),
        ("spin glass",),
    )


def test_smtp_failing_mid_run_stops_and_resumes(demo_store: Store, smtp: SmtpServer) -> None:
    settings = settings_for(demo_store, smtp)
    subs = [confirmed(demo_store) for _ in range(4)]
    smtp.reply_for[subs[2].email] = "421 4.3.2 service shutting down"  # every attempt
    first = sender_for(demo_store, settings).send(
        "daily", Mailer.from_settings(settings), only=subs
    )
    assert first.sent == 2 and first.stopped and "421" in first.stopped
    assert sorted(m["To"] for m in smtp.messages) == sorted(s.email for s in subs[:2])
    del smtp.reply_for[subs[2].email]
    second = sender_for(demo_store, settings).send(
        "daily", Mailer.from_settings(settings), only=subs
    )
    assert (second.sent, second.already) == (2, 2)
    assert Counter(m["To"] for m in smtp.messages) == {s.email: 1 for s in subs}


def test_confirmation_mails_to_one_address_are_limited(store: Store, smtp: SmtpServer) -> None:
    with LiveServer(
        store,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_security="none",
        rate_limits="subscribe=2/1h",
    ) as site:
        codes = []
        for n in range(3):
            web = httpx.Client(base_url=site.url, headers={"X-Forwarded-For": f"10.1.0.{n}"})
            codes.append(web.post("/api/v1/subscribe", json={"email": "target@example.org"}))
        assert [c.status_code for c in codes] == [202, 202, 429]
        assert "Too many subscribe requests for this account or address" in codes[2].text
        assert int(codes[2].headers["Retry-After"]) > 0
        assert len(smtp.messages) == 2  # the third request mailed nothing


def test_for_you_remembers_what_was_shown_and_dismissed(
    demo_store: Store, smtp: SmtpServer
) -> None:
    """A reader's account ties the digest to the site: its "for you" starts from what they
    saved, leaves out papers shown on the site or in an earlier digest and those marked not
    interested, and marks what it sends as seen (so the next digest moves on)."""
    settings = settings_for(demo_store, smtp)
    accounts = Accounts(demo_store, settings, utcnow)
    user = accounts.create(f"digest{next(_n)}", None, None)
    sub, _ = demo_store.digests.subscribe(address(), now=utcnow(), confirmed=True, user_id=user.id)
    demo_store.digests.set_preferences(
        sub.id, frequency="daily", top_n=2, categories=[], keywords=[], personalized=True
    )
    sub = demo_store.digests.subscriber(sub.id)  # type: ignore[assignment]
    sender = sender_for(demo_store, settings)
    _, pool, _, _ = sender.digests("weekly", [sub])
    assert pool is not None and pool.matrix is not None
    saved = pool.ids[:2]
    for paper_id in saved:
        demo_store.personal.save(user.id, paper_id, now=utcnow())
    _, pool, _, vectors = sender.digests("weekly", [sub])
    first = sender.compose_one(pool, sub, vectors)  # type: ignore[arg-type]
    picked = [p.arxiv_id for p in first.for_you]
    assert len(picked) == 5
    # shown on the site, and not interested: both left out next time
    demo_store.personal.mark_seen(user.id, picked[:2], "web", now=utcnow())
    demo_store.personal.dismiss(user.id, picked[2], now=utcnow())
    _, pool, _, vectors = sender.digests("weekly", [sub])
    second = [p.arxiv_id for p in sender.compose_one(pool, sub, vectors).for_you]  # type: ignore[arg-type]
    assert not set(second) & set(picked[:3]) and picked[3] in second
    # sending marks the digest's picks as seen (via the digest)
    summary = sender.send("weekly", Mailer.from_settings(settings), only=[sub])
    assert summary.sent == 1, summary.line()
    assert set(second) <= demo_store.personal.seen_ids(user.id, via="digest")
