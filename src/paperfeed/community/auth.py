"""Accounts: sign-up rules, argon2id passwords, sessions, API tokens, signed links, CSRF.

Secrets never reach the database in the clear: a session cookie and an API token are random
(256 bits) and stored as their SHA-256; passwords as argon2id hashes (``argon2-cffi``'s
defaults, RFC 9106's second recommended profile: 3 passes over 64 MiB). Password-reset links
are signed (HMAC-SHA256 with the site key) over the user, an expiry and the time the
password last changed, so a link dies when it is used, when it expires, or when the password
changes by any other way. CSRF tokens are the HMAC of a random per-browser cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.errors import HeaderParseError
from email.headerregistry import Address
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from paperfeed.models import ROLES, User
from paperfeed.settings import Settings
from paperfeed.store import Store
from paperfeed.store.community import AccountConflict

USERNAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,30}[A-Za-z0-9])?$")
RESERVED_NAMES = frozenset(
    [
        "admin",
        "administrator",
        "root",
        "moderator",
        "mod",
        "api",
        "static",
        "settings",
        "login",
        "logout",
        "signup",
        "submit",
        "search",
        "papers",
        "users",
        "user",
        "me",
        "system",
        "paperfeed",
        "support",
        "help",
    ]
)
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 takes any length; this bounds the work one request can ask for
RESET_LIFETIME = timedelta(hours=2)
TOKEN_PREFIX = "pf_"

hasher = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4


class AccountError(ValueError):
    """Input a person must correct: ``field`` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def check_username(name: str) -> str:
    name = name.strip()
    if not USERNAME_RE.match(name):
        raise AccountError(
            "username",
            "A username has 1 to 32 letters, digits, '.', '_' or '-', "
            "and starts and ends with a letter or digit.",
        )
    if name.lower() in RESERVED_NAMES:
        raise AccountError("username", f"The username {name!r} is reserved; choose another.")
    return name


def check_email(text: str) -> str:
    text = text.strip()
    try:
        if len(text) > 254 or any(c.isspace() for c in text):
            raise ValueError
        address = Address(addr_spec=text)
        if not address.username or "." not in address.domain or address.domain.endswith("."):
            raise ValueError
    except (ValueError, IndexError, TypeError, HeaderParseError):  # the parser's own error: a@b@c
        raise AccountError(
            "email", "That is not an e-mail address (like ada@example.org)."
        ) from None
    try:  # a unicode domain goes on the wire as IDNA (xn--…)
        domain = address.domain.lower().encode("idna").decode("ascii")
    except UnicodeError:
        raise AccountError("email", "That e-mail address has an invalid domain.") from None
    return f"{address.username}@{domain}"


def check_password(password: str, *, username: str = "", email: str = "") -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError("password", f"A password has at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise AccountError("password", f"A password has at most {MAX_PASSWORD} characters.")
    lowered = password.lower()
    if (username and lowered == username.lower()) or (email and lowered == email.lower()):
        raise AccountError("password", "A password cannot be your username or e-mail address.")
    return password


def hash_password(password: str) -> str:
    return hasher.hash(password)


def _epoch(naive_utc: datetime) -> int:
    return int(naive_utc.replace(tzinfo=UTC).timestamp())


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class Signer:
    """HMAC-SHA256 signatures bound to a purpose, with the site key."""

    def __init__(self, key: str) -> None:
        self._key = key.encode()

    def sign(self, purpose: str, *parts: str) -> str:
        message = "\x1f".join((purpose, *parts)).encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def verify(self, signature: str, purpose: str, *parts: str) -> bool:
        return hmac.compare_digest(signature.encode(), self.sign(purpose, *parts).encode())


class LoginFailed(Exception):
    """Wrong name or password (one message for both: no account enumeration)."""


class Banned(Exception):
    """The account is banned."""


@dataclass(frozen=True)
class ResetMail:
    user: User
    link: str


class Accounts:
    """Every account operation the web site and the CLI perform."""

    def __init__(self, store: Store, settings: Settings, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.db = store.community
        self.settings = settings
        self.clock = clock  # naive UTC "now"

    @cached_property
    def signer(self) -> Signer:
        key = self.settings.secret_key or self.db.site_key(
            "secret_key", new_secret, now=self.clock()
        )
        return Signer(key)

    @cached_property
    def _dummy_hash(self) -> str:
        return hasher.hash(new_secret())

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(days=self.settings.session_days)

    # -- accounts -------------------------------------------------------------------------

    def create(
        self, username: str, email: str | None, password: str | None, role: str = "user"
    ) -> User:
        """A new account after checking every rule; :class:`AccountError` says what is
        wrong. A taken name or address raises :class:`AccountConflict`."""
        username = check_username(username)
        email = check_email(email) if email else None
        if role not in ROLES:
            raise AccountError("role", f"role must be one of {', '.join(ROLES)}")
        hashed = None
        if password is not None:
            hashed = hash_password(check_password(password, username=username, email=email or ""))
        return self.db.create_user(
            username, email=email, password_hash=hashed, role=role, now=self.clock()
        )

    def authenticate(self, name: str, password: str) -> User:
        """The account for a login, or :class:`LoginFailed` / :class:`Banned`.

        An unknown name costs one argon2 verification too, so timing does not tell which
        names exist.
        """
        found = self.db.login_candidate(name) if len(password) <= MAX_PASSWORD else None
        stored = found[1] if found else None
        try:
            hasher.verify(stored or self._dummy_hash, password[:MAX_PASSWORD])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            raise LoginFailed from None
        if found is None or stored is None:
            raise LoginFailed
        user = found[0]
        if user.is_banned:
            raise Banned
        if hasher.check_needs_rehash(stored):
            self.db.rehash_password(user.id, hash_password(password))
        return user

    def change_password(
        self, user: User, current: str, new: str, *, keep_session: str | None = None
    ) -> None:
        try:
            self.authenticate(user.username, current)
        except LoginFailed:
            raise AccountError("current", "The current password is not right.") from None
        check_password(new, username=user.username, email=user.email or "")
        self.db.set_password(
            user.id,
            hash_password(new),
            now=self.clock(),
            keep_session=sha256(keep_session) if keep_session else None,
        )

    # -- sessions -------------------------------------------------------------------------

    def start_session(
        self, user: User, *, ip: str | None, user_agent: str | None, replaces: str | None
    ) -> str:
        """A fresh session token (the cookie value); the browser's old session ends."""
        token = new_secret()
        self.db.create_session(
            sha256(token),
            user.id,
            now=self.clock(),
            lifetime=self.session_lifetime,
            ip=ip,
            user_agent=user_agent,
            replaces=sha256(replaces) if replaces else None,
        )
        return token

    def session_user(self, token: str | None) -> User | None:
        if not token or len(token) > 128:
            return None
        return self.db.session_user(sha256(token), now=self.clock(), lifetime=self.session_lifetime)

    def end_session(self, token: str | None) -> None:
        if token and len(token) <= 128:
            self.db.end_session(sha256(token))

    # -- API tokens -----------------------------------------------------------------------

    def create_token(self, user: User, name: str) -> tuple[int, str]:
        """A new API token for ``user``: (its id, the token, shown only now)."""
        name = name.strip()[:128] or "token"
        token = TOKEN_PREFIX + new_secret()
        token_id = self.db.create_token(
            user.id, name, sha256(token), token[: len(TOKEN_PREFIX) + 6], now=self.clock()
        )
        return token_id, token

    def token_user(self, token: str) -> User | None:
        """The live, unbanned user of an API token, else None."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
            return None
        user = self.db.token_user(sha256(token), now=self.clock())
        return None if user is None or user.is_banned else user

    # -- CSRF -----------------------------------------------------------------------------

    def csrf_token(self, browser_id: str) -> str:
        return self.signer.sign("csrf", browser_id)

    def csrf_ok(self, browser_id: str | None, token: str | None) -> bool:
        if not browser_id or not token:
            return False
        return self.signer.verify(token, "csrf", browser_id)

    # -- password reset -------------------------------------------------------------------

    def reset_link(self, email: str) -> ResetMail | None:
        """A reset link for the account with ``email``; None when there is none (the
        caller says the same thing either way)."""
        try:
            address = check_email(email)
        except AccountError:
            return None
        user = self.db.user_by_name(address)
        if user is None or user.is_banned:
            return None
        expires = _epoch(self.clock() + RESET_LIFETIME)
        token = f"{user.id}.{expires}.{self._reset_signature(user.id, expires)}"
        return ResetMail(user, f"{self.settings.public_url}/reset/{token}")

    def _reset_signature(self, user_id: int, expires: int) -> str:
        password_hash, changed = self.db.password_state(user_id)
        state = f"{password_hash or ''}|{changed.isoformat() if changed else ''}"
        return self.signer.sign("reset", str(user_id), str(expires), sha256(state))

    def reset_user(self, token: str) -> User | None:
        """The user a reset link is valid for, or None (bad, used or expired)."""
        parts = token.split(".")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            return None
        user_id, expires = int(parts[0]), int(parts[1])
        if expires < _epoch(self.clock()):
            return None
        expected = self._reset_signature(user_id, expires)
        if not hmac.compare_digest(parts[2].encode(), expected.encode()):
            return None
        user = self.db.user(user_id)
        return None if user is None or user.is_banned else user

    def reset_password(self, token: str, new: str) -> User:
        user = self.reset_user(token)
        if user is None:
            raise AccountError("token", "This link is not valid any more: ask for a new one.")
        check_password(new, username=user.username, email=user.email or "")
        self.db.set_password(user.id, hash_password(new), now=self.clock())
        return user


__all__ = [
    "AccountConflict",
    "AccountError",
    "Accounts",
    "Banned",
    "LoginFailed",
    "ResetMail",
    "Signer",
]
