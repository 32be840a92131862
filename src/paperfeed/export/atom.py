"""Atom 1.0 feeds of papers, written by feedgen.

An entry's id is the paper's arXiv address with its version (``https://arxiv.org/abs/
2310.06110v2``): the same on every fetch, in every feed of this site and after a change of
its address, and new when arXiv has a new version. Its ``updated`` is arXiv's date of that
version (else the first publication, else when this site first saw the paper); its links
go to the paper's page here (alternate) and to arXiv (related); its summary is the abstract
as plain text, so markup in it stays text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator

from paperfeed import __version__
from paperfeed.models import Paper

ARXIV_SCHEME = "http://arxiv.org/schemas/atom"  # the category scheme of arXiv's own feeds
# Characters XML 1.0 cannot hold (most C0 controls, lone surrogates, U+FFFE and U+FFFF).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class FeedInfo:
    """What a feed is, apart from its papers. URLs are absolute."""

    title: str
    subtitle: str
    self_url: str  # this feed: also its id
    page_url: str  # the HTML page it follows


class _Entry(FeedEntry):  # type: ignore[misc]  # feedgen has no type hints
    """feedgen 1.0's entry, with the links' rel, type and title that it drops
    (lkiesow/python-feedgen#135)."""

    def atom_entry(self, extensions: bool = True) -> Any:
        element = super().atom_entry(extensions)
        for link, written in zip(self.link() or [], element.findall("link"), strict=True):
            for name in ("rel", "type", "hreflang", "title", "length"):
                if link.get(name):
                    written.attrib[name] = str(link[name])
        return element


def entry_id(paper: Paper) -> str:
    version = f"v{paper.version}" if paper.version else ""
    return f"{paper.abs_url}{version}"


def _text(value: str) -> str:
    return _NOT_XML.sub("", value)


def _utc(value: datetime) -> datetime:
    """Aware UTC: the database keeps naive UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _updated(paper: Paper, now: datetime) -> datetime:
    return _utc(paper.updated or paper.published or paper.first_seen or now)


def atom_feed(
    info: FeedInfo,
    papers: Sequence[Paper],
    *,
    public_url: str,
    site_name: str,
    now: datetime,
    notes: Mapping[str, str] | None = None,
) -> bytes:
    """The feed as UTF-8 XML, entries in the order of ``papers``. ``now`` dates an empty
    feed (otherwise it is as recent as its newest entry). ``notes`` (by arXiv id) open the
    summaries of their papers: why a paper is in a list of recommendations."""
    base = public_url.rstrip("/")
    feed = FeedGenerator()
    feed.id(info.self_url)
    feed.title(_text(info.title))
    feed.subtitle(_text(info.subtitle))
    feed.link(href=info.self_url, rel="self", type="application/atom+xml")
    feed.link(href=info.page_url, rel="alternate", type="text/html")
    feed.author(name=_text(site_name), uri=base + "/")
    feed.generator("paperfeed", version=__version__)
    feed.language("en")
    feed.updated(max((_updated(p, now) for p in papers), default=_utc(now)))
    for paper in papers:
        _add_entry(feed, paper, base, now, (notes or {}).get(paper.arxiv_id))
    xml: bytes = feed.atom_str(pretty=True, encoding="UTF-8")
    return xml


def _add_entry(
    feed: FeedGenerator, paper: Paper, base: str, now: datetime, note: str | None
) -> None:
    entry = feed.add_entry(_Entry(), order="append")
    entry.id(entry_id(paper))
    entry.title(_text(" ".join(paper.title.split())) or paper.arxiv_id)
    entry.updated(_updated(paper, now))
    if paper.published:
        entry.published(_utc(paper.published))
    for name in paper.authors:
        if _text(name).strip():
            entry.author(name=_text(name).strip())
    entry.link(href=f"{base}/papers/{paper.arxiv_id}", rel="alternate", type="text/html")
    entry.link(href=paper.abs_url, rel="related", type="text/html", title="arXiv")
    entry.link(href=paper.pdf_url, rel="related", type="application/pdf", title="PDF")
    summary = f"{note}\n\n{paper.abstract}" if note else paper.abstract
    entry.summary(_text(summary), type="text")
    for category in paper.categories or []:
        entry.category(term=_text(category), scheme=ARXIV_SCHEME)
