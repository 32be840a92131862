"""The reader's own pages: the library (saved papers, notes, tags), followed authors,
"For you", keyword rules and private feeds; and their JSON twins under ``/api/v1/me``.

Forms are plain POSTs that work without JavaScript (CSRF-checked by the app-wide guard,
rate-limited per user and address: ``save`` for the library and "not interested",
``follow`` for follows, rules and feed tokens); the Save / Not interested buttons on cards
are swapped in place by HTMX, as the upvote button is. The API takes an API token or a
session with the ``X-CSRF-Token`` header, as every ``/api/v1`` write does.

Private feeds (``/feeds/private/{token}/…``) are opened by a feed token alone: a feed
reader has no cookies. An unknown or revoked token is a 404, the same as any address that
does not exist, so a guess learns nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from paperfeed.export import FeedInfo, atom_feed, bibtex_entries
from paperfeed.models import FeedItem, InvalidArxivId, Paper, User, split_arxiv_id
from paperfeed.personal import library as lib
from paperfeed.personal.features import FeatureCache
from paperfeed.personal.foryou import Candidate, ForYou, for_you, tag_recommendations
from paperfeed.personal.library_import import MAX_BYTES, ImportReport, import_library
from paperfeed.personal.library_import import LibraryError as ImportFileError
from paperfeed.store import Store
from paperfeed.store.personal import PersonalStore, SavedPaper, Tag

from . import present
from .auth import current_user, rate_limit, require_user, safe_next
from .responses import (
    HTML,
    PAGE,
    SEE_OTHER,
    PageError,
    document,
    render,
    wants_json,
    whole_number,
)
from .responses import app_settings as _settings
from .responses import app_store as _store

router = APIRouter()
LIBRARY_PAGE = 50
FOLLOW_LINKS = 30  # authors of a paper with a Follow button (big collaborations: the first)
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ATOM = "application/atom+xml"
JSON_DOC: dict[str, Any] = {"application/json": {"schema": {}}}
FRAGMENT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "With HX-Request: the buttons (HTML); with Accept: JSON, the state",
        "content": {**HTML, **JSON_DOC},
    },
    204: {"description": "With HX-Request, not logged in: HX-Redirect to the login"},
}
NOT_FOUND = "There is no page at this address."


# -- shared pieces ---------------------------------------------------------------------------


def _now(request: Request) -> datetime:
    """The site's "now" (its clock: tests fix it) as naive UTC, as the database keeps time."""
    now: datetime = request.app.state.clock()
    return now.astimezone(UTC).replace(tzinfo=None)


def _checked(call: Callable[[], Any]) -> Any:
    """Run a library check; a :class:`~paperfeed.personal.library.LibraryError` is a 400."""
    try:
        return call()
    except lib.LibraryError as exc:
        raise PageError(400, f"bad_{exc.field}", exc.message) from None


def _paper(request: Request, arxiv_id: str) -> str:
    """The bare id of a stored paper readers may see, else a 404."""
    try:
        bare = split_arxiv_id(arxiv_id)[0]
    except InvalidArxivId as exc:
        raise PageError(404, "bad_arxiv_id", str(exc)) from None
    if not _store(request).search.papers([bare]):
        raise PageError(404, "unknown_paper", f"No paper {bare} here.")
    return bare


def _reader(request: Request, next_path: str) -> User | Response:
    """The signed-in reader of a form POST; a visitor is sent to the login (by HX-Redirect
    for HTMX) and comes back to ``next_path`` after it."""
    if current_user(request) is None and not wants_json(request):
        target = "/login?next=" + quote(safe_next(next_path))
        if request.headers.get("hx-request") == "true":
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    return require_user(request)


def _back(next_path: str, fallback: str) -> Response:
    return RedirectResponse(safe_next(next_path or fallback), status_code=303)


def tag_url(name: str) -> str:
    return "/library/tags/" + quote(name, safe="")


def _tag_json(tag: Tag) -> dict[str, Any]:
    return {"name": tag.name, "key": tag.key, "papers": tag.papers, "url": tag_url(tag.name)}


def _card(request: Request, paper: Paper) -> dict[str, Any]:
    card = present.card_json(
        FeedItem(paper=paper, day=None), _settings(request).abstract_preview_chars
    )
    return card


def _entry_json(request: Request, entry: SavedPaper) -> dict[str, Any]:
    card = _card(request, entry.paper)
    card.update(
        saved=True,
        note=entry.note,
        saved_at=entry.saved_at.isoformat(timespec="seconds") + "Z",
        tags=[{"name": name, "url": tag_url(name)} for name in entry.tags],
    )
    return card


def mark_cards(request: Request, cards: list[dict[str, Any]]) -> None:
    """Flag the cards the viewer saved or is not interested in (one query; nothing for
    visitors): what the Save and Not interested buttons show."""
    viewer = current_user(request)
    if viewer is None or not cards:
        return
    marks = _store(request).personal.marks(viewer.id, [card["id"] for card in cards])
    for card in cards:
        card["saved"] = card["id"] in marks.saved
        card["dismissed"] = card["id"] in marks.dismissed


def paper_state(
    request: Request, viewer: User, arxiv_id: str, authors: Sequence[str]
) -> dict[str, Any]:
    """The viewer's own data on a paper page: saved, note, tags, "not interested", and
    which of its (first) authors they follow."""
    personal = _store(request).personal
    entry = personal.saved_paper(viewer.id, arxiv_id)
    marks = personal.marks(viewer.id, [arxiv_id])
    followed = {author.key for author in personal.followed(viewer.id)}
    return {
        "saved": entry is not None,
        "dismissed": arxiv_id in marks.dismissed,
        "note": entry.note if entry else None,
        "tags": [{"name": n, "url": tag_url(n)} for n in entry.tags] if entry else [],
        "authors": [
            {"name": name, "followed": lib.author_key(name) in followed}
            for name in authors[:FOLLOW_LINKS]
        ],
        "more_authors": max(0, len(authors) - FOLLOW_LINKS),
    }


def _buttons(request: Request, user: User, bare: str) -> Response:
    """The Save / Not interested buttons of one paper, as HTMX swaps them in."""
    marks = _store(request).personal.marks(user.id, [bare])
    data = {
        "id": bare,
        "url": f"/papers/{bare}",
        "saved": bare in marks.saved,
        "dismissed": bare in marks.dismissed,
    }
    if wants_json(request):
        return JSONResponse(data)
    return render(request, "personal_fragment.html", data)


# -- save, not interested, tags, notes: forms --------------------------------------------


@router.post(
    "/papers/{arxiv_id:path}/save",
    summary="Save a paper to your library (save=1) or take it out (save=0)",
    **SEE_OTHER,
    responses=FRAGMENT,
)
def save_form(
    request: Request, arxiv_id: str, save: str = Form("1"), next: str = Form("")
) -> Response:
    if save == "0":
        return _mark(request, arxiv_id, next, lambda p, user, paper, _: p.unsave(user, paper))
    return _mark(request, arxiv_id, next, lambda p, user, paper, now: p.save(user, paper, now=now))


@router.post(
    "/papers/{arxiv_id:path}/not-interested",
    summary='Say "not interested" in a paper (on=1) or take it back (on=0)',
    **SEE_OTHER,
    responses=FRAGMENT,
)
def not_interested_form(
    request: Request, arxiv_id: str, on: str = Form("1"), next: str = Form("")
) -> Response:
    if on == "0":
        return _mark(request, arxiv_id, next, lambda p, user, paper, _: p.undismiss(user, paper))
    return _mark(
        request, arxiv_id, next, lambda p, user, paper, now: p.dismiss(user, paper, now=now)
    )


def _mark(
    request: Request,
    arxiv_id: str,
    next_path: str,
    change: Callable[[PersonalStore, int, str, datetime], object],
) -> Response:
    """Save / not interested: ``change`` the reader's mark on a paper; the buttons for HTMX
    or JSON, else back to where the form was."""
    user = _reader(request, next_path or f"/papers/{arxiv_id}")
    if isinstance(user, Response):
        return user
    bare = _paper(request, arxiv_id)
    rate_limit(request, "save", user)
    change(_store(request).personal, user.id, bare, _now(request))
    if request.headers.get("hx-request") == "true" or wants_json(request):
        return _buttons(request, user, bare)
    return _back(next_path, f"/papers/{bare}")


@router.post(
    "/papers/{arxiv_id:path}/tags/remove",
    summary="Take a tag off a paper in your library",
    **SEE_OTHER,
)
def untag_form(request: Request, arxiv_id: str, tag: str = Form("")) -> Response:
    user = require_user(request)
    bare = _paper(request, arxiv_id)
    rate_limit(request, "save", user)
    _store(request).personal.remove_tag(user.id, bare, lib.tag_key(tag))
    return _back("", f"/papers/{bare}#library")


@router.post(
    "/papers/{arxiv_id:path}/tags",
    summary="Tag a paper (it is saved to your library too)",
    **SEE_OTHER,
)
def tag_form(request: Request, arxiv_id: str, tag: str = Form("")) -> Response:
    user = require_user(request)
    bare = _paper(request, arxiv_id)
    rate_limit(request, "save", user)
    shown, key = _checked(lambda: lib.check_tag(tag))
    _store(request).personal.add_tag(user.id, bare, shown, key, now=_now(request))
    return _back("", f"/papers/{bare}#library")


@router.post(
    "/papers/{arxiv_id:path}/note",
    summary="Write (or, empty, clear) your note on a paper; it is saved too",
    **SEE_OTHER,
)
def note_form(request: Request, arxiv_id: str, note: str = Form("")) -> Response:
    user = require_user(request)
    bare = _paper(request, arxiv_id)
    rate_limit(request, "save", user)
    text = _checked(lambda: lib.check_note(note))
    _store(request).personal.set_note(user.id, bare, text, now=_now(request))
    return _back("", f"/papers/{bare}#library")


# -- library pages -----------------------------------------------------------------------


def _page_number(raw: str | None) -> int:
    number = 1 if raw is None else whole_number(raw, 1, 100_000)
    if number is None:
        raise PageError(400, "bad_page", f"page must be a positive number, not {raw!r}")
    return number


def _library_data(request: Request, tag: str | None, page: str | None) -> dict[str, Any]:
    user = require_user(request)
    personal = _store(request).personal
    number = _page_number(page)
    all_tags = personal.tags(user.id)
    chosen: Tag | None = None
    if tag is not None:
        key = lib.tag_key(tag)
        chosen = next((t for t in all_tags if t.key == key), None)
        if chosen is None:
            raise PageError(
                404, "unknown_tag", "You have no such tag.", {"your library": "/library"}
            )
    entries, total = personal.library(
        user.id,
        tag_key=chosen.key if chosen else None,
        limit=LIBRARY_PAGE,
        offset=(number - 1) * LIBRARY_PAGE,
    )
    pages = max(1, -(-total // LIBRARY_PAGE))
    if number > pages:
        raise PageError(404, "no_such_page", f"This list has only {pages} page(s).")
    data = {
        "tag": _tag_json(chosen) if chosen else None,
        "tags": [_tag_json(t) for t in all_tags],
        "papers": [_entry_json(request, e) for e in entries],
        "total": total,
        "page": number,
        "pages": pages,
    }
    if chosen is not None:
        recommended = _tag_recommendations(request, user.id, chosen.key)
        data["recommended"] = _recommendations_json(request, recommended)
        shown = [e.paper.arxiv_id for e in entries] + _ids(recommended)
        personal.mark_seen(user.id, shown, "web", now=_now(request))
    return data


@router.get("/library", summary="Your library: saved papers, newest first (?tag=)", responses=PAGE)
def library_page(request: Request, tag: str | None = None, page: str | None = None) -> Response:
    return render(request, "library.html", _library_data(request, tag or None, page))


@router.get(
    "/library/tags/{tag}.bib",
    summary="A tag's papers as BibTeX",
    **document("text/x-bibtex", "The BibTeX entries"),
)
def tag_bibtex(request: Request, tag: str) -> Response:
    user = require_user(request)
    papers = _tag_papers(_store(request), user.id, tag)
    filename = quote(lib.tag_key(tag).replace(" ", "-"), safe="") or "tag"
    return Response(
        bibtex_entries(papers),
        media_type="text/x-bibtex; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="{filename}.bib"'},
    )


def _tag_papers(store: Store, user_id: int, tag: str, limit: int = 1000) -> list[Paper]:
    key = lib.tag_key(tag)
    if store.personal.tag(user_id, key) is None:
        raise PageError(404, "unknown_tag", "You have no such tag.")
    entries, _ = store.personal.library(user_id, tag_key=key, limit=limit)
    return [entry.paper for entry in entries]


@router.get("/library/tags/{tag}", summary="The papers of one of your tags", responses=PAGE)
def tag_page(request: Request, tag: str, page: str | None = None) -> Response:
    return render(request, "library.html", _library_data(request, tag, page))


# -- following ---------------------------------------------------------------------------


def _following_data(request: Request, user: User, **extra: Any) -> dict[str, Any]:
    personal = _store(request).personal
    followed = personal.followed(user.id)
    return {
        "authors": [
            {"name": a.name, "key": a.key, "since": a.followed_at.date().isoformat()}
            for a in followed
        ],
        "suggestions": _suggestions(personal.library_authors(user.id), {a.key for a in followed}),
        "errors": {},
        "form": {"name": request.query_params.get("name", "")[: lib.MAX_AUTHOR]},
        **extra,
    }


def _suggestions(author_lists: list[list[str]], followed: set[str], limit: int = 10) -> list[str]:
    """The authors most often on the reader's saved papers, not yet followed: their
    co-authors and favourites, offered to follow (ties by name, for a stable page)."""
    counts: dict[str, tuple[int, str]] = {}
    for authors in author_lists:
        for name in dict.fromkeys(authors):
            key = lib.author_key(name)
            if key and key not in followed:
                seen, shown = counts.get(key, (0, name))
                counts[key] = (seen + 1, shown)
    ranked = sorted(counts.values(), key=lambda item: (-item[0], item[1]))
    return [name for n, name in ranked[:limit] if n >= 2 or len(ranked) <= limit]


@router.get("/following", summary="Authors you follow (?name= fills in the form)", responses=PAGE)
def following_page(request: Request) -> Response:
    user = require_user(request)
    return render(request, "following.html", _following_data(request, user))


@router.post("/following", summary="Follow an author", **SEE_OTHER)
def follow_form(request: Request, name: str = Form(""), next: str = Form("")) -> Response:
    user = require_user(request)
    rate_limit(request, "follow", user)
    try:
        shown, key = lib.check_author(name)
    except lib.LibraryError as exc:
        data = _following_data(request, user, errors={"name": exc.message}, form={"name": name})
        return render(request, "following.html", data, 400)
    _store(request).personal.follow(user.id, shown, key, now=_now(request))
    return _back(next, "/following")


@router.post("/following/remove", summary="Stop following an author", **SEE_OTHER)
def unfollow_form(request: Request, name: str = Form(""), next: str = Form("")) -> Response:
    user = require_user(request)
    rate_limit(request, "follow", user)
    _store(request).personal.unfollow(user.id, lib.author_key(name))
    return _back(next, "/following")


# -- library import ----------------------------------------------------------------------


def _keyword_ranking(request: Request) -> Callable[..., list[tuple[str, float]]]:
    from paperfeed.search.query import Query

    searcher = request.app.state.searcher

    def keyword(words: Sequence[str], _filt: Any, limit: int) -> list[tuple[str, float]]:
        ranking: list[tuple[str, float]] = searcher.rank_keyword(Query(words=list(words)), limit)
        return ranking

    return keyword


async def _import_upload(request: Request, user: User) -> tuple[ImportReport | None, str | None]:
    """Read the uploaded library file and import it: (report, None), or (None, the error)."""
    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str) or not upload.filename:
        return None, "Choose a file to import."
    data = await upload.read(MAX_BYTES + 1)
    fetch = form.get("fetch") is not None
    tag_name = form.get("tag")
    tag = None
    if isinstance(tag_name, str) and tag_name.strip():
        try:
            tag = lib.check_tag(tag_name)
        except lib.LibraryError as exc:
            return None, exc.message
    submitter = request.app.state.submitter
    try:
        report = await run_in_threadpool(
            import_library,
            _store(request),
            user.id,
            data,
            upload.filename,
            now=_now(request),
            keyword=_keyword_ranking(request),
            fetch=submitter.fetch_many if fetch else None,
            tag=tag,
        )
    except ImportFileError as exc:
        return None, f"{upload.filename}: {exc}"
    return report, None


@router.get("/library/import", summary="Import a library file (the form)", responses=PAGE)
def import_page(request: Request) -> Response:
    require_user(request)
    return render(request, "library_import.html", {"report": None, "error": None})


@router.post(
    "/library/import",
    summary="Import a BibTeX, RIS or CSL-JSON file, or a list of arXiv ids, into your library",
    responses=PAGE,
)
async def import_form(request: Request) -> Response:
    user = require_user(request)
    rate_limit(request, "import", user)
    report, error = await _import_upload(request, user)
    data = {"report": report.as_dict() if report else None, "error": error}
    return render(request, "library_import.html", data, 400 if error else 200)


@router.post(
    "/api/v1/me/library/import",
    summary="Import a library file (multipart field `file`; `tag`, `fetch` optional)",
)
async def api_import(request: Request) -> Response:
    user = require_user(request)
    rate_limit(request, "import", user)
    report, error = await _import_upload(request, user)
    if report is None:
        raise PageError(400, "bad_library", error or "Nothing to import.")
    return JSONResponse(report.as_dict())


# -- for you -----------------------------------------------------------------------------


def _features(request: Request) -> FeatureCache:
    features: FeatureCache = request.app.state.features
    return features


def _for_you_of(request: Request, user_id: int) -> ForYou:
    """The reader's For you list, ranked with the features built so far (never waiting)."""
    seen_hours = _settings(request).for_you_seen_hours
    features = _features(request).get()
    return for_you(_store(request), user_id, features, now=_now(request), seen_hours=seen_hours)


def _tag_recommendations(request: Request, user_id: int, key: str) -> ForYou:
    seen_hours = _settings(request).for_you_seen_hours
    features = _features(request).get()
    return tag_recommendations(
        _store(request), user_id, key, features, now=_now(request), seen_hours=seen_hours
    )


def _ids(result: ForYou) -> list[str]:
    return [c.paper.arxiv_id for c in result.papers]


def _why_json(candidate: Candidate) -> dict[str, Any]:
    """Why a paper is recommended: the reasons as lines, and each part as data."""
    similar = candidate.similar_to
    return {
        "reasons": candidate.reasons,
        "followed_authors": list(candidate.authors),
        "keywords": list(candidate.keywords),
        "explanation": candidate.explanation,
        "similar_to": {"id": similar, "url": f"/papers/{similar}"} if similar else None,
        "score": None if candidate.score is None else round(candidate.score, 4),
    }


def _candidate_json(request: Request, candidate: Candidate, shown: set[str]) -> dict[str, Any]:
    card = _card(request, candidate.paper)
    card.update(_why_json(candidate), new=candidate.paper.arxiv_id not in shown)
    return card


def _recommendations_json(request: Request, result: ForYou) -> dict[str, Any]:
    """A list of recommendations and how it was made: ``status`` is ranked, no_profile,
    not_indexed or no_features (then ``features`` says whether they are being built)."""
    return {
        "papers": [_candidate_json(request, c, result.shown) for c in result.papers],
        "status": result.status,
        "profile": result.profile,
        "features": _features(request).status,
    }


def _for_you_data(request: Request, user: User, *, mark_seen: bool) -> dict[str, Any]:
    store = _store(request)
    result = _for_you_of(request, user.id)
    data = {
        **_recommendations_json(request, result),
        "total": len(result.papers),
        "following": len(store.personal.followed(user.id)),
        "rules": len(store.personal.rules(user.id)),
    }
    if mark_seen and result.papers:
        store.personal.mark_seen(user.id, _ids(result), "web", now=_now(request))
    return data


@router.get(
    "/for-you",
    summary="For you: new papers like the ones you saved, of authors you follow, of your keywords",
    responses=PAGE,
)
def for_you_page(request: Request) -> Response:
    user = require_user(request)
    data = _for_you_data(request, user, mark_seen=True)
    mark_cards(request, data["papers"])
    return render(request, "for_you.html", data)


# -- settings: keyword rules and private feeds -------------------------------------------


def _settings_data(request: Request, user: User, **extra: Any) -> dict[str, Any]:
    personal = _store(request).personal
    public = _settings(request).public_url.rstrip("/")
    return {
        "rules": [{"id": r.id, "kind": r.kind, "text": r.text} for r in personal.rules(user.id)],
        "feeds": [present.token_json(t) for t in personal.feed_tokens(user.id)],
        "tags": [_tag_json(t) for t in personal.tags(user.id)],
        "new_feed": None,
        "feed_base": f"{public}/feeds/private/",
        "errors": {},
        "form": {},
        **extra,
    }


@router.get(
    "/settings/personal",
    summary="Your keyword rules and private feeds",
    responses=PAGE,
)
def personal_settings(request: Request) -> Response:
    user = require_user(request)
    return render(request, "settings_personal.html", _settings_data(request, user))


@router.post(
    "/settings/personal/rules",
    summary="Add a keyword rule (kind=include|exclude, text=…)",
    **SEE_OTHER,
    responses={
        400: {"description": "The form again, saying what to fix", "content": {**HTML, **JSON_DOC}}
    },
)
def add_rule_form(request: Request, kind: str = Form(""), text: str = Form("")) -> Response:
    user = require_user(request)
    rate_limit(request, "follow", user)
    try:
        checked = lib.check_rule(kind, text)
    except lib.LibraryError as exc:
        data = _settings_data(
            request, user, errors={exc.field: exc.message}, form={"kind": kind, "text": text}
        )
        return render(request, "settings_personal.html", data, 400)
    _store(request).personal.add_rule(user.id, *checked, now=_now(request))
    return _back("", "/settings/personal#rules")


@router.post(
    "/settings/personal/rules/{rule_id}/delete", summary="Delete a keyword rule", **SEE_OTHER
)
def delete_rule_form(request: Request, rule_id: RowId) -> Response:
    user = require_user(request)
    _store(request).personal.remove_rule(user.id, rule_id)
    return _back("", "/settings/personal#rules")


@router.post("/settings/personal/feeds", summary="Create a private feed address", responses=PAGE)
def create_feed_form(request: Request, name: str = Form("")) -> Response:
    user = require_user(request)
    rate_limit(request, "follow", user)
    made = lib.create_feed_token(_store(request), user.id, name, now=_now(request))
    data = _settings_data(request, user, new_feed=made.token)
    return render(request, "settings_personal.html", data)


@router.post(
    "/settings/personal/feeds/{token_id}/revoke",
    summary="Revoke a private feed address",
    **SEE_OTHER,
)
def revoke_feed_form(request: Request, token_id: RowId) -> Response:
    user = require_user(request)
    _store(request).personal.revoke_feed_token(user.id, token_id, now=_now(request))
    return _back("", "/settings/personal#feeds")


# -- private feeds -----------------------------------------------------------------------


def _feed_owner(request: Request, token: str) -> int:
    user_id = lib.feed_token_user(_store(request), token, now=_now(request))
    if user_id is None:
        raise PageError(404, "not_found", NOT_FOUND)
    return user_id


def _private_feed(
    request: Request,
    info: FeedInfo,
    papers: Sequence[Paper],
    as_json: bool,
    extra: list[dict[str, Any]] | None = None,
    notes: dict[str, str] | None = None,
) -> Response:
    if as_json:
        items = [present.paper_json(p) for p in papers]
        for item, more in zip(items, extra or [{} for _ in items], strict=True):
            item.update(more)
        body = {"title": info.title, "page_url": info.page_url, "papers": items}
        return JSONResponse(body, headers={"Cache-Control": "private, no-store"})
    settings = _settings(request)
    xml = atom_feed(
        info,
        papers,
        public_url=settings.public_url,
        site_name=settings.site_name,
        now=request.app.state.clock(),
        notes=notes,
    )
    return Response(
        xml,
        media_type=f"{ATOM}; charset=utf-8",
        headers={"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex"},
    )


PRIVATE_FEED: dict[str, Any] = {
    "response_class": Response,
    "responses": {
        200: {
            "description": "The Atom feed (.atom) or its JSON (.json)",
            "content": {ATOM: {"schema": {"type": "string"}}, **JSON_DOC},
        }
    },
}


def _format(fmt: str) -> bool:
    if fmt not in ("atom", "json"):
        raise PageError(404, "not_found", NOT_FOUND)
    return fmt == "json"


@router.get(
    "/feeds/private/{token}/for-you.{fmt}",
    summary="Your For you list as a private feed (fmt: atom or json)",
    **PRIVATE_FEED,
)
def private_for_you(request: Request, token: str, fmt: str) -> Response:
    as_json = _format(fmt)
    user_id = _feed_owner(request, token)
    site = _settings(request)
    public = site.public_url.rstrip("/")
    info = FeedInfo(
        title=f"{site.site_name} · For you",
        subtitle="New papers like the ones you saved, of the authors you follow, of your keywords",
        self_url=f"{public}/feeds/private/{token}/for-you.{fmt}",
        page_url=f"{public}/for-you",
    )
    return _recommendations_feed(request, user_id, _for_you_of(request, user_id), info, as_json)


def _recommendations_feed(
    request: Request, user_id: int, result: ForYou, info: FeedInfo, as_json: bool
) -> Response:
    """A private feed of recommendations, each saying why; what it lists counts as shown."""
    _store(request).personal.mark_seen(user_id, _ids(result), "web", now=_now(request))
    extra = [_why_json(c) for c in result.papers]
    notes = {c.paper.arxiv_id: "Why: " + " · ".join(c.reasons) for c in result.papers}
    papers = [c.paper for c in result.papers]
    return _private_feed(request, info, papers, as_json, extra, notes)


@router.get(
    "/feeds/private/{token}/tags/{tag}.{fmt}",
    summary="One of your tags as a private feed (fmt: atom or json)",
    **PRIVATE_FEED,
)
def private_tag(request: Request, token: str, tag: str, fmt: str) -> Response:
    as_json = _format(fmt)
    user_id = _feed_owner(request, token)
    store, site = _store(request), _settings(request)
    try:
        papers = _tag_papers(store, user_id, tag, limit=200)
    except PageError:
        raise PageError(404, "not_found", NOT_FOUND) from None
    shown = store.personal.tag(user_id, lib.tag_key(tag))
    name = shown.name if shown else tag
    public = site.public_url.rstrip("/")
    info = FeedInfo(
        title=f"{site.site_name} · {name}",
        subtitle=f"Papers tagged {name}, most recently saved first",
        self_url=f"{public}/feeds/private/{token}/tags/{quote(name, safe='')}.{fmt}",
        page_url=f"{public}{tag_url(name)}",
    )
    return _private_feed(request, info, papers, as_json)


@router.get(
    "/feeds/private/{token}/tags/{tag}/recommended.{fmt}",
    summary="New papers like one of your tags' as a private feed (fmt: atom or json)",
    **PRIVATE_FEED,
)
def private_tag_recommended(request: Request, token: str, tag: str, fmt: str) -> Response:
    as_json = _format(fmt)
    user_id = _feed_owner(request, token)
    shown = _store(request).personal.tag(user_id, lib.tag_key(tag))
    if shown is None:
        raise PageError(404, "not_found", NOT_FOUND)
    site = _settings(request)
    public = site.public_url.rstrip("/")
    info = FeedInfo(
        title=f"{site.site_name} · like {shown.name}",
        subtitle=f"New papers like the ones tagged {shown.name}",
        self_url=f"{public}/feeds/private/{token}/tags/{quote(shown.name, safe='')}"
        f"/recommended.{fmt}",
        page_url=f"{public}{tag_url(shown.name)}",
    )
    result = _tag_recommendations(request, user_id, shown.key)
    return _recommendations_feed(request, user_id, result, info, as_json)


# -- JSON API under /api/v1/me -------------------------------------------------------------


async def _json_object(request: Request, *fields: str) -> dict[str, str]:
    """The string ``fields`` of a JSON object body, or a 400 showing the expected shape."""
    example = ", ".join(f'"{f}": "…"' for f in fields)
    shape = f"The body must be JSON like {{{example}}}."
    try:
        body = await request.json()
    except ValueError:
        raise PageError(400, "bad_json", shape) from None
    if not isinstance(body, dict) or not all(isinstance(body.get(f), str) for f in fields):
        raise PageError(400, "bad_request", shape)
    return {f: body[f] for f in fields}


def _json_request(**example: str) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {name: {"type": "string"} for name in example},
        "required": list(example),
    }
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema, "example": example}},
        }
    }


def _api_entry(request: Request, user: User, bare: str) -> Response:
    entry = _store(request).personal.saved_paper(user.id, bare)
    if entry is None:
        return JSONResponse({"id": bare, "saved": False})
    return JSONResponse(_entry_json(request, entry))


@router.get("/api/v1/me/library", summary="Your library (?tag=, ?page=)")
def api_library(request: Request, tag: str | None = None, page: str | None = None) -> Response:
    return JSONResponse(_library_data(request, tag or None, page))


@router.get("/api/v1/me/tags", summary="Your tags, with how many papers each")
def api_tags(request: Request) -> Response:
    user = require_user(request)
    return JSONResponse({"tags": [_tag_json(t) for t in _store(request).personal.tags(user.id)]})


@router.post(
    "/api/v1/me/library/{arxiv_id:path}/tags",
    summary='Tag a paper in your library: {"tag": "…"} (saves it too; idempotent)',
    openapi_extra=_json_request(tag="to read"),
)
async def api_add_tag(request: Request, arxiv_id: str) -> Response:
    body = await _json_object(request, "tag")
    return await run_in_threadpool(_api_add_tag, request, arxiv_id, body["tag"])


def _api_add_tag(request: Request, arxiv_id: str, tag: str) -> Response:
    user = require_user(request)
    bare = _paper(request, arxiv_id)
    rate_limit(request, "save", user)
    shown, key = _checked(lambda: lib.check_tag(tag))
    _store(request).personal.add_tag(user.id, bare, shown, key, now=_now(request))
    return _api_entry(request, user, bare)


@router.delete(
    "/api/v1/me/library/{arxiv_id:path}/tags/{tag}",
    summary="Take a tag off a paper (idempotent)",
)
def api_remove_tag(request: Request, arxiv_id: str, tag: str) -> Response:
    user = require_user(request)
    bare = _paper(request, arxiv_id)
    rate_limit(request, "save", user)
    _store(request).personal.remove_tag(user.id, bare, lib.tag_key(tag))
    return _api_entry(request, user, bare)


@router.put(
    "/api/v1/me/library/{arxiv_id:path}/note",
    summary='Your note on a paper: {"note": "…"} (empty clears it; saves the paper)',
    openapi_extra=_json_request(note="Read section 3 again."),
)
async def api_note(request: Request, arxiv_id: str) -> Response:
    body = await _json_object(request, "note")
    return await run_in_threadpool(_api_note, request, arxiv_id, body["note"])


def _api_note(request: Request, arxiv_id: str, note: str) -> Response:
    user = require_user(request)
    bare = _paper(request, arxiv_id)
    rate_limit(request, "save", user)
    text = _checked(lambda: lib.check_note(note))
    _store(request).personal.set_note(user.id, bare, text, now=_now(request))
    return _api_entry(request, user, bare)


@router.post("/api/v1/me/library/{arxiv_id:path}", summary="Save a paper (idempotent)")
def api_save(request: Request, arxiv_id: str) -> Response:
    user = require_user(request)
    bare = _paper(request, arxiv_id)
    rate_limit(request, "save", user)
    changed = _store(request).personal.save(user.id, bare, now=_now(request))
    return JSONResponse({"id": bare, "saved": True, "changed": changed})


@router.delete(
    "/api/v1/me/library/{arxiv_id:path}",
    summary="Take a paper out of your library, with its note and tags (idempotent)",
)
def api_unsave(request: Request, arxiv_id: str) -> Response:
    user = require_user(request)
    bare = _paper(request, arxiv_id)
    rate_limit(request, "save", user)
    changed = _store(request).personal.unsave(user.id, bare)
    return JSONResponse({"id": bare, "saved": False, "changed": changed})


@router.post(
    "/api/v1/me/not-interested/{arxiv_id:path}",
    summary='Say "not interested" in a paper (idempotent)',
)
def api_dismiss(request: Request, arxiv_id: str) -> Response:
    return _api_dismiss(request, arxiv_id, True)


@router.delete(
    "/api/v1/me/not-interested/{arxiv_id:path}",
    summary='Take back a "not interested" (idempotent)',
)
def api_undismiss(request: Request, arxiv_id: str) -> Response:
    return _api_dismiss(request, arxiv_id, False)


def _api_dismiss(request: Request, arxiv_id: str, on: bool) -> Response:
    user = require_user(request)
    bare = _paper(request, arxiv_id)
    rate_limit(request, "save", user)
    personal = _store(request).personal
    changed = (
        personal.dismiss(user.id, bare, now=_now(request))
        if on
        else personal.undismiss(user.id, bare)
    )
    return JSONResponse({"id": bare, "not_interested": on, "changed": changed})


@router.get("/api/v1/me/following", summary="Authors you follow, and suggestions")
def api_following(request: Request) -> Response:
    user = require_user(request)
    data = _following_data(request, user)
    return JSONResponse({"authors": data["authors"], "suggestions": data["suggestions"]})


@router.post(
    "/api/v1/me/following",
    summary='Follow an author: {"name": "…"} (idempotent)',
    openapi_extra=_json_request(name="Giorgio Parisi"),
)
async def api_follow(request: Request) -> Response:
    body = await _json_object(request, "name")
    return await run_in_threadpool(_api_follow, request, body["name"])


def _api_follow(request: Request, name: str) -> Response:
    user = require_user(request)
    rate_limit(request, "follow", user)
    shown, key = _checked(lambda: lib.check_author(name))
    changed = _store(request).personal.follow(user.id, shown, key, now=_now(request))
    return JSONResponse({"name": shown, "key": key, "followed": True, "changed": changed})


@router.delete("/api/v1/me/following/{name}", summary="Stop following an author (idempotent)")
def api_unfollow(request: Request, name: str) -> Response:
    user = require_user(request)
    rate_limit(request, "follow", user)
    changed = _store(request).personal.unfollow(user.id, lib.author_key(name))
    return JSONResponse({"key": lib.author_key(name), "followed": False, "changed": changed})


@router.get("/api/v1/me/rules", summary="Your keyword rules")
def api_rules(request: Request) -> Response:
    user = require_user(request)
    return JSONResponse({"rules": _settings_data(request, user)["rules"]})


@router.post(
    "/api/v1/me/rules",
    summary='Add a keyword rule: {"kind": "include|exclude", "text": "…"} (idempotent)',
    openapi_extra=_json_request(kind="exclude", text="survey"),
)
async def api_add_rule(request: Request) -> Response:
    body = await _json_object(request, "kind", "text")
    return await run_in_threadpool(_api_add_rule, request, body["kind"], body["text"])


def _api_add_rule(request: Request, kind: str, text: str) -> Response:
    user = require_user(request)
    rate_limit(request, "follow", user)
    checked = _checked(lambda: lib.check_rule(kind, text))
    changed = _store(request).personal.add_rule(user.id, *checked, now=_now(request))
    return JSONResponse({"rules": _settings_data(request, user)["rules"], "changed": changed})


@router.delete("/api/v1/me/rules/{rule_id}", summary="Delete one of your keyword rules")
def api_delete_rule(request: Request, rule_id: RowId) -> Response:
    user = require_user(request)
    changed = _store(request).personal.remove_rule(user.id, rule_id)
    return JSONResponse({"id": rule_id, "deleted": True, "changed": changed})


@router.get(
    "/api/v1/me/for-you",
    summary="Your For you list, each paper with why (followed author, keyword, similar paper)",
)
def api_for_you(request: Request) -> Response:
    user = require_user(request)
    data = _for_you_data(request, user, mark_seen=True)
    mark_cards(request, data["papers"])
    return JSONResponse(data)
