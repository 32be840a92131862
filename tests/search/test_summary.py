"""TL;DR sentences: splitting abstracts into sentences, and the choice of one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from paperfeed.search.summary import candidate_sentences, choose, split_sentences
from paperfeed.store import Store


def sentences(text: str) -> list[str]:
    return [text[begin:end] for begin, end in split_sentences(text)]


def test_sentences_of_an_abstract() -> None:
    text = (
        "We study grokking in deep networks, e.g. transformers trained on modular arithmetic. "
        "Following Power et al. (2022), we vary the weight decay from 0.1 to 1.0. "
        "Accuracy rises at step $t = 10^4$. Then it stays! Does it generalise? Yes (Fig. 2)."
    )
    assert sentences(text) == [
        "We study grokking in deep networks, e.g. transformers trained on modular arithmetic.",
        "Following Power et al. (2022), we vary the weight decay from 0.1 to 1.0.",
        "Accuracy rises at step $t = 10^4$.",
        "Then it stays!",
        "Does it generalise?",
        "Yes (Fig. 2).",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "A result by J. Smith and A. B. Jones holds in general, as we show here.",
        "The bound $p < 0.05. Then$ is inside TeX and stays one sentence here.",
        "Version 2.0 of the code, i.e. the one released, is used everywhere here.",
        "We compare A vs. B and find, cf. Sec. 3, that neither wins overall.",
    ],
)
def test_no_cut_inside_abbreviations_initials_numbers_or_tex(text: str) -> None:
    assert sentences(text) == [text]


def test_odd_text_does_not_break_the_splitter() -> None:
    for text in ["", "   ", ".", "...", "?!", "$", "$$ $$", "A." * 1000, "\x00 . \n\n A"]:
        spans = split_sentences(text)
        assert all(0 <= b < e <= len(text) for b, e in spans)


def test_candidates_are_neither_tiny_nor_huge_and_need_two_sentences() -> None:
    assert candidate_sentences("One sentence only, which cannot be a summary of itself.") == []
    long = "Words " + "and more words " * 30
    text = f"Short one. This sentence has enough words to summarise the work. {long.strip()}."
    chosen = [text[b:e] for b, e in candidate_sentences(text)]
    assert chosen == ["This sentence has enough words to summarise the work."]


def test_the_sentence_nearest_the_paper_vector_is_chosen() -> None:
    # Three sentences of two tokens each (offsets), the vectors pointing different ways.
    tokens = np.array([[0, 0], [1, 0], [1, 0.1], [0, 1], [0.1, 1], [1, 1], [1, 1], [0, 0]])
    offsets = [(0, 0), (0, 2), (3, 5), (6, 8), (9, 11), (12, 14), (15, 17), (0, 0)]
    mask = [1, 1, 1, 1, 1, 1, 1, 0]
    spans = [(0, 5), (6, 11), (12, 17)]
    assert choose(tokens, offsets, mask, spans, np.array([0.0, 1.0])) == 1
    assert choose(tokens, offsets, mask, spans, np.array([1.0, 0.0])) == 0
    assert choose(tokens, offsets, mask, spans, np.array([0.7, 0.7])) == 2
    assert choose(tokens, offsets, mask, [(20, 30)], np.array([1.0, 0.0])) is None  # truncated


def test_summaries_come_from_the_same_forward_pass() -> None:
    from paperfeed.search.embed import default_embedder, paper_text

    embedder = default_embedder()
    papers = [
        (
            "Grokking in shallow networks",
            "Neural networks sometimes generalise long after they fit the training data. "
            "We show that weight decay drives this delayed generalisation in shallow networks. "
            "Our code is available online for everyone to use and to check.",
        ),
        ("A one-sentence paper", "Only this sentence is here, so there is no TL;DR of it."),
    ]
    vectors, summaries = embedder.embed_with_summaries(papers)
    plain = embedder.embed([paper_text(t, a) for t, a in papers])
    assert np.allclose(vectors, plain, atol=1e-6)
    assert summaries[0] in papers[0][1] and summaries[0].endswith(".")
    assert summaries[1] == ""


def test_index_chooses_and_keeps_tldrs(store: Store, tmp_path: Path) -> None:
    """`paperfeed index` stores a TL;DR with each vector, fills in papers embedded before
    TL;DRs existed, and the vector cache carries them; a new abstract hides a stale one."""
    from paperfeed.models import IngestRecord, Paper
    from paperfeed.search.embed import default_embedder
    from paperfeed.search.indexer import export_vectors, import_vectors, index_papers
    from paperfeed.web.present import tldr

    abstract = (
        "Neural networks sometimes generalise long after they fit the training data. "
        "We show that weight decay drives this delayed generalisation in shallow networks. "
        "Code is online."
    )
    first = Paper(arxiv_id="2501.00001", title="Grokking", abstract=abstract, authors=["A"])
    store.write_batch([IngestRecord(first, "test", "t:1")])
    embedder = default_embedder()
    assert index_papers(store, embedder, summaries=False).embedded == 1
    assert store.search.missing_summaries(["2501.00001"]) == {"2501.00001"}
    assert index_papers(store, embedder, dry_run=True).to_do == 1  # the TL;DR is missing
    assert index_papers(store, embedder).embedded == 1
    stored = store.get_paper("2501.00001")
    assert stored is not None and stored.tldr and stored.tldr in abstract
    assert tldr(stored) == stored.tldr
    assert index_papers(store, embedder, dry_run=True).to_do == 0
    # The cache round trip: vectors and TL;DRs into another database, nothing to embed.
    cache = tmp_path / "vectors.npz"
    export_vectors(store, embedder.name, cache)
    with store.writing() as conn:
        conn.exec_driver_sql("UPDATE papers SET tldr = NULL")
        conn.exec_driver_sql("DELETE FROM paper_embeddings")
    import_vectors(store, embedder.name, cache)
    assert store.get_paper("2501.00001").tldr == stored.tldr  # type: ignore[union-attr]
    assert index_papers(store, embedder, dry_run=True).to_do == 0
    # A new version with another abstract: the old TL;DR is not shown until re-indexed.
    revised = Paper(**{**first.__dict__, "abstract": "Entirely new text. Of two sentences here."})
    store.write_batch([IngestRecord(revised, "test", "t:2")])
    now = store.get_paper("2501.00001")
    assert now is not None and tldr(now) is None
