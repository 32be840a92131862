"""Queries behind the Hugging Face-compatible API (``paperfeed.web.hfcompat``): who put
papers on the feed, and how many comments readers see. Used as ``HfCompatStore(store)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import sqlalchemy as sa

from .schema import comments, feed_entries

if TYPE_CHECKING:
    from .store import Store


@dataclass(frozen=True)
class FeedEntry:
    """A paper's first day on the feed and who submitted it (first named submitter)."""

    day: date
    submitted_by: str | None


class HfCompatStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    def submissions(self, start: date, end: date, submitter: str) -> dict[str, str]:
        """Papers that ``submitter`` (any letter case) put on the feed between ``start`` and
        ``end``, inclusive: arXiv id -> the name as stored."""
        query = (
            sa.select(feed_entries.c.paper_id, sa.func.min(feed_entries.c.submitted_by_name))
            .where(
                feed_entries.c.day.between(start, end),
                sa.func.lower(feed_entries.c.submitted_by_name) == submitter.lower(),
            )
            .group_by(feed_entries.c.paper_id)
        )
        with self.store.reading() as conn:
            return {paper_id: name for paper_id, name in conn.execute(query)}

    def first_entries(self, ids: Iterable[str]) -> dict[str, FeedEntry]:
        """The first feed day of each of ``ids`` that was ever on the feed (one query)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        first = (
            sa.select(feed_entries.c.paper_id, sa.func.min(feed_entries.c.day).label("day"))
            .where(feed_entries.c.paper_id.in_(wanted))
            .group_by(feed_entries.c.paper_id)
            .subquery("first_days")
        )
        submitter = (  # correlated: the earliest entry of that paper with a name
            sa.select(feed_entries.c.submitted_by_name)
            .where(
                feed_entries.c.paper_id == first.c.paper_id,
                feed_entries.c.submitted_by_name.is_not(None),
            )
            .order_by(feed_entries.c.day)
            .limit(1)
            .scalar_subquery()
        )
        query = sa.select(first.c.paper_id, first.c.day, submitter.label("submitted_by"))
        with self.store.reading() as conn:
            return {r.paper_id: FeedEntry(r.day, r.submitted_by) for r in conn.execute(query)}

    def comment_counts(self, ids: Iterable[str]) -> dict[str, int]:
        """Comments readers see (neither deleted nor hidden) on each of ``ids`` that has
        any (one query)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        query = (
            sa.select(comments.c.paper_id, sa.func.count())
            .where(
                comments.c.paper_id.in_(wanted),
                comments.c.deleted_at.is_(None),
                comments.c.hidden_at.is_(None),
            )
            .group_by(comments.c.paper_id)
        )
        with self.store.reading() as conn:
            return {paper_id: n for paper_id, n in conn.execute(query)}
