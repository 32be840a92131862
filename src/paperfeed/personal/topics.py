"""Topics of a period: FasterPAM k-medoids on cosine distances of the paper embeddings,
each topic labelled by its distinctive terms (c-TF-IDF) and its medoid paper, and drawn on a
small map (PCA to two dimensions, as a JS-free SVG).

Why k-medoids: a topic's centre is a real paper (its medoid), which the page can show and
link, and it works on any dissimilarity (cosine here) without averaging vectors. FasterPAM
(the ``kmedoids`` package, in Rust) needs the full distance matrix, n² floats: 22 GB at 75k
papers, so the medoids are searched among at most ``SAMPLE_MAX`` papers of the period (a
seeded uniform sample, 36 MB of float32 distances) and every other paper joins its nearest
medoid. A week of the arXiv corpus (about 1,000 papers) is clustered whole. Measured by
``tests/bench/bench_topics.py`` on the 75k corpus, a 20,000-paper sample: FasterPAM 28 s at
k = 12 (1.6 GB of distances), scikit-learn's k-means 5.7 s; and k-means scores the better
silhouette on the same sample and k (0.053 against 0.039): its centres need not be papers.
That is the price of a medoid to show; the silhouettes of both are low, topics of abstracts
overlap.

How many topics: the silhouette (cosine) of the embeddings of arXiv abstracts is highest at
k = 2 (0.11 on a week of 996 papers) and then flat, about 0.035-0.04 from 5 to 20 topics,
so an unbounded choice always says "two topics", which tells a reader nothing. The silhouette
picks k within a range that grows with the period, from ``candidate_ks`` (6 to 11 for a week
of 1,000 papers); ``k`` fixes it instead. Everything is seeded: the same papers give the
same topics, numbered by size (1 is the largest).

The labels are c-TF-IDF (as BERTopic does it): a topic's papers are one document, a term
scores its frequency in that document times log(1 + average topic length / its frequency in
all topics), so words every topic uses ("model", "data") sink and the topic's own rise.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from html import escape

import kmedoids
import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from paperfeed.rank.feeds import Period
from paperfeed.store import Store

SEED = 0
SAMPLE_MAX = 3_000  # papers FasterPAM sees: a 3,000² float32 distance matrix is 36 MB
K_MAX = 16  # more topics than this do not fit a page of cards
MIN_TOPIC_SIZE = 3  # papers per topic on average, at least, when k is chosen
LABEL_TERMS = 4
MAX_DF = 0.25  # a term in more of the papers says little about any one topic (but see below)
LABEL_TEXTS_MAX = 10_000  # texts c-TF-IDF counts (a seeded sample above): seconds, not minutes
MAP_POINTS = 1_200  # dots on the map at most (a seeded sample, medoids always drawn)
MAP_COLOURS = 10  # CSS classes t0..t9 in topics.css; topic n gets class t((n - 1) % 10)
CACHED_PERIODS = 32

# Words of every abstract (and TeX commands read as words), on top of the English stop words.
_BOILERPLATE = """paper propose proposed proposes present presents presented show shows shown
study studies result results method methods approach approaches novel new using use used based
demonstrate demonstrates work works also existing however via provide provides introduce
introduces well furthermore moreover thus achieve achieves significantly including
mathbf mathcal mathrm mathbb frac cdot leq geq left right emph textit"""
STOP_WORDS = sorted(ENGLISH_STOP_WORDS | set(_BOILERPLATE.split()))
TOKEN_PATTERN = r"(?u)\b[a-zA-Z][a-zA-Z-]*[a-zA-Z]\b"  # words of two letters or more, no numbers


@dataclass(frozen=True)
class Clustering:
    """Topics as rows of the clustered matrix."""

    labels: np.ndarray  # the topic (0 to k - 1) of each row
    medoids: np.ndarray  # the row of each topic's medoid
    silhouette: float | None  # of the chosen k, cosine, on the rows FasterPAM saw
    silhouettes: dict[int, float]  # of every k tried
    k_by: str  # "silhouette", "setting", or "size" (too few papers to choose)
    sample: int  # rows FasterPAM saw


@dataclass(frozen=True)
class Topic:
    number: int  # 1 is the largest topic
    terms: list[str]
    medoid: str
    members: list[str]  # the most typical first (nearest the medoid), the medoid itself first

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def label(self) -> str:
        return ", ".join(self.terms) or f"topic {self.number}"

    @property
    def css_class(self) -> str:
        return f"t{(self.number - 1) % MAP_COLOURS}"


@dataclass(frozen=True)
class MapPoint:
    x: float  # 0 to 1, left to right
    y: float  # 0 to 1, bottom to top
    topic: int  # its topic's number
    medoid: bool = False


@dataclass(frozen=True)
class TopicSet:
    """The topics of a set of papers and how they were found."""

    topics: list[Topic]
    papers: int
    silhouette: float | None = None
    silhouettes: dict[int, float] = field(default_factory=dict)
    k_by: str = "size"
    sample: int = 0
    points: list[MapPoint] = field(default_factory=list)
    seconds: float = 0.0
    # Row n - 1 is topic n's centroid: the normalised mean of its papers' unit vectors (what
    # a digest's followed topic is matched by, see digest/topics.py).
    centroids: np.ndarray = field(
        default_factory=lambda: np.zeros((0, 0), np.float32), compare=False, repr=False
    )

    def topic(self, number: int) -> Topic | None:
        return self.topics[number - 1] if 1 <= number <= len(self.topics) else None

    def centroid(self, number: int) -> np.ndarray:
        """Topic ``number``'s centroid (a unit vector)."""
        row: np.ndarray = self.centroids[number - 1]
        return row


# -- clustering ---------------------------------------------------------------------------


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """``matrix`` with every row scaled to length 1 (float32), so that inner products are
    cosines; stored vectors are normalised already, vectors from elsewhere may not be."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit: np.ndarray = matrix / np.maximum(norms, 1e-12)
    return unit


def cosine_distances(unit: np.ndarray) -> np.ndarray:
    """1 - cosine of every pair of unit rows, float32, exactly 0 on the diagonal and never
    negative (rounding makes a few -1e-7), as FasterPAM and the silhouette expect. Computed
    in place: the n² matrix is the memory this needs, once (1.6 GB at 20,000 rows)."""
    distances: np.ndarray = unit @ unit.T
    np.subtract(1.0, distances, out=distances)
    np.maximum(distances, 0.0, out=distances)
    np.fill_diagonal(distances, 0.0)
    return distances


def candidate_ks(n: int) -> range:
    """The numbers of topics the silhouette chooses among for ``n`` papers: up to
    sqrt(n / 8) (11 for a week of 1,000 papers, ``K_MAX`` from 1,800), down to half that,
    and never below ``MIN_TOPIC_SIZE`` papers a topic. Empty when ``n`` is too small for
    two topics."""
    high = min(K_MAX, max(2, round(math.sqrt(n / 8))), n // MIN_TOPIC_SIZE)
    return range(max(2, (high + 1) // 2), high + 1)


def fasterpam(distances: np.ndarray, k: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(labels, medoid rows) of ``k`` medoids by FasterPAM; every row its own medoid when
    ``k`` is at least the number of rows, the most central row when ``k`` is 1."""
    n = len(distances)
    if k >= n:
        return np.arange(n), np.arange(n)
    if k == 1:
        return np.zeros(n, dtype=np.int64), np.array([int(np.argmin(distances.sum(axis=1)))])
    result = kmedoids.fasterpam(distances, k, max_iter=100, init="random", random_state=seed)
    return result.labels.astype(np.int64), result.medoids.astype(np.int64)


def silhouette(distances: np.ndarray, labels: np.ndarray, k: int) -> float | None:
    """The mean silhouette, or None where it is not defined (k < 2 or k >= rows)."""
    if not 2 <= k < len(distances):
        return None
    return float(kmedoids.silhouette(distances, labels)[0])


def cluster(
    unit: np.ndarray, k: int | None = None, *, sample_max: int = SAMPLE_MAX, seed: int = SEED
) -> Clustering:
    """Topics of the unit rows of ``unit``: ``k`` of them, or as many as the silhouette
    prefers among :func:`candidate_ks`. Medoids are searched among at most ``sample_max``
    rows; the others join their nearest medoid."""
    n = len(unit)
    if n == 0:
        return Clustering(np.zeros(0, np.int64), np.zeros(0, np.int64), None, {}, "size", 0)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, sample_max, replace=False)) if n > sample_max else np.arange(n)
    distances = cosine_distances(unit[rows])
    if k is not None:
        ks, k_by = [max(1, min(k, len(rows)))], "setting"
    else:
        ks, k_by = [kk for kk in candidate_ks(n) if kk < len(rows)], "silhouette"
        if not ks:
            ks, k_by = [1], "size"
    found = {kk: fasterpam(distances, kk, seed) for kk in ks}
    scores = {kk: s for kk in ks if (s := silhouette(distances, found[kk][0], kk)) is not None}
    best = max(ks, key=lambda kk: (scores.get(kk, -math.inf), -kk))
    sample_labels, medoids = found[best]
    labels = np.argmax(unit @ unit[rows[medoids]].T, axis=1)
    labels[rows] = sample_labels
    labels[rows[medoids]] = np.arange(len(medoids))  # a medoid is in its own topic, always
    return Clustering(labels, rows[medoids], scores.get(best), scores, k_by, len(rows))


# -- labels -------------------------------------------------------------------------------


def distinctive_terms(
    texts: Sequence[str], labels: np.ndarray, k: int, count: int = LABEL_TERMS, seed: int = SEED
) -> list[list[str]]:
    """The ``count`` words or two-word phrases that set each topic apart (c-TF-IDF), a
    term left out when it repeats a word of a better one ("language" after "language
    models", "model" after "models"). At most ``LABEL_TEXTS_MAX`` texts are counted, a
    seeded sample.

    c-TF-IDF alone labels most topics of a month of AI papers "models, language, model":
    words in a third of all abstracts win on frequency. So terms in more than ``MAX_DF`` of
    the papers are not counted, unless a topic is itself that large: the limit is 1.5 times
    the largest topic's share, so a word that every paper of one topic uses always stays."""
    if len(texts) > LABEL_TEXTS_MAX:
        keep = np.sort(np.random.default_rng(seed).choice(len(texts), LABEL_TEXTS_MAX, False))
        texts, labels = [texts[i] for i in keep], labels[keep]
    largest = np.bincount(labels, minlength=k).max(initial=0) / max(len(texts), 1)
    vectorizer = CountVectorizer(
        stop_words=STOP_WORDS,
        token_pattern=TOKEN_PATTERN,
        ngram_range=(1, 2),
        min_df=2 if len(texts) >= 50 else 1,
        max_df=min(1.0, max(MAX_DF, 1.5 * largest)),
    )
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError:  # no words at all (empty texts, or only stop words)
        return [[] for _ in range(k)]
    per_topic = np.vstack(
        [np.asarray(counts[labels == t].sum(axis=0), dtype=np.float64).ravel() for t in range(k)]
    )
    frequency = np.maximum(per_topic.sum(axis=1, keepdims=True), 1.0)
    everywhere = np.maximum(per_topic.sum(axis=0), 1.0)
    average = per_topic.sum() / k
    scores = per_topic / frequency * np.log1p(average / everywhere)
    vocabulary = vectorizer.get_feature_names_out()
    return [_distinct(vocabulary, row, count) for row in scores]


def _distinct(vocabulary: np.ndarray, scores: np.ndarray, count: int) -> list[str]:
    """The best-scoring terms, skipping any that shares a word (or its singular) with
    one already taken."""
    taken: list[str] = []
    words: set[str] = set()
    for index in np.argsort(-scores, kind="stable"):
        if scores[index] <= 0 or len(taken) == count:
            break
        term = str(vocabulary[index])
        keys = {
            word[:-1] if word.endswith("s") and len(word) > 3 else word for word in term.split()
        }
        if words.isdisjoint(keys):
            taken.append(term)
            words.update(keys)
    return taken


# -- the map ------------------------------------------------------------------------------


def pca_2d(unit: np.ndarray) -> np.ndarray:
    """The rows projected on their first two principal components, each axis scaled to
    0..1 (0.5 where the rows do not spread). The components are the top eigenvectors of
    the 384 × 384 covariance (``eigh``: 0.15 s for 1,000 rows, where an SVD of the rows took
    3 to 10 s on this machine); the sign of each axis is fixed (its largest loading
    positive) so that the same papers always give the same picture."""
    if len(unit) < 2:
        return np.full((len(unit), 2), 0.5)
    centred = unit.astype(np.float64) - unit.mean(axis=0, dtype=np.float64)
    _, vectors = np.linalg.eigh(centred.T @ centred)  # eigenvalues ascending
    axes = vectors[:, ::-1][:, :2].T
    strongest = np.argmax(np.abs(axes), axis=1)
    axes = axes * np.sign(axes[np.arange(2), strongest])[:, None]
    points = centred @ axes.T
    low, spread = points.min(axis=0), np.ptp(points, axis=0)
    scaled: np.ndarray = np.where(spread > 1e-9, (points - low) / np.maximum(spread, 1e-9), 0.5)
    return scaled


def map_points(
    unit: np.ndarray, clustering: Clustering, numbers: np.ndarray, seed: int = SEED
) -> list[MapPoint]:
    """At most ``MAP_POINTS`` papers (a seeded sample, every medoid among them) placed by
    PCA of their vectors; ``numbers`` maps a cluster to its topic's number."""
    n = len(unit)
    drawn = np.arange(n)
    if n > MAP_POINTS:
        sample = np.random.default_rng(seed).choice(n, MAP_POINTS - len(clustering.medoids), False)
        drawn = np.union1d(sample, clustering.medoids)
    xy = pca_2d(unit[drawn])
    medoids = set(clustering.medoids.tolist())
    return [
        MapPoint(
            round(float(x), 4),
            round(float(y), 4),
            int(numbers[clustering.labels[row]]),
            int(row) in medoids,
        )
        for row, (x, y) in zip(drawn.tolist(), xy, strict=True)
    ]


def map_svg(topic_set: TopicSet, caption: str, width: int = 640, height: int = 400) -> str:
    """The map as an SVG element for an HTML page: no script, no inline style (the page's
    Content-Security-Policy forbids it; colours come from the classes t0..t9 of
    ``topics.css``, for light and dark themes), a title per topic and per medoid."""
    pad = 20  # room for a medoid's ring at the edge
    by_topic: dict[int, list[MapPoint]] = {t.number: [] for t in topic_set.topics}
    for point in topic_set.points:
        by_topic[point.topic].append(point)

    def at(point: MapPoint) -> tuple[float, float]:
        return pad + point.x * (width - 2 * pad), pad + (1 - point.y) * (height - 2 * pad)

    drawn = len(topic_set.points)
    summary = (
        f"Each dot is one of {drawn:,} papers"
        + (f" (a sample of {topic_set.papers:,})" if drawn < topic_set.papers else "")
        + ", placed by the two main directions of their embeddings: papers close together "
        "are about similar things. Dots are coloured by topic; the numbered rings are the "
        "topics' medoid papers, numbered as the topic cards."
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="topic-map" viewBox="0 0 {width} '
        f'{height}" role="img" aria-labelledby="topic-map-title topic-map-desc">',
        f'<title id="topic-map-title">{escape(caption)}</title>',
        f'<desc id="topic-map-desc">{escape(summary)}</desc>',
        f'<rect class="frame" x="0.5" y="0.5" width="{width - 1}" height="{height - 1}"/>',
    ]
    for topic in topic_set.topics:
        dots = "".join(
            '<circle cx="{:.1f}" cy="{:.1f}" r="2.6"/>'.format(*at(p))
            for p in by_topic[topic.number]
        )
        title = f"Topic {topic.number}: {topic.label} ({topic.size:,} papers)"
        parts.append(f'<g class="dots {topic.css_class}"><title>{escape(title)}</title>{dots}</g>')
    for topic in topic_set.topics:
        for point in by_topic[topic.number]:
            if point.medoid:
                x, y = at(point)
                title = f"Topic {topic.number}: {topic.label}. Medoid paper {topic.medoid}"
                parts.append(
                    f'<g class="medoid {topic.css_class}"><title>{escape(title)}</title>'
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="9"/>'
                    f'<text x="{x:.1f}" y="{y + 3.5:.1f}" text-anchor="middle">'
                    f"{topic.number}</text></g>"
                )
    parts.append("</svg>")
    return "".join(parts)


# -- putting it together ------------------------------------------------------------------


def find_topics(
    ids: Sequence[str],
    texts: Sequence[str],
    matrix: np.ndarray,
    k: int | None = None,
    *,
    sample_max: int = SAMPLE_MAX,
    seed: int = SEED,
) -> TopicSet:
    """The topics of the papers ``ids`` (title and abstract ``texts``, embedding rows of
    ``matrix``, in the same order): ``k`` of them or as many as the silhouette says."""
    if not ids:
        return TopicSet([], 0)
    unit = unit_rows(matrix)
    clustering = cluster(unit, k, sample_max=sample_max, seed=seed)
    k_found = len(clustering.medoids)
    terms = distinctive_terms(texts, clustering.labels, k_found, seed=seed)
    sizes = np.bincount(clustering.labels, minlength=k_found).tolist()
    medoids: list[int] = clustering.medoids.tolist()
    # Largest first; a tie goes to the medoid with the smaller id, to be the same every time.
    order = sorted(range(k_found), key=lambda t: (-sizes[t], ids[medoids[t]]))
    numbers = np.empty(k_found, dtype=np.int64)
    topics = []
    centroids = []
    for number, cluster_index in enumerate(order, start=1):
        numbers[cluster_index] = number
        rows = np.flatnonzero(clustering.labels == cluster_index)
        centroids.append(unit[rows].mean(axis=0))
        medoid = medoids[cluster_index]
        closeness = unit[rows] @ unit[medoid]
        closeness[rows == medoid] = np.inf  # first even if another paper has the same vector
        rows = rows[np.argsort(-closeness, kind="stable")]
        members = [ids[row] for row in rows.tolist()]
        topics.append(Topic(number, terms[cluster_index], ids[medoid], members))
    return TopicSet(
        topics,
        len(ids),
        clustering.silhouette,
        clustering.silhouettes,
        clustering.k_by,
        clustering.sample,
        map_points(unit, clustering, numbers, seed),
        centroids=unit_rows(np.stack(centroids)),
    )


class TopicIndex:
    """Topics of periods computed on demand from the stored embeddings, and kept: one
    clustering per (period, k, embeddings version), the ``CACHED_PERIODS`` most recently
    used, so a page does not cluster again on every request. ``paperfeed index`` writing
    any vector changes the version, and the next request clusters again. One clustering
    runs at a time (two requests for the same new period cluster once)."""

    def __init__(self, store: Store, model: str, seed: int = SEED) -> None:
        self.store = store
        self.model = model
        self.seed = seed
        self._cache: OrderedDict[tuple[object, ...], TopicSet] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._clustering = threading.Lock()

    def topics(self, period: Period | None, k: int | None = None) -> TopicSet:
        """The topics of ``period`` (None: every paper)."""
        version = self.store.search.embeddings_version()
        key = (period, k, version)
        cached = self._cached(key)
        if cached is not None:
            return cached
        with self._clustering:
            cached = self._cached(key)
            if cached is not None:
                return cached
            started = time.perf_counter()
            start, end = (period.start, period.end) if period else (None, None)
            found = self.store.search.embedded_papers(self.model, start, end)
            result = find_topics(found.ids, found.texts, found.matrix, k, seed=self.seed)
            result = replace(result, seconds=time.perf_counter() - started)
            with self._cache_lock:
                self._cache[key] = result
                while len(self._cache) > CACHED_PERIODS:
                    self._cache.popitem(last=False)
            return result

    def _cached(self, key: tuple[object, ...]) -> TopicSet | None:
        with self._cache_lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
            return found


# -- a feed of one topic ------------------------------------------------------------------
