"""Signed links in digest mails: confirm (expires), manage and unsubscribe (do not expire,
so an old mail's unsubscribe link still works). Signed with the site key and the
subscriber's own ``link_key``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from paperfeed.community.auth import Signer
from paperfeed.models import Subscriber

CONFIRM_LIFETIME = timedelta(days=3)


def _epoch(naive_utc: datetime) -> int:
    return int(naive_utc.replace(tzinfo=UTC).timestamp())


class DigestLinks:
    def __init__(self, signer: Signer, public_url: str) -> None:
        self.signer = signer
        self.public_url = public_url.rstrip("/")

    def confirm_token(self, sub: Subscriber, now: datetime) -> str:
        expires = _epoch(now + CONFIRM_LIFETIME)
        signature = self.signer.sign(
            "confirm", str(sub.id), str(expires), sub.email.lower(), sub.link_key
        )
        return f"{sub.id}.{expires}.{signature}"

    def manage_token(self, sub: Subscriber) -> str:
        return f"{sub.id}.{self.signer.sign('manage', str(sub.id), sub.link_key)}"

    def confirm_url(self, sub: Subscriber, now: datetime) -> str:
        return f"{self.public_url}/subscribe/confirm/{self.confirm_token(sub, now)}"

    def preferences_url(self, sub: Subscriber) -> str:
        return f"{self.public_url}/digest/preferences/{self.manage_token(sub)}"

    def unsubscribe_url(self, sub: Subscriber) -> str:
        return f"{self.public_url}/unsubscribe/{self.manage_token(sub)}"

    @staticmethod
    def subscriber_id(token: str) -> int | None:
        head = token.split(".", 1)[0]
        return int(head) if head.isdigit() and len(head) < 12 else None

    def check_confirm(self, token: str, sub: Subscriber, now: datetime) -> str | None:
        """None if the confirm token is good, else why not (for the page)."""
        parts = token.split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            return "This link is damaged: copy the whole link from the mail."
        email = sub.email.lower()
        if not self.signer.verify(parts[2], "confirm", str(sub.id), parts[1], email, sub.link_key):
            return "This link is not valid: copy the whole link from the mail."
        if int(parts[1]) < _epoch(now):
            return "This link has expired: subscribe again to get a new one."
        return None

    def check_manage(self, token: str, sub: Subscriber) -> bool:
        parts = token.split(".")
        return len(parts) == 2 and self.signer.verify(parts[1], "manage", str(sub.id), sub.link_key)
