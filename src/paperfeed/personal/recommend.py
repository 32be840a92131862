"""Recommendations for one reader: a linear model over two views of every paper.

Each paper has two representations, built once per corpus by :meth:`CorpusFeatures.build`:

- a tf-idf vector of its title and abstract over the **whole vocabulary** of unigrams and
  bigrams (sublinear tf, unit length, sparse), stop words kept: the rare words (a method's
  or a data set's name) and the phrasing a group writes in are what its next paper shares
  with its last ones;
- its stored MiniLM embedding (384-d, unit length): meaning, paraphrase, related wording.

A reader's profile is the papers they saved or upvoted. With at least ``min_model_papers``
(5) of them, :class:`Recommender` fits a linear SVM on the tf-idf rows, the profile against
the reader's thumbs-down papers (each weighing as much as a saved paper: they are real
negatives, not guesses) and other papers taken from *outside* the pool being ranked (the
older ones, when the pool is the new papers): the ``hard_negatives`` (1,000) whose text is
nearest the profile's (its tf-idf centroid minus the corpus's, over the profile's words in
at most ``mining_word_share``, 3 %, of the papers), and ``random_negatives`` (250) at
random. That is arxiv-sanity's model (the profile against every other paper)
made cheap: the papers far from the profile do not move the separating plane, the near
ones do. Fewer papers than that are ranked by similarity, the centroid the issue asks for:
the profile's tf-idf centroid with the corpus mean taken off (Rocchio), minus the
thumbs-downs' centroid. Either text score, standardised, gets ``embedding_weight`` (0.4)
times the standardised embedding score: the candidate's vector on the profile's mean
direction (minus the corpus mean and the thumbs-downs') after whitening by the inverse of
the embeddings' covariance (MiniLM vectors share a few dominant directions; whitening
keeps them from drowning the rest).

In a corpus of ``profile_words_from`` (20,000) papers or more the SVM sees **the profile's
words only**: each training row cut to the columns the profile's papers use, the other
words weighing nothing. Its cost then follows the profile (a few thousand columns), not the
vocabulary of 1,250 negatives, and among 75k papers the negatives are all near the profile,
so little is lost (measured below); in a small corpus, where the "hard" negatives are most
of the corpus, every word is kept, and that fit is cheap anyway. Ranking is one product of
the profile's less common columns of the tf-idf (a column-major copy,
:attr:`CorpusFeatures.columns`) with its centroid (choosing hard negatives), a fit on about
1,250 rows and one product over the pool (through the model's columns when they hold fewer
entries than the pool's rows); ``tests/bench/bench_recommend.py`` measures fit + rank +
explanations per user at 75k papers. Every pick carries the profile paper most similar
to it (the mean of the text and embedding cosines), so a page can say "similar to X you
saved"; :meth:`Recommender.ranked` scores a whole pool without explanations,
:meth:`Recommender.explain` explains the papers a page shows.

**How the choices were made**, by Recall@50 on the *tuning* split of
``paperfeed.personal.evaluate`` only (the other half of the authors, on the corpus cut at
the reported split's cut-off, tf-idf refitted on it, with its own earlier cut-off; so no
paper after the reported cut-off was ever read while tuning), the same 300 sampled authors
throughout (125 of them with under 5 profile papers), where the arxiv-sanity baseline
scores 0.257 (2026-12-01; ``tools/recommend_tuning.py`` runs each group below):

- the tf-idf view, ranked by the profile's centroid: arxiv-sanity's settings (20,000
  features, stop words dropped, min_df 5, max_df 0.1) 0.239; the whole vocabulary
  (min_df 2) 0.260; and with stop words kept (max_df 0.5) 0.267, with the corpus mean
  taken off (Rocchio, weight 1.25; 0.5 to 2 within 0.01) **0.281**; unigrams only 0.234,
  up to trigrams 0.263, character 3-5-grams 0.242;
- MiniLM alone: centroid 0.119, nearest profile paper 0.156, whitened centroid 0.169; added
  to the Rocchio text score at weight 0.4 it gives 0.286 (+0.004: the embeddings mostly
  say what the words say);
- the SVM: 3,000 random negatives 0.285 (on 100 of the authors); hard negatives chosen by
  text 1,000 / 2,000 / 3,000 / 5,000 (with 1,000 random) **0.288 / 0.299 / 0.300 / 0.298**
  (2,000: the fit takes 65 ms at 75k papers, 3,000 110 ms), the same chosen by embedding
  0.288; C 0.1 (0.2: 0.296; 0.5 lower); every older paper as
  a negative, arxiv-sanity style, 0.312 against 0.308 for 2,000 hard ones on 100 authors,
  at 2 s a fit; the embedding as columns of the SVM drowns the words (weight 1: 0.146;
  0.15: 0.301, and twice the fit time): it is added to the score instead;
- the SVM on the profile's words only (5+ paper authors, text only, under CPU load):
  0.281 against 0.280 for every word, and 61 ms against 131 ms a recommendation; C 0.05 /
  0.2 / 0.4 and other negative counts there all 0.277 to 0.281; a KKT-style extension to
  the other words 0.271; reweighting words by how specific they are to one author hurt
  the Rocchio score (0.15 to 0.279);
- fewer negatives for the profile-words SVM (2026-12-02, 5+ paper authors, text only, the
  ``--config`` runs of the tool): 2,000 hard + 1,000 random 0.2807; 1,000 + 500 0.2798;
  500 + 500 0.2774; hard ones found by the profile's words in at most 3 % of the papers
  (not the common words, which hold most of the matrix's entries) with 1,000 + 500
  0.2805, with **1,000 + 250 0.2805**, in about half the time; the SVM itself cut to
  those words costs more (share 0.1: 0.2739; 0.03: 0.2720; 0.25: 0.2795 with 1,000 + 500):
  the common words stay in the model; with these settings, all authors 0.297 (the same
  score plus 0.25 / 0.6 times the embedding's: 0.296 / 0.294);
- under 5 papers the SVM would do as well as the centroid (0.326 against 0.320 for those
  125 authors): the centroid stays, as the issue asks for small profiles;
- no better: the SVM's score plus the tf-idf cosine to the nearest profile paper (0.2 /
  0.5 times: 0.301 / 0.300 against 0.297; the mean of the 3 nearest 0.295 / 0.292) or plus
  the Rocchio score (0.3 / 0.6 times: 0.297 / 0.297); Rocchio against the new papers' own
  mean instead of the corpus's (0.281 / 0.277 / 0.279 at 1 / 1.25 / 1.5, against 0.279 /
  0.281 / 0.281); hard negatives from the last 6 or 12 months before the cut-off only
  (0.292 / 0.293); a prior on the candidate's length (-0.1 / 0.1 / 0.2 times its log
  word count: 0.296 / 0.294 / 0.295); a second SVM on the whitened embeddings, next to the
  text SVM in place of the centroid (0.2 times, C 0.1: 0.296; C 0.01: 0.295) or next to
  both (0.290 to 0.294); the candidates weighted by BM25 instead of unit-length tf-idf
  (Rocchio with the corpus mean off: 0.285 to 0.290 against 0.281; better for 5+ papers,
  0.278 against 0.257, worse under 5), added to the model's score (0.3 / 0.6 / 1 / 1.5 /
  2.5 times: 0.298 / 0.300 / **0.301** / 0.295 / 0.290): +0.004 at best, within the noise,
  for a second 20M-entry view of the corpus, not taken (a lead for later); the whole model
  on BM25 rows made unit length (k1 0.6, b 0.75: 0.299, 5+ papers 0.289 against 0.283,
  under 5 0.314 against 0.317; not unit length, the SVM fails: 0.014); pseudo-relevance
  feedback (0.24), weighting recent profile papers (0.273 at a one-year half-life, 0.148
  at a month), a hubness correction, a gradient-boosted re-ranker over ten similarity
  scores (0.106), an author-discriminant projection of the embeddings (0.174 alone,
  nothing added to the text).
- other views and negatives (2026-12-02, the tool's ``views``, ``skip`` and ``ensemble``
  groups; the text-only model, no embedding, 0.295: under 5 papers 0.315, 5+ 0.281): the
  title written twice 0.289; bigram columns weighted 0.5 / 1.5 / 2 times 0.271 / 0.293 /
  0.280; idf to the power 1.5 / 2 0.293 / 0.283 (better from 5 papers, 0.286, worse under
  5, 0.303 / 0.278); character 3-5-grams, Rocchio, 0.237 alone, added 0.2 / 0.4 / 0.7
  times 0.294 / 0.290 / 0.292; an "author space", words mediated by who writes them (a
  256-d truncated SVD of the 45,960 older authors' word profiles, each paper's tf-idf
  projected on it; older papers only): 0.200 alone (whitened; better than MiniLM's
  0.169), added 0.2 / 0.4 times 0.294 / 0.289 (it says what the words say); the 20 to 200
  nearest older papers left out of the hard negatives (the group's own, perhaps): 0.295,
  no change, 400: 0.293; a profile of under 5 papers grown by its 5 / 10 / 20 nearest
  older papers (0.25 to 1 times their centroids, text's and embedding's): 0.233 to 0.289
  against 0.317 for those authors (the profile's own wording is the clue); the full model
  (0.297) plus the arxiv-sanity SVM's own score 0.3 / 0.6 times 0.303 / 0.294 (an
  ensemble with the baseline, at 0.6 to 0.8 s a reader), plus an SVM on arxiv-sanity's
  tf-idf with these negatives 0.298. Where the lead over the baseline (0.257) is: from 5
  papers 0.283 against 0.225 (1.26x), under 5 papers 0.317 against 0.301 (1.06x).
- stems, the pool's own neighbourhoods, other losses, a learned blend (2026-12-02, the
  tool's ``stem``, ``diffuse``, ``loss``, ``fuse`` and ``ranks`` groups; the text-only
  model, 0.295): Snowball stems (PyStemmer) in place of the words 0.289, added 0.293 / 0.294; each
  candidate's score plus the mean (or best) score of its 5 / 10 / 20 nearest candidates
  (an author's new papers are often alike) 0.284 to 0.295; from 5 papers, a hinge loss
  0.278 / 0.264 / 0.251 at C 0.1 / 0.3 / 1 against 0.281 for the squared hinge, logistic
  regression 0.281 at C 0.3 to 3 (its scores correlate 0.998 with the SVM's); the score
  plus the Rocchio score, the nearest profile paper's cosine, the mean of the 3 nearest
  and Rocchio on arxiv-sanity's tf-idf, weights fitted by coordinate ascent on Recall@50
  for half the authors: on the other half 0.3037 / 0.2870 against 0.3030 / 0.2870 for
  the model alone. Of the relevant papers, 26 % rank in the model's first 50, 30 % in its
  first 100, 52 % in its first 1,000 (the baseline's 23 / 27 / 52 %; either's 29 / 33 /
  59 %): half of an author's next papers share little wording with their earlier ones.
- words weighted by what the corpus's own authors say of them (2026-12-02, the tool's
  ``learn`` group): the older papers cut again at their 80th percentile; for 3,000
  sampled authors, pairs of each later paper of theirs against the 20 later papers
  Rocchio ranks highest and 10 at random; a pairwise logistic loss on the candidate's
  words times the query's, Rocchio's score as the offset, an L2 pull towards 1 (L-BFGS)
  learns one weight per word, and the tf-idf's columns are scaled by their square roots
  (it weighs down busy topics, "reasoning", "gaussian splatting", and up labs' model names
  and phrasing, "kimi", "nemotron", "extensive experiments"). At strength 100 the text-only
  model 0.2985 / 0.3018 / 0.3051 with authors sampled by seed 0 / 1 / 2, 0.2979 with 6,000,
  against 0.2950 (from 5 papers 0.288 to 0.291 against 0.2805 each time; under 5 mixed,
  0.312 to 0.326 against 0.315); at strength 30 / 60 / 200 (3,000 authors, seed 0) 0.2926
  / 0.2985 / 0.2951 (1 overfits: 0.229), 60 with 6,000 authors 0.2909; the same pairs on
  the profile's words only 0.2946 (a variant not kept in the tool).
  Tried on the reported split (seed 0, strength 100, 300 authors): Recall@50 0.315
  against 0.318 without (nDCG@50 0.212 against 0.208, MRR 0.238 against 0.231), and
  learning adds 35 to 85 s to every build of the features (30 to 47 s without):
  not taken.

These are noisy (a few hundred authors): the reported split's bootstrap intervals, from
``paperfeed eval recommend``, are what to quote.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

Ranking = list[tuple[str, float]]
Model = tuple[np.ndarray, np.ndarray]  # a fitted SVM: its tf-idf columns and their weights
HARD_NEGATIVES = 1000
EMBEDDING_WEIGHT = 0.4
MODELS_KEPT = 256  # fitted models kept per corpus, the latest used (tens of kB each)
# candidate sets whose rows are kept per corpus (a 30-day window at 75k papers: ~25 MB)
SLICES_KEPT = 2
MIN_OUTSIDE = 100  # papers outside the pool needed to take negatives from there alone


@dataclass(frozen=True)
class RecommenderConfig:
    """The knobs, with the values the tuning split chose (see the module docstring)."""

    svm_c: float = 0.1
    hard_negatives: int = HARD_NEGATIVES  # the older papers most like the profile
    random_negatives: int = 250  # and older papers at random
    background_weight: float = 1.25  # the corpus mean taken off a profile's centroid
    embedding_weight: float = EMBEDDING_WEIGHT  # the embedding score next to the text score
    negative_weight: float = 1.0  # a thumbs-down's pull on the centroids (text, embedding)
    min_model_papers: int = 5  # fewer profile papers: similarity only, no model
    profile_words_from: int = 20_000  # papers from which the SVM sees the profile's words only
    # of those words, the ones in at most this share of the papers (1.0: all of them; less
    # is faster and ranks worse, see the module docstring)
    profile_word_share: float = 1.0
    # from profile_words_from papers, hard negatives are found by the profile's words in at
    # most this share of the papers: the common words hold most of the matrix's entries
    # and choose none of them
    mining_word_share: float = 0.03
    explicit_negative_weight: float = 1.0  # a thumbs-down against a saved paper's weight


@dataclass(frozen=True)
class Pick:
    """One recommended paper, and why: the profile paper most similar to it."""

    arxiv_id: str
    score: float
    similar_to: str  # the profile paper (arXiv id) it is most like
    similarity: float  # cosine, the mean of the text's and the embedding's, 0..1

    def explanation(
        self, title_of: dict[str, str] | None = None, because: str = "you saved"
    ) -> str:
        """ "similar to <title> you saved"; ``because`` says how the paper got into the
        profile ("you saved or upvoted", "tagged …")."""
        name = (title_of or {}).get(self.similar_to, self.similar_to)
        return f"similar to {name} {because}"


def tfidf_options(papers: int) -> dict[str, Any]:
    """The vectoriser's settings for a corpus of ``papers`` (see the module docstring)."""
    big = papers >= 1000
    return {
        "strip_accents": "unicode",
        # "of the", "we propose a": phrasing is part of a group's voice, in a corpus big
        # enough for idf to tell common phrasing from a group's; a small one drops them
        "stop_words": None if big else "english",
        "token_pattern": r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",
        "ngram_range": (1, 2),
        "max_features": None,  # a method's or data set's name is rare, and the best clue
        "sublinear_tf": True,
        # words in every other paper say nothing of a reader (a handful of papers has too
        # few to tell them: keep all)
        "max_df": 0.5 if papers >= 50 else 1.0,
        "min_df": 2 if big else 1,
        "dtype": np.float32,
    }


class CorpusFeatures:
    """Both views of every paper of a corpus, row ``i`` being ``ids[i]``, and what is
    derived from them once: the corpus's mean tf-idf row (and each paper's product with
    it), the embeddings' mean and the inverse of their (shrunk) covariance."""

    def __init__(
        self, ids: Sequence[str], vectors: np.ndarray, tfidf: sp.csr_matrix, shrinkage: float = 0.1
    ) -> None:
        """``shrinkage``: of the embeddings' covariance towards a multiple of the identity,
        before it is inverted (0.1, as the tuning split's whitened centroid used)."""
        if len(ids) != vectors.shape[0] or len(ids) != tfidf.shape[0]:
            raise ValueError("ids, vectors and tf-idf rows must line up")
        self.ids = list(ids)
        self.row = {pid: i for i, pid in enumerate(self.ids)}
        if len(self.row) != len(self.ids):
            raise ValueError("paper ids must be unique")
        self.vectors = vectors
        tfidf.sort_indices()  # (the vectoriser's are; :func:`_columns_of` counts on it)
        self.tfidf = tfidf
        # the same matrix by columns: a profile's words pick the papers near it (hard
        # negatives) without a pass over every word of every paper (about twice the
        # tf-idf's memory in all; built here, off the request path)
        self.columns = tfidf.tocsc()
        self.document_frequency = np.diff(self.columns.indptr)
        self._backgrounds: dict[float, np.ndarray] = {}
        self.text_mean = np.asarray(tfidf.mean(axis=0), dtype=np.float32).ravel()
        self.text_background = np.asarray(tfidf @ self.text_mean, dtype=np.float32).ravel()
        self.vector_mean = vectors.mean(axis=0).astype(np.float32)
        # fitted SVM weights by profile, thumbs-downs and settings (Recommender._model_scores):
        # a reader's reload, or a feed reader's poll, skips the fit
        self.models: OrderedDict[bytes, Model] = OrderedDict()
        self.models_lock = threading.Lock()
        # the tf-idf rows and vectors of the latest candidate sets (:meth:`slices`)
        self.row_slices: OrderedDict[bytes, tuple[sp.csr_matrix, np.ndarray]] = OrderedDict()
        self.row_slices_lock = threading.Lock()
        dims = vectors.shape[1]
        covariance = np.cov(vectors, rowvar=False).reshape(dims, dims) if len(ids) > 1 else None
        if covariance is None:
            covariance = np.eye(dims)
        scale = float(np.trace(covariance)) / dims or 1.0
        shrunk = covariance + shrinkage * scale * np.eye(dims)
        self.whiten = np.linalg.inv(shrunk).astype(np.float32)

    @classmethod
    def build(
        cls, ids: Sequence[str], texts: Sequence[str], vectors: np.ndarray, **tfidf: Any
    ) -> CorpusFeatures:
        """Fit the tf-idf on ``texts`` (title and abstract of each paper) and normalise the
        ``vectors`` (the stored embeddings). ``tfidf`` overrides the vectoriser's options."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        if len(ids) != len(texts) or len(ids) != len(vectors):
            raise ValueError("ids, vectors and tf-idf rows must line up")
        matrix = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        unit = matrix / np.clip(norms, 1e-12, None)
        options = {**tfidf_options(len(texts)), **tfidf}
        tfidf_matrix = TfidfVectorizer(**options).fit_transform(texts).tocsr()
        return cls(ids, unit, tfidf_matrix)

    def rows(self, ids: Iterable[str]) -> np.ndarray:
        """The rows of the ids this corpus knows, sorted, each once (unknown ones are
        skipped). One lookup per id, then a sort: twice as fast as ``np.unique`` of a list
        (a "For you" pool or a digest's week holds thousands of ids)."""
        found = [row for row in map(self.row.get, ids) if row is not None]
        rows = np.fromiter(found, dtype=np.int64, count=len(found))
        rows.sort()
        if len(rows) > 1:
            rows = rows[np.r_[True, rows[1:] != rows[:-1]]]
        return rows

    def slices(self, rows: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
        """The tf-idf rows and the vectors of ``rows`` (a candidate set), taken once and
        kept for the next reader with the same candidates (:data:`SLICES_KEPT` sets): "For
        you" ranks the same window for every reader, a digest run the same week."""
        key = hashlib.sha1(rows.tobytes()).digest()
        with self.row_slices_lock:
            found = self.row_slices.get(key)
            if found is not None:
                self.row_slices.move_to_end(key)
                return found
        found = (self.tfidf[rows], self.vectors[rows])  # (outside the lock: ~5 ms at 75k)
        with self.row_slices_lock:
            self.row_slices[key] = found
            while len(self.row_slices) > SLICES_KEPT:
                self.row_slices.popitem(last=False)
        return found

    def text_scores(self, direction: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``tfidf[rows] @ direction``; over the whole matrix, then the rows, when they are
        most of the corpus (taking 75k rows out of the matrix copies it, which costs more
        than the product)."""
        if 2 * len(rows) > len(self.ids):
            scores: np.ndarray = np.asarray(self.tfidf @ direction).ravel()[rows]
        else:
            scores = np.asarray(self.tfidf[rows] @ direction).ravel()
        return scores

    def vector_scores(self, direction: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``vectors[rows] @ direction``, over the whole matrix when the rows are most of it
        (as :meth:`text_scores`: a copy of 75k vectors costs more than the product)."""
        if 2 * len(rows) > len(self.ids):
            scores: np.ndarray = (self.vectors @ direction)[rows]
        else:
            scores = self.vectors[rows] @ direction
        return scores

    def centroid(self, rows: np.ndarray) -> np.ndarray:
        """The mean tf-idf row of ``rows``, dense."""
        return np.asarray(self.tfidf[rows].mean(axis=0), dtype=np.float32).ravel()

    def words(self, rows: np.ndarray, share: float = 1.0) -> np.ndarray:
        """The columns (words) the papers ``rows`` use, sorted; with ``share`` under 1,
        only those in at most that share of the corpus's papers."""
        return self._words_of(self.tfidf[rows], share)

    def _words_of(self, profile: sp.csr_matrix, share: float) -> np.ndarray:
        columns = np.unique(profile.indices)
        if share < 1.0:
            columns = columns[self.document_frequency[columns] <= share * len(self.ids)]
        return columns

    def background(self, share: float = 1.0) -> np.ndarray:
        """Each paper's product with the corpus's mean row, over the words in at most
        ``share`` of the papers (:attr:`text_background` for 1), computed once per share."""
        if share >= 1.0:
            return self.text_background
        found = self._backgrounds.get(share)
        if found is None:
            mean = np.where(
                self.document_frequency <= share * len(self.ids), self.text_mean, 0.0
            ).astype(np.float32)
            found = self._backgrounds[share] = np.asarray(self.tfidf @ mean).ravel()
        return found

    def near(self, rows: np.ndarray, background_weight: float, share: float = 1.0) -> np.ndarray:
        """Every paper's tf-idf row on the centroid of ``rows`` minus ``background_weight``
        times its product with the corpus mean (Rocchio, as :meth:`Recommender._rocchio`),
        through the centroid's columns only: the words of a few papers, not the corpus's
        (with ``share`` under 1, the words in at most that share of the papers: the common
        words hold most of the matrix's entries and tell papers apart least)."""
        profile = self.tfidf[rows]
        columns = self._words_of(profile, share)
        weights = np.asarray(profile[:, columns].sum(axis=0), dtype=np.float32).ravel()
        scores = self.column_scores(columns, weights / len(rows))
        scores -= background_weight * self.background(share)
        return scores

    def column_scores(self, columns: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Every paper's tf-idf row on a direction that is ``weights`` at ``columns`` and
        nothing elsewhere, through those columns only (the column-major copy): the work
        follows the papers that use those words, not the size of the matrix."""
        return np.asarray(self.columns[:, columns] @ weights).ravel()


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
        nor one in ``seen``; each with the profile paper it is most like.

        An empty profile (or one whose papers the corpus does not know yet) gives an empty
        list: there is nothing to be similar to, and a feed says so rather than guessing."""
        if limit <= 0:
            return []
        found = self._scored(positive_ids, negative_ids, seen, candidates)
        if found is None:
            return []
        pool, scores, positives = found
        best = (
            np.argpartition(-scores, limit - 1)[:limit]
            if len(pool) > limit
            else np.arange(len(pool))
        )
        top = best[np.argsort(-scores[best], kind="stable")]
        return self._explain(pool[top], scores[top], positives)

    def ranked(
        self,
        positive_ids: Collection[str],
        negative_ids: Collection[str] = (),
        seen: Collection[str] = (),
        candidates: Collection[str] | None = None,
    ) -> Ranking:
        """Every candidate the corpus knows (as :meth:`recommend` chooses them), best first,
        with its score and no explanation: what a page that boosts, filters and cuts the
        list itself needs (then :meth:`explain` for the papers it shows)."""
        found = self._scored(positive_ids, negative_ids, seen, candidates)
        if found is None:
            return []
        pool, scores, _ = found
        order = np.argsort(-scores, kind="stable")
        ids = self.features.ids
        # converted in bulk (``tolist``), not paper by paper: a window holds thousands
        return list(
            zip([ids[row] for row in pool[order].tolist()], scores[order].tolist(), strict=True)
        )

    def explain(
        self, scored: Sequence[tuple[str, float]], positive_ids: Collection[str]
    ) -> list[Pick]:
        """``scored`` papers (from :meth:`ranked`) with the profile paper each is most like;
        papers the corpus does not know are left out."""
        positives = self.features.rows(positive_ids)
        known = [
            (self.features.row[pid], score) for pid, score in scored if pid in self.features.row
        ]
        if not len(positives) or not known:
            return []
        rows = np.array([row for row, _ in known], dtype=np.int64)
        return self._explain(rows, np.array([score for _, score in known]), positives)

    def rank(self, positive_ids: Collection[str], limit: int = 50) -> Ranking:
        """The ranker signature shared with search: ``[(arxiv_id, score)]``."""
        return [(p.arxiv_id, p.score) for p in self.recommend(positive_ids, limit=limit)]

    def scores(
        self,
        positives: np.ndarray,
        negatives: np.ndarray,
        pool: np.ndarray,
        keep: np.ndarray | None = None,
    ) -> np.ndarray:
        """A score for each row of ``pool`` (higher is better), from the rows of the profile;
        with ``keep`` (a mask), for the kept rows only, standardised among them (the whole
        pool's rows of the matrices are taken, and kept for the next reader)."""
        keep = np.ones(len(pool), dtype=bool) if keep is None else keep
        if len(positives) >= self.config.min_model_papers:
            return self._model_scores(positives, negatives, pool, keep)
        return self._similarity_scores(positives, negatives, pool, keep)

    def _scored(
        self,
        positive_ids: Collection[str],
        negative_ids: Collection[str],
        seen: Collection[str],
        candidates: Collection[str] | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        positives = self.features.rows(positive_ids)
        if not len(positives):
            return None
        negatives = self.features.rows(negative_ids)
        everyone = (
            np.arange(len(self.features.ids))
            if candidates is None
            else self.features.rows(candidates)
        )
        drop = self.features.rows({*positive_ids, *negative_ids, *seen})
        keep = ~np.isin(everyone, drop) if len(drop) else np.ones(len(everyone), dtype=bool)
        if not keep.any():
            return None
        # the candidates are scored whole, then those left out dropped: the same candidates
        # for every reader (a digest's week) reuse their rows of the matrices
        return everyone[keep], self.scores(positives, negatives, everyone, keep), positives

    def _model_scores(
        self, positives: np.ndarray, negatives: np.ndarray, pool: np.ndarray, keep: np.ndarray
    ) -> np.ndarray:
        """A linear SVM on the profile's tf-idf rows against the thumbs-downs and other
        papers (see the module docstring), its decision values standardised, plus the
        embedding score. A model fitted for the same profile and thumbs-downs on these
        features is used again (:data:`MODELS_KEPT` are kept): a reload, a feed reader's
        poll or the next page of the same reader skips the fit and the search for hard
        negatives. Its negatives were drawn outside the pool of its first request; the
        pool of a later one differs by the papers that arrived or were seen since, which
        changes nothing the negatives were chosen against."""
        config, features = self.config, self.features
        others = self._outside(positives, negatives, pool[keep])
        mined = len(others) >= MIN_OUTSIDE
        key = hashlib.sha1(
            b"%d|%s|%s|%s"
            % (mined, positives.tobytes(), negatives.tobytes(), repr(config).encode())
        ).digest()
        with features.models_lock:
            model = features.models.get(key)
            if model is not None:
                features.models.move_to_end(key)
        if model is None:
            model = self._fit(positives, negatives, others if mined else None)
            with features.models_lock:
                features.models[key] = model
                while len(features.models) > MODELS_KEPT:
                    features.models.popitem(last=False)
        text = self._sparse_scores(*model, pool)[keep]
        return self._with_embedding(text, positives, negatives, pool, keep)

    def _fit(
        self, positives: np.ndarray, negatives: np.ndarray, others: np.ndarray | None
    ) -> Model:
        """The SVM's weights over the tf-idf columns: in a corpus of
        ``profile_words_from`` papers or more, the profile's words only (see the module
        docstring); the columns it gives a weight, and the weights."""
        from sklearn.svm import LinearSVC

        config, features = self.config, self.features
        drawn = self._negatives(positives, negatives, others)
        rows = np.concatenate([positives, drawn, negatives])
        labels = np.r_[np.ones(len(positives)), np.zeros(len(rows) - len(positives))]
        # A thumbs-down is a reader's word, not a guess: it weighs as much as a saved paper
        # (times explicit_negative_weight), which among thousands of other negatives it
        # would not with the plain weight of one of them.
        explicit = config.explicit_negative_weight * max(len(drawn), 1) / len(positives)
        weights = np.r_[np.ones(len(positives) + len(drawn)), np.full(len(negatives), explicit)]
        weights *= _balanced(labels, weights)  # each class weighs half
        svm = LinearSVC(C=config.svm_c, tol=1e-4, max_iter=2000, random_state=0)
        training = features.tfidf[rows]
        if self._profile_words_only:
            columns = features.words(positives, config.profile_word_share)
            training = _columns_of(training, columns)
        else:
            columns = np.arange(training.shape[1])
            training = training.astype(np.float64)
            training.sort_indices()
        svm.fit(training, labels, sample_weight=weights)
        coef = svm.coef_.ravel()
        used = np.flatnonzero(coef)
        return columns[used].astype(np.int32), coef[used].astype(np.float32)

    def _outside(
        self, positives: np.ndarray, negatives: np.ndarray, pool: np.ndarray
    ) -> np.ndarray:
        """The papers neither in ``pool`` nor in the profile nor turned down."""
        outside = np.ones(len(self.features.ids), dtype=bool)
        outside[positives] = False
        outside[negatives] = False
        outside[pool] = False
        return np.flatnonzero(outside)

    def _negatives(
        self, positives: np.ndarray, negatives: np.ndarray, others: np.ndarray | None
    ) -> np.ndarray:
        """The model's other negatives: among ``others``, the papers outside the pool (the
        older ones, when the pool is the new papers), the ``hard_negatives`` most like the
        profile by text (:meth:`_rocchio`) and ``random_negatives`` at random. Papers of the
        pool are never hard negatives: the most similar of them are the very papers to
        recommend. When the pool leaves too few papers outside it (``others`` None: a small
        site, or candidates = everything), random papers of the whole corpus, as
        arxiv-sanity takes every paper."""
        config, features = self.config, self.features
        rng = np.random.default_rng(_seed(positives))
        if others is None:
            taken = np.zeros(len(features.ids), dtype=bool)
            taken[positives] = True
            taken[negatives] = True
            anywhere = np.flatnonzero(~taken)
            count = min(config.random_negatives, len(anywhere))
            return np.sort(rng.choice(anywhere, count, replace=False))
        hard = np.zeros(0, dtype=np.int64)
        if config.hard_negatives > 0:
            share = config.mining_word_share if self._profile_words_only else 1.0
            closeness = features.near(positives, config.background_weight, share)[others]
            count = min(config.hard_negatives, len(others))
            hard = others[np.argpartition(-closeness, count - 1)[:count]]
        random = rng.choice(others, min(config.random_negatives, len(others)), replace=False)
        return np.union1d(hard, random)

    def _with_embedding(
        self,
        text: np.ndarray,
        positives: np.ndarray,
        negatives: np.ndarray,
        pool: np.ndarray,
        keep: np.ndarray,
    ) -> np.ndarray:
        """``text`` standardised plus ``embedding_weight`` times the standardised
        embedding score: the pool's vectors on the profile's whitened mean direction
        (minus the thumbs-downs', as for the text in :meth:`_similarity_scores`)."""
        config, features = self.config, self.features
        scores = _standard(text)
        if config.embedding_weight:
            direction = features.vectors[positives].mean(axis=0) - features.vector_mean
            if len(negatives):
                direction = direction - config.negative_weight * (
                    features.vectors[negatives].mean(axis=0) - features.vector_mean
                )
            meaning = self._vector_scores(features.whiten @ direction, pool)[keep]
            scores += config.embedding_weight * _standard(meaning)
        return scores

    def _similarity_scores(
        self, positives: np.ndarray, negatives: np.ndarray, pool: np.ndarray, keep: np.ndarray
    ) -> np.ndarray:
        """Small profiles: the tf-idf centroid of the profile, the corpus mean taken off
        (Rocchio), and the thumbs-downs' centroid; plus the embedding score."""
        text = self._rocchio(positives, pool, negatives)[keep]
        return self._with_embedding(text, positives, negatives, pool, keep)

    @property
    def _profile_words_only(self) -> bool:
        """A corpus big enough for the SVM to see the profile's words only, and for the
        hard negatives to be found by its less common ones (see the module docstring)."""
        return len(self.features.ids) >= self.config.profile_words_from

    def _sparse_scores(
        self, columns: np.ndarray, weights: np.ndarray, pool: np.ndarray
    ) -> np.ndarray:
        """``tfidf[pool]`` on a direction that weighs ``columns`` only (a model's): through
        those columns of the whole corpus when they hold fewer entries than the pool's rows
        (a model of rare words), through the pool's rows otherwise."""
        features = self.features
        through_columns = int(features.document_frequency[columns].sum())
        through_rows = (
            features.tfidf.nnz
            if 2 * len(pool) > len(features.ids)
            else features.slices(pool)[0].nnz
        )
        if 2 * through_columns < through_rows:  # (a slice, then a product: twice the work)
            scores: np.ndarray = features.column_scores(columns, weights)[pool]
            return scores
        direction = np.zeros(features.tfidf.shape[1], dtype=np.float32)
        direction[columns] = weights
        return self._text_scores(direction, pool)

    def _text_scores(self, direction: np.ndarray, pool: np.ndarray) -> np.ndarray:
        """``tfidf[pool] @ direction``, the pool's rows taken once per candidate set."""
        if 2 * len(pool) > len(self.features.ids):
            return self.features.text_scores(direction, pool)
        return np.asarray(self.features.slices(pool)[0] @ direction).ravel()

    def _vector_scores(self, direction: np.ndarray, pool: np.ndarray) -> np.ndarray:
        if 2 * len(pool) > len(self.features.ids):
            return self.features.vector_scores(direction, pool)
        scores: np.ndarray = self.features.slices(pool)[1] @ direction
        return scores

    def _rocchio(
        self, positives: np.ndarray, pool: np.ndarray, negatives: np.ndarray | None = None
    ) -> np.ndarray:
        """The pool's tf-idf rows on the profile's centroid, minus ``background_weight``
        times their product with the corpus's mean row (the same for every reader, computed
        once), minus the thumbs-downs' centroid."""
        config, features = self.config, self.features
        direction = features.centroid(positives)
        if negatives is not None and len(negatives):
            direction -= config.negative_weight * features.centroid(negatives)
        words = np.flatnonzero(direction)  # the profile's (and thumbs-downs') words
        text = self._sparse_scores(words, direction[words], pool)
        text -= config.background_weight * features.text_background[pool]
        return text

    def _similarities(self, rows: np.ndarray, pool: np.ndarray) -> np.ndarray:
        """Cosine of each paper of ``pool`` to each of ``rows``, ``(len(pool), len(rows))``:
        the mean of the tf-idf cosine and the embedding cosine (both unit), 0..1."""
        features = self.features
        text = (features.tfidf[pool] @ features.tfidf[rows].T).toarray()
        meaning = features.vectors[pool] @ features.vectors[rows].T
        similarity: np.ndarray = np.clip((text + meaning) / 2, 0.0, 1.0)
        return similarity

    def _explain(self, rows: np.ndarray, scores: np.ndarray, positives: np.ndarray) -> list[Pick]:
        similar = self._similarities(positives, rows)
        nearest = similar.argmax(axis=1)
        ids = self.features.ids
        profile = [ids[k] for k in positives.tolist()]
        return [
            Pick(ids[row], score, profile[k], float(similar[i, k]))
            for i, (row, score, k) in enumerate(
                zip(rows.tolist(), scores.tolist(), nearest.tolist(), strict=True)
            )
        ]


def _standard(values: np.ndarray) -> np.ndarray:
    """Zero mean, unit spread: puts scores of different scales on one footing."""
    values = np.asarray(values, dtype=np.float64).ravel()
    spread = float(values.std())
    centred: np.ndarray = values - values.mean()
    return centred / spread if spread > 1e-12 else centred


def _balanced(labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The factor that gives each class of ``labels`` the same total weight (scikit-learn's
    ``class_weight="balanced"`` with sample weights): ``sum(w) / (classes * sum(w of the
    class))`` for each sample."""
    classes, index = np.unique(labels, return_inverse=True)
    totals = np.bincount(index, weights=weights)
    factor: np.ndarray = (weights.sum() / (len(classes) * totals))[index]
    return factor


def _columns_of(matrix: sp.csr_matrix, columns: np.ndarray) -> sp.csr_matrix:
    """``matrix[:, columns]`` as float64, what liblinear takes (converted here, on the
    entries kept, rather than by scikit-learn's checks on a copy). scipy's column indexing
    (one pass in C++, four times faster at 75k papers than the same done with numpy)
    keeps each row's order: with ``columns`` and ``matrix``'s rows sorted (as the
    vectoriser leaves them), the rows stay sorted and nothing sorts them again."""
    sub = matrix[:, columns]
    return sp.csr_matrix(
        (sub.data.astype(np.float64), sub.indices, sub.indptr), shape=sub.shape, copy=False
    )


def _seed(rows: np.ndarray) -> int:
    """The same profile draws the same negatives: a reader's list does not reshuffle on
    every page load."""
    return int.from_bytes(hashlib.sha1(np.sort(rows).tobytes()).digest()[:8], "little")
