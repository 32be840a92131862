"""Digest subscriptions on the web: subscribe (double opt-in), confirm, preferences (with the
topics the digest follows), unsubscribe (one click, RFC 8058). Links carry signed tokens; a
bad or expired token gets a page that says so, never a 500."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from paperfeed.community.auth import AccountError, check_email
from paperfeed.digest.compose import digest_period
from paperfeed.digest.links import DigestLinks
from paperfeed.digest.topics import (
    TopicChoiceError,
    chosen_topic,
    follow_topic,
    parse_choice,
    parse_period_key,
    period_key,
    topic_period,
)
from paperfeed.mail import Mailer, MailError, new_message
from paperfeed.models import FREQUENCIES, Subscriber
from paperfeed.rank.feeds import Period
from paperfeed.store import utcnow
from paperfeed.store.digests import MAX_TOPICS

from .auth import accounts, current_user, rate_limit
from .community import json_body, json_request
from .responses import PAGE, PageError, form_again, render, wants_json, whole_number
from .responses import app_store as _store
from .topics import topic_index

router = APIRouter()
log = logging.getLogger(__name__)
MAX_TOP_N = 50

SUBSCRIBE_ANSWER = (
    "Thanks! Unless this address already gets the digest, a mail with a confirmation link is "
    "on its way; nothing is sent before you confirm."
)


def digest_links(request: Request) -> DigestLinks:
    settings = request.app.state.settings
    return DigestLinks(accounts(request).signer, settings.public_url)


def _subscriber(request: Request, token: str) -> Subscriber:
    sub_id = DigestLinks.subscriber_id(token)
    sub = _store(request).digests.subscriber(sub_id) if sub_id is not None else None
    if sub is None:
        raise PageError(
            404,
            "unknown_subscription",
            "This link does not match a subscription (it may have been removed).",
        )
    return sub


def _managed(request: Request, token: str) -> Subscriber:
    sub = _subscriber(request, token)
    if not digest_links(request).check_manage(token, sub):
        raise PageError(
            400, "bad_link", "This link is not valid: copy the whole link from the mail."
        )
    return sub


def send_confirmation(request: Request, sub: Subscriber) -> None:
    settings = request.app.state.settings
    link = digest_links(request).confirm_url(sub, utcnow())
    message = new_message(
        sender=settings.mail_from,
        to=sub.email,
        subject=f"Confirm your {settings.site_name} digest",
        text=(
            f"Someone (we hope you) asked to get the {settings.site_name} paper digest at this "
            f"address. To confirm, open:\n\n{link}\n\nThe link works for 3 days. If you did not "
            "ask, ignore this mail and you will hear nothing more from us.\n"
        ),
    )
    try:
        Mailer.from_settings(settings).send(message)
    except MailError as exc:
        log.error("confirmation mail to subscriber %s failed: %s", sub.id, exc)


@router.post(
    "/subscribe", summary="Subscribe an address to the digest (double opt-in)", responses=PAGE
)
def subscribe(request: Request, email: str = Form("")) -> Response:
    _subscribe(request, email)
    return render(request, "subscribe.html", {"message": SUBSCRIBE_ANSWER})


@router.post(
    "/api/v1/subscribe",
    summary='Subscribe to the digest: {"email": "…"} (double opt-in)',
    status_code=202,
    openapi_extra=json_request("email", "reader@example.org"),
)
async def api_subscribe(request: Request) -> Response:
    email = await json_body(request, "email")
    await run_in_threadpool(_subscribe, request, email)
    return JSONResponse({"message": SUBSCRIBE_ANSWER}, status_code=202)


def _subscribe(request: Request, email: str) -> None:
    try:
        address = check_email(email)
    except AccountError as exc:
        raise PageError(400, "bad_email", exc.message) from None
    # Per address too: nobody can flood one inbox with confirmation mails from many places.
    rate_limit(request, "subscribe", subject=address.lower())
    viewer = current_user(request)
    user_id = (
        viewer.id if viewer and viewer.email and viewer.email.lower() == address.lower() else None
    )
    sub, needs_confirming = _store(request).digests.subscribe(
        address, now=utcnow(), user_id=user_id
    )
    if needs_confirming:
        send_confirmation(request, sub)
    # The same answer whatever the state: nobody learns whether an address is subscribed.


@router.get("/subscribe/confirm/{token}", summary="Confirmation page (button)", responses=PAGE)
def confirm_page(request: Request, token: str) -> Response:
    sub = _subscriber(request, token)
    problem = digest_links(request).check_confirm(token, sub, utcnow())
    if problem:
        raise PageError(400, "bad_link", problem, {"subscribe again": "/#subscribe"})
    return render(request, "confirm.html", {"token": token, "email": sub.email, "done": False})


@router.post("/subscribe/confirm/{token}", summary="Confirm a subscription", responses=PAGE)
def confirm(request: Request, token: str) -> Response:
    sub = _subscriber(request, token)
    problem = digest_links(request).check_confirm(token, sub, utcnow())
    if problem:
        raise PageError(400, "bad_link", problem, {"subscribe again": "/#subscribe"})
    if sub.status == "pending":
        _store(request).digests.confirm(sub.id, now=utcnow())
    links = digest_links(request)
    return render(
        request,
        "confirm.html",
        {"email": sub.email, "done": True, "preferences_url": links.preferences_url(sub)},
    )


def _preferences_data(request: Request, sub: Subscriber, **extra: Any) -> dict[str, Any]:
    has_votes = bool(sub.user_id and _store(request).digests.upvoted_by([sub.user_id]))
    return {
        "email": sub.email,
        "status": sub.status,
        "frequency": sub.frequency,
        "top_n": sub.top_n,
        "categories": ", ".join(sub.categories),
        "keywords": ", ".join(sub.keywords),
        "personalized": sub.personalized,
        "can_personalize": has_votes,
        "frequencies": list(FREQUENCIES),
        **_topics_data(request, sub),
        "message": None,
        "error": None,
        **extra,
    }


def _topics_url(period: Period) -> str:
    return f"/topics?period={period.kind}&date={period.start.isoformat()}"


def _topics_data(request: Request, sub: Subscriber) -> dict[str, Any]:
    """The topics the digest follows, and those of its current period to choose from (the
    /topics page's, numbered alike)."""
    store = _store(request)
    followed = store.digests.topic_anchors([sub.id]).get(sub.id, [])
    data: dict[str, Any] = {
        "topics_followed": [
            {
                "id": anchor.id,
                "label": anchor.label,
                "number": anchor.number,
                "period": anchor.period,
                "topics_url": _anchor_topics_url(anchor.period),
            }
            for anchor in followed
        ],
        "max_topics": MAX_TOPICS,
        "topic_choices": None,
    }
    current = digest_period(store, sub.frequency, request.app.state.clock().date())
    if current is None:
        return data
    period = topic_period(current)
    topic_set = topic_index(request).topics(period)
    medoids = store.search.papers(t.medoid for t in topic_set.topics)
    mine = {anchor.medoid for anchor in followed}
    data["topic_choices"] = {
        "period": period_key(period),
        "label": period.label,
        "kind": period.kind,
        "topics_url": _topics_url(period),
        "topics": [
            {
                "number": t.number,
                "label": t.label,
                "size": t.size,
                "value": f"{t.number}:{t.medoid}",
                "medoid_title": medoids[t.medoid].title if t.medoid in medoids else None,
                "followed": t.medoid in mine,
            }
            for t in topic_set.topics
        ],
    }
    return data


def _anchor_topics_url(key: str) -> str | None:
    try:
        return _topics_url(parse_period_key(key))
    except TopicChoiceError:
        return None


@router.get(
    "/digest/preferences/{token}",
    summary="Digest preferences (from a mail's link)",
    responses=PAGE,
)
def preferences_page(request: Request, token: str) -> Response:
    sub = _managed(request, token)
    return render(request, "preferences.html", {"token": token, **_preferences_data(request, sub)})


def _split(text: str) -> list[str]:
    parts = [p.strip() for p in text.replace(";", ",").split(",")]
    return [p[:64] for p in parts if p][:20]


@router.post(
    "/digest/preferences/{token}",
    summary="Save digest preferences",
    responses=PAGE | form_again(400),
)
def save_preferences(
    request: Request,
    token: str,
    frequency: str = Form("daily"),
    top_n: str = Form("10"),
    categories: str = Form(""),
    keywords: str = Form(""),
    personalized: str = Form(""),
) -> Response:
    sub = _managed(request, token)
    papers = whole_number(top_n, 1, MAX_TOP_N)
    if frequency not in FREQUENCIES or papers is None:
        data = _preferences_data(
            request,
            sub,
            error=f"Choose daily or weekly, and between 1 and {MAX_TOP_N} papers.",
        )
        return render(request, "preferences.html", {"token": token, **data}, 400)
    store = _store(request)
    store.digests.set_preferences(
        sub.id,
        frequency=frequency,
        top_n=papers,
        categories=_split(categories),
        keywords=_split(keywords),
        personalized=bool(personalized),
    )
    if sub.status in ("unsubscribed", "bounced"):
        store.digests.confirm(sub.id, now=utcnow())  # saving preferences resubscribes
    fresh = store.digests.subscriber(sub.id) or sub
    data = _preferences_data(request, fresh, message="Saved.")
    return render(request, "preferences.html", {"token": token, **data})


@router.get("/unsubscribe/{token}", summary="Unsubscribe page (button)", responses=PAGE)
def unsubscribe_page(request: Request, token: str) -> Response:
    sub = _managed(request, token)
    return render(request, "unsubscribe.html", {"token": token, "email": sub.email, "done": False})


@router.post(
    "/unsubscribe/{token}", summary="Unsubscribe (RFC 8058 one-click POST)", responses=PAGE
)
def unsubscribe(request: Request, token: str) -> Response:
    sub = _managed(request, token)
    _store(request).digests.unsubscribe(sub.id, now=utcnow())
    return render(
        request,
        "unsubscribe.html",
        {
            "token": token,
            "email": sub.email,
            "done": True,
            "preferences_url": digest_links(request).preferences_url(sub),
        },
    )


# -- followed topics ----------------------------------------------------------------------


def _topics_answer(
    request: Request, token: str, sub: Subscriber, status: int, message: str | None, code: str
) -> Response:
    """The preferences page again, saying what happened (an error: its status, and for JSON
    clients the usual error body)."""
    if status >= 400 and wants_json(request):
        raise PageError(status, code, message or "")
    fresh = _store(request).digests.subscriber(sub.id) or sub
    extra = {"error": message} if status >= 400 else {"message": message}
    data = _preferences_data(request, fresh, **extra)
    return render(request, "preferences.html", {"token": token, **data}, status)


@router.post(
    "/digest/preferences/{token}/topics",
    summary="Follow topics of a period in the digest: period=week:2025-W49, topic=N:medoid …",
    responses=PAGE | form_again(400, 409),
)
def follow_topics(
    request: Request,
    token: str,
    period: str = Form(""),
    topic: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Each ``topic`` is a number of ``period``'s topics (as /topics numbers them), with its
    medoid paper after a colon so that a clustering done again meanwhile is noticed. All
    are checked before any is stored."""
    sub = _managed(request, token)
    store = _store(request)
    try:
        chosen = parse_period_key(period)
        wanted = list(dict.fromkeys(topic or []))  # each once, in the order given
        if not wanted:
            raise TopicChoiceError(400, "no_topic", "Check at least one topic to follow.")
        if len(wanted) > MAX_TOPICS:
            raise TopicChoiceError(
                400, "too_many_topics", f"A digest follows {MAX_TOPICS} topics at most."
            )
        choices = [parse_choice(raw) for raw in wanted]
        topic_set = topic_index(request).topics(chosen)
        topics = [chosen_topic(topic_set, chosen, n, medoid) for n, medoid in choices]
        followed = {a.medoid for a in store.digests.topic_anchors([sub.id]).get(sub.id, [])}
        new = [t for t in topics if t.medoid not in followed]
        if len(followed) + len(new) > MAX_TOPICS:
            raise TopicChoiceError(
                400,
                "too_many_topics",
                f"A digest follows {MAX_TOPICS} topics at most (this one follows "
                f"{len(followed)}): remove some first.",
            )
        for found in new:  # stored once every choice is known good
            follow_topic(store, sub.id, topic_set, chosen, found, now=utcnow())
    except TopicChoiceError as exc:
        return _topics_answer(request, token, sub, exc.status, exc.message, exc.code)
    names = "; ".join(found.label for found in topics)
    message = f"Your digest now keeps only the papers of: {names}."
    return _topics_answer(request, token, sub, 200, message, "ok")


@router.post(
    "/digest/preferences/{token}/topics/remove",
    summary="Stop following topics: anchor=ID … (or all=1: every paper again)",
    responses=PAGE | form_again(400),
)
def unfollow_topics(
    request: Request,
    token: str,
    anchor: Annotated[list[str] | None, Form()] = None,
    all_topics: str = Form("", alias="all"),
) -> Response:
    sub = _managed(request, token)
    digests = _store(request).digests
    if all_topics:
        removed = digests.unfollow_topics(sub.id)
    else:
        ids = [whole_number(raw, 1, 2**31 - 1) for raw in anchor or []]
        mine = {a.id for a in digests.topic_anchors([sub.id]).get(sub.id, [])}
        if not ids or any(i is None or i not in mine for i in ids):
            message = "Check the topics to remove (of those this digest follows)."
            return _topics_answer(request, token, sub, 400, message, "bad_anchor")
        removed = digests.unfollow_topics(sub.id, [i for i in ids if i is not None])
    left = digests.topic_anchors([sub.id]).get(sub.id, [])
    message = f"Removed {removed} topic{'' if removed == 1 else 's'}." + (
        "" if left else " Your digest is no longer filtered by topic."
    )
    return _topics_answer(request, token, sub, 200, message, "ok")
