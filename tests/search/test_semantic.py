"""Embeddings: incremental, resumable indexing; nearest papers; hybrid search; on both
backends. The model runs for real (ONNX Runtime, from the package)."""

from __future__ import annotations

import numpy as np

from paperfeed.models import IngestRecord, Paper
from paperfeed.search import Searcher, parse_query
from paperfeed.search.embed import MODEL_NAME, default_embedder, paper_text
from paperfeed.search.indexer import export_vectors, import_vectors, index_papers
from paperfeed.store import Store

PAPERS = [
    (
        "2501.00001",
        "Grokking: generalization beyond overfitting on small algorithmic datasets",
        "Neural networks trained on modular arithmetic suddenly generalize long after they "
        "memorize the training set.",
        ["cs.LG"],
    ),
    (
        "2501.00002",
        "Spin glass theory of associative memory",
        "We compute the storage capacity of Hopfield networks with the replica method.",
        ["cond-mat.dis-nn"],
    ),
    (
        "2501.00003",
        "Protein structure prediction with attention",
        "A transformer predicts three-dimensional protein folds from amino acid sequences.",
        ["q-bio.BM"],
    ),
    (
        "2501.00004",
        "Mean-field theory of deep networks at initialization",
        "Signal propagation in wide random networks follows a mean-field recursion.",
        ["stat.ML", "cs.LG"],
    ),
    (
        "2501.00005",
        "Bread baking for beginners",
        "Flour, water, salt and patience.",
        ["physics.pop-ph"],
    ),
]


def load(store: Store) -> None:
    store.migrate()
    store.write_batch(
        [
            IngestRecord(
                Paper(pid, title, abstract, ["A. Author"], categories=cats, version=1),
                "test",
                f"t:{n}",
            )
            for n, (pid, title, abstract, cats) in enumerate(PAPERS)
        ]
    )


def test_index_is_incremental_and_resumable(store: Store) -> None:
    load(store)
    embedder = default_embedder()
    first = index_papers(store, embedder, batch_size=2, limit=3)  # as if stopped early
    assert (first.to_do, first.embedded) == (3, 3)
    rest = index_papers(store, embedder, batch_size=2)
    assert (rest.to_do, rest.embedded) == (2, 2)
    assert index_papers(store, embedder).to_do == 0
    # A new version with a new title is embedded again; a vote-only change is not.
    title, abstract = PAPERS[0][1], PAPERS[0][2]
    changed = Paper("2501.00001", title + " revisited", abstract, ["A. Author"], version=2)
    store.write_batch([IngestRecord(changed, "test", "t:v2")])
    again = index_papers(store, embedder)
    assert (again.to_do, again.embedded) == (1, 1)
    stored = store.search.embedding_of("2501.00001")
    expected = embedder.embed([paper_text(changed.title, abstract)])[0]
    assert stored is not None and float(stored @ expected) > 0.999
    assert abs(float(np.linalg.norm(stored)) - 1.0) < 1e-3


def test_vectors_travel_with_a_file(store: Store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    load(store)
    index_papers(store, default_embedder())
    path = tmp_path / "vectors.npz"
    assert export_vectors(store, MODEL_NAME, path, dtype="float16") == len(PAPERS)
    with store.writing() as conn:
        conn.exec_driver_sql("DELETE FROM paper_embeddings")
    assert import_vectors(store, MODEL_NAME, path) == len(PAPERS)
    assert import_vectors(store, MODEL_NAME, path) == 0  # already there
    assert index_papers(store, default_embedder()).to_do == 0
    assert import_vectors(store, "another-model", path) == 0


def test_semantic_and_hybrid_rank_meaning(store: Store) -> None:
    load(store)
    index_papers(store, default_embedder())
    searcher = Searcher(store)
    # No shared keyword, same meaning.
    question = parse_query("why do networks suddenly generalise long after memorising")
    assert searcher.rank_semantic(question, 3)[0][0] == "2501.00001"
    assert searcher.rank_hybrid(question, 3)[0][0] == "2501.00001"
    folding = parse_query("how proteins fold")
    assert searcher.rank_semantic(folding, 1)[0][0] == "2501.00003"
    # Filters hold for the semantic ranker too.
    physics = parse_query("memory capacity cat:cs.LG")
    assert {pid for pid, _ in searcher.rank_semantic(physics, 5)} <= {"2501.00001", "2501.00004"}
    baking = searcher.rank_semantic(parse_query("bread baking -flour"), 5)
    assert "2501.00005" not in {pid for pid, _ in baking}


def test_related_papers(store: Store) -> None:
    load(store)
    index_papers(store, default_embedder())
    related = Searcher(store).related("2501.00004", limit=3)
    ids = [paper.arxiv_id for paper, _ in related]
    assert "2501.00004" not in ids and len(ids) == 3
    similarities = [s for _, s in related]
    assert similarities == sorted(similarities, reverse=True)
    assert "2501.00005" not in ids  # baking is the farthest from deep networks
    assert Searcher(store).related("2501.99999") == []


def test_demo_vectors_match_the_model(demo_store: Store) -> None:
    """The bundled vectors are what the model makes of the demo papers now."""
    embedder = default_embedder()
    paper = demo_store.get_paper("2212.00606")
    assert paper is not None
    stored = demo_store.search.embedding_of("2212.00606")
    fresh = embedder.embed([paper_text(paper.title, paper.abstract)])[0]
    # Not exactly 1: dynamic int8 quantisation scales each batch's activations together, so
    # a text embedded alone differs a little from the same text embedded in a batch.
    assert stored is not None and float(stored @ fresh) > 0.98
    assert index_papers(demo_store, embedder, dry_run=True).to_do == 0
