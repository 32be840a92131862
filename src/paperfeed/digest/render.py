"""A digest as an e-mail: plain text and HTML (inline CSS, tables, no remote images) in one
multipart/alternative message with the list headers of RFC 2369 and RFC 8058."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape

from paperfeed.mail import new_message
from paperfeed.settings import Settings
from paperfeed.text import shorten

from .compose import Digest
from .links import DigestLinks
from .topics import topic_period

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
ABSTRACT_CHARS = 280


def message_id(digest: Digest, mail_from: str) -> str:
    """The same for every attempt at this (subscriber, period): receivers can drop repeats."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
    period = digest.period.key.replace(":", ".")
    return f"<digest.{period}.{digest.subscriber.id}@{domain}>"


def _authors(names: list[str]) -> str:
    if len(names) <= 3:
        return ", ".join(names)
    return f"{', '.join(names[:3])} and {len(names) - 3} more"


def context(digest: Digest, settings: Settings, links: DigestLinks) -> dict[str, Any]:
    base = settings.public_url.rstrip("/")

    def card(paper: Any) -> dict[str, Any]:
        return {
            "title": " ".join(paper.title.split()),
            "authors_line": _authors(paper.authors),
            "abstract_preview": shorten(" ".join(paper.abstract.split()), ABSTRACT_CHARS),
            "upvotes": paper.upvotes,
            "url": f"{base}/papers/{paper.arxiv_id}",
        }

    sections = [
        {"title": title, "papers": [card(p) for p in papers]}
        for title, papers in (
            ("Most upvoted", digest.top),
            ("Trending", digest.trending),
            ("For you, from what you upvoted", digest.for_you),
        )
        if papers
    ]
    sub = digest.subscriber
    return {
        "site_name": settings.site_name,
        "heading": f"Papers of {digest.period.title}",
        "topics": _topics(digest, base),
        "sections": sections,
        "frequency": digest.period.kind,
        "email": sub.email,
        "public_url": base,
        "preferences_url": links.preferences_url(sub),
        "unsubscribe_url": links.unsubscribe_url(sub),
    }


def _topics(digest: Digest, base: str) -> dict[str, Any] | None:
    """What the mail says about the subscriber's followed topics (None: follows none)."""
    if digest.topics is None:
        return None
    period = topic_period(digest.period)
    return {
        "matched": [
            {"label": m.topic.label, "followed": m.anchor.label}
            for m in digest.topics.matches
            if m.topic is not None
        ],
        "missed": [m.anchor.label for m in digest.topics.missed],
        "note": digest.topic_note,
        "unit": period.kind,
        "url": f"{base}/topics?period={period.kind}&date={period.start.isoformat()}",
    }


def render(digest: Digest, settings: Settings, links: DigestLinks) -> tuple[str, str]:
    """(plain text, HTML) of a digest."""
    data = context(digest, settings, links)
    return _env.get_template("digest.txt").render(data), _env.get_template("digest.html").render(
        data
    )


def _subject(digest: Digest, site_name: str) -> str:
    if digest.count == 0:  # only a note: none of the followed topics came up
        return f"{site_name}: none of your topics in {digest.period.title}"
    return f"{site_name}: {digest.count} papers of {digest.period.title}"


def digest_message(digest: Digest, settings: Settings, links: DigestLinks) -> EmailMessage:
    text, html = render(digest, settings, links)
    host = urlsplit(settings.public_url).hostname or "localhost"
    sub = digest.subscriber
    return new_message(
        sender=settings.mail_from,
        to=sub.email,
        subject=_subject(digest, settings.site_name),
        text=text,
        html=html,
        message_id=message_id(digest, settings.mail_from),
        html_encoding="base64",
        headers={
            "List-Id": f"{settings.site_name} {digest.period.kind} digest <digest.{host}>",
            "List-Unsubscribe": f"<{links.unsubscribe_url(sub)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
