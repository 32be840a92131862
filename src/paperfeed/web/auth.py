"""Who is asking, and may they: cookies, the current user, CSRF, rate limits, security headers.

Two cookies, both ``HttpOnly`` and ``SameSite=Lax`` (and ``Secure`` over HTTPS, see
``PAPERFEED_SECURE_COOKIES``): ``pf_browser``, a random id every browser gets, whose HMAC is
the CSRF token of its forms; ``pf_session``, the login, replaced by a new one on every
login (no session fixation). A request with ``Authorization: Bearer`` is authenticated by
that API token alone and never by cookies, so it needs no CSRF token.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from paperfeed.community.auth import Accounts, new_secret
from paperfeed.community.ratelimit import RateLimited, RateLimiter
from paperfeed.models import User

from .responses import PageError

BROWSER_COOKIE = "pf_browser"
SESSION_COOKIE = "pf_session"
THEME_COOKIE = "pf_theme"  # "light" or "dark"; none: as the system says
THEMES = ("light", "dark", "system")
_COOKIE_VALUE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
}
# The API docs page loads Swagger UI from a CDN and runs an inline script.
_DOCS_PATHS = ("/api/docs",)


def accounts(request: Request) -> Accounts:
    found: Accounts = request.app.state.accounts
    return found


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _secure(request: Request) -> bool:
    policy = request.app.state.settings.secure_cookies
    return policy == "always" or (policy == "auto" and request.url.scheme == "https")


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def _cookie(request: Request, name: str) -> str | None:
    value = request.cookies.get(name)
    return value if value and _COOKIE_VALUE.match(value) else None


async def browser_middleware(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Give every browser its id cookie, apply session changes, add security headers."""
    sent = _cookie(request, BROWSER_COOKIE)
    request.state.browser_sent = sent
    request.state.browser_id = sent or new_secret()
    request.state.new_session = None  # (token or "" to log out) set by a login or logout
    response = await call_next(request)
    if sent is None and not request.url.path.startswith(("/api/", "/static/")):
        set_cookie(request, response, BROWSER_COOKIE, request.state.browser_id, 400 * 86400)
    if request.state.new_session is not None:
        if request.state.new_session:
            days = request.app.state.settings.session_days
            set_cookie(request, response, SESSION_COOKIE, request.state.new_session, days * 86400)
        else:
            response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    for header, value in SECURITY_HEADERS.items():
        if header == "Content-Security-Policy" and request.url.path.startswith(_DOCS_PATHS):
            continue
        response.headers.setdefault(header, value)
    return response


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def current_user(request: Request) -> User | None:
    """The user behind the request (API token, else session cookie), or None."""
    if hasattr(request.state, "user"):
        cached: User | None = request.state.user
        return cached
    token = bearer_token(request)
    user: User | None
    if token is not None:
        user = accounts(request).token_user(token)
        if user is None:
            raise PageError(401, "bad_token", "This API token is not valid (revoked or mistyped).")
    else:
        user = accounts(request).session_user(_cookie(request, SESSION_COOKIE))
    request.state.user = user
    return user


def require_user(request: Request) -> User:
    """The signed-in user; anonymous visitors get a 401 (JSON) or the login page."""
    user = current_user(request)
    if user is None:
        raise PageError(
            401,
            "login_required",
            "Log in first.",
            {"log in": "/login?next=" + _safe_next(request.url.path)},
        )
    if user.is_banned:
        raise PageError(403, "banned", "This account is banned.")
    return user


def require_moderator(request: Request) -> User:
    user = require_user(request)
    if not user.is_moderator:
        raise PageError(403, "forbidden", "Only moderators can do this.")
    return user


def _safe_next(target: str | None) -> str:
    """A local path to go back to: never another site (``//evil``, ``https:``)."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in target)
    ):
        return "/"  # browsers drop tabs and newlines: "/\t/evil" would become "//evil"
    return target


safe_next = _safe_next


async def csrf_guard(request: Request) -> None:
    """Every state-changing request carries the browser's CSRF token (form field
    ``csrf_token`` or header ``X-CSRF-Token``), unless it is authenticated by API token."""
    if request.method not in UNSAFE_METHODS or bearer_token(request) is not None:
        return
    if request.url.path.startswith("/api/") and _cookie(request, SESSION_COOKIE) is None:
        return  # no credentials a browser adds by itself: nothing to forge (the route says 401)
    if request.url.path.startswith("/unsubscribe/"):
        return  # RFC 8058: mail clients POST without cookies; the signed link authorises it
    token = request.headers.get("x-csrf-token")
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        _refuse_huge_uploads(request)
    if token is None and content_type.startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        token = value if isinstance(value, str) else None
    if not accounts(request).csrf_ok(request.state.browser_sent, token):
        raise PageError(
            403,
            "csrf",
            "This form has expired or did not come from this site: reload the page and try "
            "again (cookies must be on).",
        )


MAX_UPLOAD = 51 * 1024 * 1024  # a 50 MB file and its form around it


def _refuse_huge_uploads(request: Request) -> None:
    """Refuse an upload larger than MAX_UPLOAD before reading it: reading the form (for its
    CSRF token) would otherwise write the whole of it to a temporary file first."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_UPLOAD:
        raise PageError(
            413,
            "too_large",
            f"The upload is {int(length) / 1e6:.0f} MB; at most 50 MB is taken.",
        )


def csrf_token(request: Request) -> str:
    return accounts(request).csrf_token(request.state.browser_id)


def rate_limit(
    request: Request, action: str, user: User | None = None, subject: str | None = None
) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    try:
        limiter.hit(
            action,
            user_id=user.id if user else None,
            address=client_address(request),
            subject=subject,
        )
    except RateLimited as exc:
        raise PageError(
            429, "rate_limited", str(exc), headers={"Retry-After": str(exc.retry_after)}
        ) from None


def template_context(request: Request) -> dict[str, Any]:
    """What every page template sees besides its data: the viewer and the CSRF token."""
    try:
        user = current_user(request)
    except PageError:
        user = None
    query = request.url.query
    theme = request.cookies.get(THEME_COOKIE, "")
    return {
        "viewer": user,
        "theme": theme if theme in ("light", "dark") else "",
        "csrf_token": csrf_token(request),
        "request_path": request.url.path + (f"?{query}" if query else ""),
    }
