"""The candidates of a reader's "For you" list, before any learned ranking.

What is here is what the reader asked for in so many words:

- papers of the authors they follow, from the last ``days`` days: always in the list (an
  exclude rule does not drop them), marked "followed author";
- papers matching one of their *include* keyword rules (same window), marked with it;
- *exclude* rules drop the keyword candidates whose title or abstract holds the phrase;
- papers they said "not interested" to, or already saved, are never candidates;
- with ``exclude_seen`` (the e-mail digest), papers already shown to them anywhere are
  left out too, so no paper is recommended twice.

The order here is honest and simple: papers with more reasons first, then newest first.
The per-user linear model (``paperfeed.personal.recommend``) plugs in on top of this
function: it takes these candidates (plus its own, from the embeddings), scores them and
reorders; the rules have already filtered and the reasons stay on each candidate, so the
pages can still say why a paper is there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from paperfeed.models import Paper
from paperfeed.store import Store

from .library import author_key

DEFAULT_DAYS = 30
DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class Candidate:
    """A paper for the reader, with why: followed authors on it, include rules it matched."""

    paper: Paper
    authors: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    @property
    def reasons(self) -> list[str]:
        return [f"followed author: {name}" for name in self.authors] + [
            f"keyword: {text}" for text in self.keywords
        ]


def _words_pattern(text: str) -> re.Pattern[str] | None:
    """``text``'s words in a row, as whole words, in any case and spacing."""
    words = re.findall(r"\w+", text)
    if not words:
        return None
    return re.compile(r"(?<!\w)" + r"\W+".join(re.escape(w) for w in words) + r"(?!\w)", re.I)


def _followed_on(paper: Paper, followed: list[tuple[str, re.Pattern[str]]]) -> tuple[str, ...]:
    keys = [author_key(name) for name in paper.authors]
    return tuple(name for name, pattern in followed if any(pattern.search(k) for k in keys))


def for_you_candidates(
    store: Store,
    user_id: int,
    *,
    now: datetime,
    days: int = DEFAULT_DAYS,
    limit: int = DEFAULT_LIMIT,
    exclude_seen: bool = False,
) -> list[Candidate]:
    """The reader's candidates (see the module's docstring), at most ``limit``. ``now`` is
    naive UTC, as the database keeps time."""
    personal = store.personal
    since = now - timedelta(days=days)
    followed = personal.followed(user_id)
    rules = personal.rules(user_id)
    patterns = [(a.name, p) for a in followed if (p := _words_pattern(author_key(a.name)))]
    found: dict[str, Candidate] = {}
    by_author = personal.papers_by_authors(
        user_id, [a.name for a in followed], since=since, limit=limit
    )
    for paper in by_author:
        found[paper.arxiv_id] = Candidate(paper, _followed_on(paper, patterns))
    excludes = [p for r in rules if r.kind == "exclude" and (p := _words_pattern(r.text))]
    for rule in (r for r in rules if r.kind == "include"):
        for paper in personal.papers_with_phrase(user_id, rule.text, since=since, limit=limit):
            known = found.get(paper.arxiv_id)
            if known is None:
                text = f"{paper.title}\n{paper.abstract}"
                if any(pattern.search(text) for pattern in excludes):
                    continue
                known = Candidate(paper)
            found[paper.arxiv_id] = Candidate(paper, known.authors, (*known.keywords, rule.text))
    if exclude_seen and found:
        seen = personal.seen_ids(user_id)
        found = {pid: c for pid, c in found.items() if pid not in seen}
    ranked = sorted(
        found.values(),
        key=lambda c: (len(c.reasons), c.paper.published or c.paper.first_seen or since),
        reverse=True,
    )
    return ranked[:limit]
