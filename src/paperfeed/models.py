"""Plain data classes shared by every layer. No I/O here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime

# New-style ids (0704.0001 onwards, 5 digits since 1501) and old-style ids (hep-th/9901001),
# each with an optional version suffix.
ARXIV_ID_RE = re.compile(
    r"^(?P<id>\d{4}\.\d{4,5}|[a-z]+(?:-[a-z]+)*(?:\.[A-Z]{2})?/\d{7})(?:v(?P<version>\d+))?$"
)


# The years a visitor may ask for (feed labels, search filters): four digits, and far enough
# from the ends of the calendar that a neighbouring day, week or month is still a date.
YEARS = range(1000, 9999)


class InvalidArxivId(ValueError):
    """The text is not an arXiv identifier."""


def split_arxiv_id(text: str) -> tuple[str, int | None]:
    """Split ``2503.11677v2`` into ``("2503.11677", 2)``; raise :class:`InvalidArxivId`."""
    match = ARXIV_ID_RE.match(text.strip())
    if not match:
        raise InvalidArxivId(f"{text!r} is not an arXiv id (like 2503.11677 or hep-th/9901001)")
    version = match.group("version")
    return match.group("id"), int(version) if version else None


@dataclass(frozen=True)
class Paper:
    """An arXiv paper as paperfeed stores it. ``None`` means "unknown", not "empty"."""

    arxiv_id: str
    title: str
    abstract: str
    authors: list[str]
    categories: list[str] | None = None
    version: int | None = None
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    license: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    first_seen: datetime | None = None
    upvotes: int = 0
    tldr: str | None = None  # set by `paperfeed index`, never by a source

    @property
    def primary_category(self) -> str | None:
        return self.categories[0] if self.categories else None

    @property
    def shown_date(self) -> date | None:
        """The date a reader sees: publication on arXiv, else when we first saw it."""
        when = self.published or self.first_seen
        return when.date() if when else None

    @property
    def abs_url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv_id}"

    @property
    def pdf_url(self) -> str:
        return f"https://arxiv.org/pdf/{self.arxiv_id}"


@dataclass(frozen=True)
class FeedItem:
    """A paper as it appears on a feed: the day it was featured and who put it there."""

    paper: Paper
    day: date | None  # None outside a feed (a search result)
    submitted_by: str | None = None


@dataclass(frozen=True)
class FeedPage:
    """One page of a feed (a day, an ISO week or a month)."""

    kind: str  # "day", "week" or "month"
    label: str  # "2025-12-11", "2025-W50", "2025-12"
    start: date
    end: date  # inclusive
    items: list[FeedItem]
    total: int
    page: int
    page_size: int
    previous: str | None = None  # label of the previous non-empty period
    next: str | None = None

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True)
class PaperDetail:
    """Everything the paper page shows."""

    paper: Paper
    feed_days: list[date] = field(default_factory=list)
    submitted_by: str | None = None
    versions: list[tuple[int, datetime | None]] = field(default_factory=list)
    source: str | None = None
    refreshed_at: datetime | None = None
    hidden: bool = False  # by a moderator

    @property
    def latest_version(self) -> tuple[int, datetime | None] | None:
        """The newest version seen, if the paper has been revised (v2 or later)."""
        if self.versions and self.versions[-1][0] > 1:
            return self.versions[-1]
        return None


ROLES = ("user", "moderator", "admin")


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str | None = None
    email: str | None = None
    role: str = "user"
    banned_at: datetime | None = None

    @property
    def is_moderator(self) -> bool:
        return self.role in ("moderator", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_banned(self) -> bool:
        return self.banned_at is not None


@dataclass(frozen=True)
class Comment:
    id: int
    paper_id: str
    user_id: int
    username: str
    body: str
    body_html: str
    created_at: datetime
    edited_at: datetime | None = None
    deleted: bool = False
    hidden: bool = False


@dataclass(frozen=True)
class ApiToken:
    id: int
    user_id: int
    username: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class ModerationEntry:
    id: int
    actor_name: str
    action: str
    target_type: str
    target_id: str
    reason: str | None
    created_at: datetime


@dataclass(frozen=True)
class IngestRecord:
    """One parsed input record: the paper, and where it goes on the feed."""

    paper: Paper
    source: str  # "arxiv-jsonl", "hf-daily", ...
    location: str  # "path:line", for messages
    feed_day: date | None = None
    submitted_by: str | None = None
    upvotes: int | None = None  # a count imported from the source, if it has one
    datestamp: date | None = None  # OAI-PMH: the day arXiv changed the record (its listing)


_MERGED_FIELDS = (
    "title",
    "abstract",
    "authors",
    "categories",
    "version",
    "comment",
    "journal_ref",
    "doi",
    "license",
    "published",
    "updated",
)


def is_older_version(old: Paper, new: Paper) -> bool:
    return old.version is not None and new.version is not None and new.version < old.version


def merge_paper(old: Paper | None, new: Paper, seen_at: datetime) -> Paper:
    """The record to store when ``new`` arrives and ``old`` is stored.

    A newer or equal version (or one without a version) updates every field it knows; fields
    it leaves unknown (``None``, e.g. categories from Hugging Face) keep the stored value. An
    older version changes nothing. ``first_seen`` only ever moves earlier.
    """
    if old is None:
        return replace(new, first_seen=new.first_seen or seen_at)
    if is_older_version(old, new):
        return old
    changes: dict[str, object] = {
        name: getattr(new, name) for name in _MERGED_FIELDS if getattr(new, name) is not None
    }
    if new.first_seen is not None and (old.first_seen is None or new.first_seen < old.first_seen):
        changes["first_seen"] = new.first_seen
    return replace(old, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class SearchFilter:
    """What a search result must (not) contain, besides being relevant. Empty = no filter."""

    phrases: tuple[str, ...] = ()  # must appear as written
    excluded: tuple[str, ...] = ()  # words or phrases that must not appear
    authors: tuple[str, ...] = ()  # each must be part of an author's name
    categories: tuple[str, ...] = ()  # any of: a category (cs.LG) or an archive (cs, hep-th)
    since: date | None = None  # first published on arXiv on or after
    until: date | None = None  # ... on or before

    def __bool__(self) -> bool:
        return bool(
            self.phrases
            or self.excluded
            or self.authors
            or self.categories
            or self.since
            or self.until
        )


FREQUENCIES = ("daily", "weekly")


@dataclass(frozen=True)
class Subscriber:
    """Someone who gets the digest (or asked to: ``status`` pending until confirmed)."""

    id: int
    email: str
    status: str  # pending | confirmed | unsubscribed | bounced
    frequency: str = "daily"
    top_n: int = 10
    categories: tuple[str, ...] = ()  # empty: every category
    keywords: tuple[str, ...] = ()  # empty: no keyword filter
    personalized: bool = False
    user_id: int | None = None
    link_key: str = ""
    bounces: int = 0
