"""The loader on both backends: idempotent, resumable, strict or forgiving, never half-written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from paperfeed.ingest import ImportStopped, import_files
from paperfeed.ingest.errors import RecordError
from paperfeed.ingest.files import InputFile
from paperfeed.ingest.loader import _read_arxiv
from paperfeed.models import IngestRecord
from paperfeed.store import Store

SAMPLE_SIZE = 1000


def make_record(i: int, **fields: object) -> dict[str, object]:
    record: dict[str, object] = {
        "id": f"2503.{i:05d}",
        "title": f"Paper number {i}",
        "abstract": f"Abstract of paper {i}.",
        "authors": ["Ada Lovelace", "Alan Turing"],
        "categories": ["cs.LG"],
        "comment": None,
        "first_seen": f"2025-03-{18 + i % 3}",
    }
    record.update(fields)
    return record


def write_jsonl(path: Path, records: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


@pytest.fixture
def sample_1k() -> Path:
    from conftest import shared_data

    return shared_data("arxiv/sample-1k.jsonl")


def test_real_sample_imports_and_rerun_changes_nothing(store: Store, sample_1k: Path) -> None:
    first = import_files(store, "jsonl", [sample_1k])
    assert (first.read, first.inserted, first.bad) == (SAMPLE_SIZE, SAMPLE_SIZE, 0)
    assert first.feed_entries_added == SAMPLE_SIZE
    second = import_files(store, "jsonl", [sample_1k])
    assert second.files_already_done == 1 and second.inserted == 0
    third = import_files(store, "jsonl", [sample_1k], resume=False)
    assert (third.read, third.unchanged, third.inserted, third.updated) == (
        SAMPLE_SIZE,
        SAMPLE_SIZE,
        0,
        0,
    )
    assert store.stats().tables["papers"] == SAMPLE_SIZE


def test_bad_records_are_skipped_counted_and_reported(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "mixed.jsonl",
        [make_record(1), "{not json", make_record(2, title=None), make_record(3)],
    )
    warnings: list[str] = []
    summary = import_files(store, "jsonl", [path], warn=warnings.append)
    assert (summary.inserted, summary.bad) == (2, 2)
    assert warnings[0].startswith(f"{path}:2: malformed JSON")
    assert warnings[1] == f"{path}:3: missing field 'title'"


def test_strict_stops_without_a_half_written_batch(store: Store, tmp_path: Path) -> None:
    records: list[object] = [make_record(i) for i in range(1, 8)]
    records.insert(5, make_record(99, first_seen="someday"))  # line 6
    path = write_jsonl(tmp_path / "strict.jsonl", records)
    with pytest.raises(ImportStopped, match=r"strict.jsonl:6: field 'first_seen'"):
        import_files(store, "jsonl", [path], strict=True, batch_size=2)
    # batches of 2: lines 1-2 and 3-4 are committed; line 5's batch is not
    assert store.stats().tables["papers"] == 4
    assert store.get_paper("2503.00005") is None


def test_duplicate_ids_in_a_file(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "dups.jsonl",
        [make_record(1, title="First"), make_record(2), make_record(1, title="Second")],
    )
    warnings: list[str] = []
    summary = import_files(store, "jsonl", [path], warn=warnings.append)
    assert summary.duplicates == 1
    assert warnings == [
        f"{path}:3: duplicate id 2503.00001 (first at {path}:1); "
        "the later record is applied as an update"
    ]
    stored = store.get_paper("2503.00001")
    assert stored is not None and stored.title == "Second"
    with pytest.raises(ImportStopped, match="duplicate id"):
        import_files(store, "jsonl", [path], strict=True, resume=False)


def test_newer_version_updates_older_is_ignored(store: Store, tmp_path: Path) -> None:
    import_files(
        store, "jsonl", [write_jsonl(tmp_path / "a.jsonl", [make_record(1, id="2503.00001v2")])]
    )
    older = import_files(
        store,
        "jsonl",
        [write_jsonl(tmp_path / "b.jsonl", [make_record(1, id="2503.00001v1", title="v1")])],
    )
    newer = import_files(
        store,
        "jsonl",
        [write_jsonl(tmp_path / "c.jsonl", [make_record(1, id="2503.00001v3", title="v3")])],
    )
    assert (older.older, newer.updated) == (1, 1)
    stored = store.get_paper("2503.00001")
    assert stored is not None and (stored.title, stored.version) == ("v3", 3)


class Interrupted(Exception):
    pass


def interrupting_reader(after: int):  # type: ignore[no-untyped-def]
    """The JSONL reader, killed (like Ctrl-C) after ``after`` records."""

    def read(input_file: InputFile, skip: int) -> Iterator[tuple[int, IngestRecord | RecordError]]:
        for count, item in enumerate(_read_arxiv(input_file, skip), start=1):
            if count > after:
                raise Interrupted
            yield item

    return read


def test_interrupted_import_resumes_where_it_stopped(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "big.jsonl", [make_record(i) for i in range(1, 51)])
    with pytest.raises(Interrupted):
        import_files(store, "jsonl", [path], batch_size=10, reader=interrupting_reader(25))
    assert store.stats().tables["papers"] == 20  # two whole batches, nothing of the third
    resumed = import_files(store, "jsonl", [path], batch_size=10)
    assert resumed.resumed_at == {str(path): 20}
    assert (resumed.read, resumed.inserted, resumed.unchanged) == (30, 30, 0)
    assert store.stats().tables["papers"] == 50
    assert store.stats().tables["feed_entries"] == 50


def test_changed_file_is_read_again(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "grow.jsonl", [make_record(1)])
    import_files(store, "jsonl", [path])
    write_jsonl(path, [make_record(1), make_record(2)])
    summary = import_files(store, "jsonl", [path])
    assert (summary.unchanged, summary.inserted) == (1, 1)


def test_hf_daily_dump_and_api_response(store: Store, tmp_path: Path) -> None:
    line = {
        "date": "2025-11-06",
        "rank_in_day": 1,
        "id": "2511.03276",
        "title": "Diffusion Language Models are Super Data Learners",
        "summary": "We ...",
        "authors": ["Jinjie Ni", "Qian Liu"],
        "published_at": "2025-11-05T08:17:42.000Z",
        "upvotes": 41,
        "submitted_by": "jinjieni",
    }
    dump = write_jsonl(tmp_path / "hf.jsonl", [line])
    summary = import_files(store, "hf-daily", [dump])
    assert (summary.inserted, summary.feed_entries_added) == (1, 1)
    stored = store.get_paper("2511.03276")
    assert stored is not None and stored.upvotes == 41 and stored.categories is None
    later = write_jsonl(tmp_path / "hf2.jsonl", [{**line, "upvotes": 50}])
    assert import_files(store, "hf-daily", [later]).upvotes_changed == 1
    stored = store.get_paper("2511.03276")
    assert stored is not None and stored.upvotes == 50
    detail = store.paper_detail("2511.03276")
    assert detail is not None and detail.submitted_by == "jinjieni"


def test_recorded_hf_responses_and_dump_import(store: Store) -> None:
    from conftest import shared_data

    raw = sorted(shared_data("hf-daily/raw").glob("*.json"))
    summary = import_files(store, "hf-daily", raw)
    assert summary.bad == 0 and summary.inserted == summary.read > 0
    assert store.inconsistent_upvote_counts() == []


def test_demo_set_loads_with_the_seed_papers(store: Store) -> None:
    from paperfeed.cli import DEMO_DIR

    import_files(store, "jsonl", sorted(DEMO_DIR.glob("arxiv-*.jsonl.gz")))
    summary = import_files(store, "hf-daily", sorted(DEMO_DIR.glob("hf-daily-*.jsonl.gz")))
    assert summary.bad == 0
    stats = store.stats()
    assert 2000 <= stats.tables["papers"] <= 5000
    grokking = store.get_paper("2310.06110")
    assert grokking is not None
    assert grokking.title == "Grokking as the Transition from Lazy to Rich Training Dynamics"
    assert len(grokking.authors) == 4
    flow = store.get_paper("2408.14608")
    assert flow is not None and flow.upvotes == 2
