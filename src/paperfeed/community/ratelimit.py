"""Rate limits per user and per client address, counted in the database.

Fixed windows: ``vote=600/1h`` allows 600 votes per user, and 600 per address, in each clock
hour. The counters live in the database (one upsert per check), so every app server in front
of one PostgreSQL shares them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from paperfeed.store import Store

_SCOPES = {
    "user": "from this account",
    "address": "from this address",
    "account": "for this account or address",
}


class RateLimited(Exception):
    """Too many ``action``s: try again in ``retry_after`` seconds."""

    def __init__(self, action: str, retry_after: int, scope: str) -> None:
        self.action = action
        self.retry_after = retry_after
        self.scope = scope  # "user" or "address"
        super().__init__(
            f"Too many {action} requests {_SCOPES.get(scope, 'here')}: "
            f"try again in {retry_after} s."
        )


class RateLimiter:
    def __init__(
        self,
        store: Store,
        rules: dict[str, tuple[int, int]],
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.rules = rules
        self.clock = clock  # naive UTC

    def hit(
        self,
        action: str,
        *,
        user_id: int | None = None,
        address: str | None = None,
        subject: str | None = None,
    ) -> None:
        """Count one ``action`` for the acting user, the client address and, for a login,
        the account tried (``subject``); raise :class:`RateLimited` past a limit."""
        rule = self.rules.get(action)
        if rule is None:
            return
        allowed, window = rule
        now = self.clock()
        epoch = int(now.replace(tzinfo=UTC).timestamp())
        index, elapsed = divmod(epoch, window)
        expires = now + timedelta(seconds=window - elapsed)
        for scope, who in (("user", user_id), ("address", address), ("account", subject)):
            if who is None:
                continue
            key = f"{action}:{scope}:{who}:{index}"
            if self.store.community.count_hit(key, expires, now=now) > allowed:
                raise RateLimited(action, window - elapsed, scope)
