"""Keyword search (BM25) and filters on both backends and with both keyword engines (the
database's own index, and the tantivy copy), over the demo data."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path

import pytest

from paperfeed.models import IngestRecord, Paper, SearchFilter
from paperfeed.search.keyword import KeywordIndex
from paperfeed.store import Store

NONE = SearchFilter()
ENGINES = ["database", "tantivy"]
Ranker = Callable[[Sequence[str], SearchFilter, int], list[tuple[str, float]]]


def ids(ranking: list[tuple[str, float]]) -> list[str]:
    return [pid for pid, _ in ranking]


def ranker(store: Store, engine: str, directory: Path) -> Ranker:
    """``store``'s keyword ranking by ``engine``, as (arxiv id, score) best first."""
    if engine == "database":
        return store.search.keyword
    index = KeywordIndex(store, directory, check_every=0.0)

    def rank(words: Sequence[str], filt: SearchFilter, limit: int) -> list[tuple[str, float]]:
        found = index.search(words, filt, limit)
        assert found is not None  # the demo set is small enough to be synced inline
        return found[0]

    return rank


@pytest.fixture(params=ENGINES)
def keyword(request: pytest.FixtureRequest, demo_store: Store, tmp_path: Path) -> Iterator[Ranker]:
    yield ranker(demo_store, request.param, tmp_path / "keyword-index")


def test_known_items_come_first(keyword: Ranker) -> None:
    top = keyword(["dense", "hebbian", "replica", "symmetric", "supervised"], NONE, 5)
    assert ids(top)[0] == "2212.00606"
    scores = [score for _, score in top]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    assert ids(keyword(["replica", "symmetry", "breaking", "dense"], NONE, 3))[0] == "2111.12997"


def test_title_matches_weigh_more(demo_store: Store, keyword: Ranker) -> None:
    # "hebbian" in a title beats "hebbian" only in an abstract.
    ranking = keyword(["hebbian"], NONE, 20)
    papers = demo_store.search.papers(ids(ranking))
    in_title = ["hebbian" in papers[pid].title.lower() for pid in ids(ranking)]
    assert in_title[0] and in_title == sorted(in_title, reverse=True)


def test_filters(demo_store: Store, keyword: Ranker) -> None:
    search = demo_store.search
    words = ["neural", "networks"]
    everything = ids(keyword(words, NONE, 200))
    assert len(everything) > 20
    cats = ids(keyword(words, SearchFilter(categories=("stat",)), 200))
    assert cats and set(cats) < set(everything)
    for paper in search.papers(cats).values():
        assert any(c.startswith("stat.") for c in paper.categories or [])
    exact = ids(keyword(words, SearchFilter(categories=("cs.LG",)), 200))
    assert exact and all("cs.LG" in (p.categories or []) for p in search.papers(exact).values())
    phrase = ids(keyword(words, SearchFilter(phrases=("replica symmetric",)), 50))
    assert "2212.00606" in phrase
    for paper in search.papers(phrase).values():
        assert "replica symmetric" in (paper.title + " " + paper.abstract).lower()
    without = ids(keyword(words, SearchFilter(excluded=("dense",)), 200))
    assert "2212.00606" not in without and "2111.12997" not in without
    assert not any(
        re.search(r"\bdense\b", p.title + " " + p.abstract, re.IGNORECASE)
        for p in search.papers(without).values()
    )
    window = SearchFilter(since=date(2025, 12, 1), until=date(2025, 12, 31))
    dated = search.papers(ids(keyword(words, window, 200))).values()
    assert dated and all(
        datetime(2025, 12, 1) <= (p.published or p.first_seen) < datetime(2026, 1, 1)  # type: ignore[operator]
        for p in dated
    )
    # Every filter is applied before the top k is taken: the 200 best that pass it.
    by_author = ids(keyword(["learning"], SearchFilter(authors=("huang",)), 200))
    assert by_author and set(by_author) <= search.filter_ids(SearchFilter(authors=("huang",)))
    assert not keyword(["learning"], SearchFilter(authors=("parisi",)), 200)  # not Parisien


def test_author_filter_and_listing(demo_store: Store) -> None:
    search = demo_store.search
    found = search.filter_ids(SearchFilter(authors=("HAIPING huang",)))
    assert found and all(
        any(re.search(r"\bhaiping huang\b", a, re.IGNORECASE) for a in p.authors)
        for p in search.papers(found).values()
    )
    listed, total = search.listing(SearchFilter(authors=("haiping huang",)), "date", 50)
    assert total == len(found) and set(listed) == found
    dates = [search.papers([pid])[pid].published for pid in listed]
    assert dates == sorted(dates, reverse=True)  # type: ignore[type-var]
    # Whole words of a name, as the keyword index matches them: Parisi is not Parisien.
    assert search.filter_ids(SearchFilter(authors=("parisien",)))
    assert not search.filter_ids(SearchFilter(authors=("parisi",)))
    assert search.filter_ids(SearchFilter(authors=("Christopher Parisien",)))
    assert not search.filter_ids(SearchFilter(authors=("Parisien Christopher",)))


@pytest.mark.parametrize(
    "words",
    [["AND"], ["NEAR", "OR"], ['"'], ["*"], ["^title"], ["a'b"], ["%"], ["_"], ["-"]],
)
def test_operators_and_quotes_are_just_text(
    demo_store: Store, keyword: Ranker, words: list[str]
) -> None:
    keyword(words, NONE, 5)
    keyword(
        words, SearchFilter(phrases=tuple(words), excluded=tuple(words), authors=tuple(words)), 5
    )
    demo_store.search.filter_ids(SearchFilter(phrases=tuple(words), authors=tuple(words)))


@pytest.mark.parametrize("engine", ENGINES)
def test_index_follows_updates_and_deletes(
    store: Store, engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paperfeed.search import keyword as keyword_module

    # Deleting papers is not something paperfeed does; the tantivy copy notices it when it
    # compares counts (every minute; here at every search).
    monkeypatch.setattr(keyword_module, "RECHECK_SECONDS", 0.0)
    store.migrate()
    rank = ranker(store, engine, tmp_path / "keyword-index")
    paper = Paper(
        arxiv_id="2501.00001",
        title="Grokking in shallow networks",
        abstract="We study delayed generalisation.",
        authors=["Ada Lovelace"],
        version=1,
    )
    store.write_batch([IngestRecord(paper, "test", "t:1")])
    assert ids(rank(["grokking"], NONE, 5)) == ["2501.00001"]
    revised = Paper(**{**paper.__dict__, "title": "Memorisation in wide networks", "version": 2})
    store.write_batch([IngestRecord(revised, "test", "t:2")])
    assert rank(["grokking"], NONE, 5) == []
    assert ids(rank(["memorisation"], NONE, 5)) == ["2501.00001"]
    assert ids(rank(["lovelace"], NONE, 5)) == ["2501.00001"]
    with store.writing() as conn:
        conn.exec_driver_sql("DELETE FROM papers")
    assert rank(["memorisation"], NONE, 5) == []


def _plain_or(store: Store, words: list[str], filt: SearchFilter, limit: int) -> list[float]:
    """The scores of the plain FTS5 ``OR`` query: what the pruned ranking must reproduce."""
    import sqlalchemy as sa

    from paperfeed.store.schema import papers
    from paperfeed.store.search import fts_string

    match = " OR ".join(fts_string(w) for w in words)
    clauses = store.search.filter_clauses(filt)
    query = (
        sa.select(sa.literal_column("-bm25(papers_fts, 2.0, 1.0, 1.0)"))
        .select_from(sa.table("papers_fts"))
        .join(papers, papers.c.doc_id == sa.literal_column("papers_fts.rowid"))
        .where(sa.literal_column("papers_fts").op("MATCH")(match), *clauses)
        .order_by(sa.literal_column("bm25(papers_fts, 2.0, 1.0, 1.0)"))
        .limit(limit)
    )
    with store.reading() as conn:
        return [float(s) for s in conn.execute(query).scalars()]


@pytest.mark.parametrize("demo_store", ["sqlite"], indirect=True)
@pytest.mark.parametrize("budget", [10, 300])
def test_pruned_bm25_equals_the_plain_or_query(
    demo_store: Store, budget: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite skips papers that hold only common words once they cannot reach the top k
    (store/search.py, _TopK): the scores must be exactly those of the plain OR query, for
    short and long queries, small and large k, with and without filters. The demo set is
    small, so the first step's row budget is lowered to make the pruning happen."""
    assert demo_store.backend == "sqlite"  # FTS5's; PostgreSQL ranks its own candidates
    import random

    from paperfeed.store import search as search_module

    monkeypatch.setattr(search_module, "ESSENTIAL_BUDGET", budget)
    pruned = 0
    score_holding = search_module._TopK._score_holding

    def counting(self: search_module._TopK, essential: list[str]) -> None:
        nonlocal pruned
        pruned += len(essential) < len(self.terms)
        score_holding(self, essential)

    monkeypatch.setattr(search_module._TopK, "_score_holding", counting)

    rng = random.Random(5)
    with demo_store.reading() as conn:
        import sqlalchemy as sa

        from paperfeed.store.schema import papers

        texts = [f"{t} {a}" for t, a in conn.execute(sa.select(papers.c.title, papers.c.abstract))]
    vocabulary = sorted({w for text in texts for w in re.findall(r"[A-Za-z]{3,}", text)})
    common = ["learning", "model", "network", "neural", "with", "data", "using", "results"]
    cases = 0
    for _ in range(150):
        words = rng.sample(vocabulary, rng.randint(1, 6)) + rng.sample(common, rng.randint(0, 3))
        words += rng.sample(words, min(len(words), rng.randint(0, 2)))  # typed twice: twice
        filt = rng.choice(
            [NONE, SearchFilter(categories=["cs"]), SearchFilter(since=date(2022, 1, 1))]
        )
        for limit in (1, 5, 20, 100):
            got = [score for _, score in demo_store.search.keyword(words, filt, limit)]
            want = _plain_or(demo_store, words, filt, limit)
            assert got == pytest.approx(want, rel=1e-9, abs=1e-12), (words, filt, limit)
            cases += bool(want)
    assert cases > 300  # most draws found something
    assert pruned > 100  # and the pruning ran, not only the plain query


@pytest.mark.parametrize("engine", ENGINES)
def test_keyword_pages_rank_down_to_the_page_and_count_the_rest(
    demo_store: Store, engine: str, tmp_path: Path
) -> None:
    """A keyword results page ranks only as deep as itself; its total is the number of
    matching papers (at most MAX_RESULTS), and consecutive pages continue one ranking."""
    from paperfeed.search import Searcher
    from paperfeed.search.engine import MAX_RESULTS
    from paperfeed.settings import Settings

    settings = Settings.from_env({}, keyword_engine=engine, search_index_dir=str(tmp_path))
    searcher = Searcher(demo_store, settings=settings)
    query = "neural network"
    first = searcher.search(query, mode="keyword", page=1, page_size=5)
    second = searcher.search(query, mode="keyword", page=2, page_size=5)
    whole = ids(ranker(demo_store, engine, tmp_path / "other")(["neural", "network"], NONE, 10))
    assert [h.paper.arxiv_id for h in first.hits + second.hits] == whole
    matches = demo_store.search.keyword_count(["neural", "network"], NONE)
    assert matches > 10 and first.total == second.total == min(matches, MAX_RESULTS)
    rare = searcher.search("hebbian", mode="keyword", page_size=5)
    assert rare.total == demo_store.search.keyword_count(["hebbian"], NONE)
