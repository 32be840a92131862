"""The reader's own data (``store.personal``): saved papers with notes and tags, followed
authors, "not interested", papers already shown ("seen"), keyword rules and the tokens of
private feeds.

Every write is idempotent and safe under concurrency by construction: an ``INSERT … ON
CONFLICT DO NOTHING`` against a primary key or unique index decides, so saving, tagging or
following twice (or from two app servers at once) leaves one row and raises nothing. Callers
pass keys already normalised (``paperfeed.personal.library`` does that); this module only
stores and reads. Lists read a page in a fixed number of queries, whatever its size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from paperfeed.models import Paper

from .schema import (
    feed_entries,
    feed_tokens,
    followed_authors,
    keyword_rules,
    paper_feedback,
    paper_tags,
    papers,
    saved_papers,
    seen_papers,
    tags,
    upvotes,
    users,
)

if TYPE_CHECKING:
    from .store import Store

NOT_INTERESTED = "not_interested"
SEEN_VIA = ("web", "digest")
RULE_KINDS = ("include", "exclude")


@dataclass(frozen=True)
class Tag:
    name: str
    key: str
    papers: int = 0


@dataclass(frozen=True)
class SavedPaper:
    """A paper in a reader's library, with their note and tags (names, sorted)."""

    paper: Paper
    saved_at: datetime
    note: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class FollowedAuthor:
    name: str
    key: str
    followed_at: datetime


@dataclass(frozen=True)
class KeywordRule:
    id: int
    kind: str  # include | exclude
    text: str
    key: str


@dataclass(frozen=True)
class FeedToken:
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class PaperMarks:
    """What a reader has done with some papers: for marking cards (one query each)."""

    saved: set[str] = field(default_factory=set)
    dismissed: set[str] = field(default_factory=set)


def _visible() -> Any:
    return papers.c.hidden_at.is_(None)


def _published() -> Any:
    return sa.func.coalesce(papers.c.published, papers.c.first_seen)


class PersonalStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _insert(self, table: sa.Table) -> Any:
        return self.store._insert(table)

    # -- library --------------------------------------------------------------------------

    def save(self, user_id: int, paper_id: str, *, now: datetime) -> bool:
        """Put a paper in the library; False if it was there already (nothing changes)."""
        with self.store.writing() as conn:
            return self._save(conn, user_id, paper_id, now)

    def _save(self, conn: sa.Connection, user_id: int, paper_id: str, now: datetime) -> bool:
        # RETURNING, not rowcount: psycopg reports -1 for ON CONFLICT DO NOTHING.
        added = conn.execute(
            self._insert(saved_papers)
            .values(user_id=user_id, paper_id=paper_id, saved_at=now)
            .on_conflict_do_nothing()
            .returning(saved_papers.c.paper_id)
        ).all()
        return bool(added)

    def unsave(self, user_id: int, paper_id: str) -> bool:
        """Take a paper out of the library, with its note and tags; False if it was not in."""
        with self.store.writing() as conn:
            removed = conn.execute(
                saved_papers.delete().where(
                    saved_papers.c.user_id == user_id, saved_papers.c.paper_id == paper_id
                )
            ).rowcount
            self._drop_unused_tags(conn, user_id)
        return bool(removed)

    def set_note(self, user_id: int, paper_id: str, note: str | None, *, now: datetime) -> None:
        """Set (or with None, clear) the note on a paper, saving the paper if needed."""
        with self.store.writing() as conn:
            self._save(conn, user_id, paper_id, now)
            conn.execute(
                saved_papers.update()
                .where(saved_papers.c.user_id == user_id, saved_papers.c.paper_id == paper_id)
                .values(note=note)
            )

    def add_tag(self, user_id: int, paper_id: str, name: str, key: str, *, now: datetime) -> bool:
        """Tag a paper (saving it if needed); the tag is made the first time its key is used.
        False if the paper had the tag already."""
        with self.store.writing() as conn:
            self._save(conn, user_id, paper_id, now)
            conn.execute(
                self._insert(tags)
                .values(user_id=user_id, name=name, key=key, created_at=now)
                .on_conflict_do_nothing()
            )
            tag_id = conn.execute(
                sa.select(tags.c.id).where(tags.c.user_id == user_id, tags.c.key == key)
            ).scalar_one()
            added = conn.execute(
                self._insert(paper_tags)
                .values(tag_id=tag_id, paper_id=paper_id, user_id=user_id, tagged_at=now)
                .on_conflict_do_nothing()
                .returning(paper_tags.c.tag_id)
            ).all()
        return bool(added)

    def remove_tag(self, user_id: int, paper_id: str, key: str) -> bool:
        """Untag a paper; a tag left on no paper goes too. False if it had no such tag."""
        tag_ids = sa.select(tags.c.id).where(tags.c.user_id == user_id, tags.c.key == key)
        with self.store.writing() as conn:
            removed = conn.execute(
                paper_tags.delete().where(
                    paper_tags.c.user_id == user_id,
                    paper_tags.c.paper_id == paper_id,
                    paper_tags.c.tag_id.in_(tag_ids),
                )
            ).rowcount
            self._drop_unused_tags(conn, user_id)
        return bool(removed)

    @staticmethod
    def _drop_unused_tags(conn: sa.Connection, user_id: int) -> None:
        """Tags are words on papers, not folders: one on no paper is gone."""
        used = sa.select(paper_tags.c.tag_id).where(paper_tags.c.user_id == user_id)
        conn.execute(tags.delete().where(tags.c.user_id == user_id, tags.c.id.not_in(used)))

    def tags(self, user_id: int) -> list[Tag]:
        """The reader's tags with how many visible papers carry each, by name."""
        count = sa.func.count(papers.c.arxiv_id)
        query = (
            sa.select(tags.c.name, tags.c.key, count.label("n"))
            .select_from(tags)
            .outerjoin(paper_tags, paper_tags.c.tag_id == tags.c.id)
            .outerjoin(papers, sa.and_(papers.c.arxiv_id == paper_tags.c.paper_id, _visible()))
            .where(tags.c.user_id == user_id)
            .group_by(tags.c.id, tags.c.name, tags.c.key)
            .order_by(tags.c.key)
        )
        with self.store.reading() as conn:
            return [Tag(r.name, r.key, r.n) for r in conn.execute(query)]

    def tagged_ids(self, user_id: int, key: str) -> set[str]:
        """The visible papers carrying one of the reader's tags (a tag's recommendations
        start from them)."""
        query = (
            sa.select(paper_tags.c.paper_id)
            .join(tags, tags.c.id == paper_tags.c.tag_id)
            .join(papers, papers.c.arxiv_id == paper_tags.c.paper_id)
            .where(tags.c.user_id == user_id, tags.c.key == key, _visible())
        )
        with self.store.reading() as conn:
            return set(conn.execute(query).scalars())

    def tag(self, user_id: int, key: str) -> Tag | None:
        found = [t for t in self.tags(user_id) if t.key == key]
        return found[0] if found else None

    def library(
        self, user_id: int, *, tag_key: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[SavedPaper], int]:
        """A page of the library (or of one tag), most recently saved first, and the count.

        Papers hidden by moderators stay saved but are not shown. Three queries."""
        where = [saved_papers.c.user_id == user_id, _visible()]
        if tag_key is not None:
            tagged = (
                sa.select(paper_tags.c.paper_id)
                .join(tags, tags.c.id == paper_tags.c.tag_id)
                .where(tags.c.user_id == user_id, tags.c.key == tag_key)
            )
            where.append(saved_papers.c.paper_id.in_(tagged))
        joined = saved_papers.join(papers, papers.c.arxiv_id == saved_papers.c.paper_id)
        query = (
            sa.select(papers, saved_papers.c.note, saved_papers.c.saved_at)
            .select_from(joined)
            .where(*where)
            .order_by(saved_papers.c.saved_at.desc(), saved_papers.c.paper_id)
            .limit(limit)
            .offset(offset)
        )
        count = sa.select(sa.func.count()).select_from(joined).where(*where)
        from .store import _paper_from_row

        with self.store.reading() as conn:
            rows = conn.execute(query).all()
            total = int(conn.execute(count).scalar_one())
            names = self._tag_names(conn, user_id, [r.arxiv_id for r in rows])
        entries = [
            SavedPaper(
                paper=_paper_from_row(r),
                saved_at=r.saved_at,
                note=r.note,
                tags=tuple(names.get(r.arxiv_id, ())),
            )
            for r in rows
        ]
        return entries, total

    def saved_paper(self, user_id: int, paper_id: str) -> SavedPaper | None:
        """One library entry (for the paper page), or None when the paper is not saved."""
        from .store import _paper_from_row

        query = (
            sa.select(papers, saved_papers.c.note, saved_papers.c.saved_at)
            .join(saved_papers, saved_papers.c.paper_id == papers.c.arxiv_id)
            .where(saved_papers.c.user_id == user_id, saved_papers.c.paper_id == paper_id)
        )
        with self.store.reading() as conn:
            row = conn.execute(query).first()
            if row is None:
                return None
            names = self._tag_names(conn, user_id, [paper_id])
        return SavedPaper(_paper_from_row(row), row.saved_at, row.note, tuple(names[paper_id]))

    @staticmethod
    def _tag_names(
        conn: sa.Connection, user_id: int, paper_ids: Sequence[str]
    ) -> dict[str, list[str]]:
        names: dict[str, list[str]] = {paper_id: [] for paper_id in paper_ids}
        if not paper_ids:
            return names
        query = (
            sa.select(paper_tags.c.paper_id, tags.c.name)
            .join(tags, tags.c.id == paper_tags.c.tag_id)
            .where(paper_tags.c.user_id == user_id, paper_tags.c.paper_id.in_(list(paper_ids)))
            .order_by(tags.c.key)
        )
        for paper_id, name in conn.execute(query):
            names[paper_id].append(name)
        return names

    def marks(self, user_id: int, paper_ids: Sequence[str]) -> PaperMarks:
        """Which of ``paper_ids`` the reader saved and which they are not interested in."""
        if not paper_ids:
            return PaperMarks()
        ids = list(paper_ids)
        saved = sa.select(saved_papers.c.paper_id.label("id"), sa.literal("saved").label("m"))
        saved = saved.where(saved_papers.c.user_id == user_id, saved_papers.c.paper_id.in_(ids))
        dismissed = sa.select(
            paper_feedback.c.paper_id.label("id"), sa.literal("dismissed").label("m")
        ).where(
            paper_feedback.c.user_id == user_id,
            paper_feedback.c.paper_id.in_(ids),
            paper_feedback.c.kind == NOT_INTERESTED,
        )
        marks = PaperMarks()
        with self.store.reading() as conn:
            for paper_id, mark in conn.execute(sa.union_all(saved, dismissed)):
                (marks.saved if mark == "saved" else marks.dismissed).add(paper_id)
        return marks

    # -- followed authors -----------------------------------------------------------------

    def follow(self, user_id: int, name: str, key: str, *, now: datetime) -> bool:
        """Follow an author; False if followed already (the first spelling is kept)."""
        with self.store.writing() as conn:
            added = conn.execute(
                self._insert(followed_authors)
                .values(user_id=user_id, key=key, name=name, followed_at=now)
                .on_conflict_do_nothing()
                .returning(followed_authors.c.key)
            ).all()
        return bool(added)

    def unfollow(self, user_id: int, key: str) -> bool:
        with self.store.writing() as conn:
            removed = conn.execute(
                followed_authors.delete().where(
                    followed_authors.c.user_id == user_id, followed_authors.c.key == key
                )
            ).rowcount
        return bool(removed)

    def followed(self, user_id: int) -> list[FollowedAuthor]:
        query = (
            sa.select(followed_authors)
            .where(followed_authors.c.user_id == user_id)
            .order_by(followed_authors.c.key)
        )
        with self.store.reading() as conn:
            return [FollowedAuthor(r.name, r.key, r.followed_at) for r in conn.execute(query)]

    def papers_by_authors(
        self, user_id: int, names: Sequence[str], *, since: datetime, limit: int
    ) -> list[Paper]:
        """Visible papers published since ``since`` with an author matching any of
        ``names`` (whole words, any case: as search's ``author:``), newest first, without
        the ones ``user_id`` saved or is not interested in."""
        matches = [self.store.search._author_matches(name) for name in names]
        if not matches:
            return []
        return self._recent(user_id, sa.or_(*matches), since=since, limit=limit)

    def papers_with_phrase(
        self, user_id: int, phrase: str, *, since: datetime, limit: int
    ) -> list[Paper]:
        """Like :meth:`papers_by_authors`, for papers whose title, abstract or authors hold
        ``phrase`` (the full-text index, as search's ``"a phrase"``)."""
        condition = self.store.search._contains_text(phrase)
        return self._recent(user_id, condition, since=since, limit=limit)

    def window_ids(self, *, since: datetime) -> set[str]:
        """Every visible paper published since ``since`` and on the feed since then: the
        papers "For you" recommends from, the same for every reader (the ranking leaves out
        each reader's own, and takes the window's rows of its matrices once for all). One
        query; the feed's day index finds them (the publication date alone would read every
        paper: 90 ms against 20 at 75k papers on SQLite), ``ix_papers_window`` says whether
        each is visible and published since without reading its row."""
        with self.store.reading() as conn:
            return set(conn.execute(self.window_query(since=since)).scalars())

    @staticmethod
    def window_query(*, since: datetime) -> sa.Select[Any]:
        """The query of :meth:`window_ids`."""
        featured = sa.select(feed_entries.c.paper_id).where(feed_entries.c.day >= since.date())
        return sa.select(papers.c.arxiv_id).where(
            papers.c.arxiv_id.in_(featured), _visible(), _published() >= since
        )

    def _recent(self, user_id: int, condition: Any, *, since: datetime, limit: int) -> list[Paper]:
        from .store import _paper_from_row

        query = (
            sa.select(papers)
            .where(condition, *self._recent_for(user_id, since))
            .order_by(_published().desc(), papers.c.arxiv_id.desc())
            .limit(limit)
        )
        with self.store.reading() as conn:
            return [_paper_from_row(r) for r in conn.execute(query)]

    @staticmethod
    def _recent_for(user_id: int, since: datetime) -> list[Any]:
        saved = sa.select(saved_papers.c.paper_id).where(saved_papers.c.user_id == user_id)
        dismissed = sa.select(paper_feedback.c.paper_id).where(paper_feedback.c.user_id == user_id)
        return [
            _visible(),
            _published() >= since,
            papers.c.arxiv_id.not_in(saved),
            papers.c.arxiv_id.not_in(dismissed),
        ]

    def library_authors(self, user_id: int) -> list[list[str]]:
        """The author lists of the reader's saved papers (to suggest authors to follow)."""
        query = (
            sa.select(papers.c.authors)
            .join(saved_papers, saved_papers.c.paper_id == papers.c.arxiv_id)
            .where(saved_papers.c.user_id == user_id)
        )
        with self.store.reading() as conn:
            return [list(authors or []) for authors in conn.execute(query).scalars()]

    # -- feedback and seen ----------------------------------------------------------------

    def dismiss(self, user_id: int, paper_id: str, *, now: datetime) -> bool:
        """Mark a paper "not interested" (an explicit negative); False if it was already."""
        with self.store.writing() as conn:
            added = conn.execute(
                self._insert(paper_feedback)
                .values(user_id=user_id, paper_id=paper_id, kind=NOT_INTERESTED, created_at=now)
                .on_conflict_do_nothing()
                .returning(paper_feedback.c.paper_id)
            ).all()
        return bool(added)

    def undismiss(self, user_id: int, paper_id: str) -> bool:
        with self.store.writing() as conn:
            removed = conn.execute(
                paper_feedback.delete().where(
                    paper_feedback.c.user_id == user_id, paper_feedback.c.paper_id == paper_id
                )
            ).rowcount
        return bool(removed)

    def dismissed_ids(self, user_id: int) -> set[str]:
        """Every paper the reader is not interested in (the recommender's negatives)."""
        return self.dismissed_by([user_id])[user_id]

    def saved_ids(self, user_id: int) -> set[str]:
        """Every paper in the reader's library (the recommender's positives)."""
        query = sa.select(saved_papers.c.paper_id).where(saved_papers.c.user_id == user_id)
        with self.store.reading() as conn:
            return set(conn.execute(query).scalars())

    def mark_seen(self, user_id: int, paper_ids: Iterable[str], via: str, *, now: datetime) -> int:
        """Note that these papers were shown to the reader (``via`` web or digest); the
        first showing is kept. One statement; returns how many were new."""
        if via not in SEEN_VIA:
            raise ValueError(f"via must be one of {SEEN_VIA}, not {via!r}")
        rows = [
            {"user_id": user_id, "paper_id": paper_id, "first_seen_at": now, "via": via}
            for paper_id in dict.fromkeys(paper_ids)
        ]
        if not rows:
            return 0
        with self.store.writing() as conn:
            added = conn.execute(
                self._insert(seen_papers)
                .values(rows)
                .on_conflict_do_nothing()
                .returning(seen_papers.c.paper_id)
            ).all()
        return len(added)

    def seen_ids(self, user_id: int, *, via: str | None = None) -> set[str]:
        """Papers already shown to the reader (anywhere, or first ``via`` one channel): the
        digest and the recommender leave them out so no paper is recommended twice."""
        query = sa.select(seen_papers.c.paper_id).where(seen_papers.c.user_id == user_id)
        if via is not None:
            query = query.where(seen_papers.c.via == via)
        with self.store.reading() as conn:
            return set(conn.execute(query).scalars())

    def seen_times(self, user_id: int) -> dict[str, tuple[datetime, str]]:
        """{paper: (when it was first shown to the reader, where: web or digest)}."""
        query = sa.select(
            seen_papers.c.paper_id, seen_papers.c.first_seen_at, seen_papers.c.via
        ).where(seen_papers.c.user_id == user_id)
        with self.store.reading() as conn:
            return {pid: (at, via) for pid, at, via in conn.execute(query)}

    def liked_by(self, user_ids: Sequence[int]) -> dict[int, set[str]]:
        """For each of ``user_ids``: the papers they saved or upvoted, what recommendations
        start from (one query)."""
        return self._papers_of(user_ids, saved_papers, upvotes)

    def dismissed_by(self, user_ids: Sequence[int]) -> dict[int, set[str]]:
        """For each of ``user_ids``: the papers they are not interested in (one query)."""
        return self._papers_of(user_ids, paper_feedback)

    def shown_or_dismissed(self, user_ids: Sequence[int]) -> dict[int, set[str]]:
        """For each of ``user_ids``: the papers already shown to them (web or digest) or
        marked not interested, which a recommendation leaves out (one query)."""
        return self._papers_of(user_ids, seen_papers, paper_feedback)

    def _papers_of(self, user_ids: Sequence[int], *tables: sa.Table) -> dict[int, set[str]]:
        """For each of ``user_ids``, the papers it has a row for in any of ``tables``
        (each with ``user_id`` and ``paper_id``; feedback rows count when "not
        interested")."""
        found: dict[int, set[str]] = {uid: set() for uid in user_ids}
        if not user_ids:
            return found
        selects = []
        for table in tables:
            query = sa.select(table.c.user_id, table.c.paper_id).where(
                table.c.user_id.in_(list(found))
            )
            if table is paper_feedback:
                query = query.where(table.c.kind == NOT_INTERESTED)
            selects.append(query)
        with self.store.reading() as conn:
            for user_id, paper_id in conn.execute(sa.union(*selects)):
                found[user_id].add(paper_id)
        return found

    # -- keyword rules --------------------------------------------------------------------

    def add_rule(self, user_id: int, kind: str, text: str, key: str, *, now: datetime) -> bool:
        """A keyword rule; False if the same one (kind and key) exists."""
        with self.store.writing() as conn:
            added = conn.execute(
                self._insert(keyword_rules)
                .values(user_id=user_id, kind=kind, text=text, key=key, created_at=now)
                .on_conflict_do_nothing()
                .returning(keyword_rules.c.id)
            ).all()
        return bool(added)

    def remove_rule(self, user_id: int, rule_id: int) -> bool:
        """Delete one of the reader's rules (someone else's rule id does nothing)."""
        with self.store.writing() as conn:
            removed = conn.execute(
                keyword_rules.delete().where(
                    keyword_rules.c.user_id == user_id, keyword_rules.c.id == rule_id
                )
            ).rowcount
        return bool(removed)

    def rules(self, user_id: int) -> list[KeywordRule]:
        query = (
            sa.select(keyword_rules)
            .where(keyword_rules.c.user_id == user_id)
            .order_by(keyword_rules.c.kind.desc(), keyword_rules.c.key)
        )
        with self.store.reading() as conn:
            return [KeywordRule(r.id, r.kind, r.text, r.key) for r in conn.execute(query)]

    # -- private feed tokens --------------------------------------------------------------

    def create_feed_token(
        self, user_id: int, name: str, token_hash: str, prefix: str, *, now: datetime
    ) -> int:
        with self.store.writing() as conn:
            token_id: int = conn.execute(
                feed_tokens.insert()
                .values(
                    user_id=user_id,
                    name=name,
                    token_hash=token_hash,
                    prefix=prefix,
                    created_at=now,
                )
                .returning(feed_tokens.c.id)
            ).scalar_one()
        return token_id

    def feed_token_user(self, token_hash: str, *, now: datetime) -> int | None:
        """The user id of a live token whose owner is not banned; notes its use at most
        once an hour (feed readers poll often; the hour is enough to tell a dead token)."""
        query = (
            sa.select(feed_tokens.c.id, feed_tokens.c.user_id, feed_tokens.c.last_used_at)
            .join(users, users.c.id == feed_tokens.c.user_id)
            .where(
                feed_tokens.c.token_hash == token_hash,
                feed_tokens.c.revoked_at.is_(None),
                users.c.banned_at.is_(None),
            )
        )
        with self.store.reading() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        if row.last_used_at is None or now - row.last_used_at > timedelta(hours=1):
            with self.store.writing() as conn:
                conn.execute(
                    feed_tokens.update().where(feed_tokens.c.id == row.id).values(last_used_at=now)
                )
        user_id: int = row.user_id
        return user_id

    def feed_tokens(self, user_id: int) -> list[FeedToken]:
        """The reader's live tokens, oldest first."""
        query = (
            sa.select(feed_tokens)
            .where(feed_tokens.c.user_id == user_id, feed_tokens.c.revoked_at.is_(None))
            .order_by(feed_tokens.c.id)
        )
        with self.store.reading() as conn:
            return [
                FeedToken(r.id, r.name, r.prefix, r.created_at, r.last_used_at, r.revoked_at)
                for r in conn.execute(query)
            ]

    def revoke_feed_token(self, user_id: int, token_id: int, *, now: datetime) -> bool:
        """Revoke one of the reader's tokens; False if there was no such live token."""
        with self.store.writing() as conn:
            changed = conn.execute(
                feed_tokens.update()
                .where(
                    feed_tokens.c.id == token_id,
                    feed_tokens.c.user_id == user_id,
                    feed_tokens.c.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            ).rowcount
        return bool(changed)
