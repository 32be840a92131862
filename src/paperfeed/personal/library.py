"""The reader's library as operations: what the web pages, the JSON API and the CLI call.

This is where input is checked and normalised, once for every caller: tag names, notes,
author names and keyword rules have length limits and a key that makes "Deep Learning" and
"deep  learning" one tag (NFKC, case-folded, spaces collapsed; author names also lose their
accents, so "Erdős" and "Erdos" are one follow). A bad value raises :class:`LibraryError`
with a sentence for people; the routes turn it into a 400.

Private feed tokens are random (256 bits) and stored as their SHA-256, like API tokens: the
database never holds one that works. A token opens the owner's "For you" and tag feeds, and
nothing else (it is no login).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from paperfeed.community.auth import new_secret, sha256
from paperfeed.models import InvalidArxivId, split_arxiv_id
from paperfeed.store import Store
from paperfeed.store.personal import RULE_KINDS

MAX_TAG = 64
MAX_NOTE = 5000
MAX_AUTHOR = 200
MAX_RULE = 100
MAX_TOKEN_NAME = 128
FEED_TOKEN_PREFIX = "pff_"
# The addresses of a tag's exports end so: a tag named like one would be shadowed by it.
_EXPORT_SUFFIXES = (".bib", ".atom", ".json")


class LibraryError(ValueError):
    """Input a reader must correct: ``field`` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _printable(text: str) -> bool:
    return not any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in text)


def _collapse(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def tag_key(name: str) -> str:
    """The key that makes tags differing only in case or spacing one tag."""
    return _collapse(name).casefold()


def check_tag(name: str) -> tuple[str, str]:
    """A tag name as stored (spaces collapsed) and its key, or :class:`LibraryError`."""
    shown = _collapse(name)
    if not shown:
        raise LibraryError("tag", "A tag needs at least one letter or digit.")
    if len(shown) > MAX_TAG:
        raise LibraryError("tag", f"A tag has at most {MAX_TAG} characters.")
    if "/" in shown or not _printable(shown):
        raise LibraryError("tag", "A tag cannot hold '/' or control characters.")
    if shown.casefold().endswith(_EXPORT_SUFFIXES):
        raise LibraryError("tag", "A tag cannot end in .bib, .atom or .json.")
    key = tag_key(shown)
    if len(key) > MAX_TAG:  # case folding can lengthen: ß -> ss
        raise LibraryError("tag", f"A tag has at most {MAX_TAG} characters.")
    return shown, key


def check_note(text: str) -> str | None:
    """A note as stored (line ends normalised, None when blank)."""
    note = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(note) > MAX_NOTE:
        raise LibraryError("note", f"A note has at most {MAX_NOTE} characters.")
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in note):
        raise LibraryError("note", "A note cannot hold control characters.")
    return note or None


def author_key(name: str) -> str:
    """An author's name without case, accents or extra spaces ("Erdős, P." = "erdos, p.")."""
    decomposed = unicodedata.normalize("NFKD", _collapse(name))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def check_author(name: str) -> tuple[str, str]:
    shown = _collapse(name)
    if not any(c.isalnum() for c in shown):
        raise LibraryError("name", "An author's name needs at least one letter.")
    if len(shown) > MAX_AUTHOR or not _printable(shown):
        raise LibraryError(
            "name", f"An author's name has at most {MAX_AUTHOR} characters, none of them control."
        )
    return shown, author_key(shown)


def check_rule(kind: str, text: str) -> tuple[str, str, str]:
    """A keyword rule (kind, text, key)."""
    if kind not in RULE_KINDS:
        raise LibraryError("kind", "A rule is include or exclude.")
    shown = _collapse(text)
    if not any(c.isalnum() for c in shown):
        raise LibraryError("text", "A keyword needs at least one letter or digit.")
    if len(shown) > MAX_RULE or not _printable(shown):
        raise LibraryError("text", f"A keyword has at most {MAX_RULE} characters.")
    return kind, shown, shown.casefold()


def paper_id(store: Store, text: str) -> str:
    """The stored, visible paper ``text`` names (an arXiv id, with or without version)."""
    try:
        bare = split_arxiv_id(text)[0]
    except InvalidArxivId as exc:
        raise LibraryError("paper", str(exc)) from None
    if not store.search.papers([bare]):
        raise LibraryError("paper", f"No paper {bare} here.")
    return bare


# -- private feed tokens -------------------------------------------------------------------


@dataclass(frozen=True)
class NewFeedToken:
    id: int
    token: str  # shown once


def create_feed_token(store: Store, user_id: int, name: str, *, now: datetime) -> NewFeedToken:
    """A new private-feed token for the user (the token itself is returned only now)."""
    label = _collapse(name)[:MAX_TOKEN_NAME] or "feed reader"
    token = FEED_TOKEN_PREFIX + new_secret()
    token_id = store.personal.create_feed_token(
        user_id, label, sha256(token), token[: len(FEED_TOKEN_PREFIX) + 6], now=now
    )
    return NewFeedToken(token_id, token)


def feed_token_user(store: Store, token: str, *, now: datetime) -> int | None:
    """The owner of a live private-feed token, else None (unknown, revoked, banned owner)."""
    if not token.startswith(FEED_TOKEN_PREFIX) or len(token) > 128:
        return None
    return store.personal.feed_token_user(sha256(token), now=now)
