"""Recommendations for one reader: a linear model over two views of every paper.

Each paper has two representations, built once per corpus by :meth:`CorpusFeatures.build`:

- its stored MiniLM embedding (384-d, unit length): meaning, paraphrase, related wording;
- a tf-idf vector of its title and abstract (unigrams and bigrams, sublinear tf, unit
  length, sparse), as arxiv-sanity does: the content words (a method's name, a data set,
  an organism) that a sentence embedding blurs and that carry much of the signal.

A reader's profile is the papers they saved or upvoted. With at least ``min_model_papers``
(5) of them, :class:`Recommender` fits a linear SVM on ``[tf-idf, w · embedding]``, profile
papers against ``negatives`` papers drawn at random from the corpus (plus the reader's own
thumbs-down papers, each weighing as much as a saved paper: they are real negatives, not
guesses), and ranks papers by its decision value. Fewer papers than that do not make a
model worth the name, so small profiles are ranked by similarity alone, in the same
combined space: to the centroid plus to the nearest profile paper (a profile of two topics
is not their average), minus the similarity to the nearest thumbs-down paper.

Fitting is cheap because only the profile and ``negatives`` rows take part (arxiv-sanity
fits on the whole corpus), and ranking is one sparse and one dense product over the
corpus: ``tests/bench/bench_recommend.py`` measures fit + rank + explanations per user at
75k papers.

Every pick carries the profile paper most similar to it (in the same combined space), so a
page can say "similar to X you saved".

**How the choices were made**, by Recall@50 on the *tuning* split of
``paperfeed.personal.evaluate`` only (the other half of the authors, on the corpus cut at
the reported split's cut-off, tf-idf refitted on it, with its own earlier cut-off; so no
paper after the reported cut-off was ever read while tuning), 120 to 200 sampled authors:

- SVM on tf-idf + embedding (C 0.1, 2,000 negatives) 0.195; the same plus the
  standardised centroid similarity 0.176 (weight 1) and 0.185 (weight 0.5); embedding
  weight 2 instead of 1: 0.169; LogisticRegression (C 1) 0.163 and three times slower;
- 500 / 1,000 / 2,000 random negatives: 0.184 / 0.203 / 0.185 (and fitting time
  grows with them): 1,000;
- similarity ranking (what small profiles get): centroid + nearest paper 0.157 against
  the centroid alone 0.132, both in the combined space.

These are noisy (a few hundred authors): the reported split's bootstrap intervals, from
``paperfeed eval recommend``, are what to quote.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

Ranking = list[tuple[str, float]]


@dataclass(frozen=True)
class RecommenderConfig:
    """The knobs, with the values the tuning split chose (see the module docstring)."""

    embedding_weight: float = 1.0  # the embedding block's weight next to tf-idf (both unit)
    max_sim_weight: float = 1.0  # small profiles: nearest-paper similarity next to centroid
    negative_weight: float = 1.0  # small profiles: how hard a thumbs-down pushes down
    min_model_papers: int = 5  # fewer profile papers: similarity only, no model
    negatives: int = 1000  # random negatives per fit (500 and 2000 did no better)
    explicit_negative_weight: float = 1.0  # a thumbs-down against a saved paper's weight
    svm_c: float = 0.1


@dataclass(frozen=True)
class Pick:
    """One recommended paper, and why: the profile paper most similar to it."""

    arxiv_id: str
    score: float
    similar_to: str  # the profile paper (arXiv id) it is most like
    similarity: float  # cosine in the combined space, 0..1

    def explanation(self, title_of: dict[str, str] | None = None) -> str:
        name = (title_of or {}).get(self.similar_to, self.similar_to)
        return f"similar to {name} you saved"


class CorpusFeatures:
    """Both views of every paper of a corpus, row ``i`` being ``ids[i]``."""

    def __init__(self, ids: Sequence[str], vectors: np.ndarray, tfidf: sp.csr_matrix) -> None:
        if len(ids) != vectors.shape[0] or len(ids) != tfidf.shape[0]:
            raise ValueError("ids, vectors and tf-idf rows must line up")
        self.ids = list(ids)
        self.row = {pid: i for i, pid in enumerate(self.ids)}
        if len(self.row) != len(self.ids):
            raise ValueError("paper ids must be unique")
        self.vectors = vectors
        self.tfidf = tfidf

    @classmethod
    def build(
        cls, ids: Sequence[str], texts: Sequence[str], vectors: np.ndarray, **tfidf: Any
    ) -> CorpusFeatures:
        """Fit the tf-idf on ``texts`` (title and abstract of each paper) and normalise the
        ``vectors`` (the stored embeddings). ``tfidf`` overrides the vectoriser's options."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        matrix = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        unit = matrix / np.clip(norms, 1e-12, None)
        options: dict[str, Any] = {
            # arxiv-sanity-lite's settings, min_df scaled down for small corpora
            "strip_accents": "unicode",
            "stop_words": "english",
            "token_pattern": r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",
            "ngram_range": (1, 2),
            "max_features": 20_000,
            "sublinear_tf": True,
            "max_df": 0.1 if len(texts) >= 1000 else 1.0,
            "min_df": 5 if len(texts) >= 1000 else 1,
            "dtype": np.float32,
        }
        options.update(tfidf)
        tfidf_matrix = TfidfVectorizer(**options).fit_transform(texts).tocsr()
        return cls(ids, unit, tfidf_matrix)

    def rows(self, ids: Iterable[str]) -> np.ndarray:
        """The rows of the ids this corpus knows, each once (unknown ones are skipped)."""
        return np.unique(np.array([self.row[p] for p in ids if p in self.row], dtype=np.int64))


class Recommender:
    """Ranks a corpus's papers for one reader; holds no per-reader state (thread-safe)."""

    def __init__(self, features: CorpusFeatures, config: RecommenderConfig | None = None) -> None:
        self.features = features
        self.config = config or RecommenderConfig()

    def recommend(
        self,
        positive_ids: Collection[str],
        negative_ids: Collection[str] = (),
        seen: Collection[str] = (),
        candidates: Collection[str] | None = None,
        limit: int = 50,
    ) -> list[Pick]:
        """The ``limit`` best papers for a reader who saved ``positive_ids`` and turned down
        ``negative_ids``, among ``candidates`` (all papers by default), never one of those,
        nor one in ``seen``.

        An empty profile (or one whose papers the corpus does not know yet) gives an empty
        list: there is nothing to be similar to, and a feed says so rather than guessing."""
        positives = self.features.rows(positive_ids)
        if not len(positives) or limit <= 0:
            return []
        negatives = self.features.rows(negative_ids)
        pool = self._pool(candidates, [*positive_ids, *negative_ids, *seen])
        if not len(pool):
            return []
        scores = self.scores(positives, negatives, pool)
        best = (
            np.argpartition(-scores, limit - 1)[:limit]
            if len(pool) > limit
            else np.arange(len(pool))
        )
        top = best[np.argsort(-scores[best], kind="stable")]
        return self._explain(pool[top], scores[top], positives)

    def rank(self, positive_ids: Collection[str], limit: int = 50) -> Ranking:
        """The ranker signature shared with search: ``[(arxiv_id, score)]``."""
        return [(p.arxiv_id, p.score) for p in self.recommend(positive_ids, limit=limit)]

    def scores(self, positives: np.ndarray, negatives: np.ndarray, pool: np.ndarray) -> np.ndarray:
        """A score for each row of ``pool`` (higher is better), from the rows of the profile."""
        if len(positives) >= self.config.min_model_papers:
            decision: np.ndarray = self._fit(positives, negatives)(pool)
            return decision
        return self._similarity_scores(positives, negatives, pool)

    def _pool(self, candidates: Collection[str] | None, excluded: Iterable[str]) -> np.ndarray:
        rows = (
            np.arange(len(self.features.ids))
            if candidates is None
            else self.features.rows(candidates)
        )
        drop = self.features.rows(set(excluded))
        return rows[~np.isin(rows, drop)] if len(drop) else rows

    def _fit(self, positives: np.ndarray, negatives: np.ndarray) -> Any:
        """A linear SVM on the profile against random papers and the thumbs-downs; returns
        a function scoring rows by its decision value."""
        from sklearn.svm import LinearSVC

        config, features = self.config, self.features
        rng = np.random.default_rng(_seed(positives))
        drawn = rng.choice(len(features.ids), min(config.negatives, len(features.ids)), False)
        drawn = drawn[~np.isin(drawn, positives)]
        random_negatives = drawn[~np.isin(drawn, negatives)]
        rows = np.concatenate([positives, random_negatives, negatives])
        labels = np.r_[np.ones(len(positives)), np.zeros(len(rows) - len(positives))]
        # A thumbs-down is a reader's word, not a guess: it weighs as much as a saved paper
        # (times explicit_negative_weight), which among thousands of random negatives it
        # would not with the plain weight of one of them.
        explicit = config.explicit_negative_weight * len(random_negatives) / len(positives)
        weights = np.r_[
            np.ones(len(positives) + len(random_negatives)), np.full(len(negatives), explicit)
        ]
        svm = LinearSVC(
            class_weight="balanced", C=config.svm_c, tol=1e-4, max_iter=2000, random_state=0
        )
        svm.fit(self._combined(rows), labels, sample_weight=weights)
        coef = svm.coef_.ravel().astype(np.float32)
        split = features.tfidf.shape[1]
        on_text, on_vectors = coef[:split], config.embedding_weight * coef[split:]

        def decision(pool: np.ndarray) -> np.ndarray:
            return self._project(pool, on_text[:, None], on_vectors[:, None]).ravel()

        return decision

    def _combined(self, rows: np.ndarray) -> sp.csr_matrix:
        weight = self.config.embedding_weight
        dense = sp.csr_matrix(weight * self.features.vectors[rows])
        return sp.hstack([self.features.tfidf[rows], dense], format="csr")

    def _similarities(self, rows: np.ndarray, pool: np.ndarray) -> np.ndarray:
        """Cosine in the combined space, ``(len(pool), len(rows))``, between 0 and 1: the two
        unit blocks are weighted 1 and w², so the sum is divided by 1 + w²."""
        w2 = self.config.embedding_weight**2
        features = self.features
        # a dense right-hand side: a sparse-times-dense product, much faster than sparse-sparse
        text_columns = features.tfidf[rows].T.toarray()
        both = self._project(pool, text_columns, w2 * features.vectors[rows].T)
        similarity: np.ndarray = both / (1 + w2)
        return similarity

    def _project(self, pool: np.ndarray, by_text: Any, by_vectors: np.ndarray) -> np.ndarray:
        """``tfidf[pool] @ by_text + vectors[pool] @ by_vectors``, dense. When the pool is
        most of the corpus, over the whole matrices and then the pool's rows: taking 75k
        rows out of the matrices copies them, which costs more than the products."""
        features = self.features
        whole = 2 * len(pool) > len(features.ids)
        text = (features.tfidf if whole else features.tfidf[pool]) @ by_text
        text = np.asarray(text)
        meaning = (features.vectors if whole else features.vectors[pool]) @ by_vectors
        both: np.ndarray = text + meaning
        return both[pool] if whole else both

    def _similarity_scores(
        self, positives: np.ndarray, negatives: np.ndarray, pool: np.ndarray
    ) -> np.ndarray:
        config = self.config
        similar = self._similarities(positives, pool)
        # the mean of the similarities is the similarity to the centroid (up to a constant)
        scores = _standard(similar.mean(axis=1))
        scores += config.max_sim_weight * _standard(similar.max(axis=1))
        if len(negatives):
            pushed = self._similarities(negatives, pool).max(1)
            scores -= config.negative_weight * _standard(pushed)
        return scores

    def _explain(self, rows: np.ndarray, scores: np.ndarray, positives: np.ndarray) -> list[Pick]:
        similar = self._similarities(positives, rows)
        nearest = similar.argmax(axis=1)
        ids = self.features.ids
        return [
            Pick(ids[row], float(score), ids[positives[k]], float(similar[i, k]))
            for i, (row, score, k) in enumerate(zip(rows, scores, nearest, strict=True))
        ]


def _standard(values: np.ndarray) -> np.ndarray:
    """Zero mean, unit spread: puts scores of different scales on one footing."""
    values = np.asarray(values, dtype=np.float64).ravel()
    spread = float(values.std())
    centred: np.ndarray = values - values.mean()
    return centred / spread if spread > 1e-12 else centred


def _seed(rows: np.ndarray) -> int:
    """The same profile draws the same negatives: a reader's list does not reshuffle on
    every page load."""
    return int.from_bytes(hashlib.sha1(np.sort(rows).tobytes()).digest()[:8], "little")
