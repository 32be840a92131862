"""Offline evaluation of recommendations: "author continuation" on a corpus of JSONL parts.

``paperfeed eval recommend PATH`` reads every ``*.jsonl`` / ``*.jsonl.gz`` file in PATH
with the importer's own parser and plays each prolific author as a reader:

- the **cut-off** is the first day of the last fifth of the corpus (by ``first_seen``);
- **authors** have at least 5 papers, some before and some after the cut-off, and a name
  that looks like one person: a name whose papers fall into two or more groups of 3+
  papers that share no co-author is several people ("Yang Liu", "Hao Wang") and is left
  out (:func:`one_person`);
- the **profile** is their papers before the cut-off, the **relevant** papers their papers
  after it, and every method ranks **all** post-cut-off papers for them;
- methods see **title and abstract only**. Author lists would hand over the answer (the
  profile's co-authors are on most of the relevant papers), so the ``coauthor`` ranking,
  by the number of the profile's co-authors on a paper, is reported apart, as a reference
  for how much signal the names alone hold, not as a method.

Methods, in one run: ``tfidf_svm``, arxiv-sanity-lite's recommender (tf-idf of title and
abstract, a ``LinearSVC(class_weight="balanced", C=0.01)`` of the profile against every
other pre-cut-off paper; ``tol`` is relaxed to 1e-4 to make it run in about a second per
author, which does not change its ranking measurably); ``centroid``, the cosine to the
mean MiniLM embedding of the profile (what the digest's "for you" used); and
``paperfeed``, :class:`paperfeed.personal.recommend.Recommender`. Scores come from
``pytrec_eval`` (Recall@50, nDCG@50, MRR), with 95 % bootstrap intervals over authors and a
paired bootstrap interval for each method's Recall@50 over the baseline's.

**Two splits, so the model is not tuned on what is reported.** Authors are split in two
halves by a hash of their name. The ``test`` split (reported) uses the test half on the
whole corpus. The ``tune`` split uses the other half on the corpus *truncated at the test
cut-off* (nothing after it is read, tf-idf included), with its own cut-off at the last
fifth of that: the recommender's settings were chosen there (``--split tune``).

Embeddings come from the product's embedder, or from a cache file in
``paperfeed index``'s export format (``--vectors``), checked paper by paper against the
hash of the text it was computed from; papers it lacks are embedded, and a cache file
that does not exist yet is written (embedding the 75k-paper corpus takes over half an hour
on 2 cores).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed.ingest import arxiv_jsonl
from paperfeed.ingest.errors import RecordError, SourceError
from paperfeed.ingest.files import InputFile
from paperfeed.search.embed import MODEL_NAME, Embedder, default_embedder, paper_text, text_hash

from .recommend import CorpusFeatures, Recommender, RecommenderConfig

MIN_PAPERS = 5
TAIL = 0.2  # the last fifth of the corpus is "after the cut-off"
DEPTH = 1000  # rankings are cut here; MRR counts a first hit below it as zero
METRICS = {"recall@50": "recall_50", "ndcg@50": "ndcg_cut_50", "mrr": "recip_rank"}
BASELINE = "tfidf_svm"


@dataclass
class Corpus:
    ids: list[str]
    titles: list[str]
    abstracts: list[str]
    authors: list[list[str]]
    days: list[date]
    skipped: int = 0  # records the parser refused

    def texts(self, rows: Sequence[int] | np.ndarray) -> list[str]:
        return [paper_text(self.titles[i], self.abstracts[i]) for i in rows]


@dataclass
class Task:
    author: str
    profile: np.ndarray  # rows of the split's corpus
    relevant: np.ndarray


@dataclass
class Split:
    name: str
    rows: np.ndarray  # corpus rows in this split's world
    cutoff: date
    tasks: list[Task]


def load_corpus(folder: Path) -> Corpus:
    """Every record of the JSONL parts in ``folder`` (bad records skipped and counted)."""
    paths = sorted([*folder.glob("*.jsonl"), *folder.glob("*.jsonl.gz")])
    if not paths:
        raise SourceError(f"{folder}: no .jsonl or .jsonl.gz files")
    corpus = Corpus([], [], [], [], [])
    seen: set[str] = set()
    for path in paths:
        for _, record in arxiv_jsonl.read(InputFile(path)):
            if isinstance(record, RecordError) or record.feed_day is None:
                corpus.skipped += 1
                continue
            paper = record.paper
            if paper.arxiv_id in seen:
                continue
            seen.add(paper.arxiv_id)
            corpus.ids.append(paper.arxiv_id)
            corpus.titles.append(paper.title)
            corpus.abstracts.append(paper.abstract)
            corpus.authors.append(paper.authors)
            corpus.days.append(record.feed_day)
    return corpus


def corpus_vectors(
    corpus: Corpus,
    cache: Path | None = None,
    embedder: Embedder | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """One unit vector per paper: from ``cache`` where it holds this model's vector of the
    same text, embedded otherwise. A missing cache file is written; an existing one is
    never rewritten (it may be a bigger corpus's, with fields this module does not know)."""
    hashes = [
        text_hash(paper_text(t, a)) for t, a in zip(corpus.titles, corpus.abstracts, strict=True)
    ]
    cached: dict[str, tuple[str, np.ndarray]] = {}
    if cache is not None and cache.is_file():
        with np.load(cache) as stored:
            if str(stored["model"]) == MODEL_NAME:
                matrix = stored["matrix"]
                for pid, digest, vector in zip(
                    stored["ids"], stored["hashes"], matrix, strict=True
                ):
                    cached[str(pid)] = (str(digest), vector)
    vectors = np.zeros((len(corpus.ids), 384), dtype=np.float32)
    missing = []
    for i, (pid, digest) in enumerate(zip(corpus.ids, hashes, strict=True)):
        hit = cached.get(pid)
        if hit is not None and hit[0] == digest:
            vectors[i] = hit[1]
        else:
            missing.append(i)
    if missing:
        embedder = embedder or default_embedder()
        for start in range(0, len(missing), 64):
            batch = missing[start : start + 64]
            vectors[batch] = embedder.embed(corpus.texts(batch))
            if progress:
                progress(start + len(batch), len(missing))
        if cache is not None and not cache.is_file():
            _write_cache(cache, corpus.ids, hashes, vectors)
    return vectors


def _write_cache(path: Path, ids: list[str], hashes: list[str], vectors: np.ndarray) -> None:
    """A new cache in ``paperfeed.search.indexer.export_vectors``'s format (without the
    TL;DRs, which ``paperfeed index`` chooses; it reads caches without them)."""
    np.savez_compressed(
        path,
        model=np.array(MODEL_NAME),
        ids=np.array(ids),
        hashes=np.array(hashes),
        matrix=vectors.astype(np.float32),
    )


def one_person(name: str, papers: Sequence[Sequence[str]]) -> bool:
    """False when the papers (author lists) of ``name`` split into two or more groups of
    at least 3 papers with no co-author in common: then the name is shared by several
    people, and their papers are no one reader's profile."""
    parent = list(range(len(papers)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    first_with: dict[str, int] = {}
    for k, names in enumerate(papers):
        for other in names:
            if other == name:
                continue
            if other in first_with:
                parent[root(k)] = root(first_with[other])
            else:
                first_with[other] = k
    sizes = sorted(Counter(root(k) for k in range(len(papers))).values(), reverse=True)
    return len(sizes) < 2 or sizes[1] < 3


def _half(name: str) -> str:
    """An odd SHA-1 of the name is the tuning half."""
    return "tune" if hashlib.sha1(name.encode("utf-8")).digest()[-1] % 2 else "test"


def _cutoff(days: Sequence[date]) -> date:
    return sorted(days)[int((1 - TAIL) * len(days))]


def make_split(corpus: Corpus, name: str = "test") -> Split:
    """The reported (``test``) or the tuning (``tune``) split; see the module docstring."""
    if name not in ("test", "tune"):
        raise ValueError(f"unknown split {name!r}: test or tune")
    rows = np.arange(len(corpus.ids))
    if name == "tune":
        test_cutoff = _cutoff(corpus.days)
        rows = rows[[corpus.days[i] < test_cutoff for i in rows]]
    cutoff = _cutoff([corpus.days[i] for i in rows])
    papers_of: dict[str, list[int]] = {}
    for local, row in enumerate(rows):
        for author in dict.fromkeys(corpus.authors[row]):  # not a set: same order each run
            papers_of.setdefault(author, []).append(local)
    tasks = []
    for author, papers in papers_of.items():
        if len(papers) < MIN_PAPERS or _half(author) != name:
            continue
        after = np.array([corpus.days[rows[k]] >= cutoff for k in papers])
        if after.all() or not after.any():
            continue
        if not one_person(author, [corpus.authors[rows[k]] for k in papers]):
            continue
        mine = np.array(papers)
        tasks.append(Task(author, mine[~after], mine[after]))
    return Split(name, rows, cutoff, tasks)


Scorer = Callable[[Task], np.ndarray]  # scores for every candidate row


def arxiv_sanity_tfidf(texts: Sequence[str]) -> Any:
    """tf-idf as arxiv-sanity-lite computes it (its ``compute.py``: words of two letters or
    more, unigrams and bigrams, English stop words dropped, at most 20,000 features, max_df
    0.1, min_df 5, sublinear tf), min_df and max_df relaxed for corpora under 1,000 papers
    as for paperfeed's own."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    big = len(texts) >= 1000
    vectorizer = TfidfVectorizer(
        strip_accents="unicode",
        stop_words="english",
        token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",
        ngram_range=(1, 2),
        max_features=20_000,
        sublinear_tf=True,
        max_df=0.1 if big else 1.0,
        min_df=5 if big else 1,
        dtype=np.float32,
    )
    return vectorizer.fit_transform(texts).tocsr()


def scorers(
    corpus: Corpus, split: Split, features: CorpusFeatures, config: RecommenderConfig
) -> tuple[np.ndarray, dict[str, Scorer]]:
    """The candidate rows (post-cut-off) and each method's scoring function."""
    from sklearn.svm import LinearSVC

    days = [corpus.days[i] for i in split.rows]
    after = np.array([d >= split.cutoff for d in days])
    candidates, before = np.flatnonzero(after), np.flatnonzero(~after)
    # the baseline's own tf-idf, with arxiv-sanity-lite's settings (not paperfeed's)
    sanity = arxiv_sanity_tfidf(corpus.texts(split.rows))
    text_before = sanity[before]
    text_candidates = sanity[candidates]
    recommender = Recommender(features, config)
    no_rows = np.zeros(0, dtype=np.int64)

    def tfidf_svm(task: Task) -> np.ndarray:
        labels = np.isin(before, task.profile).astype(int)
        svm = LinearSVC(class_weight="balanced", C=0.01, tol=1e-4, max_iter=1000, random_state=0)
        scores: np.ndarray = svm.fit(text_before, labels).decision_function(text_candidates)
        return scores

    def centroid(task: Task) -> np.ndarray:
        scores: np.ndarray = features.vectors[candidates] @ features.vectors[task.profile].mean(0)
        return scores

    def paperfeed(task: Task) -> np.ndarray:
        return recommender.scores(task.profile, no_rows, candidates)

    authors = [corpus.authors[i] for i in split.rows]

    def coauthor(task: Task) -> np.ndarray:
        known = {a for k in task.profile for a in authors[k]} - {task.author}
        return np.array([len(known.intersection(authors[k])) for k in candidates], dtype=float)

    methods = {"tfidf_svm": tfidf_svm, "centroid": centroid, "paperfeed": paperfeed}
    return candidates, {**methods, "coauthor": coauthor}


def per_author_metrics(
    rankings: dict[str, list[str]], relevant: dict[str, set[str]]
) -> dict[str, np.ndarray]:
    """Each metric for each author (in the order of ``relevant``), by ``pytrec_eval``."""
    import pytrec_eval

    qrels = {author: dict.fromkeys(ids, 1) for author, ids in relevant.items()}
    run = {
        author: {pid: float(len(ranking) - rank) for rank, pid in enumerate(ranking)}
        for author, ranking in rankings.items()
    }
    measures = set(METRICS.values())
    evaluated = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    return {
        name: np.array([evaluated.get(a, {}).get(measure, 0.0) for a in relevant])
        for name, measure in METRICS.items()
    }


def bootstrap(values: np.ndarray, draws: np.ndarray) -> tuple[float, float]:
    """The 95 % percentile interval of the mean, over resamplings ``draws`` of authors."""
    means = values[draws].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def evaluate(
    corpus: Corpus,
    vectors: np.ndarray,
    split_name: str = "test",
    limit_authors: int | None = None,
    seed: int = 0,
    config: RecommenderConfig | None = None,
    resamples: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The figures ``paperfeed eval recommend`` prints."""
    split = make_split(corpus, split_name)
    if not split.tasks:
        raise SourceError(
            f"no author has {MIN_PAPERS}+ papers on both sides of the cut-off "
            f"{split.cutoff} in the {split_name} split"
        )
    rng = np.random.default_rng(seed)
    tasks = split.tasks
    if limit_authors is not None and limit_authors < len(tasks):
        tasks = [tasks[i] for i in sorted(rng.choice(len(tasks), limit_authors, replace=False))]
    started = time.perf_counter()
    features = CorpusFeatures.build(
        [corpus.ids[i] for i in split.rows], corpus.texts(split.rows), vectors[split.rows]
    )
    features_seconds = time.perf_counter() - started
    candidates, methods = scorers(corpus, split, features, config or RecommenderConfig())
    ids = features.ids
    rankings: dict[str, dict[str, list[str]]] = {name: {} for name in methods}
    seconds: dict[str, list[float]] = {name: [] for name in methods}
    for done, task in enumerate(tasks, start=1):
        for name, score in methods.items():
            start = time.perf_counter()
            scores = score(task)
            top = np.argsort(-scores, kind="stable")[:DEPTH]
            seconds[name].append(time.perf_counter() - start)
            rankings[name][task.author] = [ids[candidates[k]] for k in top]
        if progress:
            progress(done, len(tasks))
    relevant = {task.author: {ids[k] for k in task.relevant} for task in tasks}
    draws = rng.integers(0, len(tasks), size=(resamples, len(tasks)))
    figures = {name: per_author_metrics(rankings[name], relevant) for name in methods}
    base = figures[BASELINE]["recall@50"]
    summary = {
        name: _summary(values, base, draws, seconds[name]) for name, values in figures.items()
    }
    profile_sizes = np.array([len(task.profile) for task in tasks])
    return {
        "split": split_name,
        "papers": len(split.rows),
        "cutoff": split.cutoff.isoformat(),
        "candidates": len(candidates),
        "authors": len(tasks),
        "eligible_authors": len(split.tasks),
        "profiles_under_5": int((profile_sizes < MIN_PAPERS).sum()),
        "features_seconds": features_seconds,
        "methods": {name: summary[name] for name in methods if name != "coauthor"},
        "reference": {"coauthor": summary["coauthor"]},
    }


def _summary(
    values: dict[str, np.ndarray], base: np.ndarray, draws: np.ndarray, seconds: list[float]
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for metric, per_author in values.items():
        result[metric] = float(per_author.mean())
        result[f"{metric}_ci"] = bootstrap(per_author, draws)
    ratios = values["recall@50"][draws].mean(axis=1) / np.maximum(base[draws].mean(axis=1), 1e-12)
    low, high = np.percentile(ratios, [2.5, 97.5])
    result["recall@50_vs_tfidf_svm"] = float(values["recall@50"].mean() / max(base.mean(), 1e-12))
    result["recall@50_vs_tfidf_svm_ci"] = (float(low), float(high))
    result["p50_ms"] = 1000 * float(np.median(seconds))
    return result
