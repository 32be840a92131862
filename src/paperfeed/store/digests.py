"""Digest subscribers and the send log (``store.digests``).

The log has one row per (subscriber, period) once that mail went out (or was found empty, or
refused for good); a rerun of ``paperfeed digest send`` skips those, so each subscriber gets
each period's mail once.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from paperfeed.models import Subscriber

from .schema import digest_sends, digest_topics, paper_embeddings, subscribers, upvotes

if TYPE_CHECKING:
    from .store import Store


MAX_TOPICS = 10  # topics a subscriber follows at most


@dataclass(frozen=True)
class TopicAnchor:
    """A topic a subscriber follows: the centroid of its papers when it was chosen, with the
    label, medoid and period it had then (topic numbers do not outlive a clustering)."""

    id: int
    subscriber_id: int
    label: str
    medoid: str
    period: str  # the clustering it was chosen from: "week:2025-W49"
    number: int  # its number there
    vector: np.ndarray = field(compare=False, repr=False)  # unit length


class TooManyTopics(ValueError):
    """A subscriber already follows ``MAX_TOPICS`` topics."""


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def _subscriber(row: Any) -> Subscriber:
    return Subscriber(
        id=row.id,
        email=row.email,
        status=row.status,
        frequency=row.frequency,
        top_n=row.top_n,
        categories=_split(row.categories),
        keywords=_split(row.keywords),
        personalized=bool(row.personalized),
        user_id=row.user_id,
        link_key=row.link_key,
        bounces=row.bounces,
    )


class DigestStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- subscribers ----------------------------------------------------------------------

    def subscribe(
        self, email: str, *, now: datetime, confirmed: bool = False, user_id: int | None = None
    ) -> tuple[Subscriber, bool]:
        """The subscriber for ``email`` (created if new); True when it needs confirming.

        Idempotent: a confirmed address stays as it is; an unsubscribed or bounced one starts
        over as pending (or confirmed, for an import with ``confirmed``).
        """
        key = email.lower()
        status = "confirmed" if confirmed else "pending"
        with self.store.writing() as conn:
            row = conn.execute(sa.select(subscribers).where(subscribers.c.email_key == key)).first()
            if row is None:
                conn.execute(
                    subscribers.insert().values(
                        email=email,
                        email_key=key,
                        user_id=user_id,
                        status=status,
                        link_key=secrets.token_hex(8),
                        created_at=now,
                        confirmed_at=now if confirmed else None,
                    )
                )
            elif row.status in ("unsubscribed", "bounced") or (
                confirmed and row.status == "pending"
            ):
                conn.execute(
                    subscribers.update()
                    .where(subscribers.c.id == row.id)
                    .values(
                        status=status,
                        bounces=0,
                        unsubscribed_at=None,
                        confirmed_at=now if confirmed else None,
                    )
                )
            if user_id is not None:
                conn.execute(
                    subscribers.update()
                    .where(subscribers.c.email_key == key, subscribers.c.user_id.is_(None))
                    .values(user_id=user_id)
                )
            stored = conn.execute(
                sa.select(subscribers).where(subscribers.c.email_key == key)
            ).one()
        found = _subscriber(stored)
        return found, found.status == "pending"

    def subscriber(self, subscriber_id: int) -> Subscriber | None:
        with self.store.reading() as conn:
            row = conn.execute(
                sa.select(subscribers).where(subscribers.c.id == subscriber_id)
            ).first()
        return _subscriber(row) if row else None

    def by_email(self, email: str) -> Subscriber | None:
        with self.store.reading() as conn:
            row = conn.execute(
                sa.select(subscribers).where(subscribers.c.email_key == email.lower())
            ).first()
        return _subscriber(row) if row else None

    def _set(self, subscriber_id: int, **values: Any) -> bool:
        with self.store.writing() as conn:
            return bool(
                conn.execute(
                    subscribers.update().where(subscribers.c.id == subscriber_id).values(**values)
                ).rowcount
            )

    def confirm(self, subscriber_id: int, *, now: datetime) -> bool:
        return self._set(subscriber_id, status="confirmed", confirmed_at=now, bounces=0)

    def unsubscribe(self, subscriber_id: int, *, now: datetime) -> bool:
        return self._set(subscriber_id, status="unsubscribed", unsubscribed_at=now)

    def set_preferences(
        self,
        subscriber_id: int,
        *,
        frequency: str,
        top_n: int,
        categories: Iterable[str],
        keywords: Iterable[str],
        personalized: bool,
    ) -> bool:
        return self._set(
            subscriber_id,
            frequency=frequency,
            top_n=top_n,
            categories=",".join(categories) or None,
            keywords=",".join(keywords) or None,
            personalized=personalized,
        )

    def record_bounce(self, subscriber_id: int, threshold: int) -> bool:
        """Count a permanent failure; True when it made the subscriber ``bounced``."""
        with self.store.writing() as conn:
            bounces = conn.execute(
                subscribers.update()
                .where(subscribers.c.id == subscriber_id)
                .values(bounces=subscribers.c.bounces + 1)
                .returning(subscribers.c.bounces)
            ).scalar()
            if bounces is not None and bounces >= threshold:
                conn.execute(
                    subscribers.update()
                    .where(subscribers.c.id == subscriber_id)
                    .values(status="bounced")
                )
                return True
        return False

    def remove(self, email: str) -> bool:
        with self.store.writing() as conn:
            return bool(
                conn.execute(
                    subscribers.delete().where(subscribers.c.email_key == email.lower())
                ).rowcount
            )

    def all(self, status: str | None = None) -> list[Subscriber]:
        query = sa.select(subscribers).order_by(subscribers.c.id)
        if status:
            query = query.where(subscribers.c.status == status)
        with self.store.reading() as conn:
            return [_subscriber(r) for r in conn.execute(query)]

    def receiving(self, frequency: str) -> list[Subscriber]:
        """Confirmed subscribers of ``frequency``, in a stable order."""
        query = (
            sa.select(subscribers)
            .where(subscribers.c.status == "confirmed", subscribers.c.frequency == frequency)
            .order_by(subscribers.c.id)
        )
        with self.store.reading() as conn:
            return [_subscriber(r) for r in conn.execute(query)]

    def still_confirmed(self, subscriber_id: int) -> bool:
        with self.store.reading() as conn:
            status = conn.execute(
                sa.select(subscribers.c.status).where(subscribers.c.id == subscriber_id)
            ).scalar()
        return status == "confirmed"

    # -- the send log ---------------------------------------------------------------------

    def logged(self, period: str) -> set[int]:
        """Subscribers whose mail for ``period`` is done (sent, empty or refused)."""
        with self.store.reading() as conn:
            rows = conn.execute(
                sa.select(digest_sends.c.subscriber_id).where(digest_sends.c.period == period)
            )
            return set(rows.scalars())

    def log(
        self,
        subscriber_id: int,
        period: str,
        status: str,
        *,
        now: datetime,
        message_id: str | None = None,
        papers: int = 0,
        error: str | None = None,
    ) -> bool:
        """Record the outcome; False when the subscriber was deleted meanwhile."""
        try:
            with self.store.writing() as conn:
                conn.execute(
                    self.store._insert(digest_sends)
                    .values(
                        subscriber_id=subscriber_id,
                        period=period,
                        status=status,
                        message_id=message_id,
                        papers=papers,
                        at=now,
                        error=(error or "")[:2000] or None,
                    )
                    .on_conflict_do_nothing()
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def sends(self, period: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(digest_sends).order_by(digest_sends.c.at)
        if period:
            query = query.where(digest_sends.c.period == period)
        with self.store.reading() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # -- followed topics ------------------------------------------------------------------

    def topic_anchors(self, subscriber_ids: Iterable[int]) -> dict[int, list[TopicAnchor]]:
        """The topics each of ``subscriber_ids`` follows, oldest first (subscribers who follow
        none are left out). One query per 1,000 subscribers."""
        wanted = sorted(set(subscriber_ids))
        found: dict[int, list[TopicAnchor]] = {}
        t = digest_topics
        with self.store.reading() as conn:
            for start in range(0, len(wanted), 1000):
                rows = conn.execute(
                    sa.select(t)
                    .where(t.c.subscriber_id.in_(wanted[start : start + 1000]))
                    .order_by(t.c.subscriber_id, t.c.id)
                )
                for row in rows:
                    found.setdefault(row.subscriber_id, []).append(
                        TopicAnchor(
                            id=row.id,
                            subscriber_id=row.subscriber_id,
                            label=row.label,
                            medoid=row.medoid_id,
                            period=row.period,
                            number=row.topic_number,
                            vector=np.asarray(row.vector, dtype=np.float32),
                        )
                    )
        return found

    def follow_topic(
        self,
        subscriber_id: int,
        *,
        label: str,
        medoid: str,
        period: str,
        number: int,
        vector: np.ndarray,
        now: datetime,
    ) -> bool:
        """Store a followed topic; False when one with the same medoid paper is followed
        already (nothing changes). Raises :class:`TooManyTopics` past ``MAX_TOPICS``."""
        t = digest_topics
        with self.store.writing() as conn:
            rows = conn.execute(
                sa.select(t.c.medoid_id).where(t.c.subscriber_id == subscriber_id)
            ).scalars()
            followed = set(rows)
            if medoid in followed:
                return False
            if len(followed) >= MAX_TOPICS:
                raise TooManyTopics(f"a digest follows {MAX_TOPICS} topics at most")
            added = conn.execute(
                self.store._insert(t)
                .values(
                    subscriber_id=subscriber_id,
                    label=label,
                    medoid_id=medoid,
                    period=period,
                    topic_number=number,
                    vector=np.asarray(vector, dtype=np.float32),
                    created_at=now,
                )
                .on_conflict_do_nothing()  # the same topic chosen twice at once
            )
        return bool(added.rowcount)

    def unfollow_topics(self, subscriber_id: int, anchor_ids: Iterable[int] | None = None) -> int:
        """Stop following ``anchor_ids`` (every topic when None); how many were removed.
        Ids of another subscriber's topics are ignored."""
        t = digest_topics
        query = t.delete().where(t.c.subscriber_id == subscriber_id)
        if anchor_ids is not None:
            query = query.where(t.c.id.in_(list(anchor_ids)))
        with self.store.writing() as conn:
            return int(conn.execute(query).rowcount or 0)

    # -- personalization ------------------------------------------------------------------

    def upvoted_by(self, user_ids: Iterable[int]) -> dict[int, list[str]]:
        wanted = list(set(user_ids))
        if not wanted:
            return {}
        found: dict[int, list[str]] = {}
        with self.store.reading() as conn:
            rows = conn.execute(
                sa.select(upvotes.c.user_id, upvotes.c.paper_id).where(
                    upvotes.c.user_id.in_(wanted)
                )
            )
            for user_id, paper_id in rows:
                found.setdefault(user_id, []).append(paper_id)
        return found

    def vectors(self, paper_ids: Iterable[str], model: str) -> dict[str, np.ndarray]:
        """The stored ``model`` embeddings of ``paper_ids`` (papers without one are left out)."""
        wanted = list(set(paper_ids))
        found: dict[str, np.ndarray] = {}
        with self.store.reading() as conn:
            for start in range(0, len(wanted), 1000):
                rows = conn.execute(
                    sa.select(paper_embeddings.c.paper_id, paper_embeddings.c.vector).where(
                        paper_embeddings.c.paper_id.in_(wanted[start : start + 1000]),
                        paper_embeddings.c.model == model,
                    )
                )
                found.update({pid: np.asarray(vec, dtype=np.float32) for pid, vec in rows})
        return found
