"""The recommender on synthetic topics and real abstracts, and `paperfeed eval recommend`."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from conftest import shared_data
from paperfeed.personal.evaluate import load_corpus, make_split, one_person
from paperfeed.personal.recommend import (
    SLICES_KEPT,
    CorpusFeatures,
    Pick,
    Recommender,
    RecommenderConfig,
    _columns_of,
)
from test_cli import paperfeed

TOPIC_WORDS = [
    ["quantum", "entanglement", "qubit", "decoherence", "photon", "superconducting"],
    ["protein", "folding", "enzyme", "peptide", "ligand", "residue"],
    ["galaxy", "redshift", "telescope", "supernova", "cosmology", "lensing"],
    ["auction", "bidding", "equilibrium", "mechanism", "pricing", "welfare"],
]
COMMON = ["analysis", "method", "results", "study", "approach", "model", "data"]


def synthetic(per_topic: int = 30, seed: int = 3) -> tuple[CorpusFeatures, list[int]]:
    """Papers in four topics: vectors near one direction per topic, texts mixing the
    topic's words with common ones. Returns the features and each paper's topic."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(TOPIC_WORDS), 32))
    ids, texts, vectors, topics = [], [], [], []
    for topic, words in enumerate(TOPIC_WORDS):
        for n in range(per_topic):
            ids.append(f"t{topic}-{n:02d}")
            picked = rng.choice(words, 4, replace=False).tolist() + rng.choice(COMMON, 3).tolist()
            texts.append(" ".join(picked))
            vectors.append(centres[topic] + 0.6 * rng.normal(size=32))
            topics.append(topic)
    return CorpusFeatures.build(ids, texts, np.array(vectors)), topics


def topic_of(pick: Pick | str) -> int:
    return int((pick.arxiv_id if isinstance(pick, Pick) else pick)[1])


def test_the_model_finds_the_profiles_topic_and_says_why() -> None:
    features, _ = synthetic()
    profile = [f"t1-{n:02d}" for n in range(8)]  # 8 papers: the linear model
    picks = Recommender(features).recommend(profile, limit=15)
    assert len(picks) == 15
    assert [topic_of(p) for p in picks] == [1] * 15
    assert not {p.arxiv_id for p in picks} & set(profile)
    assert all(p.similar_to in profile and 0 < p.similarity <= 1 for p in picks)
    assert [p.score for p in picks] == sorted((p.score for p in picks), reverse=True)
    titles = {pid: f"Paper {pid}" for pid in profile}
    assert picks[0].explanation(titles) == f"similar to Paper {picks[0].similar_to} you saved"


def test_a_big_corpus_fits_on_the_profiles_words_only() -> None:
    """From ``profile_words_from`` papers the SVM weighs the profile's words only (the
    fit's cost then follows the profile, not the negatives' vocabulary); below it, every
    word of its training rows. Both find the topic."""
    profile = [f"t1-{n:02d}" for n in range(8)]
    for words_from, only_profile in ((0, True), (10**9, False)):
        features, _ = synthetic()
        recommender = Recommender(features, RecommenderConfig(profile_words_from=words_from))
        picks = recommender.recommend(profile, limit=15)
        assert [topic_of(p) for p in picks] == [1] * 15
        ((columns, weights),) = features.models.values()
        words = set(features.tfidf[features.rows(profile)].indices.tolist())
        assert len(columns) == len(weights) > 0 and np.all(weights != 0)
        assert (set(columns.tolist()) <= words) is only_profile


def test_rows_are_sorted_and_unique_and_skip_unknown_ids() -> None:
    features, _ = synthetic()
    assert features.rows(["t2-03", "t0-01", "nope", "t2-03", "t0-01"]).tolist() == [
        features.row["t0-01"],
        features.row["t2-03"],
    ]
    assert features.rows({"t1-00"}).tolist() == [features.row["t1-00"]]
    assert features.rows(["nope"]).dtype == np.int64 and not len(features.rows([]))


def test_a_sparse_direction_scores_alike_through_columns_or_rows() -> None:
    """A model's weights score the pool through its columns (rare words: few entries) or
    through the pool's rows (common words): the same scores either way."""
    features, _ = synthetic()
    recommender = Recommender(features)
    frequency = features.document_frequency
    rare = np.flatnonzero(frequency <= np.quantile(frequency, 0.3))  # under half the pool's
    common = np.arange(features.tfidf.shape[1])  # every word: more entries than any pool
    pool = np.arange(0, len(features.ids), 2)
    for columns in (rare, common):
        weights = np.linspace(-1, 1, len(columns)).astype(np.float32)
        dense = np.zeros(features.tfidf.shape[1], dtype=np.float32)
        dense[columns] = weights
        expected = features.tfidf[pool] @ dense
        assert np.allclose(recommender._sparse_scores(columns, weights, pool), expected, atol=1e-6)
        assert np.allclose(features.column_scores(columns, weights)[pool], expected, atol=1e-6)


def test_hard_negatives_can_be_found_by_the_less_common_words_only() -> None:
    """``near`` with a share: the profile's centroid over its words in at most that share
    of the papers, minus the corpus mean over the same words (Rocchio), for every paper."""
    features, _ = synthetic()
    rows = features.rows([f"t2-{n:02d}" for n in range(6)])
    share = 0.2
    words = features.words(rows, share)
    frequency = features.document_frequency
    used = np.unique(features.tfidf[rows].indices)
    assert 0 < len(words) < len(used)  # the common words are left out, the topic's kept
    assert set(words.tolist()) == {
        w for w in used.tolist() if frequency[w] <= share * len(features.ids)
    }
    dense = features.tfidf.toarray()
    centroid = np.zeros(dense.shape[1])
    centroid[words] = dense[rows][:, words].mean(axis=0)
    mean = np.where(frequency <= share * len(features.ids), dense.mean(axis=0), 0.0)
    expected = dense @ centroid - 1.25 * (dense @ mean)
    assert np.allclose(features.near(rows, 1.25, share), expected, atol=1e-5)
    assert np.allclose(  # every word: the plain Rocchio score
        features.near(rows, 1.25),
        dense @ (dense[rows].mean(axis=0) - 1.25 * dense.mean(axis=0)),
        atol=1e-5,
    )


def test_columns_of_is_a_column_slice() -> None:
    rng = np.random.default_rng(0)
    matrix = sp.random(40, 300, density=0.05, random_state=1, format="csr", dtype=np.float32)
    matrix = sp.csr_matrix(sp.diags(np.r_[np.ones(3), 0, np.ones(36)]) @ matrix)  # row 3 empty
    matrix.eliminate_zeros()
    matrix.sort_indices()  # as the vectoriser leaves them (and CorpusFeatures makes sure)
    assert matrix[3].nnz == 0
    columns = np.sort(rng.choice(300, 60, replace=False))
    sliced = _columns_of(matrix, columns)
    assert sliced.dtype == np.float64 and sliced.shape == (40, 60)
    assert np.array_equal(sliced.toarray(), matrix[:, columns].toarray())
    copy = sliced.copy()
    copy.has_sorted_indices = False
    copy.sort_indices()
    assert np.array_equal(copy.indices, sliced.indices)  # sorted, as it says


def test_small_profiles_use_similarity_and_keep_both_topics() -> None:
    """Under 5 papers: no model; a profile of two topics finds both (not their average)."""
    features, _ = synthetic()
    profile = ["t0-00", "t0-01", "t2-00", "t2-01"]
    picks = Recommender(features).recommend(profile, limit=20)
    assert {topic_of(p) for p in picks} == {0, 2}
    for pick in picks:  # each pick is explained by the profile paper of its own topic
        assert topic_of(pick.similar_to) == topic_of(pick)


@pytest.mark.parametrize("profile_size", [2, 6], ids=["similarity", "model"])
def test_thumbs_down_push_a_topic_down(profile_size: int) -> None:
    features, _ = synthetic()
    half = profile_size // 2
    profile = [f"t0-{n:02d}" for n in range(half)] + [f"t3-{n:02d}" for n in range(half)]
    disliked = [f"t3-{n:02d}" for n in range(10, 16)]
    recommender = Recommender(features)

    def mean_rank_of_topic_3(negatives: list[str]) -> float:
        picks = recommender.recommend(profile, negatives, limit=100)
        return float(np.mean([rank for rank, p in enumerate(picks) if topic_of(p) == 3]))

    assert mean_rank_of_topic_3(disliked) > mean_rank_of_topic_3([]) + 5
    picks = recommender.recommend(profile, disliked, limit=100)
    assert not {p.arxiv_id for p in picks} & set(disliked)


def test_seen_papers_and_candidates() -> None:
    features, _ = synthetic()
    recommender = Recommender(features)
    profile = [f"t2-{n:02d}" for n in range(6)]
    first = recommender.recommend(profile, limit=5)
    seen = [p.arxiv_id for p in first]
    again = recommender.recommend(profile, seen=seen, limit=5)
    assert not {p.arxiv_id for p in again} & set(seen)
    only = ["t0-00", "t2-10", "t2-11", "t2-00"]  # t2-00 is in the profile: never picked
    picked = [p.arxiv_id for p in recommender.recommend(profile, candidates=only, limit=10)]
    assert picked[:2] == ["t2-10", "t2-11"] or picked[:2] == ["t2-11", "t2-10"]
    assert picked[2:] == ["t0-00"]
    assert recommender.rank(profile, limit=3) == [(p.arxiv_id, p.score) for p in first[:3]]


def test_a_candidate_sets_rows_are_taken_once_for_every_reader() -> None:
    """Readers ranked on the same candidates (a window, a digest's week), each with a
    Recommender of their own, share the candidates' rows the features took for the first;
    the latest SLICES_KEPT sets are kept; scores are those of the rows taken afresh."""
    features, _ = synthetic()
    window = [f"t{topic}-{n:02d}" for topic in range(4) for n in range(20, 30)]  # 40 of 120
    rows = features.rows(window)
    readers = ([f"t1-{n:02d}" for n in range(8)], [f"t3-{n:02d}" for n in range(2)])
    ranked = [Recommender(features).ranked(profile, candidates=window) for profile in readers]
    assert list(features.row_slices) == [hashlib.sha1(rows.tobytes()).digest()]
    tfidf, vectors = features.slices(rows)
    assert (tfidf != features.tfidf[rows]).nnz == 0 and np.array_equal(
        vectors, features.vectors[rows]
    )
    assert len(features.row_slices) == 1
    others = [window[:30], window[5:35], window]
    for candidates in others:
        Recommender(features).ranked(readers[0], candidates=candidates)
    assert len(features.row_slices) == SLICES_KEPT
    assert next(reversed(features.row_slices)) == hashlib.sha1(rows.tobytes()).digest()
    features.row_slices.clear()  # taken afresh: the same scores
    for profile, before in zip(readers, ranked, strict=True):
        assert Recommender(features).ranked(profile, candidates=window) == before
    assert {topic_of(pid) for pid, _ in ranked[0][:8]} == {1}


def test_an_empty_or_unknown_profile_gives_nothing() -> None:
    """A new reader gets an empty list (the page asks them to save papers), not a guess."""
    recommender = Recommender(synthetic()[0])
    assert recommender.recommend([]) == []
    assert recommender.recommend(["not-in-corpus"], negative_ids=["t0-00"]) == []
    assert recommender.recommend(["t0-00"], limit=0) == []


def test_features_must_line_up() -> None:
    with pytest.raises(ValueError, match="line up"):
        CorpusFeatures.build(["a", "b"], ["one text", "two texts"], np.ones((3, 4)))
    with pytest.raises(ValueError, match="unique"):
        CorpusFeatures.build(["a", "a"], ["one text", "two texts"], np.ones((2, 4)))


def test_on_real_abstracts_a_language_profile_gets_language_papers() -> None:
    """60 real papers of the shared sample, embedded by the product's model: a profile of
    five cs.CL papers should be answered mostly with cs.CL papers."""
    from paperfeed.search.embed import default_embedder, paper_text

    lines = shared_data("arxiv/sample-1k.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    language = [r for r in records if r["categories"][0] == "cs.CL"][:20]
    vision = [r for r in records if r["categories"][0] == "cs.CV"][:40]
    papers = language + vision
    texts = [paper_text(r["title"], r["abstract"]) for r in papers]
    vectors = default_embedder().embed(texts)
    features = CorpusFeatures.build([r["id"] for r in papers], texts, vectors)
    profile = [r["id"] for r in language[:5]]
    picks = Recommender(features).recommend(profile, limit=10)
    language_ids = {r["id"] for r in language}
    assert sum(p.arxiv_id in language_ids for p in picks) >= 7  # 15 of 55 left are cs.CL


def test_one_person_splits_shared_names() -> None:
    group = [["Ann Lee", "Bo Chen"], ["Ann Lee", "Bo Chen", "Cy Diaz"], ["Ann Lee", "Cy Diaz"]]
    other = [["Ann Lee", "Dee Ford"], ["Ann Lee", "Dee Ford"], ["Ann Lee", "Dee Ford"]]
    assert one_person("Ann Lee", [*group, ["Ann Lee"], ["Ann Lee", "Eve Gray"]])
    assert not one_person("Ann Lee", group + other)


def write_parts(folder: Path) -> None:
    """A tiny corpus: four authors, each on one topic, with papers from January to
    October 2025; fillers by one-paper authors."""
    folder.mkdir()
    rng = np.random.default_rng(5)
    rows = []
    authors = ["Ada Quinn", "Ben Fold", "Cleo Star", "Dan Bid"]
    for topic, words in enumerate(TOPIC_WORDS):
        for n in range(10):
            month = 1 + n if n < 9 else 10
            own = n < 7 or n == 9  # their own papers: 7 before October, 1 in it
            names = [authors[topic], f"Colleague {topic}"] if own else [f"Someone {topic}-{n}"]
            rows.append(
                {
                    "id": f"2501.{topic}{n:03d}",
                    "title": f"On {words[n % 6]} and {words[(n + 1) % 6]}",
                    "abstract": " ".join(rng.choice(words + COMMON, 30).tolist()) + ".",
                    "authors": names,
                    "categories": ["cs.LG"],
                    "comment": None,
                    "first_seen": f"2025-{month:02d}-{10 + topic:02d}",
                }
            )
    with gzip.open(folder / "part-000.jsonl.gz", "wt", encoding="utf-8") as out:
        out.writelines(json.dumps(row) + "\n" for row in rows)


def test_eval_recommend_on_a_tiny_corpus(tmp_path: Path) -> None:
    write_parts(tmp_path / "parts")
    corpus = load_corpus(tmp_path / "parts")
    test, tune = make_split(corpus, "test"), make_split(corpus, "tune")
    assert {t.author for t in test.tasks} | {t.author for t in tune.tasks} <= {
        "Ada Quinn",
        "Ben Fold",
        "Cleo Star",
        "Dan Bid",
        "Colleague 0",
        "Colleague 1",
        "Colleague 2",
        "Colleague 3",
    }
    assert all(corpus.days[test.rows[k]] >= test.cutoff for t in test.tasks for k in t.relevant)
    assert all(corpus.days[test.rows[k]] < test.cutoff for t in test.tasks for k in t.profile)
    assert max(corpus.days[i] for i in tune.rows) < test.cutoff  # tuning never sees the test

    cache = tmp_path / "vectors.npz"
    args = ("eval", "recommend", str(tmp_path / "parts"), "--json", "--vectors", str(cache))
    result = json.loads(paperfeed(*args).stdout)
    assert set(result["methods"]) == {"tfidf_svm", "centroid", "paperfeed"}
    assert result["authors"] == len(test.tasks) > 0 and result["papers"] == 40
    for figures in [*result["methods"].values(), result["reference"]["coauthor"]]:
        for metric in ("recall@50", "ndcg@50", "mrr"):
            low, high = figures[f"{metric}_ci"]
            assert 0 <= low <= figures[metric] + 1e-9 and figures[metric] <= high + 1e-9 <= 1 + 1e-9
    assert result["reference"]["coauthor"]["recall@50"] == 1.0  # "Colleague" gives it away
    assert cache.is_file()
    again = json.loads(paperfeed(*args).stdout)  # the cached vectors give the same figures
    assert again["methods"]["centroid"]["ndcg@50"] == result["methods"]["centroid"]["ndcg@50"]
    text = paperfeed("eval", "recommend", str(tmp_path / "parts"), "--vectors", str(cache))
    assert "paperfeed" in text.stdout and "(coauthor)" in text.stdout
    # each row says how it compares with the baseline, as the JSON does
    header, *lines = text.stdout.splitlines()[1:]
    assert "R@50 vs tfidf_svm" in header
    baseline_row = next(line for line in lines if line.startswith("tfidf_svm "))
    assert " 1.00 [1.00, 1.00] " in baseline_row
    ours = result["methods"]["paperfeed"]
    paperfeed_row = next(line for line in lines if line.startswith("paperfeed "))
    assert f" {ours['recall@50_vs_tfidf_svm']:.2f} [" in paperfeed_row
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = paperfeed("eval", "recommend", str(empty), check=False)
    assert missing.returncode == 1 and "no .jsonl or .jsonl.gz files" in missing.stderr


def test_a_fitted_model_is_reused_for_the_same_training_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reload (same profile, same negatives) ranks with the kept model: no second fit,
    the same picks; another profile fits its own; the oldest models are let go."""
    from paperfeed.personal import recommend

    monkeypatch.setattr(recommend, "MODELS_KEPT", 40)

    features, _ = synthetic()
    recommender = Recommender(features)
    profile = [f"t1-{n:02d}" for n in range(8)]
    first = recommender.recommend(profile, limit=10)
    assert len(features.models) == 1
    kept = next(iter(features.models.values()))
    again = Recommender(features).recommend(profile, limit=10)  # a new request, same corpus
    assert again == first and len(features.models) == 1
    assert next(iter(features.models.values())) is kept
    Recommender(features).recommend([f"t2-{n:02d}" for n in range(8)], limit=10)
    assert len(features.models) == 2
    for n in range(recommend.MODELS_KEPT):  # each turned-down paper: other training rows
        disliked = f"t{0 if n < 30 else 3}-{n % 30:02d}"
        Recommender(features).recommend(profile, negative_ids=[disliked], limit=3)
    assert len(features.models) == recommend.MODELS_KEPT
    assert all(model is not kept for model in features.models.values())
