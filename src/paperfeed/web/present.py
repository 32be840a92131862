"""Turn library objects into the data a page shows: one dict per page, used both as the
JSON twin and as the template context, so HTML and JSON never disagree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from markupsafe import Markup, escape

from paperfeed.models import Comment, FeedItem, FeedPage, Paper, PaperDetail
from paperfeed.rank.feeds import CalendarState
from paperfeed.search import SearchResults
from paperfeed.search.engine import MAX_RESULTS
from paperfeed.text import outside_math, shorten

from .tex import tex_to_html

PERIOD_TITLES = {"day": "Daily Papers", "week": "Weekly Papers", "month": "Monthly Papers"}


def _iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds") + "Z"
    return value.isoformat()


def human_date(value: date | None) -> str:
    return f"{value:%b} {value.day}, {value.year}" if value else ""


def period_heading(page: FeedPage) -> str:
    if page.kind == "day":
        return f"{page.start:%A}, {human_date(page.start)}"
    if page.kind == "week":
        return f"Week {page.label[-2:]}, {human_date(page.start)} – {human_date(page.end)}"
    return f"{page.start:%B %Y}"


def paper_json(paper: Paper) -> dict[str, Any]:
    return {
        "id": paper.arxiv_id,
        "version": paper.version,
        "title": paper.title,
        "abstract": paper.abstract,
        "authors": paper.authors,
        "categories": paper.categories or [],
        "primary_category": paper.primary_category,
        "comment": paper.comment,
        "journal_ref": paper.journal_ref,
        "doi": paper.doi,
        "license": paper.license,
        "license_url": paper.license
        if paper.license and paper.license.startswith(("https://", "http://"))
        else None,
        "published": _iso(paper.published),
        "updated": _iso(paper.updated),
        "first_seen": _iso(paper.first_seen),
        "upvotes": paper.upvotes,
        "tldr": tldr(paper),
        "url": f"/papers/{paper.arxiv_id}",
        "arxiv_url": paper.abs_url,
        "pdf_url": paper.pdf_url,
    }


def token_json(token: Any) -> dict[str, Any]:
    """An API or private-feed token as a settings page lists it (never the token itself)."""
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at.isoformat(timespec="minutes"),
        "last_used_at": token.last_used_at.isoformat(timespec="minutes")
        if token.last_used_at
        else None,
    }


def tldr(paper: Paper) -> str | None:
    """The paper's TL;DR while it is still a sentence of its abstract (a new version's
    abstract makes it stale until `paperfeed index` runs), else None."""
    if paper.tldr and paper.tldr in paper.abstract:
        return paper.tldr
    return None


def _dom_id(paper: Paper) -> str:
    return "p-" + re.sub(r"[^A-Za-z0-9]", "-", paper.arxiv_id)


def _preview(paper: Paper, preview_chars: int) -> dict[str, Any]:
    return {
        "abstract_preview": shorten(paper.abstract, preview_chars),
        "abstract_is_shortened": len(paper.abstract) > preview_chars,
    }


def card_json(item: FeedItem, preview_chars: int) -> dict[str, Any]:
    paper = item.paper
    return {
        "id": paper.arxiv_id,
        "dom_id": _dom_id(paper),
        "title": paper.title,
        "tldr": tldr(paper),
        **_preview(paper, preview_chars),
        "n_authors": len(paper.authors),
        "authors": paper.authors,
        "categories": paper.categories or [],
        "date": _iso(paper.shown_date),
        "date_label": human_date(paper.shown_date),
        "feed_day": _iso(item.day),
        "upvotes": paper.upvotes,
        "submitted_by": item.submitted_by,
        "url": f"/papers/{paper.arxiv_id}",
    }


def abstract_json(paper: Paper, preview_chars: int, full: bool) -> dict[str, Any]:
    """A card's abstract, whole or as its preview (what "more" and "less" swap in)."""
    return {
        "id": paper.arxiv_id,
        "dom_id": _dom_id(paper),
        "url": f"/papers/{paper.arxiv_id}",
        "full": full,
        "abstract": paper.abstract,
        **_preview(paper, preview_chars),
    }


def feed_json(page: FeedPage, preview_chars: int) -> dict[str, Any]:
    base = {"day": "/?date=", "week": "/week/", "month": "/month/"}[page.kind]
    return {
        "kind": page.kind,
        "label": page.label,
        "title": PERIOD_TITLES[page.kind],
        "heading": period_heading(page),
        "start": _iso(page.start),
        "end": _iso(page.end),
        "total": page.total,
        "page": page.page,
        "pages": page.pages,
        "page_size": page.page_size,
        "previous": page.previous,
        "next": page.next,
        "previous_url": base + page.previous if page.previous else None,
        "next_url": base + page.next if page.next else None,
        "papers": [card_json(item, preview_chars) for item in page.items],
    }


def calendar_json(state: CalendarState) -> dict[str, Any]:
    return {
        "is_listing_day": state.day.is_listing,
        "reason": state.day.reason,
        "holiday": state.day.holiday,
        "explanation": state.day.explanation,
        "current_listing": _iso(state.current_listing),
        "next_listing": _iso(state.next_listing),
        "next_announcement": state.next_announcement.isoformat(timespec="minutes"),
        "notice": state.notice,
    }


def paper_page_json(detail: PaperDetail) -> dict[str, Any]:
    paper = detail.paper
    return {
        "paper": paper_json(paper),
        "n_authors": len(paper.authors),
        "date_label": human_date(paper.shown_date),
        "published_label": human_date(paper.published.date()) if paper.published else None,
        "first_seen_label": human_date(paper.first_seen.date()) if paper.first_seen else None,
        "feed_days": [_iso(day) for day in detail.feed_days],
        "submitted_by": detail.submitted_by,
        "versions": [{"version": v, "date": _iso(d)} for v, d in detail.versions],
        "updated_label": _updated_label(detail),
        "source": detail.source,
        "refreshed_at": _iso(detail.refreshed_at),
    }


def _updated_label(detail: PaperDetail) -> str | None:
    """ "updated to v3 on Jan 2, 2026" for a revised paper."""
    latest = detail.latest_version
    if latest is None:
        return None
    version, dated = latest
    when = f" on {human_date(dated.date())}" if dated else ""
    return f"updated to v{version}{when}"


# -- search ---------------------------------------------------------------------------------


def _match_pattern(words: Sequence[str]) -> re.Pattern[str] | None:
    """Query words (as word starts, so "glass" marks "glasses") and phrases, longest first."""
    parts = sorted({w.strip() for w in words if w.strip()}, key=len, reverse=True)
    if not parts:
        return None
    alternatives = [r"\s+".join(re.escape(t) for t in part.split()) + r"\w*" for part in parts]
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + ")", re.IGNORECASE)


def highlight(text: str, words: Sequence[str]) -> Markup:
    """``text`` escaped, with the query's matches in ``<mark>``."""
    pattern = _match_pattern(words)
    if pattern is None:
        return Markup(escape(text))
    out, last = [], 0
    for match in pattern.finditer(text):
        out.append(escape(text[last : match.start()]))
        out.append(Markup("<mark>") + escape(match.group(0)) + Markup("</mark>"))
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def snippet(text: str, words: Sequence[str], limit: int) -> str:
    """About ``limit`` characters of ``text`` around its first match (else its start)."""
    if len(text) <= limit:
        return text
    pattern = _match_pattern(words)
    match = pattern.search(text) if pattern else None
    if match is None or match.start() < limit // 3:
        return shorten(text, limit)
    start = outside_math(text, text.rfind(" ", 0, match.start() - limit // 4) + 1)
    return "…" + shorten(text[start:], limit)


def rich_text(text: str | None, links: bool = True, marks: Sequence[str] = ()) -> Markup:
    """The template filter ``tex``: ``text`` with its TeX rendered (see :mod:`.tex`) and,
    given query words ``marks``, the matches outside formulas in ``<mark>``."""
    run = (lambda plain: highlight(plain, marks)) if marks else None
    return tex_to_html(text, links=links, text_run=run)


def search_json(results: SearchResults, preview_chars: int) -> dict[str, Any]:
    """A page of search results: cards with highlighted title and abstract snippet."""
    words = results.words
    hits = []
    for hit in results.hits:
        card = card_json(FeedItem(paper=hit.paper, day=None), preview_chars)
        preview = snippet(hit.paper.abstract, words, preview_chars)
        card["abstract_preview"] = preview
        card["highlighted"] = {
            "title": str(highlight(hit.paper.title, words)),
            "abstract_preview": str(highlight(preview, words)),
        }
        card["score"] = round(hit.score, 6)
        hits.append(card)
    query = results.query
    return {
        "query": query.canonical(),
        "words": list(words),
        "mode": results.mode,
        "sort": query.sort,
        "filters": {
            "phrases": query.phrases,
            "excluded": query.excluded,
            "authors": query.authors,
            "categories": query.categories,
            "since": _iso(query.since),
            "until": _iso(query.until),
        },
        "total": results.total,
        "capped": results.total >= MAX_RESULTS,  # a search shows at most MAX_RESULTS
        "page": results.page,
        "pages": results.pages,
        "page_size": results.page_size,
        "papers": hits,
    }


def related_json(related: Sequence[tuple[Paper, float]]) -> list[dict[str, Any]]:
    return [
        {
            "id": paper.arxiv_id,
            "title": paper.title,
            "url": f"/papers/{paper.arxiv_id}",
            "upvotes": paper.upvotes,
            "date_label": human_date(paper.shown_date),
            "similarity": round(similarity, 4),
        }
        for paper, similarity in related
    ]


def comments_json(
    comments: Sequence[Comment], viewer_id: int | None, moderator: bool
) -> list[dict[str, Any]]:
    """A paper's comments as a reader sees them: deleted and hidden ones keep their place
    in the thread without their text (moderators still see hidden text)."""
    shown = []
    for c in comments:
        gone = c.deleted or (c.hidden and not moderator)
        shown.append(
            {
                "id": c.id,
                "author": None if c.deleted else c.username,
                "html": None if gone else c.body_html,
                "body": c.body if viewer_id == c.user_id and not gone else None,
                "created_at": _iso(c.created_at),
                "created_label": human_date(c.created_at.date()),
                "edited": c.edited_at is not None,
                "deleted": c.deleted,
                "hidden": c.hidden,
                "mine": viewer_id == c.user_id,
            }
        )
    return shown
