"""Topic clustering on synthetic papers: groups whose vectors and words are clearly apart."""

from __future__ import annotations

import re

import defusedxml.ElementTree as ET
import numpy as np
import pytest

from paperfeed.personal.topics import (
    MAP_POINTS,
    TopicSet,
    candidate_ks,
    cosine_distances,
    find_topics,
    map_svg,
    unit_rows,
)

SVG = "{http://www.w3.org/2000/svg}"
GROUP_WORDS = [
    ["quantum", "entanglement", "qubit", "decoherence"],
    ["protein", "folding", "enzyme", "peptide"],
    ["galaxy", "redshift", "telescope", "supernova"],
    ["graph", "vertex", "coloring", "planar"],
    ["auction", "bidding", "equilibrium", "mechanism"],
]
SHARED_WORDS = ["analysis", "system", "framework", "performance", "evaluation", "approach"]


def papers(
    groups: int = 5, per_group: int = 40, dim: int = 24, seed: int = 1
) -> tuple[list[str], list[str], np.ndarray, list[int]]:
    """(ids, texts, vectors, group of each) for ``groups`` groups of papers: vectors near
    one random direction per group, texts mixing the group's words with common ones."""
    rng = np.random.default_rng(seed)
    centres = unit_rows(rng.normal(size=(groups, dim)))
    ids, texts, rows, truth = [], [], [], []
    for g in range(groups):
        for i in range(per_group):
            own = rng.choice(GROUP_WORDS[g], size=6)
            common = rng.choice(SHARED_WORDS, size=6)
            ids.append(f"2501.{g:02d}{i:03d}")
            texts.append(f"On {own[0]} and {own[1]}\n" + " ".join([*own[2:], *common]))
            rows.append(centres[g] + rng.normal(scale=0.08, size=dim))
            truth.append(g)
    return ids, texts, np.array(rows, dtype=np.float32), truth


def partition(topic_set: TopicSet) -> set[frozenset[str]]:
    return {frozenset(t.members) for t in topic_set.topics}


def groups_of(ids: list[str], truth: list[int]) -> set[frozenset[str]]:
    return {
        frozenset(i for i, g in zip(ids, truth, strict=True) if g == group) for group in set(truth)
    }


def parse_svg(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg"
    tags = {element.tag.removeprefix(SVG) for element in root.iter()}
    assert tags <= {"svg", "title", "desc", "rect", "g", "circle", "text"}, tags
    attributes = {name for element in root.iter() for name in element.attrib}
    assert not any(name.startswith("on") or name in ("style", "href") for name in attributes)
    return root


def test_clearly_separated_groups_become_the_topics() -> None:
    ids, texts, matrix, truth = papers()
    found = find_topics(ids, texts, matrix)
    assert partition(found) == groups_of(ids, truth)
    assert [t.number for t in found.topics] == [1, 2, 3, 4, 5]
    assert sum(t.size for t in found.topics) == found.papers == len(ids)
    for topic in found.topics:
        assert topic.members[0] == topic.medoid


def test_the_silhouette_chooses_k_within_a_range() -> None:
    ids, texts, matrix, _ = papers(groups=5, per_group=60)
    found = find_topics(ids, texts, matrix)
    tried = set(found.silhouettes)
    assert found.k_by == "silhouette" and tried == set(candidate_ks(len(ids)))
    assert tried - {5}, "the range must offer other choices than the true k"
    assert max(found.silhouettes, key=found.silhouettes.__getitem__) == 5 == len(found.topics)
    assert found.silhouette == found.silhouettes[5] and found.silhouette > 0.5


def test_a_fixed_k_is_kept() -> None:
    ids, texts, matrix, _ = papers(groups=5)
    found = find_topics(ids, texts, matrix, k=3)
    assert found.k_by == "setting" and len(found.topics) == 3
    assert sum(t.size for t in found.topics) == len(ids)


def test_deterministic_and_independent_of_input_order() -> None:
    ids, texts, matrix, _ = papers()
    first, again = find_topics(ids, texts, matrix), find_topics(ids, texts, matrix)
    assert first == again  # topics, labels, silhouettes, map: all equal
    order = np.random.default_rng(7).permutation(len(ids))
    shuffled = find_topics([ids[i] for i in order], [texts[i] for i in order], matrix[order])
    assert partition(shuffled) == partition(first)
    assert {t.medoid for t in shuffled.topics} == {t.medoid for t in first.topics}


def test_labels_are_the_distinctive_terms_of_each_topic() -> None:
    ids, texts, matrix, truth = papers()
    found = find_topics(ids, texts, matrix)
    group_of = dict(zip(ids, truth, strict=True))
    for topic in found.topics:
        own = GROUP_WORDS[group_of[topic.medoid]]
        others = {w for words in GROUP_WORDS if words is not own for w in words}
        label_words = {word for term in topic.terms for word in term.split()}
        assert topic.terms and label_words & set(own), topic.terms
        assert not label_words & (others | set(SHARED_WORDS)), topic.terms


def test_medoids_are_searched_in_a_sample_and_the_rest_assigned() -> None:
    ids, texts, matrix, truth = papers(per_group=60)
    found = find_topics(ids, texts, matrix, sample_max=100)
    assert found.sample == 100 and found.papers == 300
    assert partition(found) == groups_of(ids, truth)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5])
def test_tiny_inputs(n: int) -> None:
    ids, texts, matrix, _ = papers(groups=1, per_group=5)
    found = find_topics(ids[:n], texts[:n], matrix[:n])
    assert found.papers == n and sum(t.size for t in found.topics) == n
    assert len(found.topics) == (1 if n else 0)  # too few papers to tell topics apart
    assert found.k_by == "size" and found.silhouette is None
    parse_svg(map_svg(found, "tiny"))


def test_fewer_papers_than_k() -> None:
    ids, texts, matrix, _ = papers(groups=3, per_group=1)
    found = find_topics(ids, texts, matrix, k=8)
    assert len(found.topics) == 3 and {t.size for t in found.topics} == {1}
    assert {t.medoid for t in found.topics} == set(ids)


def test_empty_texts_give_topics_without_terms() -> None:
    ids, _, matrix, _ = papers(groups=2, per_group=10)
    found = find_topics(ids, ["" for _ in ids], matrix)
    assert len(found.topics) >= 2 and all(t.terms == [] for t in found.topics)
    assert found.topics[0].label == "topic 1"


def test_cosine_distances() -> None:
    unit = unit_rows(np.array([[1, 0], [0, 2], [-3, 0], [1, 1]], dtype=np.float32))
    distances = cosine_distances(unit)
    assert distances.dtype == np.float32 and np.all(distances >= 0)
    assert np.allclose(distances[0], [0, 1, 2, 1 - np.sqrt(0.5)], atol=1e-6)
    assert np.all(np.diag(distances) == 0)


def test_candidate_ks() -> None:
    assert list(candidate_ks(5)) == []  # one topic
    assert list(candidate_ks(6)) == [2]
    assert list(candidate_ks(200)) == [3, 4, 5]
    assert list(candidate_ks(1_000)) == [6, 7, 8, 9, 10, 11]
    assert list(candidate_ks(3_000)) == list(range(8, 17))


def test_the_map_is_a_small_accessible_svg_without_script() -> None:
    ids, texts, matrix, _ = papers(groups=4, per_group=400, dim=16)
    found = find_topics(ids, texts, matrix, k=4)
    svg = map_svg(found, 'Map of <script>alert("x")</script> & more')
    root = parse_svg(svg)
    assert "<script" not in svg and "&lt;script&gt;" in svg
    assert root.get("role") == "img" and root.get("aria-labelledby")
    assert root.find(SVG + "title") is not None and root.find(SVG + "desc") is not None
    groups = root.findall(SVG + "g")
    dots = [g for g in groups if "dots" in g.get("class", "")]
    medoids = [g for g in groups if "medoid" in g.get("class", "")]
    assert len(dots) == len(medoids) == len(found.topics) == 4
    assert all(g.find(SVG + "title") is not None for g in groups)
    drawn = sum(len(g.findall(SVG + "circle")) for g in dots)
    assert drawn == len(found.points) <= MAP_POINTS < len(ids)
    assert [m.findtext(SVG + "text") for m in medoids] == ["1", "2", "3", "4"]
    classes = {c for g in groups for c in g.get("class", "").split()}
    assert {f"t{i}" for i in range(4)} <= classes
    for circle in root.iter(SVG + "circle"):
        assert 0 <= float(circle.get("cx", -1)) <= 640 and 0 <= float(circle.get("cy", -1)) <= 400
    assert re.search(r"sample of 1,600", svg)
