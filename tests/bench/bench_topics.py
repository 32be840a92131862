"""Topics benchmark: FasterPAM on the 75k arXiv corpus (a documented sample), its silhouette
against k-means on the same data, and a week's topics as the /topics page computes them.

    make bench   # or: .venv/bin/python tests/bench/bench_topics.py [--sample 20000]

Issue 9 asks for FasterPAM's time on 75k papers (or a documented sample) and silhouette, and
k-medoids against k-means silhouette on the same data. FasterPAM needs the full matrix of
cosine distances: at 74,728 papers that is 74,728² × 4 bytes = 22.3 GB of float32, more
than this machine has; so, as the page does above 3,000 papers, the medoids are searched in
a seeded uniform sample (``--sample``, default 20,000: a 1.6 GB matrix) and every other
paper joins its nearest medoid. The run measures:

1. building the sample's distance matrix; FasterPAM and the silhouette (cosine, on the
   sample) for each k the library tries at this size (``candidate_ks``), and the k the
   silhouette picks; assigning the other papers to the medoids; the c-TF-IDF labels;
2. scikit-learn ``KMeans`` (k-means++, seeded) on the same unit vectors with the same k, its
   silhouette with the same cosine distances (k-means on unit vectors is spherical k-means,
   the fair comparison), its time as the same-run baseline for FasterPAM's;
3. FasterPAM's time at 5k and 10k papers of the same sample, to show how it grows (n²);
4. a typical week (the ISO week of median size by ``first_seen``): its papers imported
   into a SQLite file with their vectors, then ``TopicIndex.topics`` for that week as the
   page asks for it (the query, clustering, labels, map) cold and then from the cache.

The vectors come from bench_search.py's cache (bench-results/arxiv-vectors.npz; run that
first if it is missing), the texts from ../shared/data/arxiv. Results: bench-results/topics.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.cluster import KMeans

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench-results"
sys.path.insert(0, str(ROOT / "tests"))

from paperfeed.ingest import import_files  # noqa: E402
from paperfeed.personal.topics import (  # noqa: E402
    TopicIndex,
    candidate_ks,
    cosine_distances,
    distinctive_terms,
    fasterpam,
    map_svg,
    silhouette,
    unit_rows,
)
from paperfeed.rank.feeds import period_of  # noqa: E402
from paperfeed.search.embed import MODEL_NAME, paper_text, text_hash  # noqa: E402
from paperfeed.store import Store  # noqa: E402

SEED = 0


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def timed(func: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return result, time.perf_counter() - start


def load_corpus() -> tuple[list[str], np.ndarray, dict[str, dict[str, Any]]]:
    """(ids, unit vectors, JSONL record by id) of the corpus papers that have a vector."""
    cache = OUT / "arxiv-vectors.npz"
    if not cache.is_file():
        sys.exit(f"{cache} is missing: run tests/bench/bench_search.py first (it embeds once)")
    vectors = np.load(cache)
    ids = [str(i) for i in vectors["ids"]]
    records: dict[str, dict[str, Any]] = {}
    for part in sorted((SHARED / "arxiv").glob("part-*.jsonl.gz")):
        with gzip.open(part, "rt", encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                records[record["id"]] = record
    keep = [i for i, pid in enumerate(ids) if pid in records]
    return [ids[i] for i in keep], unit_rows(vectors["matrix"][keep]), records


def corpus_clustering(
    ids: list[str], unit: np.ndarray, records: dict[str, dict[str, Any]], sample_size: int
) -> dict[str, Any]:
    """Steps 1 to 3 on the whole corpus."""
    n = len(ids)
    rng = np.random.default_rng(SEED)
    rows = np.sort(rng.choice(n, min(sample_size, n), replace=False))
    distances, build = timed(cosine_distances, unit[rows])
    print(f"corpus: {n:,} papers; full distance matrix would be {n * n * 4 / 1e9:.1f} GB")
    print(
        f"sample: {len(rows):,} papers, distance matrix {distances.nbytes / 1e9:.2f} GB "
        f"built in {build:.1f} s"
    )
    per_k: dict[int, dict[str, float]] = {}
    for k in candidate_ks(n):
        (labels, medoids), pam_seconds = timed(fasterpam, distances, k, SEED)
        score, score_seconds = timed(silhouette, distances, labels, k)
        per_k[k] = {"fasterpam_s": pam_seconds, "silhouette": score, "silhouette_s": score_seconds}
        print(f"  k={k:>2}: FasterPAM {pam_seconds:6.2f} s, silhouette {score:.4f}")
    best = max(per_k, key=lambda k: per_k[k]["silhouette"])
    (labels, medoids), pam_best = timed(fasterpam, distances, best, SEED)
    assigned, assign_seconds = timed(
        lambda: np.argmax(unit @ unit[rows[medoids]].T, axis=1)  # the library's assignment
    )
    texts = [paper_text(records[pid]["title"], records[pid]["abstract"]) for pid in ids]
    terms, label_seconds = timed(distinctive_terms, texts, assigned, best)
    kmeans = KMeans(n_clusters=best, random_state=SEED, n_init=1)
    kmeans_labels, kmeans_seconds = timed(kmeans.fit_predict, unit[rows])
    kmeans_score = silhouette(distances, kmeans_labels, best)
    medoid_score = per_k[best]["silhouette"]
    print(f"silhouette picks k={best}")
    print(f"  FasterPAM {pam_best:.2f} s; k-means (scikit-learn) {kmeans_seconds:.2f} s")
    print(
        f"  silhouette (cosine, same sample, same k): k-medoids {medoid_score:.4f}, "
        f"k-means {kmeans_score:.4f}, ratio {medoid_score / kmeans_score:.2f}"
    )
    print(
        f"  FasterPAM time / k-means time: {pam_best / kmeans_seconds:.2f}; "
        f"assigning all {n:,} papers {assign_seconds:.2f} s; labels {label_seconds:.1f} s"
    )
    sizes = np.bincount(assigned, minlength=best)
    for t in np.argsort(-sizes)[:5]:
        print(f"    {sizes[t]:>6,} papers: {', '.join(terms[t])}")
    scaling = {}
    for size in (5_000, 10_000):
        if size < len(rows):
            sub = cosine_distances(unit[rows[:size]])
            _, seconds = timed(fasterpam, sub, best, SEED)
            scaling[size] = seconds
            print(f"  FasterPAM at {size:,} papers: {seconds:.2f} s")
    del distances
    return {
        "papers": n,
        "full_matrix_gb": n * n * 4 / 1e9,
        "sample": len(rows),
        "sample_matrix_gb": len(rows) ** 2 * 4 / 1e9,
        "distance_matrix_s": build,
        "per_k": per_k,
        "k": best,
        "fasterpam_s": pam_best,
        "kmeans_s": kmeans_seconds,
        "silhouette_kmedoids": medoid_score,
        "silhouette_kmeans": kmeans_score,
        "silhouette_ratio": medoid_score / kmeans_score,
        "time_ratio_fasterpam_to_kmeans": pam_best / kmeans_seconds,
        "assign_s": assign_seconds,
        "labels_s": label_seconds,
        "fasterpam_s_by_size": scaling,
        "peak_rss_gb": peak_rss_gb(),
    }


def typical_week(
    ids: list[str], unit: np.ndarray, records: dict[str, dict[str, Any]], work: Path
) -> dict[str, Any]:
    """Step 4: a week of median size, in a SQLite store, clustered as the page does."""
    week_of = {pid: date.fromisoformat(records[pid]["first_seen"][:10]) for pid in ids}
    sizes = Counter(period_of("week", day).label for day in week_of.values())
    median = sorted(sizes.values())[len(sizes) // 2]
    label = min(sizes, key=lambda w: (abs(sizes[w] - median), w))
    chosen = [i for i, pid in enumerate(ids) if period_of("week", week_of[pid]).label == label]
    jsonl = work / "week.jsonl.gz"
    with gzip.open(jsonl, "wt", encoding="utf-8") as out:
        for i in chosen:
            out.write(json.dumps(records[ids[i]]) + "\n")
    store = Store.open(f"sqlite:///{work}/week.sqlite3")
    store.migrate()
    import_files(store, "jsonl", [jsonl])
    rows = []
    for i in chosen:
        record = records[ids[i]]
        rows.append((ids[i], text_hash(paper_text(record["title"], record["abstract"])), unit[i]))
    store.search.save_embeddings(MODEL_NAME, rows)
    period = period_of("week", week_of[ids[chosen[0]]])
    index = TopicIndex(store, MODEL_NAME)
    found, cold = timed(index.topics, period)
    _, warm = timed(index.topics, period)
    svg = map_svg(found, f"Map of {period.label}")
    store.close()
    print(
        f"a typical week ({label}, {len(chosen):,} papers; weeks run from "
        f"{min(sizes.values())} to {max(sizes.values()):,}): {len(found.topics)} topics, "
        f"silhouette {found.silhouette:.4f}, page computation {cold:.2f} s cold "
        f"(clustering {found.seconds:.2f} s), {warm * 1000:.1f} ms from the cache; "
        f"map {len(svg) / 1000:.0f} kB of SVG"
    )
    for topic in found.topics:
        print(f"    {topic.size:>5,} papers: {topic.label}")
    return {
        "week": label,
        "papers": found.papers,
        "k": len(found.topics),
        "silhouettes": found.silhouettes,
        "silhouette": found.silhouette,
        "cold_s": cold,
        "warm_s": warm,
        "svg_bytes": len(svg),
        "labels": [t.label for t in found.topics],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample", type=int, default=20_000, help="papers FasterPAM sees")
    args = parser.parse_args()
    (ids, unit, records), load = timed(load_corpus)
    print(f"loaded {len(ids):,} vectors and texts in {load:.1f} s")
    results = {"corpus": corpus_clustering(ids, unit, records, args.sample)}
    with tempfile.TemporaryDirectory() as work:
        results["week"] = typical_week(ids, unit, records, Path(work))
    results["peak_rss_gb"] = peak_rss_gb()
    print(f"peak memory of this process: {results['peak_rss_gb']:.1f} GB")
    (OUT / "topics.json").write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
