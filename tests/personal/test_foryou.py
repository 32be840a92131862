""" "For you" and a tag's recommendations on the demo set, on both backends: the model orders
them (a reader of robotics papers gets robotics papers, one of medical papers medical
ones), followed authors come first whatever the model thinks, rules filter or boost, "not
interested" and seen papers stay out, an empty profile or missing features say so; the
features are built in the background and rebuilt when papers arrive; the digest's "for
you" ranks in the same features."""

from __future__ import annotations

import itertools
import re
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from paperfeed.community.auth import Accounts
from paperfeed.digest.compose import compose
from paperfeed.digest.links import DigestLinks
from paperfeed.digest.send import DIGEST_RANKING, DigestSender
from paperfeed.models import IngestRecord, Paper
from paperfeed.personal import library as lib
from paperfeed.personal.features import (
    FeatureCache,
    build_features,
    features_file,
    load_features,
)
from paperfeed.personal.foryou import (
    NO_FEATURES,
    NO_PROFILE,
    NOT_INDEXED,
    PICKS,
    RANKED,
    ForYou,
    for_you,
    for_you_candidates,
    tag_recommendations,
)
from paperfeed.personal.recommend import CorpusFeatures, Recommender
from paperfeed.search.embed import DIM, MODEL_NAME
from paperfeed.settings import Settings
from paperfeed.store import Store, utcnow

OTHER = "2511.21695"  # a demo paper of 2025-12-02
_names = itertools.count()


@pytest.fixture(scope="module")
def features(demo_store: Store) -> CorpusFeatures:
    built = build_features(demo_store)
    assert built is not None
    return built


@pytest.fixture(scope="module")
def now(demo_store: Store) -> datetime:
    """Three days after a demo paper: the last 30 days hold a few hundred papers."""
    paper = demo_store.get_paper(OTHER)
    assert paper is not None and paper.first_seen is not None
    return paper.first_seen + timedelta(days=3)


@pytest.fixture(scope="module")
def papers(demo_store: Store, features: CorpusFeatures) -> dict[str, Paper]:
    return demo_store.search.papers(features.ids)


ON_TOPIC = {"medical": ("medical", "clinical")}  # a "Clinic" tag's papers may say either


def mentions(paper: Paper, word: str) -> bool:
    return word in f"{paper.title} {paper.abstract}".lower()


def about(papers: dict[str, Paper], word: str, now: datetime, count: int) -> list[str]:
    """``count`` papers mentioning ``word`` from before the 30-day window (a profile)."""
    since = now - timedelta(days=30)
    old = [
        pid
        for pid, p in sorted(papers.items())
        if mentions(p, word) and (p.published or p.first_seen or now) < since
    ]
    assert len(old) >= count, word
    return old[:count]


def reader(store: Store, saved: list[str], now: datetime) -> int:
    user = store.create_user(f"foryou{next(_names)}")
    for paper_id in saved:
        store.personal.save(user.id, paper_id, now=now)
    return user.id


def two_words(title: str) -> str | None:
    """Two plain words next to each other in ``title`` (a phrase that matches it)."""
    words = title.split()
    for first, second in itertools.pairwise(words):
        if re.fullmatch(r"[A-Za-z]{4,}", first) and re.fullmatch(r"[A-Za-z]{4,}", second):
            return f"{first} {second}"
    return None


def ids(result: ForYou) -> list[str]:
    return [c.paper.arxiv_id for c in result.papers]


def test_the_model_orders_for_you_and_says_why(
    demo_store: Store, features: CorpusFeatures, papers: dict[str, Paper], now: datetime
) -> None:
    robots = about(papers, "robot", now, 6)
    clinic = about(papers, "medical", now, 6)
    lists = {}
    for word, profile in (("robot", robots), ("medical", clinic)):
        user_id = reader(demo_store, profile, now)
        result = for_you(demo_store, user_id, features, now=now)
        assert result.status == RANKED and result.profile == 6 and len(result.papers) == PICKS
        top = [papers[c.paper.arxiv_id] for c in result.papers[:10]]
        assert sum(mentions(p, word) for p in top) >= 8, [p.title for p in top]
        titles = demo_store.search.titles(profile)
        for candidate in result.papers:
            assert candidate.similar_to in profile
            title = titles[candidate.similar_to]
            assert candidate.explanation == f"similar to {title} you saved or upvoted"
            assert candidate.reasons == [candidate.explanation]
        scores = [c.score for c in result.papers]
        assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
        lists[word] = ids(result)
    assert not set(lists["robot"][:10]) & set(lists["medical"][:10])


def test_followed_authors_come_first_and_exclude_rules_spare_them(
    demo_store: Store, features: CorpusFeatures, papers: dict[str, Paper], now: datetime
) -> None:
    """A robotics reader follows the author of a medical paper: it is in, first, marked, and
    an exclude rule matching it does not drop it."""
    user_id = reader(demo_store, about(papers, "robot", now, 6), now)
    window = demo_store.personal.window_ids(since=now - timedelta(days=30))
    plain = ids(for_you(demo_store, user_id, features, now=now))
    medical = next(
        pid
        for pid in sorted(window)
        if mentions(papers[pid], "medical") and pid not in plain and papers[pid].authors
    )
    name = papers[medical].authors[0]
    personal = demo_store.personal
    personal.follow(user_id, *lib.check_author(name), now=now)
    personal.add_rule(user_id, *lib.check_rule("exclude", "medical"), now=now)
    result = for_you(demo_store, user_id, features, now=now)
    followed = [c for c in result.papers if c.authors]
    assert medical in {c.paper.arxiv_id for c in followed}
    assert result.papers[: len(followed)] == followed  # first
    assert all(c.reasons[0] == f"followed author: {name}" for c in followed)
    assert all(c.explanation for c in followed)  # ranked among themselves, and explained
    others = result.papers[len(followed) :]
    assert len(others) == PICKS and not any(mentions(c.paper, "medical") for c in others)


def test_an_exclude_rule_drops_a_model_pick(
    demo_store: Store, features: CorpusFeatures, papers: dict[str, Paper], now: datetime
) -> None:
    user_id = reader(demo_store, about(papers, "robot", now, 6), now)
    before = for_you(demo_store, user_id, features, now=now)
    top = before.papers[0].paper
    phrase = " ".join(re.findall(r"\w+", top.title)[:3])  # as rules split words
    demo_store.personal.add_rule(user_id, *lib.check_rule("exclude", phrase), now=now)
    after = for_you(demo_store, user_id, features, now=now)
    pattern = re.compile(r"\W+".join(phrase.split()), re.I)
    assert top.arxiv_id not in ids(after) and len(after.papers) == PICKS
    assert not any(pattern.search(f"{c.paper.title}\n{c.paper.abstract}") for c in after.papers)
    kept = [pid for pid in ids(before) if pid in set(ids(after))]
    assert kept == ids(after)[: len(kept)]  # the others keep their order


def test_an_include_rule_boosts_and_the_model_still_orders(
    demo_store: Store, features: CorpusFeatures, papers: dict[str, Paper], now: datetime
) -> None:
    user_id = reader(demo_store, about(papers, "robot", now, 6), now)
    before = for_you(demo_store, user_id, features, now=now, limit=5000)
    order = ids(before)
    target, phrase = next(
        (c.paper, words) for c in before.papers[60:] if (words := two_words(c.paper.title))
    )
    demo_store.personal.add_rule(user_id, *lib.check_rule("include", phrase), now=now)
    after = for_you(demo_store, user_id, features, now=now, limit=5000)
    boosted = [c for c in after.papers if c.keywords]
    assert target.arxiv_id in {c.paper.arxiv_id for c in boosted}
    assert ids(after).index(target.arxiv_id) < order.index(target.arxiv_id) - 10
    assert all(f"keyword: {phrase}" in c.reasons and c.explanation for c in boosted)
    # The boost adds to the model's score: among boosted papers, and among the others,
    # the model's order stands.
    for group in (boosted, [c for c in after.papers if not c.keywords]):
        group_ids = [c.paper.arxiv_id for c in group]
        assert group_ids == sorted(group_ids, key=order.index)


def test_not_interested_papers_are_never_shown(
    demo_store: Store, features: CorpusFeatures, papers: dict[str, Paper], now: datetime
) -> None:
    user_id = reader(demo_store, about(papers, "robot", now, 6), now)
    first = ids(for_you(demo_store, user_id, features, now=now))
    for paper_id in first[:3]:
        demo_store.personal.dismiss(user_id, paper_id, now=now)
    again = for_you(demo_store, user_id, features, now=now)
    assert not set(first[:3]) & set(ids(again)) and len(again.papers) == PICKS


def test_the_readers_own_papers_stay_out_of_the_shared_window(
    demo_store: Store, features: CorpusFeatures, papers: dict[str, Paper], now: datetime
) -> None:
    """Every reader's list is ranked from the same window (the reader's own papers left out
    by the ranking, not by the query): what one reader saved from it, on the site or by
    tagging, never comes back in their For you or their tag's recommendations, and is
    still another's pick."""
    profile = about(papers, "robot", now, 6)
    one, other = reader(demo_store, profile, now), reader(demo_store, profile, now)
    personal = demo_store.personal
    first = ids(for_you(demo_store, one, features, now=now))
    for paper_id in first[:2]:
        personal.save(one, paper_id, now=now)
    for paper_id in profile[:5]:
        personal.add_tag(one, paper_id, *lib.check_tag("Robots"), now=now)
    tagged = tag_recommendations(demo_store, one, "robots", features, now=now)
    personal.add_tag(one, ids(tagged)[0], *lib.check_tag("Robots"), now=now)
    personal.save(one, ids(tagged)[1], now=now)
    again = for_you(demo_store, one, features, now=now)
    assert not set(first[:2]) & set(ids(again)) and len(again.papers) == PICKS
    retagged = tag_recommendations(demo_store, one, "robots", features, now=now)
    assert not set(ids(tagged)[:2]) & set(ids(retagged)) and len(retagged.papers) == 10
    assert ids(for_you(demo_store, other, features, now=now))[:2] == first[:2]


def test_a_paper_is_not_recommended_twice(
    demo_store: Store, features: CorpusFeatures, papers: dict[str, Paper], now: datetime
) -> None:
    """Shown on the site within ``seen_hours``: it stays (a reload keeps the list); longer
    ago, or sent in a digest: gone."""
    user_id = reader(demo_store, about(papers, "robot", now, 6), now)
    personal = demo_store.personal
    first = ids(for_you(demo_store, user_id, features, now=now, seen_hours=12))
    personal.mark_seen(user_id, first[:5], "web", now=now - timedelta(hours=1))
    personal.mark_seen(user_id, first[5:10], "web", now=now - timedelta(hours=13))
    personal.mark_seen(user_id, first[10:12], "digest", now=now)
    again = for_you(demo_store, user_id, features, now=now, seen_hours=12)
    assert ids(again)[:5] == first[:5] and again.shown == set(first[:5])
    assert not set(first[5:12]) & set(ids(again))
    personal.mark_seen(user_id, ids(again), "web", now=now)
    later = for_you(demo_store, user_id, features, now=now + timedelta(hours=13), seen_hours=12)
    assert len(later.papers) == PICKS and not set(ids(later)) & (set(first) | set(ids(again)))


def test_without_a_profile_or_features_the_plain_candidates_and_why(
    demo_store: Store, features: CorpusFeatures, papers: dict[str, Paper], now: datetime
) -> None:
    user_id = reader(demo_store, [], now)
    personal = demo_store.personal
    assert for_you(demo_store, user_id, features, now=now) == ForYou([], NO_PROFILE, 0)
    personal.follow(user_id, *lib.check_author(papers[OTHER].authors[0]), now=now)
    personal.add_rule(user_id, *lib.check_rule("include", "robot"), now=now)
    plain = for_you_candidates(demo_store, user_id, now=now)
    assert plain and ids(for_you(demo_store, user_id, features, now=now)) == [
        c.paper.arxiv_id for c in plain
    ]
    saved = about(papers, "robot", now, 6)
    for paper_id in saved:
        personal.save(user_id, paper_id, now=now)
    waiting = for_you(demo_store, user_id, None, now=now)
    assert waiting.status == NO_FEATURES and waiting.profile == 6
    assert ids(waiting) == [
        c.paper.arxiv_id for c in for_you_candidates(demo_store, user_id, now=now)
    ]
    assert all(c.score is None and c.explanation is None for c in waiting.papers)
    unknown = build_features_without(demo_store, set(saved))
    assert for_you(demo_store, user_id, unknown, now=now).status == NOT_INDEXED


def build_features_without(store: Store, left_out: set[str]) -> CorpusFeatures:
    """The demo's features as if ``left_out`` had no vectors yet."""
    found = store.search.embedded_papers(MODEL_NAME)
    keep = [i for i, pid in enumerate(found.ids) if pid not in left_out]
    texts = [found.texts[i] for i in keep]
    return CorpusFeatures.build([found.ids[i] for i in keep], texts, found.matrix[keep])


def test_a_tag_recommends_papers_like_its_own(
    demo_store: Store, features: CorpusFeatures, papers: dict[str, Paper], now: datetime
) -> None:
    user_id = reader(demo_store, [], now)
    personal = demo_store.personal
    tags = {"robot": "Robots", "medical": "Clinic"}
    for word, tag in tags.items():
        for paper_id in about(papers, word, now, 5):
            personal.add_tag(user_id, paper_id, *lib.check_tag(tag), now=now)
    found = {}
    for word, tag in tags.items():
        result = tag_recommendations(demo_store, user_id, lib.tag_key(tag), features, now=now)
        assert result.status == RANKED and len(result.papers) == 10 and result.profile == 5
        tagged = personal.tagged_ids(user_id, lib.tag_key(tag))
        assert all(c.similar_to in tagged and c.explanation for c in result.papers)
        on_topic = ON_TOPIC.get(word, (word,))
        assert sum(any(mentions(c.paper, w) for w in on_topic) for c in result.papers) >= 8
        found[word] = set(ids(result))
    assert not found["robot"] & found["medical"]
    waiting = tag_recommendations(demo_store, user_id, "robots", None, now=now)
    assert waiting == ForYou([], NO_FEATURES, 5)
    nothing = tag_recommendations(demo_store, user_id, "no such tag", features, now=now)
    assert nothing == ForYou([], NO_PROFILE, 0)


def test_the_digest_for_you_ranks_in_the_models_features(
    demo_store: Store, features: CorpusFeatures, papers: dict[str, Paper], now: datetime
) -> None:
    settings = Settings.from_env({}, database_url=demo_store.url)
    links = DigestLinks(Accounts(demo_store, settings, utcnow).signer, settings.public_url)
    user_id = reader(demo_store, about(papers, "robot", now, 6), now)
    sub, _ = demo_store.digests.subscribe(
        f"foryou{next(_names)}@example.org", now=utcnow(), confirmed=True, user_id=user_id
    )
    demo_store.digests.set_preferences(
        sub.id, frequency="weekly", top_n=2, categories=[], keywords=[], personalized=True
    )
    sub = demo_store.digests.subscriber(sub.id)  # type: ignore[assignment]
    assert sub is not None
    sender = DigestSender(demo_store, settings, links, features=FeatureCache(demo_store).build_now)
    _, pool, _, vectors = sender.digests("weekly", [sub])
    assert pool is not None
    digest = sender.compose_one(pool, sub, vectors)
    # the recommender's similarity ranking (no SVM per reader: a run composes thousands)
    picks = Recommender(features, DIGEST_RANKING).recommend(
        demo_store.personal.liked_by([user_id])[user_id], candidates=pool.papers, limit=500
    )
    shown = {p.arxiv_id for p in digest.top + digest.trending}
    expected = [p.arxiv_id for p in picks if p.arxiv_id not in shown][:5]
    assert [p.arxiv_id for p in digest.for_you] == expected
    centroid = compose(pool, sub, vectors[user_id])  # the fallback, without features
    fallback = DigestSender(demo_store, settings, links)  # the default: no features
    _, pool, _, vectors = fallback.digests("weekly", [sub])
    assert pool is not None
    assert fallback.compose_one(pool, sub, vectors).for_you == centroid.for_you
    assert [p.arxiv_id for p in centroid.for_you] != expected  # so the first one was the model


# -- the features cache --------------------------------------------------------------------


def add_papers(store: Store, count: int, start: int = 0) -> None:
    rng = np.random.default_rng(start)
    batch = [
        Paper(
            arxiv_id=f"2601.{n:05d}",
            title=f"Paper {n} on topic {n % 3}",
            abstract=f"words of topic{n % 3} and more words number{n}",
            authors=["Someone"],
            categories=["cs.LG"],
            version=1,
            published=datetime(2026, 1, 2),
        )
        for n in range(start, start + count)
    ]
    store.write_batch([IngestRecord(p, "test", f"t:{p.arxiv_id}") for p in batch])
    vectors = [(p.arxiv_id, "h", rng.normal(size=DIM).astype(np.float32)) for p in batch]
    store.search.save_embeddings(MODEL_NAME, vectors)


def test_features_answer_at_once_and_are_rebuilt_when_papers_arrive(store: Store) -> None:
    add_papers(store, 6)
    release = threading.Event()
    builds: list[int] = []

    def held(store: Store, model: str) -> CorpusFeatures | None:
        release.wait(30)
        built = build_features(store, model)
        builds.append(len(built.ids) if built else 0)
        return built

    cache = FeatureCache(store, check_every=0.0, build=held)
    started = time.monotonic()
    assert cache.get() is None and cache.status == "building"  # never waits for the build
    assert cache.get() is None and time.monotonic() - started < 5
    release.set()
    first = cache.wait(30)
    assert first is not None and len(first.ids) == 6 and cache.status == "ready"
    assert cache.get() is first and builds == [6]  # nothing new: no second build
    release.clear()
    add_papers(store, 2, start=6)
    assert cache.get() is first  # the old features answer while the new ones are built
    release.set()
    second = cache.wait(30)
    assert second is not None and len(second.ids) == 8 and "2601.00007" in second.row
    assert builds == [6, 8] and cache.get() is second


def test_features_of_an_empty_corpus_or_a_failed_build(store: Store) -> None:
    empty = FeatureCache(store)
    empty.get()
    assert empty.wait(30) is None and empty.status == "empty"

    def broken(store: Store, model: str) -> CorpusFeatures | None:
        raise RuntimeError("out of memory")

    failing = FeatureCache(store, check_every=3600, build=broken)
    assert failing.get() is None
    failing.wait(30)
    assert failing.status == "failed" and failing.get() is None  # tried again only later
    add_papers(store, 3)
    batch = FeatureCache(store)
    built = batch.build_now()  # a batch job waits for it
    assert built is not None and len(built.ids) == 3 and batch.build_now() is built


def test_built_features_are_kept_in_a_file_and_read_back(store: Store, tmp_path: Path) -> None:
    """A restarted server (or a digest run) reads the features a build left instead of
    fitting the tf-idf again, as long as the corpus has not changed; a file of another
    corpus, a damaged one or one of another model is built again and replaced."""
    add_papers(store, 6)
    kept = features_file(store, tmp_path)
    assert kept is not None  # next to the SQLite file; per database under data_dir for PG
    builds: list[int] = []

    def counted(store: Store, model: str) -> CorpusFeatures | None:
        built = build_features(store, model)
        builds.append(len(built.ids) if built else 0)
        return built

    first = FeatureCache(store, build=counted, path=kept).build_now()
    assert first is not None and kept.is_file() and builds == [6]

    def refused(store: Store, model: str) -> CorpusFeatures | None:
        raise AssertionError("the kept features should have been read")

    again = FeatureCache(store, build=refused, path=kept).build_now()
    assert again is not None and again.ids == first.ids
    assert (again.tfidf != first.tfidf).nnz == 0 and np.array_equal(again.vectors, first.vectors)
    profile = ["2601.00000", "2601.00003"]
    assert Recommender(again).ranked(profile) == Recommender(first).ranked(profile)

    add_papers(store, 2, start=6)  # a new corpus: the file is stale
    newer = FeatureCache(store, build=counted, path=kept).build_now()
    assert newer is not None and len(newer.ids) == 8 and builds == [6, 8]
    assert load_features(kept, MODEL_NAME, store.search.embeddings_version()) is not None
    assert load_features(kept, "another-model", store.search.embeddings_version()) is None

    kept.write_bytes(b"PK\x03\x04 not a whole file")  # damaged: built again, replaced
    mended = FeatureCache(store, build=counted, path=kept).build_now()
    assert mended is not None and builds == [6, 8, 8]
    assert load_features(kept, MODEL_NAME, store.search.embeddings_version()) is not None
