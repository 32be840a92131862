"""The recommender's tuning runs: Recall@50 of its variants on the *tuning* split only.

    .venv/bin/python tools/recommend_tuning.py [--authors 300] [--only text,svm,...]

Reads the arXiv corpus (``../shared/data/arxiv``) and the vectors bench_search.py caches
(``bench-results/arxiv-vectors.npz``), builds ``paperfeed.personal.evaluate``'s ``tune``
split (the tuning half of the authors, on the corpus cut at the reported split's cut-off:
nothing after it is read), samples ``--authors`` authors (seed 0) and prints Recall@50 of
each variant over all of them, those with under 5 profile papers, and the others. The
figures quoted in ``paperfeed/personal/recommend.py``'s docstring come from these groups:

* ``baseline``: arxiv-sanity-lite's SVM (its tf-idf, every other older paper a negative);
* ``text``: tf-idf settings, ranked by the profile's centroid (with Rocchio's corpus mean
  taken off where said);
* ``embedding``: MiniLM centroid, nearest profile paper, whitened centroid, and added to
  the text score;
* ``svm``: random vs. hard negatives, how many, C;
* ``blend``: the Recommender's score plus the candidate's tf-idf cosine to its nearest
  profile paper (or the mean of the nearest few: profiles of several topics), or plus the
  Rocchio score (the SVM and the centroid disagree on some papers), or plus a prior on
  the candidate's length (unit-length rows make a long abstract's words weigh less);
* ``pool``: the new papers' own mean as Rocchio's background (what is distinctive in the
  profile against what is being ranked, not against the corpus), and hard negatives from
  the months just before the cut-off only (the negatives' words as the candidates' are);
* ``esvm``: the Recommender's score plus a second linear SVM's, on the whitened embeddings
  (the same kind of negatives), in place of or next to the whitened centroid;
* ``bm25``: the candidates' rows weighted by BM25 (term saturation, length
  normalisation) in place of unit-length tf-idf, on the profile's tf-idf centroid;
* ``paperfeed``: :class:`~paperfeed.personal.recommend.Recommender` as configured, and
  with the settings of each ``--config`` (``--config hard_negatives=1000,svm_c=0.2``);
* ``views`` (2026-12-02; the text-only Recommender, no embedding, unless said): other
  views of the text: the title written twice, bigram columns reweighted, idf squared or to
  the power 1.5, character 3-5-grams (Rocchio, alone and added), an "author space" (words
  mediated by who writes them: a truncated SVD of the older papers' author-by-word matrix,
  the paper's tf-idf projected on it; alone and added);
* ``skip``: the nearest older papers left out of the hard negatives (likely the same
  group's), or added to a profile of under 5 papers (Rocchio's centroid and the
  embedding's);
* ``ensemble``: the full Recommender plus the arxiv-sanity SVM's score (an ensemble with
  the baseline itself) or plus an SVM on arxiv-sanity's tf-idf with paperfeed's negatives.
* ``stem`` (2026-12-02; the text-only Recommender): Snowball stems in place of the
  words, alone and added (needs ``pip install PyStemmer``, not a paperfeed dependency);
* ``diffuse``: each candidate's score plus its nearest candidates' (a graph of the pool);
* ``loss``: hinge loss and logistic regression in place of the squared hinge (5+ papers);
* ``fuse``: the score plus four similarity scores, weights by coordinate ascent on one
  half of the authors, measured on the other;
* ``ranks``: where the relevant papers rank, for the text-only Recommender and the
  baseline.
* ``learn`` (2026-12-02): the tf-idf's words weighted by what the older papers' authors
  say of them (:func:`learn_word_weights`), at several strengths and samples of authors.

Each tf-idf variant takes 5 s to 2 min to fit; the baseline about a second per author; the
``views`` group about 20 minutes (the character n-grams take 1 GB), ``ensemble`` about 5.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from paperfeed.personal.evaluate import (  # noqa: E402
    Task,
    arxiv_sanity_tfidf,
    corpus_vectors,
    load_corpus,
    make_split,
)
from paperfeed.personal.recommend import (  # noqa: E402
    CorpusFeatures,
    Recommender,
    RecommenderConfig,
    tfidf_options,
)

GROUPS = (
    "baseline",
    "text",
    "embedding",
    "svm",
    "paperfeed",
    "blend",
    "pool",
    "esvm",
    "bm25",
    "views",
    "skip",
    "ensemble",
    "stem",
    "diffuse",
    "loss",
    "fuse",
    "ranks",
    "learn",
)


def standard(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).ravel()
    spread = values.std()
    return (values - values.mean()) / (spread if spread > 1e-12 else 1.0)


def arxiv_sanity_svm(
    sanity: sp.csr_matrix, before: np.ndarray, cand: np.ndarray
) -> Callable[[Task], np.ndarray]:
    """The baseline: arxiv-sanity-lite's SVM on its own tf-idf (``sanity``), the profile
    against every other older paper, scoring the candidates (the rows taken once)."""
    from sklearn.svm import LinearSVC

    at_before, at_candidates = sanity[before], sanity[cand]

    def score(task: Task) -> np.ndarray:
        labels = np.isin(before, task.profile).astype(int)
        svm = LinearSVC(class_weight="balanced", C=0.01, tol=1e-4, random_state=0)
        return np.asarray(svm.fit(at_before, labels).decision_function(at_candidates))

    return score


def rocchio(matrix: sp.csr_matrix, weight: float, cand: np.ndarray) -> Callable[[Task], np.ndarray]:
    """Rocchio on ``matrix``: the candidates' product with the profile's centroid minus
    ``weight`` times the corpus mean."""
    mean = np.asarray(matrix.mean(axis=0)).ravel()
    at_candidates = matrix[cand]

    def score(task: Task) -> np.ndarray:
        centroid = np.asarray(matrix[task.profile].mean(axis=0)).ravel()
        return np.asarray(at_candidates @ (centroid - weight * mean)).ravel()

    return score


def memo(score: Callable[[Task], np.ndarray]) -> Callable[[Task], np.ndarray]:
    """``score`` computed once per author (a run that is added to several others)."""
    kept: dict[str, np.ndarray] = {}
    return lambda t: kept[t.author] if t.author in kept else kept.setdefault(t.author, score(t))


def text_only_scores(
    features: CorpusFeatures, matrix: sp.csr_matrix, cand: np.ndarray
) -> Callable[[Task], np.ndarray]:
    """The Recommender without the embedding's score, on ``matrix`` (the features' ids and
    vectors), scoring the candidates."""
    none = np.zeros(0, dtype=np.int64)
    on = CorpusFeatures(features.ids, features.vectors, matrix)
    recommender = Recommender(on, RecommenderConfig(embedding_weight=0.0))
    return lambda t: recommender.scores(t.profile, none, cand)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--authors", type=int, default=300)
    parser.add_argument("--only", default=",".join(GROUPS), help="comma-separated groups")
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/data/arxiv")
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE,...",
        help="also run the paperfeed group with these RecommenderConfig settings (repeatable)",
    )
    args = parser.parse_args()
    groups = set(args.only.split(","))
    corpus = load_corpus(args.corpus)
    vectors = corpus_vectors(corpus, ROOT / "bench-results" / "arxiv-vectors.npz")
    split = make_split(corpus, "tune")
    rng = np.random.default_rng(0)
    chosen = rng.choice(len(split.tasks), min(args.authors, len(split.tasks)), replace=False)
    tasks = [split.tasks[i] for i in sorted(chosen)]
    rows = split.rows
    texts = corpus.texts(rows)
    unit = vectors[rows] / np.linalg.norm(vectors[rows], axis=1, keepdims=True)
    after = np.array([corpus.days[i] >= split.cutoff for i in rows])
    cand, before = np.flatnonzero(after), np.flatnonzero(~after)
    small = np.array([len(t.profile) < 5 for t in tasks])
    print(f"tune split: {len(rows):,} papers, {len(cand):,} candidates, {len(tasks)} authors")

    def run(name: str, score: Callable[[Task], np.ndarray]) -> None:
        start = time.perf_counter()
        recall = []
        for task in tasks:
            top = cand[np.argsort(-score(task), kind="stable")[:50]]
            recall.append(np.isin(task.relevant, top).mean())
        r = np.array(recall)
        ms = 1000 * (time.perf_counter() - start) / len(tasks)
        print(
            f"  {name:<46} R@50 {r.mean():.4f}  under 5 {r[small].mean():.4f}  "
            f"5+ {r[~small].mean():.4f}  {ms:.0f} ms",
            flush=True,
        )

    def tfidf(**changes: Any) -> sp.csr_matrix:
        options = {**tfidf_options(len(texts)), **changes}
        return TfidfVectorizer(**options).fit_transform(texts).tocsr()

    sanity = arxiv_sanity_tfidf(texts)

    @functools.cache
    def baseline() -> Callable[[Task], np.ndarray]:
        """The baseline's scores, fitted once per author for every group that uses them."""
        return memo(arxiv_sanity_svm(sanity, before, cand))

    if "baseline" in groups:
        run("arxiv-sanity SVM (baseline)", baseline())

    # paperfeed's settings: whole vocabulary, stop words kept (the vectoriser kept for its
    # vocabulary and idf)
    chosen = TfidfVectorizer(**tfidf_options(len(texts)))
    chosen_text = chosen.fit_transform(texts).tocsr()
    none = np.zeros(0, dtype=np.int64)  # no thumbs-downs

    @functools.cache
    def built() -> CorpusFeatures:
        return CorpusFeatures([corpus.ids[i] for i in rows], unit, chosen_text)

    def shared() -> CorpusFeatures:
        """The Recommender's features of the split, built once for the groups that use them
        (each group starts with no fitted model kept, as when it built its own)."""
        features = built()
        features.models.clear()
        return features

    @functools.cache
    def base() -> Callable[[Task], np.ndarray]:
        """The text-only Recommender's scores, once per author for the groups that use them."""
        return memo(text_only_scores(shared(), chosen_text, cand))

    if "text" in groups:
        run("centroid, arxiv-sanity tf-idf", rocchio(sanity, 0.0, cand))
        run(
            "centroid, whole vocabulary, stop words out",
            rocchio(tfidf(stop_words="english", max_df=0.1), 0.0, cand),
        )
        run("centroid, whole vocabulary, stop words kept", rocchio(chosen_text, 0.0, cand))
        for weight in (0.5, 1.25, 2.0):
            run(f"  Rocchio, corpus mean x{weight}", rocchio(chosen_text, weight, cand))
        run("Rocchio, unigrams only", rocchio(tfidf(ngram_range=(1, 1)), 1.25, cand))
        run("Rocchio, up to trigrams", rocchio(tfidf(ngram_range=(1, 3)), 1.25, cand))
        chars = tfidf(analyzer="char_wb", ngram_range=(3, 5), token_pattern=None)
        run("Rocchio, character 3-5-grams", rocchio(chars, 1.25, cand))

    if "embedding" in groups:
        at_candidates = unit[cand]
        whiten = shared().whiten
        mean = unit.mean(axis=0)
        text = rocchio(chosen_text, 1.25, cand)

        def whitened(task: Task) -> np.ndarray:
            direction = whiten @ (unit[task.profile].mean(axis=0) - mean)
            return np.asarray(at_candidates @ direction)

        run("MiniLM centroid", lambda t: at_candidates @ unit[t.profile].mean(axis=0))
        run("MiniLM nearest profile paper", lambda t: (at_candidates @ unit[t.profile].T).max(1))
        run("MiniLM whitened centroid", whitened)
        for weight in (0.2, 0.4):
            run(
                f"Rocchio + {weight} x whitened MiniLM",
                lambda t, w=weight: standard(text(t)) + w * standard(whitened(t)),
            )

    if "svm" in groups:
        from sklearn.svm import LinearSVC

        mean = np.asarray(chosen_text.mean(axis=0)).ravel()
        draw = np.random.default_rng(1)

        def svm(hard: int, random: int, c: float, by: str = "text") -> Callable[..., Any]:
            def score(task: Task) -> np.ndarray:
                if by == "text":
                    centroid = np.asarray(chosen_text[task.profile].mean(axis=0)).ravel()
                    near = np.asarray(chosen_text[before] @ (centroid - 1.25 * mean)).ravel()
                else:
                    near = unit[before] @ unit[task.profile].mean(axis=0)
                near[np.isin(before, task.profile)] = -np.inf
                picked = before[np.argpartition(-near, hard)[:hard]] if hard else before[:0]
                negatives = np.setdiff1d(
                    np.r_[picked, draw.choice(before, random, replace=False)], task.profile
                )
                fit_rows = np.r_[task.profile, negatives]
                labels = np.r_[np.ones(len(task.profile)), np.zeros(len(negatives))]
                model = LinearSVC(class_weight="balanced", C=c, tol=1e-4, max_iter=2000)
                model.fit(chosen_text[fit_rows], labels)
                return np.asarray(chosen_text[cand] @ model.coef_.ravel())

            return score

        run("SVM, 3,000 random negatives, C 0.1", svm(0, 3000, 0.1))
        for hard in (1000, 2000, 3000, 5000):
            run(f"SVM, {hard:,} hard + 1,000 random, C 0.1", svm(hard, 1000, 0.1))
        run("SVM, 2,000 hard + 1,000 random, C 0.2", svm(2000, 1000, 0.2))
        run("SVM, 3,000 hard by embedding + 1,000, C 0.1", svm(3000, 1000, 0.1, "embedding"))

    if "paperfeed" in groups:
        features = shared()
        for setting in ["", *args.config]:
            changes = dict(pair.split("=", 1) for pair in setting.split(",") if pair)
            config = RecommenderConfig(
                **{
                    key: type(getattr(RecommenderConfig, key))(value)
                    for key, value in changes.items()
                }
            )
            recommender = Recommender(features, config)
            run(
                f"paperfeed Recommender {setting}".strip(),
                lambda t, r=recommender: r.scores(t.profile, none, cand),
            )

    if "blend" in groups:
        features = shared()
        recommender = Recommender(features)
        at_candidates = chosen_text[cand]

        def nearest(task: Task, weight: float, few: int) -> np.ndarray:
            base = recommender.scores(task.profile, none, cand)
            similar = (at_candidates @ chosen_text[task.profile].T).toarray()
            similar.sort(axis=1)
            return standard(base) + weight * standard(similar[:, -few:].mean(axis=1))

        for weight in (0.2, 0.5):
            for few in (1, 3):
                run(
                    f"Recommender + {weight} x mean of {few} nearest (tf-idf)",
                    lambda t, w=weight, k=few: nearest(t, w, k),
                )
        length = standard(np.log1p(np.diff(at_candidates.indptr)))  # words in each candidate
        for weight in (-0.1, 0.1, 0.2):
            run(
                f"Recommender + {weight} x the candidate's length (log words)",
                lambda t, w=weight: (
                    standard(recommender.scores(t.profile, none, cand)) + w * length
                ),
            )
        centroid = rocchio(chosen_text, 1.25, cand)
        for weight in (0.3, 0.6):
            run(
                f"Recommender + {weight} x Rocchio",
                lambda t, w=weight: (
                    standard(recommender.scores(t.profile, none, cand)) + w * standard(centroid(t))
                ),
            )

    if "pool" in groups:
        at_candidates = chosen_text[cand]
        pool_mean = np.asarray(at_candidates.mean(axis=0)).ravel()
        corpus_mean = np.asarray(chosen_text.mean(axis=0)).ravel()
        background = {
            "corpus": at_candidates @ corpus_mean,
            "new papers": at_candidates @ pool_mean,
        }
        for name, against in background.items():
            for weight in (1.0, 1.25, 1.5):

                def against_pool(task: Task, w: float = weight, b: Any = against) -> np.ndarray:
                    centroid = np.asarray(chosen_text[task.profile].mean(axis=0)).ravel()
                    return np.asarray(at_candidates @ centroid).ravel() - w * b

                run(f"Rocchio, background the {name}' mean x{weight}", against_pool)
        days = np.array([corpus.days[i] for i in rows])
        features = shared()
        recommender = Recommender(features)
        cut = split.cutoff
        for months in (6, 12):
            recent = np.flatnonzero((days < cut) & (days >= cut - timedelta(days=30 * months)))
            outside = np.setdiff1d(np.arange(len(rows)), recent)

            def recent_negatives(task: Task, keep_out: np.ndarray = outside) -> np.ndarray:
                # the "pool" the negatives must stay out of: the candidates and every older
                # paper but the recent ones, so hard negatives come from the recent months
                scores = recommender.scores(task.profile, none, np.r_[cand, keep_out])
                return scores[: len(cand)]

            run(f"Recommender, negatives from the last {months} months", recent_negatives)

    if "esvm" in groups:
        from sklearn.svm import LinearSVC

        features = shared()
        text_only = Recommender(features, RecommenderConfig(embedding_weight=0.0))
        with_centroid = Recommender(features)
        whitened = (unit - features.vector_mean) @ np.linalg.cholesky(features.whiten)
        draw = np.random.default_rng(2)

        def esvm(task: Task, c: float) -> np.ndarray:
            outside = np.setdiff1d(before, task.profile)
            mined = features.near(task.profile, 1.25, 0.03)[outside]
            hard = outside[np.argpartition(-mined, 1000)[:1000]]
            negatives = np.union1d(hard, draw.choice(outside, 250, replace=False))
            fit_rows = np.r_[task.profile, negatives]
            labels = np.r_[np.ones(len(task.profile)), np.zeros(len(negatives))]
            model = LinearSVC(class_weight="balanced", C=c, tol=1e-4, max_iter=2000)
            model.fit(whitened[fit_rows], labels)
            return np.asarray(whitened[cand] @ model.coef_.ravel())

        for c in (0.01, 0.1):
            for weight in (0.2, 0.4):
                for base, name in ((text_only, "text SVM"), (with_centroid, "Recommender")):

                    def blended(
                        task: Task, b: Recommender = base, w: float = weight, cc: float = c
                    ) -> np.ndarray:
                        first = standard(b.scores(task.profile, none, cand))
                        if len(task.profile) < 5:
                            return first
                        return first + w * standard(esvm(task, cc))

                    run(f"{name} + {weight} x embedding SVM (C {c})", blended)

    if "bm25" in groups:
        from sklearn.feature_extraction.text import CountVectorizer

        options = {
            key: value
            for key, value in tfidf_options(len(texts)).items()
            if key not in ("sublinear_tf", "dtype")
        }
        counts = CountVectorizer(**options, dtype=np.float32).fit_transform(texts).tocsr()
        assert counts.shape == chosen_text.shape
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        idf = np.log1p((len(rows) - df + 0.5) / (df + 0.5)).astype(np.float32)
        lengths = np.asarray(counts.sum(axis=1)).ravel()
        text_mean = np.asarray(chosen_text.mean(axis=0)).ravel()

        def bm25(k1: float, b: float, at: np.ndarray = cand) -> sp.csr_matrix:
            matrix = counts[at].copy()
            scale = k1 * (1 - b + b * lengths[at] / lengths.mean())
            tf = matrix.data
            row_scale = np.repeat(scale, np.diff(matrix.indptr))
            matrix.data = tf * (k1 + 1) / (tf + row_scale) * idf[matrix.indices]
            return matrix

        for k1, b in ((1.2, 0.75), (1.2, 0.3), (0.6, 0.75)):
            weighted = bm25(k1, b)
            background = weighted @ text_mean
            for weight in (0.0, 1.25):

                def scored(
                    task: Task,
                    m: sp.csr_matrix = weighted,
                    g: np.ndarray = background,
                    w: float = weight,
                ) -> np.ndarray:
                    centroid = np.asarray(chosen_text[task.profile].mean(axis=0)).ravel()
                    return np.asarray(m @ centroid).ravel() - w * g

                run(f"BM25 (k1 {k1}, b {b}) on the tf-idf centroid, mean x{weight}", scored)
        features = shared()
        recommender = Recommender(features)
        weighted = bm25(0.6, 0.75)
        background = weighted @ text_mean

        def with_bm25(task: Task, w: float) -> np.ndarray:
            centroid = np.asarray(chosen_text[task.profile].mean(axis=0)).ravel()
            extra = np.asarray(weighted @ centroid).ravel() - 1.25 * background
            base = standard(recommender.scores(task.profile, none, cand))
            return base + w * standard(extra)

        for weight in (0.3, 0.6, 1.0, 1.5, 2.5):
            run(
                f"Recommender + {weight} x BM25 (k1 0.6, b 0.75) Rocchio",
                lambda t, w=weight: with_bm25(t, w),
            )
        everyone = np.arange(len(rows))
        for k1, b, unit_rows in ((0.6, 0.75, False), (1.2, 0.75, False), (0.6, 0.75, True)):
            weighted = bm25(k1, b, everyone)
            if unit_rows:
                norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
                weighted = sp.csr_matrix(sp.diags(1 / np.maximum(norms, 1e-12)) @ weighted)
            weighted.sort_indices()
            on_bm25 = Recommender(CorpusFeatures([corpus.ids[i] for i in rows], unit, weighted))
            run(
                f"Recommender on BM25 rows (k1 {k1}, b {b}{', unit length' if unit_rows else ''})",
                lambda t, r=on_bm25: r.scores(t.profile, none, cand),
            )

    if groups & {"views", "skip", "ensemble"}:
        views(
            groups,
            corpus,
            rows,
            texts,
            cand,
            before,
            shared,
            base(),
            baseline,
            chosen,
            chosen_text,
            sanity,
            run,
        )
    if groups & {"stem", "diffuse", "loss", "fuse"}:
        beyond(groups, tasks, small, texts, cand, shared, base(), chosen_text, sanity, run)
    if "ranks" in groups:
        ranks(tasks, cand, base(), baseline())
    if "learn" in groups:
        run("text-only Recommender", base())
        run("Rocchio, corpus mean x1.25", rocchio(chosen_text, 1.25, cand))
        learned_weights(corpus, rows, split.cutoff, cand, shared(), chosen, chosen_text, run)


def views(
    groups: set[str],
    corpus: Any,
    rows: np.ndarray,
    texts: list[str],
    cand: np.ndarray,
    before: np.ndarray,
    shared: Callable[[], CorpusFeatures],
    base: Callable[[Task], np.ndarray],
    baseline: Callable[[], Callable[[Task], np.ndarray]],
    chosen: Any,
    chosen_text: sp.csr_matrix,
    sanity: sp.csr_matrix,
    run: Callable[[str, Callable[[Task], np.ndarray]], None],
) -> None:
    """The ``views``, ``skip`` and ``ensemble`` groups (see the module docstring);
    ``chosen`` is the vectoriser fitted to ``chosen_text``; ``base`` scores with the
    text-only Recommender, ``baseline()`` with the arxiv-sanity SVM."""
    from sklearn.preprocessing import normalize
    from sklearn.utils.extmath import randomized_svd

    features = shared()

    def on(matrix: sp.csr_matrix) -> Callable[[Task], np.ndarray]:
        return text_only_scores(features, matrix, cand)

    run("text-only Recommender", base)
    if "skip" in groups:
        skip_nearest(features, cand, run)
    if "ensemble" in groups:
        ensemble(features, cand, baseline(), sanity, run)
    if "views" not in groups:
        return
    titled = [f"{corpus.titles[i]}. {text}" for i, text in zip(rows, texts, strict=True)]
    vectorizer = TfidfVectorizer(**tfidf_options(len(texts)))
    run("  the title twice", on(vectorizer.fit_transform(titled).tocsr()))
    bigram = np.array([" " in name for name in chosen.get_feature_names_out()])
    idf = chosen.idf_.astype(np.float32)

    def reweighted(columns: np.ndarray) -> sp.csr_matrix:
        matrix = normalize(chosen_text @ sp.diags(columns.astype(np.float32)))
        return sp.csr_matrix(matrix, dtype=np.float32)

    for factor in (0.5, 1.5, 2.0):
        run(f"  bigram columns x{factor}", on(reweighted(np.where(bigram, factor, 1.0))))
    for power in (1.5, 2.0):
        run(f"  idf to the power {power}", on(reweighted(idf ** (power - 1))))

    # character 3-5-grams, Rocchio (the corpus mean x1.25 off), alone and added
    chars = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(3, 5),
        sublinear_tf=True,
        min_df=2,
        max_df=0.5,
        strip_accents="unicode",
        dtype=np.float32,
    ).fit_transform(texts)
    char_score = memo(rocchio(sp.csr_matrix(chars), 1.25, cand))
    run("character 3-5-grams, Rocchio", char_score)
    for weight in (0.2, 0.4, 0.7):
        run(
            f"  text-only + {weight} x character Rocchio",
            lambda t, w=weight: standard(base(t)) + w * standard(char_score(t)),
        )

    # the author space: the older papers' authors (2 papers or more) by word (df >= 3)
    papers_of: dict[str, list[int]] = {}
    for local in before:
        for name in dict.fromkeys(corpus.authors[rows[local]]):
            papers_of.setdefault(name, []).append(int(local))
    names = [name for name, papers in papers_of.items() if len(papers) >= 2]
    author_rows = np.repeat(np.arange(len(names)), [len(papers_of[n]) for n in names])
    author_papers = np.concatenate([papers_of[n] for n in names])
    authorship = sp.csr_matrix(
        (np.ones(len(author_rows), dtype=np.float32), (author_rows, author_papers)),
        shape=(len(names), len(rows)),
    )
    words = np.flatnonzero(np.bincount(chosen_text.indices, minlength=chosen_text.shape[1]) >= 3)
    kept_words = chosen_text[:, words]
    for weighting in ("author idf", "unit rows"):
        by_author = sp.csr_matrix(authorship @ kept_words)
        if weighting == "author idf":  # log counts, idf over authors
            by_author.data = np.log1p(by_author.data)
            spread = np.bincount(by_author.indices, minlength=by_author.shape[1])
            by_author = by_author @ sp.diags(np.log((1 + len(names)) / (1 + spread)) + 1)
        by_author = normalize(by_author)
        _, _, components = randomized_svd(by_author, 256, n_iter=4, random_state=0)
        space = normalize(np.asarray(kept_words @ components.T, dtype=np.float32))
        covariance = np.cov(space, rowvar=False)
        scale = np.trace(covariance) / len(covariance)
        whiten = np.linalg.inv(covariance + 0.1 * scale * np.eye(len(covariance)))
        at_candidates, space_mean = space[cand], space.mean(axis=0)

        def plain(
            task: Task, s: np.ndarray = space, a: np.ndarray = at_candidates, m: Any = space_mean
        ) -> np.ndarray:
            return np.asarray(a @ (s[task.profile].mean(axis=0) - m))

        def whitened(
            task: Task,
            s: np.ndarray = space,
            a: np.ndarray = at_candidates,
            m: Any = space_mean,
            w: Any = whiten,
        ) -> np.ndarray:
            return np.asarray(a @ (w @ (s[task.profile].mean(axis=0) - m)))

        label = f"author space ({weighting}, {len(names):,} authors, 256 dimensions)"
        run(f"{label}, centroid", plain)
        run(f"{label}, whitened centroid", whitened)
        for weight in (0.2, 0.4, 0.7):
            run(
                f"  text-only + {weight} x whitened author space",
                lambda t, w=weight, f=whitened: standard(base(t)) + w * standard(f(t)),
            )
        run(
            "  text-only + 0.4 x author space",
            lambda t, f=plain: standard(base(t)) + 0.4 * standard(f(t)),
        )


def skip_nearest(
    features: CorpusFeatures,
    cand: np.ndarray,
    run: Callable[[str, Callable[[Task], np.ndarray]], None],
) -> None:
    """The ``skip`` group: the nearest older papers left out of the hard negatives, or
    added to a small profile."""
    none = np.zeros(0, dtype=np.int64)
    text_only = RecommenderConfig(embedding_weight=0.0)

    class SkipNearest(Recommender):
        """Hard negatives from the ``skip``-th nearest older paper on."""

        def __init__(self, skip: int) -> None:
            super().__init__(features, text_only)
            self.skip = skip

        def _negatives(
            self, positives: np.ndarray, negatives: np.ndarray, others: np.ndarray | None
        ) -> np.ndarray:
            assert others is not None
            rng = np.random.default_rng(0)
            closeness = self.features.near(positives, 1.25, 0.03)[others]
            hard = others[np.argsort(-closeness)[self.skip : self.skip + 1000]]
            return np.union1d(hard, rng.choice(others, 250, replace=False))

    for skip in (0, 20, 50, 100, 200, 400):
        skipping = SkipNearest(skip)
        features.models.clear()  # (a model is kept by profile and settings, not by skip)
        run(
            f"text-only, hard negatives from the {skip}th nearest",
            lambda t, r=skipping: r.scores(t.profile, none, cand),
        )
    # the other way round: a small profile (under 5 papers) grown by its nearest older
    # papers, Rocchio's centroid and the embedding's both (5+ paper profiles unchanged)
    recommender = Recommender(features)
    at_candidates, background = features.tfidf[cand], features.text_background[cand]

    def expanded(task: Task, few: int, weight: float) -> np.ndarray:
        if len(task.profile) >= 5:
            return recommender.scores(task.profile, none, cand)
        close = features.near(task.profile, 1.25)
        close[cand] = -np.inf
        close[task.profile] = -np.inf
        nearest = np.argpartition(-close, few)[:few]
        direction = features.centroid(task.profile) + weight * features.centroid(nearest)
        text = np.asarray(at_candidates @ direction).ravel() - 1.25 * (1 + weight) * background
        meaning = (
            features.vectors[task.profile].mean(axis=0)
            + weight * features.vectors[nearest].mean(axis=0)
            - (1 + weight) * features.vector_mean
        )
        whitened = features.vectors[cand] @ (features.whiten @ meaning)
        return standard(text) + 0.4 * standard(whitened)

    run("Recommender", lambda t: recommender.scores(t.profile, none, cand))
    for few in (5, 10, 20):
        for weight in (0.25, 0.5, 1.0):
            run(
                f"  under 5 papers: + {weight} x the {few} nearest older papers",
                lambda t, k=few, w=weight: expanded(t, k, w),
            )


def ensemble(
    features: CorpusFeatures,
    cand: np.ndarray,
    baseline: Callable[[Task], np.ndarray],
    sanity: sp.csr_matrix,
    run: Callable[[str, Callable[[Task], np.ndarray]], None],
) -> None:
    """The ``ensemble`` group: the full Recommender plus the baseline's own model, or an
    SVM on the baseline's tf-idf with paperfeed's negatives."""
    from sklearn.svm import LinearSVC

    none = np.zeros(0, dtype=np.int64)

    recommender = Recommender(features)
    full = memo(lambda t: recommender.scores(t.profile, none, cand))
    sanity_candidates = sanity[cand]

    def sanity_mined(task: Task) -> np.ndarray:
        outside = recommender._outside(task.profile, none, cand)
        drawn = recommender._negatives(task.profile, none, outside)
        fit_rows = np.r_[task.profile, drawn]
        labels = np.r_[np.ones(len(task.profile)), np.zeros(len(drawn))]
        svm = LinearSVC(class_weight="balanced", C=0.1, tol=1e-4, random_state=0)
        return np.asarray(svm.fit(sanity[fit_rows], labels).decision_function(sanity_candidates))

    other_models = {
        "the arxiv-sanity SVM": baseline,
        "an SVM on arxiv-sanity's tf-idf, paperfeed's negatives": memo(sanity_mined),
    }
    run("Recommender", full)
    for name, other in other_models.items():
        run(name, other)
        for weight in (0.3, 0.6, 1.0):
            run(
                f"  Recommender + {weight} x {name}",
                lambda t, w=weight, o=other: standard(full(t)) + w * standard(o(t)),
            )


def beyond(
    groups: set[str],
    tasks: list[Task],
    small: np.ndarray,
    texts: list[str],
    cand: np.ndarray,
    shared: Callable[[], CorpusFeatures],
    base: Callable[[Task], np.ndarray],
    chosen_text: sp.csr_matrix,
    sanity: sp.csr_matrix,
    run: Callable[[str, Callable[[Task], np.ndarray]], None],
) -> None:
    """The ``stem``, ``diffuse``, ``loss`` and ``fuse`` groups (2026-12-02;
    the text-only Recommender, ``base``, see the module docstring)."""
    from unittest import mock

    features = shared()

    def on(matrix: sp.csr_matrix) -> Callable[[Task], np.ndarray]:
        return text_only_scores(features, matrix, cand)

    run("text-only Recommender", base)

    if "stem" in groups:
        try:
            import Stemmer  # PyStemmer: not a dependency of paperfeed
        except ImportError:
            print("  (stem: pip install PyStemmer to run it)")
        else:
            import re

            from sklearn.feature_extraction.text import strip_accents_unicode

            stemmer, word = (
                Stemmer.Stemmer("english"),
                re.compile(tfidf_options(2000)["token_pattern"]),
            )
            stems: dict[str, str] = {}

            def stemmed(text: str) -> str:
                found = word.findall(strip_accents_unicode(text.lower()))
                return " ".join(
                    stems.get(w) or stems.setdefault(w, stemmer.stemWord(w)) for w in found
                )

            matrix = TfidfVectorizer(**tfidf_options(len(texts))).fit_transform(
                [stemmed(t) for t in texts]
            )
            on_stems = memo(on(sp.csr_matrix(matrix)))
            run(
                f"  Snowball stems ({matrix.shape[1]:,} columns, {chosen_text.shape[1]:,} without)",
                on_stems,
            )
            for weight in (0.5, 1.0):
                run(
                    f"  text-only + {weight} x on stems",
                    lambda t, w=weight: standard(base(t)) + w * standard(on_stems(t)),
                )

    if "diffuse" in groups:
        # each candidate's score plus its nearest candidates' (tf-idf cosine, a graph of
        # the pool built once for every reader): an author's new papers are often alike
        at_candidates, most = chosen_text[cand], 20
        neighbours = np.zeros((len(cand), most), dtype=np.int64)
        closeness = np.zeros((len(cand), most), dtype=np.float32)
        for start in range(0, len(cand), 2000):
            block = (at_candidates[start : start + 2000] @ at_candidates.T).toarray()
            block[np.arange(len(block)), start + np.arange(len(block))] = -1
            near = np.argpartition(-block, most, axis=1)[:, :most]
            values = np.take_along_axis(block, near, 1)
            order = np.argsort(-values, axis=1)
            neighbours[start : start + 2000] = np.take_along_axis(near, order, 1)
            closeness[start : start + 2000] = np.take_along_axis(values, order, 1)

        def diffused(task: Task, few: int, weight: float, top: bool) -> np.ndarray:
            own = standard(base(task))
            theirs = closeness[:, :few] * own[neighbours[:, :few]]
            spread = theirs.max(1) if top else theirs.sum(1) / closeness[:, :few].sum(1).clip(1e-9)
            return own + weight * spread

        for top in (False, True):
            for few in (5, 10, 20):
                for weight in (0.2, 0.5):
                    run(
                        f"  + {weight} x the {few} nearest candidates' "
                        + ("best score" if top else "mean score"),
                        lambda t, k=few, w=weight, m=top: diffused(t, k, w, m),
                    )

    if "loss" in groups:
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC

        def estimator(kind: str, c: float) -> Callable[..., Any]:
            if kind == "hinge":
                return lambda **_: LinearSVC(C=c, loss="hinge", tol=1e-4, max_iter=5000)
            return lambda **_: LogisticRegression(C=c, solver="liblinear", tol=1e-4)

        five_plus = [t for t, few in zip(tasks, small, strict=True) if not few]
        for kind, c in (
            ("hinge", 0.1),
            ("hinge", 0.3),
            ("hinge", 1.0),
            ("logistic", 0.3),
            ("logistic", 1.0),
            ("logistic", 3.0),
            ("logistic", 10.0),
        ):
            scorer = on(chosen_text)
            with mock.patch("sklearn.svm.LinearSVC", estimator(kind, c)):
                scored = {t.author: scorer(t) for t in five_plus}
            run(
                f"  5+ papers: {kind} loss, C {c} (under 5: unchanged)",
                lambda t, s=scored: s[t.author] if t.author in s else base(t),
            )

    if "fuse" in groups:
        fuse(tasks, small, cand, chosen_text, sanity, base)


def fuse(
    tasks: list[Task],
    small: np.ndarray,
    cand: np.ndarray,
    chosen_text: sp.csr_matrix,
    sanity: sp.csr_matrix,
    base: Callable[[Task], np.ndarray],
) -> None:
    """The ``fuse`` group: the text-only Recommender's score plus four similarity scores,
    weights found by coordinate ascent on Recall@50 for one half of the authors and
    measured on the other (and the other way round)."""
    at_candidates = chosen_text[cand]
    text_rocchio, sanity_rocchio = rocchio(chosen_text, 1.25, cand), rocchio(sanity, 1.0, cand)
    names = [
        "Recommender",
        "Rocchio",
        "nearest profile paper",
        "mean of 3 nearest",
        "Rocchio on arxiv-sanity's tf-idf",
    ]
    stacked = []
    for task in tasks:
        cosines = (at_candidates @ chosen_text[task.profile].T).toarray()
        scores = [
            base(task),
            text_rocchio(task),
            cosines.max(1),
            np.sort(cosines, 1)[:, -3:].mean(1),
            sanity_rocchio(task),
        ]
        stacked.append(np.stack([standard(s) for s in scores]))
    scores_of = np.array(stacked)
    relevant = [np.isin(cand, t.relevant) for t in tasks]

    def recall(weights: np.ndarray, authors: np.ndarray) -> float:
        found = []
        for a in authors:
            top = np.argpartition(-(weights @ scores_of[a]), 50)[:50]
            found.append(relevant[a][top].sum() / relevant[a].sum())
        return float(np.mean(found))

    alone, everyone = np.eye(len(names))[0], np.arange(len(tasks))
    print(f"  {'text-only Recommender':<46} R@50 {recall(alone, everyone):.4f}")
    for j in range(1, len(names)):
        for weight in (0.2, 0.4, 0.7):
            weights = alone.copy()
            weights[j] = weight
            print(
                f"  + {weight} x {names[j]:<40} R@50 {recall(weights, everyone):.4f}  "
                f"under 5 {recall(weights, everyone[small]):.4f}  "
                f"5+ {recall(weights, everyone[~small]):.4f}"
            )
    halves = np.array_split(np.random.default_rng(5).permutation(len(tasks)), 2)
    for fit, held in (halves, halves[::-1]):
        weights, best = alone.copy(), recall(alone, fit)
        for _ in range(3):
            for j in range(1, len(names)):
                for value in (-0.3, -0.1, 0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0):
                    trial = weights.copy()
                    trial[j] = value
                    if (score := recall(trial, fit)) > best + 1e-9:
                        weights, best = trial, score
        print(
            f"  fused, weights {np.round(weights, 2).tolist()}: fitted half {best:.4f}, "
            f"other half {recall(weights, held):.4f} (Recommender alone "
            f"{recall(alone, held):.4f})",
            flush=True,
        )


def ranks(
    tasks: list[Task],
    cand: np.ndarray,
    base: Callable[[Task], np.ndarray],
    baseline: Callable[[Task], np.ndarray],
) -> None:
    """The ``ranks`` group: where the relevant papers rank, for the text-only Recommender
    (``base``), the baseline and the better of the two (how much is within reach of
    wording)."""
    ours, theirs = [], []
    for task in tasks:
        where = np.searchsorted(cand, task.relevant)
        for found, scores in (
            (ours, base(task)),
            (theirs, baseline(task)),
        ):
            place = np.empty(len(cand), dtype=np.int64)
            place[np.argsort(-scores, kind="stable")] = np.arange(len(cand))
            found.extend(place[where].tolist())
    mine, base = np.array(ours), np.array(theirs)
    print(f"  share of the {len(mine):,} relevant papers ranked in the first n:")
    for n in (10, 50, 100, 200, 500, 1000, 3000):
        print(
            f"    {n:>5}: text-only Recommender {np.mean(mine < n):.3f}  "
            f"baseline {np.mean(base < n):.3f}  either {np.mean(np.minimum(mine, base) < n):.3f}"
        )


def learned_weights(
    corpus: Any,
    rows: np.ndarray,
    cutoff: Any,
    cand: np.ndarray,
    features: CorpusFeatures,
    chosen: Any,
    chosen_text: sp.csr_matrix,
    run: Callable[[str, Callable[[Task], np.ndarray]], None],
) -> None:
    """The ``learn`` group: the tf-idf's words weighted by :func:`learn_word_weights` (from
    the older papers' authors only) at several strengths, Rocchio and the text-only
    Recommender on them."""
    names = chosen.get_feature_names_out()
    authors = [corpus.authors[i] for i in rows]
    days = [corpus.days[i] for i in rows]
    for strength, sample, seed in (
        (30.0, 3000, 0),
        (60.0, 3000, 0),
        (100.0, 3000, 0),
        (200.0, 3000, 0),
        (100.0, 3000, 1),
        (100.0, 3000, 2),
        (100.0, 6000, 0),
        (60.0, 6000, 0),
    ):
        start = time.perf_counter()
        weights = learn_word_weights(
            chosen_text, authors, days, until=cutoff, strength=strength, sample=sample, seed=seed
        )
        assert weights is not None
        moved = int((np.abs(weights - 1) > 0.05).sum())
        label = f"strength {strength}, {sample:,} authors, seed {seed}"
        print(f"  {label}: {time.perf_counter() - start:.0f} s, {moved:,} words moved")
        order = np.argsort(weights)
        print("    down:", ", ".join(f"{names[k]} {weights[k]:.2f}" for k in order[:20]))
        print("    up:", ", ".join(f"{names[k]} {weights[k]:.2f}" for k in order[::-1][:20]))
        # (Rocchio on the reweighted columns weighs word t by weights[t])
        matrix = reweighted(chosen_text, weights)
        run(f"  Rocchio, words weighted ({label})", rocchio(matrix, 1.25, cand))
        run(
            f"  text-only, words weighted ({label})",
            text_only_scores(features, matrix, cand),
        )


STRENGTH = 100.0  # the L2 penalty towards 1 (the best of 30 to 200; not taken in the end)
AUTHORS = 3000  # names sampled to learn from
MIN_AUTHORS = 50  # fewer than this: no weights (all 1)
HARD, RANDOM, POSITIVES = 20, 10, 3  # pairs per author: later papers x (hard + random)
MAX_PAPERS = 60  # a name with more papers is several people
ROCCHIO = 1.25  # the corpus mean taken off the centroid, as Recommender does


def learn_word_weights(
    tfidf: sp.csr_matrix,
    authors: Sequence[Sequence[str]],
    days: Sequence[date],
    until: date | None = None,
    strength: float = STRENGTH,
    sample: int = AUTHORS,
    seed: int = 0,
) -> np.ndarray | None:
    """Each column's weight (≥ 0, most exactly 1) for the rows of ``tfidf``, whose
    ``authors`` and ``days`` are given, learning from the papers before ``until`` only
    (all of them without it); None when fewer than :data:`MIN_AUTHORS` names can be
    learnt from (a small corpus keeps the tf-idf as it is)."""
    if len(authors) != tfidf.shape[0] or len(days) != tfidf.shape[0]:
        raise ValueError("tf-idf rows, authors and days must line up")
    known = np.array([until is None or day < until for day in days], dtype=bool)
    rows = np.flatnonzero(known)
    if len(rows) < 2:
        return None
    when = np.array([days[int(k)] for k in rows])
    inner = sorted(when)[int(0.8 * len(when))]
    later = np.zeros(tfidf.shape[0], dtype=bool)
    later[rows[when >= inner]] = True
    papers_of: dict[str, list[int]] = {}
    for k in rows:
        for name in dict.fromkeys(authors[int(k)]):  # not a set: the same order every run
            papers_of.setdefault(name, []).append(int(k))
    learnable = []
    for papers in papers_of.values():
        mine = np.array(papers)
        after = later[mine]
        if len(mine) <= MAX_PAPERS and (~after).sum() >= 2 and after.any():
            learnable.append((mine[~after], mine[after]))
    if len(learnable) < MIN_AUTHORS:
        return None
    draw = np.random.default_rng(seed)
    picked = draw.choice(len(learnable), min(sample, len(learnable)), replace=False)
    mean = np.asarray(tfidf[rows].mean(axis=0), dtype=np.float64).ravel()
    pool = np.flatnonzero(later)
    at_pool = tfidf[pool]
    background = np.asarray(at_pool @ mean).ravel()
    # the profile's centroid, on a buffer as long as the vocabulary (set, used, cleared):
    # it is sparse, and a dense one per author would cost more than the rest
    query = np.zeros(tfidf.shape[1])
    parts, offsets = [], []
    for k in sorted(picked):
        earlier, relevant = learnable[k]
        profile = tfidf[earlier]
        words, where = np.unique(profile.indices, return_inverse=True)
        query[words] = np.bincount(where, weights=profile.data) / len(earlier)
        rocchio = np.asarray(at_pool @ query).ravel() - ROCCHIO * background
        right = np.isin(pool, relevant)
        scores = np.where(right, -np.inf, rocchio)
        hard = np.argpartition(-scores, HARD)[:HARD] if len(pool) > HARD else np.arange(len(pool))
        wrong = np.setdiff1d(
            np.r_[hard, draw.choice(len(pool), min(RANDOM, len(pool)), replace=False)],
            np.flatnonzero(right),
        )
        good = np.flatnonzero(right)[:POSITIVES]
        if len(wrong):
            first, second = np.repeat(good, len(wrong)), np.tile(wrong, len(good))
            # each pair's difference word by word, times the word's share of the query
            # (the centroid minus the corpus mean's share), Rocchio's whole score
            # difference as its offset
            pair = sp.csr_matrix(at_pool[first] - at_pool[second], dtype=np.float64)
            pair.data *= query[pair.indices] - ROCCHIO * mean[pair.indices]
            parts.append(sp.csr_matrix(pair, dtype=np.float32))
            offsets.append(rocchio[first] - rocchio[second])
        query[words] = 0.0
    if not parts:
        return None
    pairs = sp.vstack(parts).tocsr()
    offset = np.concatenate(offsets)
    spread = offset.std()
    if not spread > 0:
        return None
    delta = _fit(pairs, offset, 2.0 / spread, strength)
    return np.clip(1.0 + delta, 0.0, None).astype(np.float32)


def _fit(pairs: sp.csr_matrix, offset: np.ndarray, tau: float, strength: float) -> np.ndarray:
    """The ``delta`` minimising sum(log(1 + exp(-tau (offset + pairs @ delta)))) +
    strength |delta|² / 2: each pair's first paper (the author's) should score above its
    second. ``tau`` scales the offsets' spread to about ±2."""
    from scipy.optimize import minimize

    by_column = pairs.T.tocsr()

    def loss(delta: np.ndarray) -> tuple[float, np.ndarray]:
        margin = tau * (offset + pairs @ delta.astype(np.float32))
        value = np.logaddexp(0.0, -margin).sum() + 0.5 * strength * delta @ delta
        slope = -tau / (1.0 + np.exp(np.clip(margin, -50.0, 50.0)))
        return float(value), by_column @ slope.astype(np.float32) + strength * delta

    start = np.zeros(pairs.shape[1])
    fitted = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 300})
    return np.asarray(fitted.x)


def reweighted(tfidf: sp.csr_matrix, weights: np.ndarray) -> sp.csr_matrix:
    """``tfidf`` with each column times the square root of its weight (float32, sorted)."""
    matrix = sp.csr_matrix(tfidf @ sp.diags(np.sqrt(weights).astype(np.float32)), dtype=np.float32)
    matrix.sort_indices()
    return matrix


if __name__ == "__main__":
    main()
