"""Digests of the topics a subscriber follows.

A topic's number belongs to one period's clustering: topic 3 of this week has nothing to do
with topic 3 of the next. So following a topic stores an *anchor* that outlives the
clustering: the topic's centroid (the normalised mean of its papers' embeddings), with the
label and medoid paper it had and the period it came from, for people. Each digest
clusters its own period as the /topics page does (:class:`TopicIndex`) and matches every
anchor to the topic whose centroid is nearest by cosine, when that cosine is at least
``MATCH_THRESHOLD``; the digest's "most upvoted" and "trending" sections then keep only the
papers of the matched topics ("for you" is personal and stays as it is), and the mail says
which topic of the period each followed topic became. When none of them matches, the mail
says so in a few lines (with this period's topics and the way to change the filter) rather
than sending every paper or nothing: silence would look like a broken digest.

Why centroids, and why 0.90: ``tools/topic_anchor_threshold.py`` clusters consecutive
periods of the 75k arXiv corpus; a topic of one period has a counterpart in the next when
most papers of both fall in one topic of the two periods clustered together, and the same
topic is then taken out of the next period (its papers removed) to see what matches when it
is absent. Over 30 pairs of weeks, at 0.90, 95 % of topics with a counterpart match (90 %
of those the right one) and 33 % of those taken out match a neighbour; medoids, at their
threshold with that false-match rate (0.60), match 81 %. Over 40 pairs of days (3 to 6
topics a day): 87 %, 92 % and 27 %. No topic of SciFact's biomedical abstracts matches an
arXiv period (their best cosine is 0.42). Centroid cosines run high because all arXiv
abstracts share a direction. The threshold leans towards matching: a missed topic costs the
reader the period's papers, a neighbouring topic is at least near, and the mail names it.
The figures are in the README (Benchmarks → Topics).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from paperfeed.models import Subscriber
from paperfeed.personal.topics import Topic, TopicIndex, TopicSet
from paperfeed.rank.feeds import KINDS, Period, PeriodError, parse_period, period_of
from paperfeed.store import Store
from paperfeed.store.digests import TooManyTopics, TopicAnchor

from .compose import DigestPeriod

log = logging.getLogger(__name__)
MATCH_THRESHOLD = 0.90  # cosine of a followed topic's centroid to this period's nearest one
TOPIC_KIND = {"daily": "day", "weekly": "week"}  # the topics a digest of each kind reads


@dataclass(frozen=True)
class TopicMatch:
    """A followed topic and this period's topic nearest to it."""

    anchor: TopicAnchor
    nearest: Topic | None  # None: the period has no topics (no embeddings)
    similarity: float  # cosine of the two centroids (-1 without topics)
    threshold: float = MATCH_THRESHOLD

    @property
    def topic(self) -> Topic | None:
        """The period's topic this one became, or None when none is close enough."""
        return self.nearest if self.similarity >= self.threshold else None


@dataclass(frozen=True)
class TopicFilter:
    """A subscriber's followed topics matched to one period: the papers their digest keeps."""

    matches: tuple[TopicMatch, ...]
    papers: frozenset[str]  # the papers of the matched topics

    @property
    def matched(self) -> list[TopicMatch]:
        return [m for m in self.matches if m.topic is not None]

    @property
    def missed(self) -> list[TopicMatch]:
        return [m for m in self.matches if m.topic is None]

    @property
    def nothing_matched(self) -> bool:
        return not self.matched


def topic_period(period: DigestPeriod) -> Period:
    """The day or week whose topics a digest's followed topics are matched to."""
    return period_of(TOPIC_KIND[period.kind], period.start)


def match_topics(
    anchors: Sequence[TopicAnchor], topic_set: TopicSet, threshold: float = MATCH_THRESHOLD
) -> TopicFilter:
    """Each anchor's nearest topic of ``topic_set`` by cosine of centroids."""
    matches = []
    papers: set[str] = set()
    for anchor in anchors:
        if not topic_set.topics:
            matches.append(TopicMatch(anchor, None, -1.0, threshold))
            continue
        similarity = topic_set.centroids @ anchor.vector
        row = int(np.argmax(similarity))
        match = TopicMatch(anchor, topic_set.topics[row], float(similarity[row]), threshold)
        if match.topic is not None:
            papers.update(match.topic.members)
        matches.append(match)
    return TopicFilter(tuple(matches), frozenset(papers))


def topic_filters(
    store: Store, index: TopicIndex, period: DigestPeriod, subs: Iterable[Subscriber]
) -> dict[int, TopicFilter]:
    """For each of ``subs`` who follows topics, those topics matched to ``period``'s. The
    period is clustered once (and only if someone follows a topic)."""
    anchors = store.digests.topic_anchors(s.id for s in subs)
    if not anchors:
        return {}
    topic_set = index.topics(topic_period(period))
    if not topic_set.topics:
        log.warning(
            "%s: no papers with embeddings, so no topics: %d subscribers who follow topics "
            "get a note instead of papers (run `paperfeed index`)",
            period.key,
            len(anchors),
        )
    return {sub_id: match_topics(found, topic_set) for sub_id, found in anchors.items()}


# -- choosing a topic to follow -----------------------------------------------------------


class TopicChoiceError(ValueError):
    """A topic that cannot be followed: a status, a code and a message for people."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def period_key(period: Period) -> str:
    return f"{period.kind}:{period.label}"


def parse_period_key(raw: str) -> Period:
    """``week:2025-W49`` (or ``day:2025-12-03``, ``month:2025-12``) as a period."""
    kind, _, label = raw.partition(":")
    if kind not in KINDS:
        raise TopicChoiceError(
            400, "bad_period", f"period must be day:, week: or month: and a label, not {raw!r}"
        )
    try:
        return parse_period(kind, label)
    except PeriodError as exc:
        raise TopicChoiceError(400, "bad_period", str(exc)) from None


def parse_choice(raw: str) -> tuple[int, str | None]:
    """A topic as a form sends it: ``3:2512.01234`` (its number and medoid paper, which
    tells whether the topics changed since the page was shown) or just ``3``."""
    number, _, medoid = raw.partition(":")
    if not (number.isascii() and number.isdigit() and len(number) < 4 and int(number) > 0):
        raise TopicChoiceError(400, "bad_topic", f"a topic is a number from 1 up, not {raw!r}")
    return int(number), medoid or None


def chosen_topic(
    topic_set: TopicSet, period: Period, number: int, medoid: str | None = None
) -> Topic:
    """Topic ``number`` of ``period`` (whose topics are ``topic_set``); ``medoid``, when
    given, must still be its medoid paper (else the topics were computed again since the
    page showed them, or the form was tampered with)."""
    if not topic_set.topics:
        raise TopicChoiceError(
            400,
            "no_topics",
            f"{period.label} has no papers with embeddings, so it has no topics to follow.",
        )
    topic = topic_set.topic(number)
    if topic is None:
        count = len(topic_set.topics)
        raise TopicChoiceError(
            400, "unknown_topic", f"{period.label} has {count} topics: there is no topic {number}."
        )
    if medoid is not None and medoid != topic.medoid:
        raise TopicChoiceError(
            409,
            "topics_changed",
            f"Topic {number} of {period.label} is not the one shown (the topics were computed "
            "again since): choose again from the list.",
        )
    return topic


def follow_topic(
    store: Store,
    subscriber_id: int,
    topic_set: TopicSet,
    period: Period,
    topic: Topic,
    *,
    now: datetime,
) -> bool:
    """Store ``topic`` of ``period`` (from ``topic_set``) as followed by the subscriber:
    its anchor. False when a topic with that medoid is followed already."""
    try:
        return store.digests.follow_topic(
            subscriber_id,
            label=topic.label,
            medoid=topic.medoid,
            period=period_key(period),
            number=topic.number,
            vector=topic_set.centroid(topic.number),
            now=now,
        )
    except TooManyTopics as exc:
        raise TopicChoiceError(400, "too_many_topics", f"{exc}: remove one first.") from None


__all__ = [
    "MATCH_THRESHOLD",
    "TopicChoiceError",
    "TopicFilter",
    "TopicMatch",
    "chosen_topic",
    "follow_topic",
    "match_topics",
    "parse_choice",
    "parse_period_key",
    "period_key",
    "topic_filters",
    "topic_period",
]
