"""The search box's query language, parsed into a :class:`Query`.

    mean field "spin glass" -quantum author:parisi cat:cond-mat.dis-nn year:2023
    since:2024-01-01 until:2024-06-30 sort:date

Words are searched for (ranked, not all required), ``"a phrase"`` must appear as written,
``-word`` and ``-"a phrase"`` must not appear, and the filters narrow the results:
``author:`` (part of an author's name; quote names with spaces), ``cat:`` (a category such
as ``cs.LG``, or an archive such as ``cs`` or ``hep-th``), ``year:``, ``since:`` and
``until:`` (dates of first publication on arXiv, inclusive), and ``sort:`` (``relevance``,
``date`` or ``upvotes``). A ``name:`` that is not one of these is just text (``arXiv:2310``,
``BERT:``). Bad syntax raises :class:`QuerySyntaxError` with the position, never anything
else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from paperfeed.models import YEARS, SearchFilter

MAX_QUERY_CHARS = 1000  # a pasted abstract sentence or two; more is not a query
MAX_PARTS = 100
SORTS = ("relevance", "date", "upvotes")
# Snowball's English stop words, as PostgreSQL's `english` text search configuration uses.
STOP_WORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves what which
    who whom this that these those am is are was were be been being have has had having do
    does did doing a an the and but if or because as until while of at by for with about
    against between into through during before after above below to from up down in out on
    off over under again further then once here there when where why how all any both each
    few more most other some such no nor not only own same so than too very s t can will
    just don should now""".split()  # noqa: SIM905
)
FIELDS = ("author", "cat", "year", "since", "until", "sort")

_WORD_RE = re.compile(r"\w(?:[\w.'’+-]*\w)?")
_CATEGORY_RE = re.compile(r"^[A-Za-z-]+(\.[A-Za-z-]+)?$")


class QuerySyntaxError(ValueError):
    """A query that does not parse; ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at character {position + 1})")
        self.message = message
        self.position = position


@dataclass
class Query:
    """A parsed query: what to look for, what to leave out, and the filters."""

    words: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)  # words and phrases
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    since: date | None = None
    until: date | None = None
    sort: str = "relevance"

    @property
    def has_text(self) -> bool:
        """Whether there is something to rank by (not only filters)."""
        return bool(self.words or self.phrases)

    @property
    def has_filters(self) -> bool:
        return bool(self.excluded or self.authors or self.categories or self.since or self.until)

    def filter(self) -> SearchFilter:
        """The constraints besides relevance, for the store."""
        return SearchFilter(
            phrases=tuple(self.phrases),
            excluded=tuple(self.excluded),
            authors=tuple(self.authors),
            categories=tuple(self.categories),
            since=self.since,
            until=self.until,
        )

    @property
    def text(self) -> str:
        """The words and phrases as one string, for the embedding model."""
        return " ".join([*self.phrases, *self.words])

    def canonical(self) -> str:
        """The query written back in the query language (parses to an equal Query)."""
        parts = [*self.words, *(_quote(p) for p in self.phrases)]
        parts += ["-" + (_quote(e) if " " in e else e) for e in self.excluded]
        parts += ["author:" + (_quote(a) if " " in a else a) for a in self.authors]
        parts += ["cat:" + c for c in self.categories]
        if self.since:
            parts.append(f"since:{self.since.isoformat()}")
        if self.until:
            parts.append(f"until:{self.until.isoformat()}")
        if self.sort != "relevance":
            parts.append(f"sort:{self.sort}")
        return " ".join(parts)


def _quote(text: str) -> str:
    return f'"{text}"'


def parse_query(text: str, *, sort: str | None = None) -> Query:
    """Parse the search box's text; ``sort`` (from a form field) overrides ``sort:``."""
    if len(text) > MAX_QUERY_CHARS:
        raise QuerySyntaxError(
            f"the query is too long ({len(text)} characters; at most {MAX_QUERY_CHARS})",
            MAX_QUERY_CHARS,
        )
    query = Query()
    for parts, (token, start) in enumerate(_tokens(text), start=1):
        if parts > MAX_PARTS:
            raise QuerySyntaxError(f"too many terms (at most {MAX_PARTS})", start)
        _apply(query, token, start)
    if sort is not None:
        if sort not in SORTS:
            raise QuerySyntaxError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}", 0)
        query.sort = sort
    if query.since and query.until and query.since > query.until:
        raise QuerySyntaxError(
            f"the dates exclude each other: since {query.since} is after until {query.until}", 0
        )
    return query


def _tokens(text: str) -> list[tuple[str, int]]:
    """Split on whitespace, keeping double-quoted runs (with their prefix) together."""
    tokens: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        while i < n and not text[i].isspace():
            if text[i] == '"':
                close = text.find('"', i + 1)
                if close < 0:
                    raise QuerySyntaxError("a quote is not closed", i)
                i = close + 1
            else:
                i += 1
        tokens.append((text[start:i], start))
    return tokens


def _apply(query: Query, token: str, start: int) -> None:
    negated = token.startswith("-") and len(token) > 1
    body = token[1:] if negated else token
    name, colon, value = body.partition(":")
    if colon and name.lower() in FIELDS and not body.startswith('"'):
        if negated:
            raise QuerySyntaxError(f"{name}: cannot be negated", start)
        _apply_field(query, name.lower(), _unquote(value, start + len(name) + 1), start)
        return
    if body.startswith('"') and body.endswith('"') and len(body) >= 2:
        phrase = " ".join(split_words(body[1:-1]))
        if phrase:
            (query.excluded if negated else query.phrases).append(phrase)
        return
    words = split_words(body)
    if negated:
        query.excluded.extend(words)
    else:
        query.words.extend(words)


def _unquote(value: str, position: int) -> str:
    if value.startswith('"'):
        if not value.endswith('"') or len(value) < 2:
            raise QuerySyntaxError("text after a closing quote", position)
        value = value[1:-1]
    if '"' in value:
        raise QuerySyntaxError("a quote in the middle of a value", position)
    return " ".join(value.split())


def _apply_field(query: Query, name: str, value: str, start: int) -> None:
    if not value:
        raise QuerySyntaxError(f"{name}: needs a value", start)
    if name == "author":
        query.authors.append(value)
    elif name == "cat":
        if not _CATEGORY_RE.match(value):
            raise QuerySyntaxError(f"{value!r} is not an arXiv category (like cs.LG)", start)
        query.categories.append(value)
    elif name == "year":
        if not (value.isascii() and value.isdigit() and len(value) == 4 and int(value) in YEARS):
            raise QuerySyntaxError(f"year:{value} is not a year (like 2023)", start)
        _narrow(query, date(int(value), 1, 1), date(int(value), 12, 31), start)
    elif name in ("since", "until"):
        day = _date(value, name, start)
        _narrow(query, day if name == "since" else None, day if name == "until" else None, start)
    else:
        if value.lower() not in SORTS:
            raise QuerySyntaxError(f"sort: must be one of {', '.join(SORTS)}", start)
        query.sort = value.lower()


def _date(value: str, name: str, start: int) -> date:
    try:
        if re.fullmatch(r"\d{4}", value) and int(value) in YEARS:
            return date(int(value), 1, 1) if name == "since" else date(int(value), 12, 31)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) and int(value[:4]) in YEARS:
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise QuerySyntaxError(f"{name}:{value} is not a date (YYYY-MM-DD or YYYY)", start)


def _narrow(query: Query, since: date | None, until: date | None, start: int) -> None:
    if since and (query.since is None or since > query.since):
        query.since = since
    if until and (query.until is None or until < query.until):
        query.until = until


def split_words(text: str) -> list[str]:
    return _WORD_RE.findall(text)
