"""Recommendation benchmark: offline quality ("author continuation") and time per user at 75k.

    make bench   # or: .venv/bin/python tests/bench/bench_recommend.py [--authors N] [--users N]
                 #     [--skip-quality] (time only) [--skip-served] [--served-users N]

* quality: ``paperfeed eval recommend``'s code on the full arXiv corpus (74,728 papers),
  reported split, ``--authors`` authors sampled: Recall@50, nDCG@50 and MRR with 95 %
  bootstrap intervals for the arxiv-sanity tf-idf SVM, the embedding centroid and
  paperfeed's model, the co-author ranking as a reference, and paperfeed's Recall@50 over
  the baseline's with its paired interval (target >= 1.2);
* time: ``Recommender.recommend`` (hard negatives, fit, rank, explanations of 50 picks)
  for the profiles of ``--users`` authors at 74,728 papers, p50/p99, ranking the papers
  after the test cut-off (the new ones; negatives mined among the older ones) with one
  Recommender for all readers (as a digest run), the same with a new Recommender per
  reader and no kept model (as a web request; the candidates' tf-idf and vector rows are
  taken once per candidate set and kept by the features, for every reader), the same with
  those rows taken again (``cold_ms``: the first request after the window changed) and,
  apart, the whole corpus; against the embedding centroid
  (one matrix-vector product over the corpus and a top-50) in the same process; target
  p50 <= 50 ms;
* as served (``--skip-served`` leaves it out): "For you" (``for_you``) through a SQLite
  copy of the corpus for ``--served-users`` readers, a first request and a reload.

Vectors come from bench_search.py's cache (bench-results/arxiv-vectors.npz); without it
this benchmark would embed the corpus (over half an hour on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench-results"

from paperfeed.personal.evaluate import (  # noqa: E402
    MIN_PAPERS,
    Corpus,
    corpus_vectors,
    evaluate,
    load_corpus,
    make_split,
)
from paperfeed.personal.recommend import CorpusFeatures, Recommender  # noqa: E402


def timings(corpus: Corpus, vectors: np.ndarray, users: int, seed: int) -> dict[str, Any]:
    """Time to recommend 50 papers for ``users`` readers (the profiles of test-split
    authors): among the papers after the test cut-off (the new papers, as the evaluation
    and "For you" rank them: hard negatives mined among the older ones) with one
    Recommender for every reader, then again with a new one and no model kept (a web
    request: the candidates' rows, taken once per candidate set, are kept by the features),
    the same with those rows taken again (the first request after the window changed), and
    among the whole corpus (no older papers left: random negatives only)."""
    start = time.perf_counter()
    features = CorpusFeatures.build(corpus.ids, corpus.texts(range(len(corpus.ids))), vectors)
    build_s = time.perf_counter() - start
    split = make_split(corpus, "test")
    new = [pid for pid, day in zip(corpus.ids, corpus.days, strict=True) if day >= split.cutoff]
    rng = np.random.default_rng(seed)
    tasks = split.tasks
    chosen = [tasks[i] for i in rng.choice(len(tasks), min(users, len(tasks)), replace=False)]
    recommender = Recommender(features)
    times: dict[str, list[float]] = {
        "model_ms (5+ papers)": [],
        "fallback_ms (< 5 papers)": [],
        "whole_corpus_ms": [],
        "fresh_ms": [],
        "cold_ms": [],
        "centroid_ms": [],
    }
    for task in chosen:
        profile = [corpus.ids[k] for k in task.profile]
        start = time.perf_counter()
        picks = recommender.recommend(profile, candidates=new, limit=50)
        took = 1000 * (time.perf_counter() - start)
        assert len(picks) == 50
        times[
            "model_ms (5+ papers)" if len(profile) >= MIN_PAPERS else "fallback_ms (< 5 papers)"
        ].append(took)
        # as a web request: its own Recommender and no fitted model kept (the candidates'
        # rows kept by the features, as for every reader of the same window)
        features.models.clear()
        start = time.perf_counter()
        assert len(Recommender(features).recommend(profile, candidates=new, limit=50)) == 50
        times["fresh_ms"].append(1000 * (time.perf_counter() - start))
        # and the first one after the window changed: those rows taken again
        features.models.clear()
        features.row_slices.clear()
        start = time.perf_counter()
        assert len(Recommender(features).recommend(profile, candidates=new, limit=50)) == 50
        times["cold_ms"].append(1000 * (time.perf_counter() - start))
        start = time.perf_counter()
        assert len(recommender.recommend(profile, limit=50)) == 50
        times["whole_corpus_ms"].append(1000 * (time.perf_counter() - start))
        start = time.perf_counter()
        scores = features.vectors @ features.vectors[task.profile].mean(axis=0)
        np.argpartition(-scores, 50)[:50]
        times["centroid_ms"].append(1000 * (time.perf_counter() - start))

    def pct(values: list[float]) -> dict[str, float]:
        if not values:
            return {"n": 0}
        return {
            "n": len(values),
            "p50": float(np.median(values)),
            "p99": float(np.quantile(values, 0.99)),
        }

    every = times["model_ms (5+ papers)"] + times["fallback_ms (< 5 papers)"]
    return {
        "papers": len(corpus.ids),
        "new_papers": len(new),
        "features_build_s": build_s,
        "recommend_ms": pct(every),
        **{key: pct(values) for key, values in times.items()},
        "p50_ratio_to_centroid": float(np.median(every) / np.median(times["centroid_ms"])),
    }


def as_served(
    corpus: Corpus, parts: list[Path], cache: Path, users: int, seed: int
) -> dict[str, Any]:
    """ "For you" as the site serves it: :func:`~paperfeed.personal.foryou.for_you` on a
    SQLite copy of the corpus (imported, the cached vectors stored, the features built from
    the database as a server does), for ``users`` readers who saved the profile papers of
    test-split authors, on the day after the corpus's last: the reader's queries, the
    window's candidates (the last 30 days), hard negatives, fit, scores, explanations of
    what is shown. Timed twice per reader: the first request, and a reload five minutes
    later (the fitted model kept)."""
    from paperfeed.ingest import import_files
    from paperfeed.personal.features import build_features
    from paperfeed.personal.foryou import RANKED, for_you
    from paperfeed.search.embed import MODEL_NAME
    from paperfeed.search.indexer import import_vectors
    from paperfeed.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/served.sqlite3")
        store.migrate()
        start = time.perf_counter()
        import_files(store, "jsonl", parts)
        stored = import_vectors(store, MODEL_NAME, cache)
        loaded_s = time.perf_counter() - start
        start = time.perf_counter()
        features = build_features(store)
        assert features is not None
        build_s = time.perf_counter() - start
        split = make_split(corpus, "test")
        rng = np.random.default_rng(seed)
        tasks = split.tasks
        chosen = [tasks[i] for i in rng.choice(len(tasks), min(users, len(tasks)), replace=False)]
        now = datetime.combine(max(corpus.days) + timedelta(days=1), datetime.min.time(), UTC)
        first: list[float] = []
        model: list[float] = []
        again: list[float] = []
        for n, task in enumerate(chosen):
            user = store.create_user(f"served{n:04d}")
            for k in task.profile:
                store.personal.save(user.id, corpus.ids[k], now=now - timedelta(days=1))
            start = time.perf_counter()
            answer = for_you(store, user.id, features, now=now)
            took = 1000 * (time.perf_counter() - start)
            assert answer.status == RANKED and answer.papers, answer.status
            first.append(took)
            if len(task.profile) >= MIN_PAPERS:
                model.append(took)
            start = time.perf_counter()
            for_you(store, user.id, features, now=now + timedelta(minutes=5))
            again.append(1000 * (time.perf_counter() - start))
        window = len(store.personal.window_ids(since=now - timedelta(days=30)))
        store.engine.dispose()

    def pct(values: list[float]) -> dict[str, float]:
        return {
            "n": len(values),
            "p50": float(np.median(values)),
            "p90": float(np.quantile(values, 0.9)),
        }

    return {
        "papers": len(features.ids),
        "vectors_stored": stored,
        "import_s": loaded_s,
        "features_build_s": build_s,
        "window_papers": window,
        "first_ms": pct(first),
        "first_ms (5+ papers)": pct(model),
        "reload_ms": pct(again),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--authors", type=int, default=300, help="authors scored for quality")
    parser.add_argument("--users", type=int, default=150, help="profiles timed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-quality", action="store_true", help="time only")
    parser.add_argument(
        "--skip-served", action="store_true", help="not For you as served (a SQLite copy)"
    )
    parser.add_argument("--served-users", type=int, default=40, help="readers timed as served")
    args = parser.parse_args()
    corpus_dir = SHARED / "arxiv"
    if not (corpus_dir / "part-000.jsonl.gz").is_file():
        sys.exit(f"{corpus_dir}: the arXiv corpus is missing")
    start = time.perf_counter()
    corpus = load_corpus(corpus_dir)
    vectors = corpus_vectors(corpus, OUT / "arxiv-vectors.npz")
    quality: dict[str, Any] = {}
    if not args.skip_quality:
        quality = evaluate(corpus, vectors, "test", args.authors, args.seed)
        quality["seconds"] = time.perf_counter() - start
        print(
            f"quality (test split, {quality['authors']} of {quality['eligible_authors']} authors, "
            f"{quality['profiles_under_5']} with < 5 profile papers; {quality['candidates']:,} "
            f"candidates after {quality['cutoff']}):"
        )
        rows = {**quality["methods"], "(coauthor)": quality["reference"]["coauthor"]}
        for name, m in rows.items():
            cells = "  ".join(
                f"{key} {m[key]:.4f} [{m[key + '_ci'][0]:.4f}, {m[key + '_ci'][1]:.4f}]"
                for key in ("recall@50", "ndcg@50", "mrr")
            )
            ratio = m["recall@50_vs_tfidf_svm_ci"]
            print(
                f"  {name:<10} {cells}  R@50 x{m['recall@50_vs_tfidf_svm']:.2f} "
                f"[{ratio[0]:.2f}, {ratio[1]:.2f}] vs tfidf_svm  {m['p50_ms']:.1f} ms/author"
            )
    speed = timings(corpus, vectors, args.users, args.seed)
    print(
        f"time per user at {speed['papers']:,} papers (features built once in "
        f"{speed['features_build_s']:.0f} s), ranking the {speed['new_papers']:,} papers after "
        "the cut-off (hard negatives among the older ones), and the whole corpus:"
    )
    keys = (
        "model_ms (5+ papers)",
        "fallback_ms (< 5 papers)",
        "fresh_ms",
        "cold_ms",
        "whole_corpus_ms",
        "centroid_ms",
    )
    for key in ("recommend_ms", *keys):
        print(f"  {key:<26} {json.dumps(speed[key])}")
    print(
        f"  recommend p50 / centroid p50 = {speed['p50_ratio_to_centroid']:.1f}x"
        " (target p50 <= 50 ms)"
    )
    served: dict[str, Any] = {}
    if not args.skip_served:
        parts = sorted(corpus_dir.glob("part-*.jsonl.gz"))
        served = as_served(corpus, parts, OUT / "arxiv-vectors.npz", args.served_users, args.seed)
        print(
            f"For you as served ({served['papers']:,} papers in SQLite, features built from it "
            f"in {served['features_build_s']:.0f} s; {served['window_papers']:,} papers in the "
            "30-day window):"
        )
        for key in ("first_ms", "first_ms (5+ papers)", "reload_ms"):
            print(f"  {key:<26} {json.dumps(served[key])}")
    OUT.mkdir(exist_ok=True)
    name = "recommend-time.json" if args.skip_quality else "recommend.json"
    (OUT / name).write_text(
        json.dumps({"quality": quality, "time": speed, "served": served}, indent=2)
    )


if __name__ == "__main__":
    main()
