"""The tantivy keyword index as a derived copy of the papers: built, kept in step, resumed
after an interruption, rebuilt when it belongs to another database or format, shared with
another process's writer, and replaced by the database's ranking until it is ready."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import tantivy

from paperfeed.models import IngestRecord, Paper, SearchFilter
from paperfeed.search import Searcher
from paperfeed.search import keyword as keyword_module
from paperfeed.search.keyword import META, KeywordIndex, default_directory
from paperfeed.settings import Settings
from paperfeed.store import Store

NONE = SearchFilter()


def papers(n: int, word: str = "grokking", start: int = 0) -> list[IngestRecord]:
    return [
        IngestRecord(
            Paper(
                arxiv_id=f"2501.{i:05d}",
                title=f"On {word} number {i}",
                abstract=f"Paper {i} studies {word} in networks.",
                authors=["Ada Lovelace", f"Author {i}"],
                categories=["cs.LG"],
                version=1,
                published=datetime(2025, 1, 1) + timedelta(days=i),
            ),
            "test",
            f"t:{i}",
        )
        for i in range(start, start + n)
    ]


def found(index: KeywordIndex, words: list[str], limit: int = 100) -> list[str] | None:
    result = index.search(words, NONE, limit)
    return None if result is None else [pid for pid, _ in result[0]]


def test_built_then_kept_in_step(store: Store, tmp_path: Path) -> None:
    store.write_batch(papers(30))
    index = KeywordIndex(store, tmp_path / "k", check_every=0.0)
    assert len(found(index, ["grokking"]) or []) == 30
    store.write_batch(papers(5, word="memorisation", start=100))
    assert len(found(index, ["memorisation"]) or []) == 5  # the next search brings them in
    ranking, count = index.search(["grokking", "memorisation"], NONE, 3) or ([], 0)
    assert len(ranking) == 3 and count == 35
    assert index.stats()["papers"] == 35 and index.stats()["complete"]


def test_an_interrupted_build_resumes(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keyword_module, "BATCH", 10)
    monkeypatch.setattr(keyword_module, "OVERLAP", timedelta(0))  # the resume point exactly
    store.write_batch(papers(35))

    def stop_after_first_commit(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        KeywordIndex(store, tmp_path / "k").sync(progress=stop_after_first_commit)
    meta = json.loads((tmp_path / "k" / META).read_text())
    assert meta["complete"] is False and meta["synced_to"]  # one batch committed
    resumed = KeywordIndex(store, tmp_path / "k")
    assert resumed.sync() == 25  # the rest, not the first batch again
    assert len(found(resumed, ["grokking"]) or []) == 35


def test_the_copy_of_another_database_or_format_is_rebuilt(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Store.open(database_url)
    first.write_batch(papers(3))
    KeywordIndex(first, tmp_path / "k").sync()
    other_url = database_url.replace(".sqlite3", "-other.sqlite3")
    if first.backend == "postgresql":
        pytest.skip("one database per test on PostgreSQL; the key check is the same code")
    other = Store.open(other_url)
    other.migrate()
    other.write_batch(papers(2, word="memorisation"))
    moved = KeywordIndex(other, tmp_path / "k")  # the same folder, another database
    assert found(moved, ["grokking"]) == [] and len(found(moved, ["memorisation"]) or []) == 2
    # A damaged or older-format meta file: rebuilt, not trusted.
    (tmp_path / "k" / META).write_text("{not json")
    assert len(found(KeywordIndex(other, tmp_path / "k"), ["memorisation"]) or []) == 2
    monkeypatch.setattr(keyword_module, "FORMAT", keyword_module.FORMAT + 1)
    assert len(found(KeywordIndex(other, tmp_path / "k"), ["memorisation"]) or []) == 2
    first.close()
    other.close()


def test_another_process_writing_is_not_waited_for(store: Store, tmp_path: Path) -> None:
    store.write_batch(papers(3))
    index = KeywordIndex(store, tmp_path / "k", check_every=0.0)
    assert len(found(index, ["grokking"]) or []) == 3
    # Another process holds the writer lock of the same folder (here: another handle).
    other = tantivy.Index(keyword_module._schema(), path=str(tmp_path / "k"))
    held = other.writer(heap_size=15_000_000, num_threads=1)
    store.write_batch(papers(2, word="memorisation", start=50))
    assert found(index, ["memorisation"]) == []  # not synced, but answered at once
    assert len(found(index, ["grokking"]) or []) == 3
    held.wait_merging_threads()  # the other writer is done
    index._seen_change = None  # (the next change would trigger this anyway)
    assert len(found(index, ["memorisation"]) or []) == 2


def test_search_works_while_the_index_is_built(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keyword_module, "INLINE_MAX", 0)  # every build in the background
    store.write_batch(papers(20))
    settings = Settings.from_env({}, search_index_dir=str(tmp_path))
    searcher = Searcher(store, settings=settings)
    assert searcher.keyword_index is not None
    gate = keyword_module.KeywordIndex._write_changes
    started = __import__("threading").Event()
    release = __import__("threading").Event()

    def slow(self: KeywordIndex, *args: object) -> int:
        started.set()
        release.wait(30)
        return gate(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(keyword_module.KeywordIndex, "_write_changes", slow)
    results = searcher.search("grokking", mode="keyword")
    assert started.wait(10)
    assert results.total == 20  # ranked by the database meanwhile
    assert searcher.status()["keyword"].startswith("database")
    release.set()
    background = searcher.keyword_index._background
    assert background is not None
    background.join(30)
    assert searcher.status() == {"keyword": "tantivy"}
    assert searcher.search("grokking", mode="keyword").total == 20


@pytest.mark.parametrize(
    "text",
    [
        "x" * 10_000,
        "$\\mathcal{O}(n^2)$ \\cite{a}",
        "Schrödinger Ærø ﬁnite",
        "🙂 模型 学习",
        "'; DROP TABLE papers; --",
        'NEAR( "a b" ) AND OR NOT * ^ title: +-',
        "\x00\x1f",
    ],
)
def test_hostile_text_is_text(store: Store, tmp_path: Path, text: str) -> None:
    store.write_batch(papers(2))
    index = KeywordIndex(store, tmp_path / "k")
    assert index.search([text], NONE, 5) is not None
    filt = SearchFilter(phrases=(text,), excluded=(text,), authors=(text,), categories=(text,))
    assert index.search(["grokking", text], filt, 5) is not None


def test_accents_fold_and_words_stem(store: Store, tmp_path: Path) -> None:
    record = papers(1)[0]
    paper = Paper(
        **{**record.paper.__dict__, "title": "Schrödinger bridges", "authors": ["Jörg Müller"]}
    )
    store.write_batch([IngestRecord(paper, "test", "t:x")])
    index = KeywordIndex(store, tmp_path / "k")
    assert found(index, ["schrodinger"]) == ["2501.00000"]
    assert found(index, ["bridge"]) == ["2501.00000"]  # stemmed
    by_author = index.search(["bridges"], SearchFilter(authors=("jorg muller",)), 5)
    assert by_author is not None and [pid for pid, _ in by_author[0]] == ["2501.00000"]


def test_where_the_copy_lives(store: Store, tmp_path: Path) -> None:
    directory = default_directory(store, tmp_path / "data")
    if store.backend == "sqlite":
        database = Path(str(store.engine.url.database))
        assert directory == database.with_name(database.name + ".search")
    else:  # one folder per database, named by a key stored in it
        assert directory is not None and directory.parent == tmp_path / "data" / "search"
        assert directory == default_directory(store, tmp_path / "data")
    configured = default_directory(store, tmp_path / "data", str(tmp_path / "elsewhere"))
    assert configured is not None and configured.parent == tmp_path / "elsewhere"


def test_damaged_index_files_are_rebuilt(store: Store, tmp_path: Path) -> None:
    store.write_batch(papers(4))
    KeywordIndex(store, tmp_path / "k").sync()
    (tmp_path / "k" / "meta.json").write_text("garbage")  # tantivy's own file
    assert len(found(KeywordIndex(store, tmp_path / "k"), ["grokking"]) or []) == 4
    # An index of another schema under a meta file that claims to be current.
    KeywordIndex(store, tmp_path / "k2")._open()
    for path in (tmp_path / "k2").iterdir():
        if path.name != META:
            path.unlink()
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("other")
    tantivy.Index(builder.build(), path=str(tmp_path / "k2"))
    assert len(found(KeywordIndex(store, tmp_path / "k2"), ["grokking"]) or []) == 4


def test_the_database_is_looked_at_once_a_second_at_most(store: Store, tmp_path: Path) -> None:
    """A look for changes costs a query; searches in between use the copy as it is."""
    store.write_batch(papers(2))
    index = KeywordIndex(store, tmp_path / "k", check_every=3600.0)
    assert len(found(index, ["grokking"]) or []) == 2
    store.write_batch(papers(1, word="memorisation", start=9))
    assert found(index, ["memorisation"]) == []  # not looked yet
    index.check_every = 0.0
    assert found(index, ["memorisation"]) == ["2501.00009"]


def test_warm_up_builds_the_index_and_loads_the_vectors(demo_store: Store, tmp_path: Path) -> None:
    settings = Settings.from_env({}, search_index_dir=str(tmp_path))
    searcher = Searcher(demo_store, settings=settings)
    assert searcher.keyword_index is not None and not searcher.keyword_index.ready
    searcher.warm_up()
    assert searcher.status() == {"keyword": "tantivy"}
    assert searcher.keyword_index.stats()["papers"] == demo_store.stats().tables["papers"]
    if searcher.semantic.index is not None:  # SQLite: the vectors are in memory
        assert len(searcher.semantic.index) > 0 and searcher.semantic.index._ready


def test_new_papers_between_looks_are_not_a_count_mismatch(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The count check runs only when the copy is up to date: papers written since the last
    sync are synced, not taken for missed ones (which would rebuild the whole copy)."""
    monkeypatch.setattr(keyword_module, "RECHECK_SECONDS", 0.0)
    store.write_batch(papers(3))
    index = KeywordIndex(store, tmp_path / "k", check_every=0.0)
    assert len(found(index, ["grokking"]) or []) == 3
    for start in (10, 20, 30):
        store.write_batch(papers(2, word="memorisation", start=start))
        assert len(found(index, ["memorisation"]) or []) == start // 10 * 2
    assert "rebuilding" not in caplog.text
    # A paper the copy missed: committed late, with a modified_at older than what the copy
    # has seen (the latest change looks the same); the count check finds it, the copy is
    # built again.
    store.write_batch(papers(1, word="latecomer", start=90))
    with store.writing() as conn:
        conn.exec_driver_sql(
            "UPDATE papers SET modified_at = '2000-01-01 00:00:00' WHERE arxiv_id = '2501.00090'"
        )
    assert found(index, ["latecomer"]) == ["2501.00090"]
    assert "rebuilding" in caplog.text
