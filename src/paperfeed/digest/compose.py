"""What a digest holds.

A daily digest covers the latest feed day; a weekly one the latest ISO week that has ended
(the week of the latest feed day, or the one before while that week is still running). The
period's papers are loaded once (:class:`Pool`) and each subscriber's digest is cut from it:
the top papers by upvotes, then the trending ones not already shown, then, for a
"personalized" subscriber who upvoted or saved papers, the period's papers in the order of
the site's recommender (``paperfeed.personal.recommend``: the model "For you" uses), or,
without its features, nearest to the mean embedding of those papers. Categories and keywords
filter all three.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from paperfeed.models import Paper, Subscriber
from paperfeed.rank.feeds import period_of
from paperfeed.rank.trending import Trending, age_hours, feed_now
from paperfeed.search.embed import MODEL_NAME
from paperfeed.store import Store

if TYPE_CHECKING:
    from .topics import TopicFilter

FOR_YOU = 5  # personalized picks at most


@dataclass(frozen=True)
class DigestPeriod:
    kind: str  # daily | weekly
    start: date
    end: date  # inclusive
    label: str  # 2025-12-02 | 2025-W50

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.label}"

    @property
    def title(self) -> str:
        if self.kind == "daily":
            return f"{self.start:%A}, {self.start:%b} {self.start.day}, {self.start.year}"
        first, last = f"{self.start:%b} {self.start.day}", f"{self.end:%b} {self.end.day}"
        return f"week {self.label[-2:]} ({first} – {last})"


def digest_period(store: Store, kind: str, today: date) -> DigestPeriod | None:
    """The period a digest of ``kind`` covers as of ``today``; None for an empty feed."""
    latest = store.latest_day()
    if latest is None:
        return None
    latest = min(latest, today)
    if kind == "daily":
        return DigestPeriod("daily", latest, latest, latest.isoformat())
    week = period_of("week", latest)
    if week.end >= today:  # still running: the week before
        week = period_of("week", week.start - timedelta(days=1))
    return DigestPeriod("weekly", week.start, week.end, week.label)


@dataclass
class Pool:
    """The papers of one period, with the orders every digest of it is cut from."""

    period: DigestPeriod
    papers: dict[str, Paper]
    top: list[str]  # most upvoted first
    trending: list[str]  # highest trending score first
    ids: list[str] = field(default_factory=list)  # rows of ``matrix``
    matrix: np.ndarray | None = None  # embeddings of ``ids`` (L2-normalised)
    topics: TopicFilter | None = None  # a pool cut to a subscriber's followed topics

    @classmethod
    def load(cls, store: Store, period: DigestPeriod, *, now: datetime, gravity: float) -> Pool:
        rows = store.feed_rows(period.start, period.end)
        papers = store.search.papers(r.arxiv_id for r in rows)
        rows = [r for r in rows if r.arxiv_id in papers]
        top = [
            r.arxiv_id
            for r in sorted(rows, key=lambda r: (r.upvotes, r.shown, r.arxiv_id), reverse=True)
        ]
        trending = Trending(gravity)
        reference = feed_now(now, store.latest_day())
        scores = {r.arxiv_id: trending.score(r.upvotes, age_hours(r.day, reference)) for r in rows}
        ranked = sorted(scores, key=lambda pid: (scores[pid], pid), reverse=True)
        vectors = store.digests.vectors(papers, MODEL_NAME)
        ids = [pid for pid in top if pid in vectors]
        matrix = np.stack([vectors[pid] for pid in ids]) if ids else None
        return cls(period, papers, top, ranked, ids, matrix)

    def empty(self) -> bool:
        return not self.papers

    def only(self, topics: TopicFilter) -> Pool:
        """The pool whose top and trending orders keep only the papers of ``topics``; the
        rest (every paper, the embeddings "for you" ranks) stays whole."""
        keep = topics.papers
        top = [pid for pid in self.top if pid in keep]
        trending = [pid for pid in self.trending if pid in keep]
        return replace(self, top=top, trending=trending, topics=topics)


@dataclass(frozen=True)
class Digest:
    subscriber: Subscriber
    period: DigestPeriod
    top: list[Paper]
    trending: list[Paper]
    for_you: list[Paper]
    topics: TopicFilter | None = None  # the followed topics, matched to this period's

    @property
    def count(self) -> int:
        return len(self.top) + len(self.trending) + len(self.for_you)

    @property
    def topic_note(self) -> bool:
        """None of the subscriber's topics came up: the mail says so, even without papers."""
        return self.topics is not None and self.topics.nothing_matched


def _wanted(paper: Paper, sub: Subscriber) -> bool:
    if sub.categories:
        mine = [c.lower() for c in paper.categories or []]
        chosen = [c.lower() for c in sub.categories]
        if not any(c == want or c.startswith(want + ".") for c in mine for want in chosen):
            return False
    if sub.keywords:
        text = f"{paper.title}\n{paper.abstract}".lower()
        if not any(word.lower() in text for word in sub.keywords):
            return False
    return True


def compose(
    pool: Pool,
    sub: Subscriber,
    upvoted: np.ndarray | None = None,
    known: Collection[str] = (),
    recommended: Sequence[str] | None = None,
) -> Digest:
    """``sub``'s digest of ``pool``; ``upvoted`` holds the embeddings of what they upvoted
    or saved, ``known`` the papers their "for you" section leaves out (already shown to
    them on the site or in a digest, or marked not interested: nothing is recommended
    twice), ``recommended`` the period's papers in the recommender's order for them (None:
    ranked by similarity to the mean of ``upvoted`` instead).

    Filters are checked lazily, only until each section is full: a subscriber without
    filters costs a few list slices, whatever the size of the period.
    """
    papers = pool.papers
    checked: dict[str, bool] = {}

    def wanted(pid: str) -> bool:
        if not (sub.categories or sub.keywords):
            return True
        if pid not in checked:
            checked[pid] = _wanted(papers[pid], sub)
        return checked[pid]

    def first(ids: Iterable[str], count: int, skip: set[str]) -> list[str]:
        chosen: list[str] = []
        for pid in ids:
            if len(chosen) == count:
                break
            if pid not in skip and wanted(pid):
                chosen.append(pid)
        return chosen

    top = first(pool.top, sub.top_n, set())
    shown = set(top)
    trending = first(pool.trending, max(3, sub.top_n // 2), shown)
    shown.update(trending)
    for_you: list[str] = []
    if sub.personalized:
        ranked = recommended if recommended is not None else _nearest(pool, upvoted)
        for_you = first(ranked, FOR_YOU, shown | set(known))
    return Digest(
        sub,
        pool.period,
        [papers[p] for p in top],
        [papers[p] for p in trending],
        [papers[p] for p in for_you],
        pool.topics,
    )


def _nearest(pool: Pool, upvoted: np.ndarray | None) -> Iterable[str]:
    """The pool's papers nearest to the mean of ``upvoted`` (embeddings) first."""
    if upvoted is None or not len(upvoted) or pool.matrix is None:
        return []
    centre = upvoted.mean(axis=0)
    centre /= np.linalg.norm(centre) or 1.0
    similarity = pool.matrix @ centre
    return (pool.ids[int(row)] for row in np.argsort(-similarity))


def period_now(now: datetime) -> date:
    return now.astimezone(UTC).date()


__all__ = ["Digest", "DigestPeriod", "Pool", "compose", "digest_period", "period_now"]
