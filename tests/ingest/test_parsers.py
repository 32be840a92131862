"""Pure parsing: bytes in, records or located errors out. No database."""

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperfeed.ingest import RecordError, SourceError, arxiv_jsonl, hf_daily
from paperfeed.ingest.files import InputFile, iter_json_array

GOOD = {
    "id": "2503.11677",
    "title": "Simulation of  prosthetic\nvision",
    "abstract": "Objective. Patients <b>implanted</b> & $x<y$.",
    "authors": ["Jungyeon Park", " Anna Kochnev  Goldstein "],
    "categories": ["cs.CV", "q-bio.NC"],
    "comment": None,
    "first_seen": "2025-03-18",
}


def write_lines(path: Path, lines: list[str], gz: bool = False) -> Path:
    data = "".join(line + "\n" for line in lines).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def read_all(path: Path) -> list[Any]:
    return [item for _, item in arxiv_jsonl.read(InputFile(path))]


def test_good_record_is_cleaned_but_keeps_text(tmp_path: Path) -> None:
    (record,) = read_all(write_lines(tmp_path / "a.jsonl", [json.dumps(GOOD)]))
    paper = record.paper
    assert paper.title == "Simulation of prosthetic vision"
    assert paper.abstract == GOOD["abstract"]  # escaping is the web layer's job
    assert paper.authors == ["Jungyeon Park", "Anna Kochnev Goldstein"]
    assert paper.primary_category == "cs.CV"
    assert str(record.feed_day) == "2025-03-18"


def test_gzip_is_detected_by_content(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.data", [json.dumps(GOOD)], gz=True)
    assert [r.paper.arxiv_id for r in read_all(path)] == ["2503.11677"]


def test_version_suffix_is_split(tmp_path: Path) -> None:
    (record,) = read_all(
        write_lines(tmp_path / "a.jsonl", [json.dumps({**GOOD, "id": "2503.11677v4"})])
    )
    assert (record.paper.arxiv_id, record.paper.version) == ("2503.11677", 4)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "2503.11677", "title": ', "malformed JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "title"}), "missing field 'title'"),
        (json.dumps({**GOOD, "title": "  "}), "field 'title' is empty"),
        (json.dumps({**GOOD, "first_seen": "2025-13-45"}), "not a valid date"),
        (json.dumps({**GOOD, "id": "not-an-id"}), "is not an arXiv id"),
        (json.dumps({**GOOD, "authors": "A. Person"}), "'authors' must be a list"),
        (json.dumps({**GOOD, "authors": [1]}), "item 0 of 'authors' must be a string"),
        (json.dumps({**GOOD, "abstract": "x" * 20_001}), "limit 20,000"),
        (json.dumps({**GOOD, "abstract": "a\u0000b"}), "NUL character"),
        (json.dumps({**GOOD, "version": -1}), "non-negative integer"),
    ],
)
def test_bad_lines_give_located_errors(tmp_path: Path, line: str, message: str) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [json.dumps(GOOD), line])
    first, second = read_all(path)
    assert not isinstance(first, RecordError)
    assert isinstance(second, RecordError)
    assert second.location == f"{path}:2"
    assert message in str(second)


def test_invalid_utf8_is_a_record_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n\xff\xfe{}\n")
    assert "not UTF-8" in str(read_all(path)[1])


def test_truncated_gzip_stops_with_the_place(tmp_path: Path) -> None:
    data = gzip.compress(("\n".join([json.dumps(GOOD)] * 2000) + "\n").encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match=r"cut.jsonl.gz: line \d+: cannot read further"):
        read_all(path)


def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"nope\.jsonl: cannot read"):
        InputFile(tmp_path / "nope.jsonl")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(record=st.fixed_dictionaries({}, optional={k: json_values for k in GOOD}))
def test_any_json_object_parses_or_gives_a_record_error(record: dict[str, Any]) -> None:
    try:
        parsed = arxiv_jsonl.parse_record(record, "x:1")
    except RecordError as exc:
        assert exc.location == "x:1"
    else:
        assert parsed.paper.title and parsed.feed_day is not None


# -- Hugging Face ---------------------------------------------------------------------------

API_ITEM = {
    "paper": {
        "id": "2405.15738",
        "authors": [{"_id": "1", "name": "Chunjiang Ge"}, {"_id": "2", "name": "Sijie Cheng"}],
        "publishedAt": "2024-05-24T17:34:15.000Z",
        "title": "ConvLLaVA",
        "summary": "High-resolution LMMs <script>alert(1)</script>",
        "upvotes": 32,
    },
    "publishedAt": "2024-05-27T03:50:58.348Z",
    "title": "ConvLLaVA: Hierarchical Backbones",
    "submittedBy": {"name": "akhaliq", "fullname": "AK"},
    "numComments": 3,
}


@pytest.mark.parametrize("indent", [None, 2])
def test_api_array_is_streamed(tmp_path: Path, indent: int | None) -> None:
    other = {**API_ITEM, "paper": {**API_ITEM["paper"], "id": "2405.00001", "upvotes": 0}}
    path = tmp_path / "2024-05-27.json"
    path.write_text(json.dumps([API_ITEM, other], indent=indent))
    records = [r for _, r in hf_daily.read(InputFile(path))]
    first = records[0]
    assert first.paper.title == "ConvLLaVA: Hierarchical Backbones"  # top-level title wins
    assert first.paper.authors == ["Chunjiang Ge", "Sijie Cheng"]
    assert first.upvotes == 32 and records[1].upvotes == 0
    assert str(first.feed_day) == "2024-05-27"
    assert first.submitted_by == "akhaliq"
    assert str(first.paper.published) == "2024-05-24 17:34:15"


def test_api_array_item_errors_are_located_and_skippable(tmp_path: Path) -> None:
    path = tmp_path / "day.json"
    bad = {**API_ITEM, "paper": {**API_ITEM["paper"], "id": "nope"}}
    path.write_text(json.dumps([bad, API_ITEM], indent=2))
    first, second = [r for _, r in hf_daily.read(InputFile(path))]
    assert isinstance(first, RecordError) and "(item 1)" in str(first) and ":2 " in str(first)
    assert second.paper.arxiv_id == "2405.15738"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"paper": {"id": "2405.15738"}}, {"paper": ', "not closed"),
        ('{"paper": {}}', "expected a JSON array"),
        ('[{"a": 1} {"b": 2}]', "malformed JSON"),
        ('[{"a": 1}] [', "unexpected data after the array"),
    ],
)
def test_broken_arrays_stop_with_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(SourceError, match=message):
        list(iter_json_array(InputFile(path)))


@given(
    items=st.lists(st.dictionaries(st.text(max_size=4), json_values, max_size=3), max_size=5),
    indent=st.none() | st.integers(0, 3),
)
@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_json_array_streaming_matches_json_loads(
    tmp_path: Path, items: list[Any], indent: int | None
) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps(items, indent=indent))
    assert [item for _, item in iter_json_array(InputFile(path))] == items


def test_explicit_date_overrides_the_feed_day(tmp_path: Path) -> None:
    from datetime import date

    path = tmp_path / "x.json"
    path.write_text(json.dumps([API_ITEM]))
    (record,) = [r for _, r in hf_daily.read(InputFile(path), day=date(2024, 6, 1))]
    assert str(record.feed_day) == "2024-06-01"


def test_recorded_api_responses_parse(shared_raw: list[Path]) -> None:
    for path in shared_raw:
        records = [r for _, r in hf_daily.read(InputFile(path))]
        assert records and not [r for r in records if isinstance(r, RecordError)]
        assert all(str(r.feed_day) == path.stem for r in records)
        assert all(r.paper.title and r.paper.authors for r in records)


@pytest.fixture
def shared_raw() -> list[Path]:
    from conftest import shared_data

    return sorted(shared_data("hf-daily/raw").glob("*.json"))
