"""Community reads and writes: accounts, sessions, API tokens, submissions, comments,
moderation and rate-limit counters (``store.community``).

Everything that must hold under concurrency is one statement or one transaction: a unique
index decides a username race, a rate counter is an ``INSERT … ON CONFLICT DO UPDATE …
RETURNING``, a ban and the deletion of the user's sessions commit together.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from paperfeed.models import ApiToken, Comment, ModerationEntry, User

from .schema import (
    api_tokens,
    comments,
    feed_entries,
    moderation_log,
    papers,
    rate_counters,
    sessions,
    site_keys,
    upvotes,
    users,
)

if TYPE_CHECKING:
    from .store import Store

SESSION_TOUCH = timedelta(minutes=10)  # how stale last_seen_at may get before a write


class AccountConflict(ValueError):
    """The username or e-mail address is taken (``field`` says which)."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} taken")
        self.field = field


@dataclass(frozen=True)
class Submission:
    """What submitting a paper did: placed on ``day``, or already there since ``day``."""

    paper_id: str
    day: date
    added: bool


def _user(row: Any) -> User:
    return User(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        email=row.email,
        role=row.role,
        banned_at=row.banned_at,
    )


_USER_COLUMNS = (
    users.c.id,
    users.c.username,
    users.c.display_name,
    users.c.email,
    users.c.role,
    users.c.banned_at,
)


class CommunityStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- accounts -------------------------------------------------------------------------

    def create_user(
        self,
        username: str,
        *,
        email: str | None,
        password_hash: str | None,
        role: str = "user",
        now: datetime,
    ) -> User:
        """A new account; :class:`AccountConflict` if the name or address is taken."""
        values = {
            "username": username,
            "username_key": username.lower(),
            "email": email,
            "email_key": email.lower() if email else None,
            "password_hash": password_hash,
            "role": role,
            "created_at": now,
            "password_changed_at": now if password_hash else None,
        }
        try:
            with self.store.writing() as conn:
                self._check_free(conn, username, email)
                user_id = conn.execute(
                    users.insert().values(**values).returning(users.c.id)
                ).scalar_one()
        except sa.exc.IntegrityError as exc:  # a race lost to a concurrent sign-up
            text = str(exc.orig).lower()
            raise AccountConflict("email" if "email" in text else "username") from None
        return User(id=user_id, username=username, email=email, role=role)

    @staticmethod
    def _check_free(conn: sa.Connection, username: str, email: str | None) -> None:
        same = [users.c.username_key == username.lower()]
        if email:  # (`== None` would be IS NULL: every account without an address)
            same.append(users.c.email_key == email.lower())
        taken = conn.execute(
            sa.select(users.c.username_key, users.c.email_key).where(sa.or_(*same))
        ).first()
        if taken is not None:
            raise AccountConflict("username" if taken.username_key == username.lower() else "email")

    def user(self, user_id: int) -> User | None:
        with self.store.reading() as conn:
            row = conn.execute(sa.select(*_USER_COLUMNS).where(users.c.id == user_id)).first()
        return _user(row) if row else None

    def user_by_name(self, name: str) -> User | None:
        """By username or e-mail address, case-insensitively."""
        found = self.login_candidate(name)
        return found[0] if found else None

    def login_candidate(self, name: str) -> tuple[User, str | None] | None:
        """The account ``name`` (username or e-mail) names, with its password hash."""
        key = name.strip().lower()
        where = users.c.email_key == key if "@" in key else users.c.username_key == key
        with self.store.reading() as conn:
            row = conn.execute(
                sa.select(*_USER_COLUMNS, users.c.password_hash).where(where)
            ).first()
        return (_user(row), row.password_hash) if row else None

    def password_state(self, user_id: int) -> tuple[str | None, datetime | None]:
        """The password hash and when it last changed (reset links are bound to it)."""
        with self.store.reading() as conn:
            row = conn.execute(
                sa.select(users.c.password_hash, users.c.password_changed_at).where(
                    users.c.id == user_id
                )
            ).first()
        return (row.password_hash, row.password_changed_at) if row else (None, None)

    def set_password(
        self, user_id: int, password_hash: str, *, now: datetime, keep_session: str | None = None
    ) -> None:
        """Change the password and end every other session of the user."""
        with self.store.writing() as conn:
            conn.execute(
                users.update()
                .where(users.c.id == user_id)
                .values(password_hash=password_hash, password_changed_at=now)
            )
            ended = sessions.delete().where(sessions.c.user_id == user_id)
            if keep_session:
                ended = ended.where(sessions.c.id != keep_session)
            conn.execute(ended)

    def rehash_password(self, user_id: int, password_hash: str) -> None:
        """Store a hash with newer parameters for the same password."""
        with self.store.writing() as conn:
            conn.execute(
                users.update().where(users.c.id == user_id).values(password_hash=password_hash)
            )

    def set_role(self, user_id: int, role: str) -> None:
        with self.store.writing() as conn:
            conn.execute(users.update().where(users.c.id == user_id).values(role=role))

    def set_banned(self, user_id: int, banned: bool, *, now: datetime) -> None:
        """Ban (ending every session; tokens are refused while banned) or lift a ban."""
        with self.store.writing() as conn:
            conn.execute(
                users.update()
                .where(users.c.id == user_id)
                .values(banned_at=now if banned else None)
            )
            if banned:
                conn.execute(sessions.delete().where(sessions.c.user_id == user_id))

    def list_users(self) -> list[User]:
        with self.store.reading() as conn:
            rows = conn.execute(sa.select(*_USER_COLUMNS).order_by(users.c.id)).all()
        return [_user(r) for r in rows]

    # -- sessions -------------------------------------------------------------------------

    def create_session(
        self,
        session_id: str,
        user_id: int,
        *,
        now: datetime,
        lifetime: timedelta,
        ip: str | None,
        user_agent: str | None,
        replaces: str | None = None,
    ) -> None:
        """A new session (``replaces``, the one the browser had before, is ended)."""
        with self.store.writing() as conn:
            if replaces:
                conn.execute(sessions.delete().where(sessions.c.id == replaces))
            conn.execute(
                sessions.delete().where(sessions.c.user_id == user_id, sessions.c.expires_at < now)
            )
            conn.execute(
                sessions.insert().values(
                    id=session_id,
                    user_id=user_id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + lifetime,
                    ip=(ip or "")[:64] or None,
                    user_agent=(user_agent or "")[:256] or None,
                )
            )

    def session_user(self, session_id: str, *, now: datetime, lifetime: timedelta) -> User | None:
        """The user of a live session, sliding its expiry (a write at most every 10 min)."""
        query = (
            sa.select(*_USER_COLUMNS, sessions.c.last_seen_at, sessions.c.expires_at)
            .join(sessions, sessions.c.user_id == users.c.id)
            .where(sessions.c.id == session_id)
        )
        with self.store.reading() as conn:
            row = conn.execute(query).first()
        if row is None or row.expires_at <= now or row.banned_at is not None:
            return None
        if now - row.last_seen_at > SESSION_TOUCH:
            with self.store.writing() as conn:
                conn.execute(
                    sessions.update()
                    .where(sessions.c.id == session_id)
                    .values(last_seen_at=now, expires_at=now + lifetime)
                )
        return _user(row)

    def end_session(self, session_id: str) -> None:
        with self.store.writing() as conn:
            conn.execute(sessions.delete().where(sessions.c.id == session_id))

    # -- API tokens -----------------------------------------------------------------------

    def create_token(
        self, user_id: int, name: str, token_hash: str, prefix: str, *, now: datetime
    ) -> int:
        return self._insert_id(
            api_tokens,
            user_id=user_id,
            name=name,
            token_hash=token_hash,
            prefix=prefix,
            created_at=now,
        )

    def _insert_id(self, table: sa.Table, **values: Any) -> int:
        """Insert one row in its own transaction; its new integer id."""
        with self.store.writing() as conn:
            row_id: int = conn.execute(
                table.insert().values(**values).returning(table.c.id)
            ).scalar_one()
        return row_id

    def token_user(self, token_hash: str, *, now: datetime) -> User | None:
        """The user of a live (not revoked) token; notes its use at most once a minute."""
        query = (
            sa.select(*_USER_COLUMNS, api_tokens.c.id.label("token_id"), api_tokens.c.last_used_at)
            .join(api_tokens, api_tokens.c.user_id == users.c.id)
            .where(api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None))
        )
        with self.store.reading() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
            with self.store.writing() as conn:
                conn.execute(
                    api_tokens.update()
                    .where(api_tokens.c.id == row.token_id)
                    .values(last_used_at=now)
                )
        return _user(row)

    def tokens(self, user_id: int | None = None) -> list[ApiToken]:
        query = (
            sa.select(api_tokens, users.c.username)
            .join(users, users.c.id == api_tokens.c.user_id)
            .order_by(api_tokens.c.id)
        )
        if user_id is not None:
            query = query.where(api_tokens.c.user_id == user_id)
        with self.store.reading() as conn:
            rows = conn.execute(query).all()
        return [
            ApiToken(
                id=r.id,
                user_id=r.user_id,
                username=r.username,
                name=r.name,
                prefix=r.prefix,
                created_at=r.created_at,
                last_used_at=r.last_used_at,
                revoked_at=r.revoked_at,
            )
            for r in rows
        ]

    def revoke_token(self, token_id: int, *, now: datetime, user_id: int | None = None) -> bool:
        """Revoke a token (only ``user_id``'s, when given); False if there was none live."""
        query = api_tokens.update().where(
            api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None)
        )
        if user_id is not None:
            query = query.where(api_tokens.c.user_id == user_id)
        with self.store.writing() as conn:
            return bool(conn.execute(query.values(revoked_at=now)).rowcount)

    # -- votes ----------------------------------------------------------------------------

    def voted(self, user_id: int, paper_ids: list[str]) -> set[str]:
        """Which of ``paper_ids`` the user has upvoted (one query)."""
        if not paper_ids:
            return set()
        with self.store.reading() as conn:
            rows = conn.execute(
                sa.select(upvotes.c.paper_id).where(
                    upvotes.c.user_id == user_id, upvotes.c.paper_id.in_(paper_ids)
                )
            )
            return set(rows.scalars())

    def upvote_count(self, paper_id: str) -> int | None:
        with self.store.reading() as conn:
            count: int | None = conn.execute(
                sa.select(papers.c.upvotes).where(papers.c.arxiv_id == paper_id)
            ).scalar()
        return count

    # -- submissions ----------------------------------------------------------------------

    def submit(self, paper_id: str, day: date, user: User, *, now: datetime) -> Submission:
        """Put a stored paper on ``day``'s feed for ``user``, unless it is on a feed already."""
        with self.store.writing() as conn:
            first = conn.execute(
                sa.select(sa.func.min(feed_entries.c.day)).where(
                    feed_entries.c.paper_id == paper_id
                )
            ).scalar()
            if first is not None:
                return Submission(paper_id, first, added=False)
            conn.execute(
                feed_entries.insert().values(
                    day=day,
                    paper_id=paper_id,
                    submitted_by_user_id=user.id,
                    submitted_by_name=user.username,
                    source="submission",
                    added_at=now,
                )
            )
        return Submission(paper_id, day, added=True)

    def set_paper_hidden(self, paper_id: str, hidden: bool, *, now: datetime) -> bool:
        with self.store.writing() as conn:
            changed = conn.execute(
                papers.update()
                .where(papers.c.arxiv_id == paper_id)
                .values(hidden_at=now if hidden else None)
            ).rowcount
        return bool(changed)

    def paper_hidden(self, paper_id: str) -> bool:
        with self.store.reading() as conn:
            hidden = conn.execute(
                sa.select(papers.c.hidden_at).where(papers.c.arxiv_id == paper_id)
            ).scalar()
        return hidden is not None

    # -- comments -------------------------------------------------------------------------

    def add_comment(
        self, paper_id: str, user_id: int, body: str, body_html: str, *, now: datetime
    ) -> int:
        return self._insert_id(
            comments,
            paper_id=paper_id,
            user_id=user_id,
            body=body,
            body_html=body_html,
            created_at=now,
        )

    def comment(self, comment_id: int) -> Comment | None:
        found = self._comments(comments.c.id == comment_id)
        return found[0] if found else None

    def comments_for(self, paper_id: str) -> list[Comment]:
        """A paper's comments, oldest first, deleted and hidden ones included (flagged)."""
        return self._comments(comments.c.paper_id == paper_id)

    def _comments(self, where: Any) -> list[Comment]:
        query = (
            sa.select(comments, users.c.username)
            .join(users, users.c.id == comments.c.user_id)
            .where(where)
            .order_by(comments.c.created_at, comments.c.id)
        )
        with self.store.reading() as conn:
            rows = conn.execute(query).all()
        return [
            Comment(
                id=r.id,
                paper_id=r.paper_id,
                user_id=r.user_id,
                username=r.username,
                body=r.body,
                body_html=r.body_html,
                created_at=r.created_at,
                edited_at=r.edited_at,
                deleted=r.deleted_at is not None,
                hidden=r.hidden_at is not None,
            )
            for r in rows
        ]

    def edit_comment(
        self, comment_id: int, user_id: int, body: str, body_html: str, *, now: datetime
    ) -> bool:
        """Change the author's own live comment; False when it is not theirs or not live."""
        with self.store.writing() as conn:
            return bool(
                conn.execute(
                    comments.update()
                    .where(
                        comments.c.id == comment_id,
                        comments.c.user_id == user_id,
                        comments.c.deleted_at.is_(None),
                        comments.c.hidden_at.is_(None),
                    )
                    .values(body=body, body_html=body_html, edited_at=now)
                ).rowcount
            )

    def delete_comment(self, comment_id: int, user_id: int, *, now: datetime) -> bool:
        """The author withdraws a comment (kept as "deleted" so a thread stays readable)."""
        with self.store.writing() as conn:
            return bool(
                conn.execute(
                    comments.update()
                    .where(
                        comments.c.id == comment_id,
                        comments.c.user_id == user_id,
                        comments.c.deleted_at.is_(None),
                    )
                    .values(deleted_at=now)
                ).rowcount
            )

    def set_comment_hidden(self, comment_id: int, hidden: bool, *, now: datetime) -> bool:
        with self.store.writing() as conn:
            return bool(
                conn.execute(
                    comments.update()
                    .where(comments.c.id == comment_id)
                    .values(hidden_at=now if hidden else None)
                ).rowcount
            )

    # -- moderation log -------------------------------------------------------------------

    def log_action(
        self,
        actor: User,
        action: str,
        target_type: str,
        target_id: str,
        reason: str | None,
        *,
        now: datetime,
    ) -> None:
        with self.store.writing() as conn:
            conn.execute(
                moderation_log.insert().values(
                    actor_id=actor.id if actor.id > 0 else None,  # 0: the command line
                    actor_name=actor.username,
                    action=action,
                    target_type=target_type,
                    target_id=target_id,
                    reason=(reason or "")[:2000] or None,
                    created_at=now,
                )
            )

    def moderation_log(self, limit: int = 200) -> list[ModerationEntry]:
        query = sa.select(moderation_log).order_by(moderation_log.c.id.desc()).limit(limit)
        with self.store.reading() as conn:
            rows = conn.execute(query).all()
        return [
            ModerationEntry(
                id=r.id,
                actor_name=r.actor_name,
                action=r.action,
                target_type=r.target_type,
                target_id=r.target_id,
                reason=r.reason,
                created_at=r.created_at,
            )
            for r in rows
        ]

    # -- rate limits ----------------------------------------------------------------------

    def count_hit(self, key: str, expires_at: datetime, *, now: datetime) -> int:
        """Count one more hit on ``key`` (a fixed window); returns the count so far."""
        insert = self.store._insert(rate_counters)
        statement = (
            insert.values(key=key, count=1, expires_at=expires_at)
            .on_conflict_do_update(
                index_elements=["key"], set_={"count": rate_counters.c.count + 1}
            )
            .returning(rate_counters.c.count)
        )
        with self.store.writing() as conn:
            count: int = conn.execute(statement).scalar_one()
            if count == 1 and secrets.randbelow(50) == 0:  # now and then, drop old windows
                conn.execute(rate_counters.delete().where(rate_counters.c.expires_at < now))
        return count

    # -- site keys ------------------------------------------------------------------------

    def site_key(self, name: str, generate: Any, *, now: datetime) -> str:
        """The stored key ``name``, created with ``generate()`` the first time (race-safe)."""
        with self.store.reading() as conn:
            value = conn.execute(
                sa.select(site_keys.c.value).where(site_keys.c.name == name)
            ).scalar()
        if value is not None:
            return str(value)
        with self.store.writing() as conn:
            conn.execute(
                self.store._insert(site_keys)
                .values(name=name, value=generate(), created_at=now)
                .on_conflict_do_nothing()
            )
            stored: str = conn.execute(
                sa.select(site_keys.c.value).where(site_keys.c.name == name)
            ).scalar_one()
        return stored
