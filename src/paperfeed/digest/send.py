"""Sending a period's digests, each (subscriber, period) once.

The log row of a mail is written right after the SMTP server accepted it, in its own
transaction; a rerun skips every logged subscriber. A run killed between the server's reply
and that write is the only way a subscriber gets a second copy, and the copy has the same
deterministic Message-ID, so receivers can drop it. Temporary SMTP failures (4xx, a dropped
connection) are retried with backoff; a server that stays down stops the run (the rest go out
on the next run); 5xx answers and invalid addresses count as bounces and, after
``bounce_threshold`` of them, stop mail to that address.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from paperfeed.mail import Mailer, MailError, PermanentMailError, send_with_retry
from paperfeed.models import Subscriber
from paperfeed.personal.recommend import CorpusFeatures, Recommender, RecommenderConfig
from paperfeed.personal.topics import TopicIndex
from paperfeed.search.embed import MODEL_NAME
from paperfeed.settings import Settings
from paperfeed.store import Store, utcnow

from .compose import Digest, DigestPeriod, Pool, compose, digest_period
from .links import DigestLinks
from .render import digest_message
from .topics import TopicFilter, topic_filters

BOUNCE_THRESHOLD = 3
# Given the recommender's features (DigestSender(features=...)), the digest ranks each
# reader's period by similarity to their profile in them (the recommender's ranking for
# small profiles: tf-idf centroid minus the corpus mean, plus the whitened embedding), not
# by fitting each reader's SVM: a fit costs tens of milliseconds, and a run composes
# thousands of digests (bench_digest: 10,000 in a minute).
DIGEST_RANKING = RecommenderConfig(min_model_papers=2**31)


@dataclass
class SendSummary:
    period: DigestPeriod | None
    sent: int = 0
    already: int = 0  # logged by an earlier run
    empty: int = 0  # nothing matched the subscriber's filters
    bounced: int = 0  # permanent failures this run
    gone: int = 0  # unsubscribed or deleted while the run went on
    would_send: int = 0  # --dry-run
    topic_notes: int = 0  # sent (or would be) saying none of the followed topics came up
    errors: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped early

    def line(self) -> str:
        if self.period is None:
            return "no papers on the feed: nothing to send"
        parts = [
            f"{self.period.key}: sent {self.sent}",
            f"already sent {self.already}",
            f"nothing to send {self.empty}",
            f"bounced {self.bounced}",
            f"gone {self.gone}",
        ]
        if self.would_send:
            parts.append(f"would send {self.would_send}")
        if self.topic_notes:
            parts.append(f"no followed topic came up {self.topic_notes} (a note instead)")
        if self.stopped:
            parts.append(f"stopped: {self.stopped}")
        return ", ".join(parts)


def _personalized(subs: list[Subscriber]) -> list[int]:
    return [s.user_id for s in subs if s.personalized and s.user_id is not None]


def upvoted_vectors(store: Store, subs: list[Subscriber]) -> dict[int, np.ndarray]:
    """For each personalized subscriber's account, the mean embedding of what it upvoted or
    saved (one row: memory grows with readers, not with their votes)."""
    liked = store.personal.liked_by(_personalized(subs))
    vectors = store.digests.vectors((pid for ids in liked.values() for pid in ids), MODEL_NAME)
    found = {}
    for user_id, ids in liked.items():
        rows = [vectors[pid] for pid in sorted(ids) if pid in vectors]
        if rows:
            found[user_id] = np.mean(rows, axis=0, keepdims=True)
    return found


def _about_recipient(exc: PermanentMailError) -> bool:
    """A refusal of this address or message (a bounce), not of our setup."""
    text = str(exc)
    return any(part in text for part in ("refused recipient", "invalid address", " answered:"))


class DigestSender:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        links: DigestLinks,
        *,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], Any] | None = None,
        features: Callable[[], CorpusFeatures | None] | None = None,
        topic_index: TopicIndex | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.links = links
        self.clock = clock  # naive UTC
        self.sleep = sleep
        # The recommender's corpus features, when given (e.g. FeatureCache(...).build_now):
        # "for you" is then the period in the order of the recommender's similarity score.
        # Not by default: it costs about 4 ms a reader, and 10,000 digests would go past
        # the minute the digest benchmark allows; without them, the embedding centroid of
        # what the reader upvoted or saved orders it (0.3 ms a reader).
        self.features = features or (lambda: None)
        self._known: dict[int, set[str]] = {}  # per account: shown or not interested
        self._liked: dict[int, set[str]] = {}  # per account: saved or upvoted
        self._dismissed: dict[int, set[str]] = {}  # per account: not interested
        self._corpus: CorpusFeatures | None = None
        self._recommender: Recommender | None = None  # one a run: it keeps the week's rows
        # The period's topics, clustered once a run when a subscriber follows topics.
        self.topic_index = topic_index or TopicIndex(store, MODEL_NAME)
        self._topics: dict[int, TopicFilter] = {}  # per subscriber who follows topics

    def digests(
        self, kind: str, subs: list[Subscriber] | None = None
    ) -> tuple[DigestPeriod | None, Pool | None, list[Subscriber], dict[int, np.ndarray]]:
        now = self.clock()
        period = digest_period(self.store, kind, now.date())
        if period is None:
            return None, None, [], {}
        pool = Pool.load(
            self.store,
            period,
            now=now.replace(tzinfo=UTC),
            gravity=self.settings.trending_gravity,
        )
        subs = self.store.digests.receiving(kind) if subs is None else subs
        users = _personalized(subs)
        personal = self.store.personal
        self._known = personal.shown_or_dismissed(users)
        self._liked = personal.liked_by(users)
        self._dismissed = personal.dismissed_by(users)
        self._corpus = self.features() if any(self._liked.values()) else None
        self._topics = topic_filters(self.store, self.topic_index, period, subs)
        return period, pool, subs, upvoted_vectors(self.store, subs)

    def compose_one(self, pool: Pool, sub: Subscriber, vectors: dict[int, np.ndarray]) -> Digest:
        topics = self._topics.get(sub.id)
        if topics is not None:  # only the followed topics' papers ("for you" stays whole)
            pool = pool.only(topics)
        if sub.user_id is None:
            return compose(pool, sub)
        known = self._known.get(sub.user_id, set())
        upvoted = vectors.get(sub.user_id)  # None: no personalization for this digest
        recommended = None if upvoted is None else self._recommended(pool, sub.user_id, known)
        return compose(pool, sub, upvoted, known, recommended)

    def _recommended(self, pool: Pool, user_id: int, known: set[str]) -> list[str] | None:
        """The period's papers in the recommender's order for the account (those it knows,
        but ``known`` ones), or None without features or anything saved or upvoted."""
        liked = self._liked.get(user_id)
        if self._corpus is None or not liked:
            return None
        if self._recommender is None or self._recommender.features is not self._corpus:
            self._recommender = Recommender(self._corpus, DIGEST_RANKING)
        ranked = self._recommender.ranked(
            liked, self._dismissed.get(user_id, set()), seen=known, candidates=pool.papers
        )
        return [pid for pid, _ in ranked] or None

    def send(
        self,
        kind: str,
        mailer: Mailer,
        *,
        dry_run: bool = False,
        only: list[Subscriber] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> SendSummary:
        period, pool, subs, vectors = self.digests(kind, only)
        summary = SendSummary(period)
        if period is None or pool is None:
            return summary
        done = self.store.digests.logged(period.key)
        try:
            with mailer if not dry_run else _Nothing():
                for sub in subs:
                    if progress:
                        progress(1)
                    if sub.id in done:
                        summary.already += 1
                        continue
                    self._one(pool, sub, vectors, mailer, summary, dry_run)
        except MailError as exc:  # the server is down or refuses us: the rest wait
            summary.stopped = f"{exc} (rerun to send the rest)"
            summary.errors.append(str(exc))
        return summary

    def _one(
        self,
        pool: Pool,
        sub: Subscriber,
        vectors: dict[int, np.ndarray],
        mailer: Mailer,
        summary: SendSummary,
        dry_run: bool,
    ) -> None:
        assert summary.period is not None
        key, digests = summary.period.key, self.store.digests
        digest = self.compose_one(pool, sub, vectors)
        if digest.count == 0 and not digest.topic_note:
            if not dry_run:
                digests.log(sub.id, key, "empty", now=self.clock())
            summary.empty += 1
            return
        if dry_run:
            summary.would_send += 1
            summary.topic_notes += digest.topic_note
            return
        if not digests.still_confirmed(sub.id):
            summary.gone += 1
            return
        message = digest_message(digest, self.settings, self.links)
        options: dict[str, Any] = {"sleep": self.sleep} if self.sleep else {}
        try:
            send_with_retry(mailer, message, **options)
        except PermanentMailError as exc:
            if not _about_recipient(exc):
                raise  # a login or sender refused, TLS broken: the run stops
            summary.bounced += 1
            summary.errors.append(f"{sub.email}: {exc}")
            digests.log(sub.id, key, "failed", now=self.clock(), error=str(exc))
            digests.record_bounce(sub.id, BOUNCE_THRESHOLD)
            return
        # Logged at once: a kill between the server's reply and this write is the only way
        # to a second copy (with the same Message-ID).
        logged = digests.log(
            sub.id,
            key,
            "sent",
            now=self.clock(),
            message_id=str(message["Message-ID"]),
            papers=digest.count,
        )
        summary.sent += 1
        summary.topic_notes += digest.topic_note
        if not logged:
            summary.gone += 1  # deleted while its mail was on the way
        if sub.user_id is not None and digest.for_you:
            # Shown now: the site's "For you" and the next digest leave these out.
            shown = [p.arxiv_id for p in digest.for_you]
            self.store.personal.mark_seen(sub.user_id, shown, "digest", now=self.clock())


class _Nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
