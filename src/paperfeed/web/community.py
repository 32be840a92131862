"""Community routes: accounts, votes, submissions, comments, moderation, API tokens.

Forms post to the same paths they are shown at; every POST is CSRF-checked by
:func:`~paperfeed.web.auth.csrf_guard` (an app-wide dependency), every write is
rate-limited per user and per address. The JSON API under ``/api/v1`` takes an API token
(``Authorization: Bearer pf_…``) or a session cookie with the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from paperfeed.community.auth import AccountConflict, AccountError, Banned, LoginFailed
from paperfeed.community.markdown import CommentError, check_comment, render_comment
from paperfeed.community.submit import SubmitError, Submitter
from paperfeed.mail import Mailer, MailError, new_message
from paperfeed.models import InvalidArxivId, User, split_arxiv_id
from paperfeed.store import utcnow

from . import present
from .auth import (
    accounts,
    client_address,
    current_user,
    rate_limit,
    require_moderator,
    require_user,
    safe_next,
)
from .responses import HTML, PAGE, SEE_OTHER, PageError, form_again, render, wants_json
from .responses import app_store as _store

router = APIRouter()
log = logging.getLogger(__name__)
# Row ids are 32-bit on PostgreSQL (sa.Integer), 64-bit on SQLite: a larger one is no row, but
# the database would fail on it (a 500), so the route answers 400 before asking the store.
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _form_page(
    request: Request, template: str, data: dict[str, Any], status: int = 200
) -> Response:
    return render(request, template, data, status)


def _redirect(target: str) -> Response:
    return RedirectResponse(target, status_code=303)


def _bare_id(arxiv_id: str) -> str:
    try:
        return split_arxiv_id(arxiv_id)[0]
    except InvalidArxivId as exc:
        raise PageError(404, "bad_arxiv_id", str(exc)) from None


def _known_paper(request: Request, arxiv_id: str) -> str:
    bare = _bare_id(arxiv_id)
    paper = _store(request).get_paper(bare)
    if paper is None or _store(request).community.paper_hidden(bare):
        raise PageError(404, "unknown_paper", f"No paper {bare} here.")
    return bare


async def json_body(request: Request, field: str) -> str:
    """The string ``field`` of a JSON object body, or a 400 that shows the expected shape."""
    shape = f'The body must be JSON like {{"{field}": "…"}}.'
    try:
        body = await request.json()
    except ValueError:
        raise PageError(400, "bad_json", shape) from None
    if not isinstance(body, dict) or not isinstance(body.get(field), str):
        raise PageError(400, "bad_request", shape)
    value: str = body[field]
    return value


def json_request(field: str, example: str) -> dict[str, Any]:
    """The request body :func:`json_body` reads, for the route's ``openapi_extra``."""
    schema = {"type": "object", "properties": {field: {"type": "string"}}, "required": [field]}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema, "example": {field: example}}},
        }
    }


# -- sign-up, login, logout ---------------------------------------------------------------


@router.get("/signup", summary="Sign-up form", responses=PAGE)
def signup_form(request: Request, next: str | None = None) -> Response:
    _signups_open(request)
    return _form_page(request, "signup.html", {"form": {}, "errors": {}, "next": safe_next(next)})


def _signups_open(request: Request) -> None:
    if request.app.state.settings.signups != "open":
        raise PageError(403, "signups_closed", "This site does not take new sign-ups.")


@router.post("/signup", summary="Create an account", **SEE_OTHER, responses=form_again(400))
def signup(
    request: Request,
    username: str = Form(""),
    email: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
) -> Response:
    _signups_open(request)
    rate_limit(request, "signup")
    form = {"username": username, "email": email}
    try:
        user = accounts(request).create(username, email, password)
    except AccountError as exc:
        return _form_page(
            request,
            "signup.html",
            {"form": form, "errors": {exc.field: exc.message}, "next": safe_next(next)},
            400,
        )
    except AccountConflict as exc:
        # A taken e-mail address gets the same answer as a mistyped one would not: say only
        # that this combination cannot be used, never whether the address has an account.
        message = (
            "That username is taken; choose another."
            if exc.field == "username"
            else "This e-mail address cannot be used for a new account. If it is yours, "
            "log in or reset your password."
        )
        return _form_page(
            request,
            "signup.html",
            {"form": form, "errors": {exc.field: message}, "next": safe_next(next)},
            400,
        )
    _log_in(request, user)
    return _redirect(safe_next(next))


def _log_in(request: Request, user: User) -> None:
    old = request.cookies.get("pf_session")
    token = accounts(request).start_session(
        user,
        ip=client_address(request),
        user_agent=request.headers.get("user-agent"),
        replaces=old,
    )
    request.state.new_session = token
    request.state.user = user


@router.get("/login", summary="Login form", responses=PAGE)
def login_form(request: Request, next: str | None = None) -> Response:
    return _form_page(request, "login.html", {"form": {}, "error": None, "next": safe_next(next)})


@router.post("/login", summary="Log in", **SEE_OTHER, responses=form_again(401, 403))
def login(
    request: Request,
    name: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
) -> Response:
    # Counted per address and per account name: many addresses cannot brute-force one account.
    rate_limit(request, "login", subject=name.strip().lower()[:100] or None)
    try:
        user = accounts(request).authenticate(name, password)
    except (LoginFailed, Banned) as exc:
        message = (
            "This account is banned."
            if isinstance(exc, Banned)
            else "That username or e-mail and password do not match an account."
        )
        data = {"form": {"name": name}, "error": message, "next": safe_next(next)}
        return _form_page(request, "login.html", data, 401 if isinstance(exc, LoginFailed) else 403)
    _log_in(request, user)
    return _redirect(safe_next(next))


@router.post("/logout", summary="Log out", **SEE_OTHER)
def logout(request: Request) -> Response:
    accounts(request).end_session(request.cookies.get("pf_session"))
    request.state.new_session = ""
    return _redirect("/")


# -- password change and reset ------------------------------------------------------------


@router.get("/settings", summary="Your account: password and API tokens", responses=PAGE)
def settings_page(request: Request) -> Response:
    user = require_user(request)
    return render(request, "settings.html", _settings_data(request, user))


def _settings_data(request: Request, user: User, **extra: Any) -> dict[str, Any]:
    tokens = _store(request).community.tokens(user.id)
    return {
        "user": {"username": user.username, "email": user.email, "role": user.role},
        "tokens": [present.token_json(t) for t in tokens if t.revoked_at is None],
        "errors": {},
        "message": None,
        "new_token": None,
        **extra,
    }


@router.post("/settings/password", summary="Change your password", responses=PAGE | form_again(400))
def change_password(
    request: Request, current: str = Form(""), password: str = Form("")
) -> Response:
    user = require_user(request)
    rate_limit(request, "login", user)
    try:
        accounts(request).change_password(
            user, current, password, keep_session=request.cookies.get("pf_session")
        )
    except AccountError as exc:
        data = _settings_data(request, user, errors={exc.field: exc.message})
        return render(request, "settings.html", data, 400)
    data = _settings_data(request, user, message="Your password is changed.")
    return render(request, "settings.html", data)


@router.post("/settings/tokens", summary="Create an API token", responses=PAGE)
def create_token_form(request: Request, name: str = Form("")) -> Response:
    user = require_user(request)
    _, token = accounts(request).create_token(user, name or "script")
    data = _settings_data(request, user, new_token=token)
    return render(request, "settings.html", data)


@router.post("/settings/tokens/{token_id}/revoke", summary="Revoke an API token", **SEE_OTHER)
def revoke_token_form(request: Request, token_id: RowId) -> Response:
    user = require_user(request)
    _store(request).community.revoke_token(token_id, now=utcnow(), user_id=user.id)
    return _redirect("/settings")


RESET_SENT = (
    "If an account has this address, a link to choose a new password is on its way. "
    "It works for 2 hours."
)


@router.get("/reset", summary="Ask for a password-reset link", responses=PAGE)
def reset_form(request: Request) -> Response:
    return render(request, "reset.html", {"message": None, "error": None})


@router.post("/reset", summary="Mail a password-reset link", responses=PAGE)
def reset_request(request: Request, email: str = Form("")) -> Response:
    rate_limit(request, "reset")
    found = accounts(request).reset_link(email)
    if found is not None and found.user.email:
        settings = request.app.state.settings
        mailer = Mailer.from_settings(settings)  # one per mail: a Mailer is not thread-safe
        message = new_message(
            sender=settings.mail_from,
            to=found.user.email,
            subject=f"Choose a new password for {settings.site_name}",
            text=(
                f"Hello {found.user.username},\n\nsomeone (we hope you) asked to reset the "
                f"password of your {settings.site_name} account. Choose a new one here:\n\n"
                f"{found.link}\n\nThe link works for 2 hours and only once. If you did not ask, "
                "ignore this mail: your password stays as it is.\n"
            ),
        )
        try:
            mailer.send(message)
        except MailError as exc:
            # The visitor sees the same answer (no enumeration); the operator sees why.
            log.error("password reset mail to user %s failed: %s", found.user.id, exc)
    return render(request, "reset.html", {"message": RESET_SENT, "error": None})


@router.get("/reset/{token}", summary="Choose a new password", responses=PAGE)
def reset_password_form(request: Request, token: str) -> Response:
    if accounts(request).reset_user(token) is None:
        raise PageError(
            400,
            "bad_reset_link",
            "This link is not valid any more (used, expired or changed): ask for a new one.",
            {"new link": "/reset"},
        )
    return render(request, "reset_password.html", {"token": token, "error": None})


@router.post(
    "/reset/{token}",
    summary="Set the new password",
    **SEE_OTHER,
    responses=form_again(400),
)
def reset_password(request: Request, token: str, password: str = Form("")) -> Response:
    rate_limit(request, "reset")
    try:
        user = accounts(request).reset_password(token, password)
    except AccountError as exc:
        if exc.field == "token":
            raise PageError(400, "bad_reset_link", exc.message, {"new link": "/reset"}) from None
        return render(request, "reset_password.html", {"token": token, "error": exc.message}, 400)
    _log_in(request, user)
    return _redirect("/")


# -- votes --------------------------------------------------------------------------------


def _vote(request: Request, arxiv_id: str, up: bool) -> dict[str, Any]:
    user = require_user(request)
    bare = _known_paper(request, arxiv_id)
    rate_limit(request, "vote", user)
    store = _store(request)
    changed = store.upvote(user.id, bare) if up else store.remove_upvote(user.id, bare)
    count = store.community.upvote_count(bare) or 0
    return {"id": bare, "upvotes": count, "voted": up, "changed": changed}


@router.post(
    "/papers/{arxiv_id:path}/vote",
    summary="Upvote (vote=1) or withdraw (vote=0)",
    **SEE_OTHER,
    responses={
        200: {
            "description": "With HX-Request: the vote button (HTML); with Accept: JSON, the vote",
            "content": {**HTML, "application/json": {"schema": {}}},
        },
        204: {"description": "With HX-Request, not logged in: HX-Redirect to the login"},
    },
)
def vote_form(
    request: Request, arxiv_id: str, vote: str = Form("1"), next: str = Form("")
) -> Response:
    htmx = request.headers.get("hx-request") == "true"
    if current_user(request) is None and not wants_json(request):
        target = "/login?next=" + quote(safe_next(next or f"/papers/{arxiv_id}"))
        if htmx:
            return Response(status_code=204, headers={"HX-Redirect": target})
        return _redirect(target)
    result = _vote(request, arxiv_id, vote != "0")
    if htmx:
        return render(request, "vote_fragment.html", {**result, "url": f"/papers/{result['id']}"})
    if wants_json(request):
        return JSONResponse(result)
    return _redirect(safe_next(next or f"/papers/{result['id']}"))


@router.post("/api/v1/papers/{arxiv_id:path}/upvote", summary="Upvote (idempotent)")
def api_upvote(request: Request, arxiv_id: str) -> Response:
    return JSONResponse(_vote(request, arxiv_id, True))


@router.delete("/api/v1/papers/{arxiv_id:path}/upvote", summary="Withdraw an upvote (idempotent)")
def api_unvote(request: Request, arxiv_id: str) -> Response:
    return JSONResponse(_vote(request, arxiv_id, False))


# -- submissions --------------------------------------------------------------------------


@router.get("/submit", summary="Submit a paper by arXiv id or URL", responses=PAGE)
def submit_form(request: Request) -> Response:
    require_user(request)
    return render(request, "submit.html", {"form": {}, "error": None})


def _submit(request: Request, text: str) -> dict[str, Any]:
    user = require_user(request)
    rate_limit(request, "submit", user)
    submitter: Submitter = request.app.state.submitter
    now = request.app.state.clock()
    try:
        done = submitter.submit(text, user, day=now.date(), now=utcnow())
    except SubmitError as exc:
        raise PageError(400, "bad_submission", str(exc)) from None
    day = done.day.isoformat()
    return {
        "id": done.paper_id,
        "added": done.added,
        "day": day,
        "url": f"/papers/{done.paper_id}",
        "feed_url": f"/?date={day}",
        "message": f"{done.paper_id} is on the feed of {day}."
        if done.added
        else f"{done.paper_id} is already on the feed, since {day}.",
    }


@router.post("/submit", summary="Submit a paper (form)", responses=PAGE | form_again(400))
def submit(request: Request, arxiv: str = Form("")) -> Response:
    try:
        result = _submit(request, arxiv)
    except PageError as exc:
        if exc.status != 400:
            raise
        return render(request, "submit.html", {"form": {"arxiv": arxiv}, "error": exc.message}, 400)
    return render(request, "submit.html", {"form": {}, "error": None, "result": result})


@router.post(
    "/api/v1/papers",
    summary='Submit a paper: {"arxiv_id": "2310.06110"}',
    status_code=201,
    responses={
        200: {
            "description": "Already on the feed",
            "content": {"application/json": {"schema": {}}},
        }
    },
    openapi_extra=json_request("arxiv_id", "2310.06110"),
)
async def api_submit(request: Request) -> Response:
    arxiv_id = await json_body(request, "arxiv_id")
    result = await run_in_threadpool(_submit, request, arxiv_id)
    return JSONResponse(result, status_code=201 if result["added"] else 200)


# -- comments -----------------------------------------------------------------------------


def _checked_comment(text: str) -> tuple[str, str]:
    try:
        body = check_comment(text)
    except CommentError as exc:
        raise PageError(400, "bad_comment", str(exc)) from None
    return body, render_comment(body)


@router.post(
    "/papers/{arxiv_id:path}/comments",
    summary="Comment on a paper",
    **SEE_OTHER,
    responses={
        201: {
            "description": "With Accept: application/json, the new comment's id",
            "content": {"application/json": {"schema": {}}},
        }
    },
)
def add_comment(request: Request, arxiv_id: str, body: str = Form("")) -> Response:
    user = require_user(request)
    bare = _known_paper(request, arxiv_id)
    rate_limit(request, "comment", user)
    text, html = _checked_comment(body)
    comment_id = _store(request).community.add_comment(bare, user.id, text, html, now=utcnow())
    if wants_json(request):
        return JSONResponse({"id": comment_id, "paper": bare}, status_code=201)
    return _redirect(f"/papers/{bare}#c{comment_id}")


@router.get("/api/v1/papers/{arxiv_id:path}/comments", summary="A paper's comments")
def api_comments(request: Request, arxiv_id: str) -> Response:
    bare = _known_paper(request, arxiv_id)
    viewer = current_user(request)
    shown = present.comments_json(
        _store(request).community.comments_for(bare),
        viewer.id if viewer else None,
        bool(viewer and viewer.is_moderator),
    )
    return JSONResponse({"id": bare, "comments": shown, "total": len(shown)})


@router.post(
    "/api/v1/papers/{arxiv_id:path}/comments",
    summary='Comment on a paper: {"body": "Markdown"}',
    status_code=201,
    openapi_extra=json_request("body", "Nice *results*; see $x^2$."),
)
async def api_add_comment(request: Request, arxiv_id: str) -> Response:
    body = await json_body(request, "body")
    return await run_in_threadpool(_add_comment_json, request, arxiv_id, body)


def _add_comment_json(request: Request, arxiv_id: str, body: str) -> Response:
    user = require_user(request)
    bare = _known_paper(request, arxiv_id)
    rate_limit(request, "comment", user)
    text, html = _checked_comment(body)
    comment_id = _store(request).community.add_comment(bare, user.id, text, html, now=utcnow())
    return JSONResponse(
        {"id": comment_id, "paper": bare, "html": html, "url": f"/papers/{bare}#c{comment_id}"},
        status_code=201,
    )


def _own_comment(request: Request, comment_id: int) -> tuple[User, str]:
    user = require_user(request)
    comment = _store(request).community.comment(comment_id)
    if comment is None or comment.deleted:
        raise PageError(404, "unknown_comment", "There is no such comment.")
    if comment.user_id != user.id:
        raise PageError(403, "not_yours", "You can only change your own comments.")
    return user, comment.paper_id


@router.post("/comments/{comment_id}/edit", summary="Edit your comment", **SEE_OTHER)
def edit_comment(request: Request, comment_id: RowId, body: str = Form("")) -> Response:
    user, paper_id = _own_comment(request, comment_id)
    rate_limit(request, "comment", user)
    text, html = _checked_comment(body)
    if not _store(request).community.edit_comment(comment_id, user.id, text, html, now=utcnow()):
        raise PageError(409, "comment_locked", "This comment was hidden by a moderator.")
    return _redirect(f"/papers/{paper_id}#c{comment_id}")


@router.post("/comments/{comment_id}/delete", summary="Delete your comment", **SEE_OTHER)
def delete_comment(request: Request, comment_id: RowId) -> Response:
    user, paper_id = _own_comment(request, comment_id)
    _store(request).community.delete_comment(comment_id, user.id, now=utcnow())
    return _redirect(f"/papers/{paper_id}#comments")


# -- moderation ---------------------------------------------------------------------------


@router.post(
    "/comments/{comment_id}/hide",
    summary="Moderators: hide (hide=1) or show a comment",
    **SEE_OTHER,
)
def hide_comment(
    request: Request, comment_id: RowId, hide: str = Form("1"), reason: str = Form("")
) -> Response:
    moderator = require_moderator(request)
    community = _store(request).community
    comment = community.comment(comment_id)
    if comment is None:
        raise PageError(404, "unknown_comment", "There is no such comment.")
    hidden = hide != "0"
    community.set_comment_hidden(comment_id, hidden, now=utcnow())
    community.log_action(
        moderator,
        "hide" if hidden else "unhide",
        "comment",
        str(comment_id),
        reason,
        now=utcnow(),
    )
    return _redirect(f"/papers/{comment.paper_id}#c{comment_id}")


@router.post(
    "/papers/{arxiv_id:path}/hide",
    summary="Moderators: hide (hide=1) or show a paper",
    **SEE_OTHER,
)
def hide_paper(
    request: Request, arxiv_id: str, hide: str = Form("1"), reason: str = Form("")
) -> Response:
    moderator = require_moderator(request)
    bare = _bare_id(arxiv_id)
    community = _store(request).community
    hidden = hide != "0"
    if not community.set_paper_hidden(bare, hidden, now=utcnow()):
        raise PageError(404, "unknown_paper", f"No paper {bare} here.")
    community.log_action(
        moderator, "hide" if hidden else "unhide", "paper", bare, reason, now=utcnow()
    )
    return _redirect(f"/papers/{bare}")


@router.post(
    "/users/{username}/ban",
    summary="Moderators: ban (ban=1) or unban a user",
    **SEE_OTHER,
)
def ban_user(
    request: Request, username: str, ban: str = Form("1"), reason: str = Form("")
) -> Response:
    moderator = require_moderator(request)
    community = _store(request).community
    target = community.user_by_name(username) if "@" not in username else None
    if target is None:
        raise PageError(404, "unknown_user", f"There is no user {username!r}.")
    if target.is_moderator and not moderator.is_admin:
        raise PageError(403, "forbidden", "Only an admin can ban a moderator.")
    if target.id == moderator.id:
        raise PageError(400, "self_ban", "You cannot ban yourself.")
    banned = ban != "0"
    community.set_banned(target.id, banned, now=utcnow())
    community.log_action(
        moderator, "ban" if banned else "unban", "user", target.username, reason, now=utcnow()
    )
    return _redirect("/mod/log")


@router.get("/mod/log", summary="Moderators: the audit log of moderator actions", responses=PAGE)
def moderation_log(request: Request) -> Response:
    require_moderator(request)
    entries = _store(request).community.moderation_log()
    data = {
        "entries": [
            {
                "id": e.id,
                "actor": e.actor_name,
                "action": e.action,
                "target_type": e.target_type,
                "target": e.target_id,
                "reason": e.reason,
                "at": e.created_at.isoformat(timespec="seconds") + "Z",
            }
            for e in entries
        ]
    }
    return render(request, "modlog.html", data)
