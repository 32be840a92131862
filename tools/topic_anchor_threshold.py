"""How close must a followed topic's anchor be to one of a new period's topics to count as
the same topic? The data behind ``paperfeed.digest.topics.MATCH_THRESHOLD``.

    .venv/bin/python tools/topic_anchor_threshold.py [--kind week|day] [--periods N]

The arXiv corpus (../shared/data/arxiv, vectors from bench-results/arxiv-vectors.npz) is cut
into periods by ``first_seen``; each period is clustered as the /topics page does
(``personal.topics.cluster``). An anchor is a topic of period P, matched to the topics of
P + 1. What counts as "the same topic" needs a reference that does not use the threshold:
the two periods are clustered *together* (the same code) and a topic of P and a topic of P+1
are the same topic when most papers of each fall in the same joint topic. Then:

- topic there: anchors with a counterpart in P+1: how many match at each threshold, and how
  many of those matches are the counterpart;
- taken out: the anchor's joint topic is removed from P+1 (its papers dropped, the rest
  clustered again): anything it matches now is a neighbour, a false match;
- SciFact: topics of SciFact's biomedical abstracts (bench-results/scifact-vectors.npz), a
  period's worth at a time, matched to the arXiv periods: nothing should match.

Three anchors are compared, each against the same kind of vector of the new period's
topics: the medoid's vector, the centroid (the normalised mean of the topic's unit vectors)
and the centroid of vectors centred on their period's mean.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import sys
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "src"))

from paperfeed.personal.topics import cluster, unit_rows  # noqa: E402
from paperfeed.rank.feeds import period_of  # noqa: E402

THRESHOLDS = [round(0.50 + 0.02 * i, 2) for i in range(25)]


def load() -> tuple[list[str], np.ndarray, dict[str, date]]:
    vectors = np.load(ROOT / "bench-results" / "arxiv-vectors.npz")
    ids = [str(i) for i in vectors["ids"]]
    first_seen: dict[str, date] = {}
    for part in sorted((SHARED / "arxiv").glob("part-*.jsonl.gz")):
        with gzip.open(part, "rt", encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                first_seen[record["id"]] = date.fromisoformat(record["first_seen"][:10])
    keep = [i for i, pid in enumerate(ids) if pid in first_seen]
    return [ids[i] for i in keep], unit_rows(vectors["matrix"][keep]), first_seen


def topics_of(unit: np.ndarray) -> dict[str, np.ndarray]:
    """The period's clustering: its labels and each kind of anchor vector of its topics."""
    found = cluster(unit)
    k = len(found.medoids)
    means = np.stack([unit[found.labels == t].mean(axis=0) for t in range(k)])
    return {
        "labels": found.labels,
        "medoid": unit[found.medoids],
        "centroid": unit_rows(means),
        "centred": unit_rows(means - unit.mean(axis=0)),
    }


KINDS = ("medoid", "centroid", "centred")


def majority(labels: np.ndarray) -> int:
    return int(Counter(labels.tolist()).most_common(1)[0][0])


def table(
    kind: str, present: np.ndarray, right: np.ndarray, absent: np.ndarray, out: np.ndarray
) -> None:
    print(
        f"\n{kind} anchors: {len(present)} with their topic in the next period, "
        f"{len(absent)} with it taken out, {len(out)} SciFact anchors"
    )
    print(
        f"  best similarity: topic there median {np.median(present):.3f} (p10 "
        f"{np.percentile(present, 10):.3f}); taken out median {np.median(absent):.3f} (p90 "
        f"{np.percentile(absent, 90):.3f}); SciFact median {np.median(out):.3f} "
        f"(max {out.max():.3f})"
    )
    print("  threshold  matched (there)  right counterpart  matched (taken out)  SciFact matched")
    for threshold in THRESHOLDS:
        hit = present >= threshold
        precision = (hit & right).sum() / max(hit.sum(), 1)
        print(
            f"  {threshold:9.2f}  {hit.mean():15.3f}  {precision:17.3f}"
            f"  {(absent >= threshold).mean():19.3f}  {(out >= threshold).mean():15.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=["week", "day"], default="week")
    parser.add_argument("--periods", type=int, default=12, help="pairs of periods at most")
    parser.add_argument("--min-papers", type=int, default=150)
    args = parser.parse_args()

    ids, unit, first_seen = load()
    rows_of: dict[str, list[int]] = defaultdict(list)
    for row, pid in enumerate(ids):
        rows_of[period_of(args.kind, first_seen[pid]).label].append(row)
    labels = sorted(p for p, rows in rows_of.items() if len(rows) >= args.min_papers)
    pairs = list(itertools.pairwise(labels))
    step = max(1, len(pairs) // args.periods)
    pairs = pairs[::step][: args.periods]
    print(f"{len(pairs)} pairs of consecutive {args.kind}s with >= {args.min_papers} papers")

    present: dict[str, list[float]] = defaultdict(list)
    right: dict[str, list[bool]] = defaultdict(list)
    absent: dict[str, list[float]] = defaultdict(list)
    outside: dict[str, list[float]] = defaultdict(list)
    science = unit_rows(np.load(ROOT / "bench-results" / "scifact-vectors.npz")["matrix"])
    rng = np.random.default_rng(0)
    for first, second in pairs:
        a, b = unit[rows_of[first]], unit[rows_of[second]]
        topics_a, topics_b = topics_of(a), topics_of(b)
        joint = cluster(np.vstack([a, b])).labels
        joint_a, joint_b = joint[: len(a)], joint[len(a) :]
        k_a, k_b = len(topics_a["medoid"]), len(topics_b["medoid"])
        home_a = [majority(joint_a[topics_a["labels"] == t]) for t in range(k_a)]
        home_b = [majority(joint_b[topics_b["labels"] == t]) for t in range(k_b)]
        for kind in KINDS:
            similarity = topics_a[kind] @ topics_b[kind].T
            for t, row in enumerate(similarity):
                if home_a[t] in home_b:
                    nearest = int(np.argmax(row))
                    present[kind].append(float(row[nearest]))
                    right[kind].append(home_b[nearest] == home_a[t])
        for t in range(k_a):  # the anchor's own topic taken out of the next period
            rest = b[joint_b != home_a[t]]
            if len(rest) < args.min_papers // 2 or len(rest) == len(b):
                continue
            topics_rest = topics_of(rest)
            for kind in KINDS:
                absent[kind].append(float((topics_rest[kind] @ topics_a[kind][t]).max()))
        sample = science[rng.choice(len(science), min(len(a), len(science)), replace=False)]
        topics_s = topics_of(sample)
        for kind in KINDS:
            outside[kind] += (topics_s[kind] @ topics_b[kind].T).max(axis=1).tolist()
        print(f"  {first} -> {second}: {k_a} and {k_b} topics", flush=True)

    for kind in KINDS:
        table(
            kind,
            np.array(present[kind]),
            np.array(right[kind]),
            np.array(absent[kind]),
            np.array(outside[kind]),
        )


if __name__ == "__main__":
    main()
