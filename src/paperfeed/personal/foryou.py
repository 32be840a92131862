"""A reader's "For you" list, and a tag's recommendations: what the reader asked for in so
many words, and the papers the per-reader model (``paperfeed.personal.recommend``) ranks
highest among the new ones.

What they asked for (:func:`for_you_candidates`):

- papers of the authors they follow, from the last ``days`` days: always in the list (an
  exclude rule does not drop them), marked "followed author";
- papers matching one of their *include* keyword rules (same window), marked with it;
- *exclude* rules drop the keyword candidates whose title or abstract holds the phrase;
- papers they said "not interested" to, or already saved, are never candidates.

How :func:`for_you` puts the list together:

- the profile is what the reader saved or upvoted, the explicit negatives what they said
  "not interested" to; the model scores every paper of the window (new papers, not the
  archive) they have not saved, turned down or upvoted;
- **followed authors' papers come first**, in the model's order among themselves: the
  reader named those authors, and there are few of them; then up to ``limit`` of the
  model's picks;
- rules filter or boost, the model orders: an exclude rule drops the picks it matches
  (never a followed author's paper), an include rule adds ``INCLUDE_BOOST`` to the score of
  its matches (scores standardised over the window first: one standard deviation), so they
  rise without jumping over everything;
- every ranked paper says why ("similar to X you saved");
- **seen**: a paper already sent in a digest, or first shown on the site (a page, the API,
  a private feed) more than ``seen_hours`` ago, is not recommended again; within those
  hours it stays, so a reload or a feed reader's next poll finds the same list;
- an empty profile or features not built yet leave the candidates above in their plain
  order (more reasons first, then newest), and the result says why (:data:`NO_PROFILE`,
  :data:`NO_FEATURES`, :data:`NOT_INDEXED`) so the page can tell the reader.

:func:`tag_recommendations` does the same for one tag: its papers are the profile, exclude
rules filter, nothing else is added.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np

from paperfeed.models import Paper
from paperfeed.store import Store
from paperfeed.store.personal import KeywordRule

from .library import author_key
from .recommend import CorpusFeatures, Recommender, RecommenderConfig

DEFAULT_DAYS = 30
DEFAULT_LIMIT = 100  # candidates of followed authors, and of each include rule, at most
PICKS = 50  # the model's picks in "For you", besides followed authors' papers
TAG_PICKS = 10  # recommendations on a tag's page
SEEN_HOURS = 12.0
INCLUDE_BOOST = 1.0  # added per matched include rule, in standard deviations of the scores

RANKED = "ranked"  # the model ordered the list
NO_PROFILE = "no_profile"  # nothing saved or upvoted (a tag without papers): nothing to go by
NO_FEATURES = "no_features"  # the corpus features are not built (yet): plain order
NOT_INDEXED = "not_indexed"  # none of the profile's papers has a vector yet


@dataclass(frozen=True)
class Candidate:
    """A paper for the reader, with why: followed authors on it, include rules it matched,
    and the model's score and the profile paper it is most like when it was ranked."""

    paper: Paper
    authors: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    score: float | None = None  # standardised over the window, include boosts added
    similar_to: str | None = None  # arXiv id of the profile paper it is most like
    explanation: str | None = None  # "similar to <title> you saved"

    @property
    def reasons(self) -> list[str]:
        return [
            *(f"followed author: {name}" for name in self.authors),
            *(f"keyword: {text}" for text in self.keywords),
            *([self.explanation] if self.explanation else []),
        ]


@dataclass(frozen=True)
class ForYou:
    """A list of recommendations and how it was made."""

    papers: list[Candidate]
    status: str  # RANKED, NO_PROFILE, NO_FEATURES or NOT_INDEXED
    profile: int  # papers it starts from
    shown: set[str] = field(default_factory=set)  # listed papers shown to the reader before


def _words_pattern(text: str) -> re.Pattern[str] | None:
    """``text``'s words in a row, as whole words, in any case and spacing."""
    words = re.findall(r"\w+", text)
    if not words:
        return None
    return re.compile(r"(?<!\w)" + r"\W+".join(re.escape(w) for w in words) + r"(?!\w)", re.I)


def _excluded_by(rules: Iterable[KeywordRule]) -> list[re.Pattern[str]]:
    return [p for r in rules if r.kind == "exclude" and (p := _words_pattern(r.text))]


def _matches(paper: Paper, patterns: list[re.Pattern[str]]) -> bool:
    text = f"{paper.title}\n{paper.abstract}"
    return any(pattern.search(text) for pattern in patterns)


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
    leave_out: Collection[str] = (),
) -> list[Candidate]:
    """What the reader asked for (see the module's docstring), at most ``limit``, papers
    with more reasons first, then newest; none of ``leave_out``. ``now`` is naive UTC, as
    the database keeps time."""
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
    excludes = _excluded_by(rules)
    for rule in (r for r in rules if r.kind == "include"):
        for paper in personal.papers_with_phrase(user_id, rule.text, since=since, limit=limit):
            known = found.get(paper.arxiv_id)
            if known is None:
                if _matches(paper, excludes):
                    continue
                known = Candidate(paper)
            found[paper.arxiv_id] = Candidate(paper, known.authors, (*known.keywords, rule.text))
    kept = [c for pid, c in found.items() if pid not in leave_out]
    ranked = sorted(
        kept,
        key=lambda c: (len(c.reasons), c.paper.published or c.paper.first_seen or since),
        reverse=True,
    )
    return ranked[:limit]


def stale_ids(seen: dict[str, tuple[datetime, str]], *, now: datetime, hours: float) -> set[str]:
    """The papers not to recommend again, from :meth:`PersonalStore.seen_times`: sent in a
    digest, or first shown on the site more than ``hours`` ago."""
    cutoff = now - timedelta(hours=hours)
    return {pid for pid, (at, via) in seen.items() if via == "digest" or at < cutoff}


def for_you(
    store: Store,
    user_id: int,
    features: CorpusFeatures | None,
    *,
    now: datetime,
    days: int = DEFAULT_DAYS,
    limit: int = PICKS,
    seen_hours: float = SEEN_HOURS,
    config: RecommenderConfig | None = None,
) -> ForYou:
    """The reader's "For you" list (see the module's docstring), ranked with ``features``
    (None: not built yet)."""
    personal = store.personal
    seen = personal.seen_times(user_id)
    profile = personal.liked_by([user_id])[user_id]
    stale = stale_ids(seen, now=now, hours=seen_hours)
    asked = for_you_candidates(store, user_id, now=now, days=days, leave_out=stale | profile)
    if not profile or features is None:
        status = NO_PROFILE if not profile else NO_FEATURES
        return ForYou(asked, status, len(profile), _shown(asked, seen))
    if not len(features.rows(profile)):
        return ForYou(asked, NOT_INDEXED, len(profile), _shown(asked, seen))
    # the window's papers on the feed, and those asked for (a followed author's paper may
    # not be on the feed); the reader's own (saved, turned down, stale) are left out by the
    # ranking, so the window is every reader's and its rows are taken once for all (a
    # reader following an author with papers off the feed has a set of their own)
    pool = personal.window_ids(since=now - timedelta(days=days))
    pool |= {c.paper.arxiv_id for c in asked}
    followed = [c for c in asked if c.authors]
    boosts = {c.paper.arxiv_id: len(c.keywords) for c in asked if c.keywords}
    ranking = _Ranking(store, features, config)
    scored = ranking.score(profile, personal.dismissed_ids(user_id), pool, boosts, stale)
    first = sorted(
        ranking.explained(followed, scored),
        key=lambda c: (c.score is not None, c.score or 0.0),
        reverse=True,
    )
    rest = ranking.best(
        scored,
        limit,
        excludes=_excluded_by(personal.rules(user_id)),
        skip={c.paper.arxiv_id for c in followed},
        asked={c.paper.arxiv_id: c for c in asked},
    )
    unscored = [c for c in asked if not c.authors and c.paper.arxiv_id not in scored]
    papers = first + (rest + unscored)[:limit]
    return ForYou(papers, RANKED, len(profile), _shown(papers, seen))


def tag_recommendations(
    store: Store,
    user_id: int,
    tag_key: str,
    features: CorpusFeatures | None,
    *,
    now: datetime,
    days: int = DEFAULT_DAYS,
    limit: int = TAG_PICKS,
    seen_hours: float = SEEN_HOURS,
    config: RecommenderConfig | None = None,
) -> ForYou:
    """New papers like the ones carrying the reader's tag ``tag_key``: the same window,
    negatives, seen rule and exclude rules as "For you"."""
    personal = store.personal
    profile = personal.tagged_ids(user_id, tag_key)
    if not profile or features is None:
        return ForYou([], NO_PROFILE if not profile else NO_FEATURES, len(profile))
    if not len(features.rows(profile)):
        return ForYou([], NOT_INDEXED, len(profile))
    seen = personal.seen_times(user_id)
    stale = stale_ids(seen, now=now, hours=seen_hours)
    # (what the reader saved is not recommended on a tag's page either)
    pool = personal.window_ids(since=now - timedelta(days=days))
    leave_out = stale | personal.saved_ids(user_id)
    ranking = _Ranking(store, features, config, because=f"tagged “{tag_key}”")
    scored = ranking.score(profile, personal.dismissed_ids(user_id), pool, {}, leave_out)
    papers = ranking.best(scored, limit, excludes=_excluded_by(personal.rules(user_id)))
    return ForYou(papers, RANKED, len(profile), _shown(papers, seen))


def _shown(papers: list[Candidate], seen: dict[str, tuple[datetime, str]]) -> set[str]:
    return {c.paper.arxiv_id for c in papers if c.paper.arxiv_id in seen}


class _Ranking:
    """The model's picks for one list: scored, boosted, filtered, explained."""

    def __init__(
        self,
        store: Store,
        features: CorpusFeatures,
        config: RecommenderConfig | None,
        because: str = "you saved or upvoted",
    ) -> None:
        self.store = store
        self.recommender = Recommender(features, config)
        self.because = because  # how a paper got into the profile, for the explanations
        self.profile: Collection[str] = ()

    def score(
        self,
        profile: Collection[str],
        negatives: Collection[str],
        pool: Collection[str],
        boosts: dict[str, int],
        leave_out: Collection[str] = (),
    ) -> dict[str, float]:
        """{paper: score} for every paper of ``pool`` the corpus knows but the profile's,
        ``negatives`` and ``leave_out``, best first: the model's score standardised over
        them, plus ``INCLUDE_BOOST`` per match."""
        self.profile = profile
        ranked = self.recommender.ranked(profile, negatives, leave_out, candidates=pool)
        if not ranked:
            return {}
        ids = [pid for pid, _ in ranked]
        raw = np.fromiter((score for _, score in ranked), dtype=np.float64, count=len(ranked))
        spread = float(raw.std()) or 1.0
        boosted = (raw - raw.mean()) / spread
        if not boosts:  # (the model's order stands)
            return dict(zip(ids, boosted.tolist(), strict=True))
        boosted += INCLUDE_BOOST * np.array([boosts.get(pid, 0) for pid in ids])
        order = np.argsort(-boosted, kind="stable").tolist()
        return dict(zip([ids[i] for i in order], boosted[order].tolist(), strict=True))

    def explained(self, candidates: list[Candidate], scored: dict[str, float]) -> list[Candidate]:
        """``candidates`` with their scores and explanations, those the model ranked (one
        look at the profile and one title query for them all)."""
        ranked = [
            (c.paper.arxiv_id, scored[c.paper.arxiv_id])
            for c in candidates
            if c.paper.arxiv_id in scored
        ]
        picks = {p.arxiv_id: p for p in self.recommender.explain(ranked, self.profile)}
        titles = self.store.search.titles(sorted({p.similar_to for p in picks.values()}))
        found = []
        for candidate in candidates:
            pick = picks.get(candidate.paper.arxiv_id)
            if pick is not None:
                candidate = replace(
                    candidate,
                    score=scored[pick.arxiv_id],
                    similar_to=pick.similar_to,
                    explanation=pick.explanation(titles, self.because),
                )
            found.append(candidate)
        return found

    def best(
        self,
        scored: dict[str, float],
        limit: int,
        *,
        excludes: list[re.Pattern[str]],
        skip: Collection[str] = (),
        asked: dict[str, Candidate] | None = None,
    ) -> list[Candidate]:
        """The ``limit`` best of ``scored`` but ``skip`` and the papers an exclude rule
        matches, explained; ``asked`` holds the candidates with reasons of their own
        (keywords)."""
        order = [pid for pid in scored if pid not in skip]
        chosen: list[Candidate] = []
        step = max(2 * limit, 20)
        for start in range(0, len(order), step):
            papers = self.store.search.papers(order[start : start + step])
            for pid in order[start : start + step]:
                paper = papers.get(pid)
                if paper is None or _matches(paper, excludes):
                    continue
                chosen.append((asked or {}).get(pid) or Candidate(paper))
                if len(chosen) == limit:
                    return self.explained(chosen, scored)
        return self.explained(chosen, scored)
