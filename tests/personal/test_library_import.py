"""Library import: BibTeX, RIS, CSL-JSON and id lists read, references matched to the store
by arXiv id, DOI or title, broken entries reported with their line, nothing saved twice."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from paperfeed.models import IngestRecord, Paper
from paperfeed.personal import library_import as li
from paperfeed.personal.library_import import LibraryError, import_library, read_library
from paperfeed.store import Store

NOW = datetime(2026, 12, 1, 12)

BIBTEX = r"""
% Google Scholar, arXiv's own export, a DOI-only entry and a broken one
@article{scholar,
  title={Grokking: Generalization beyond overfitting on small algorithmic datasets},
  author={Power, Alethea and Burda, Yuri},
  journal={arXiv preprint arXiv:2501.00001},
  year={2022}
}

@misc{arxiv2,
      title={Statistical mechanics of {D}eep {L}earning},
      author={Bahri, Yasaman and Sch{\"o}nholz, Samuel},
      year={2020},
      eprint={2501.00002v3},
      archivePrefix={arXiv},
      primaryClass={cs.LG}
}

@article{bydoi, title = {Something else entirely}, doi = {10.1234/ABC.5}}

@article{broken, title = {Unclosed brace
@article{bytitle, title = {A Mean-Field Theory of Learning, Revisited!}}
@article{unknown, title = {Nobody has this paper}}
"""

RIS = """TY  - JOUR
TI  - Grokking: Generalization beyond overfitting on small algorithmic datasets
AU  - Power, Alethea
UR  - http://arxiv.org/abs/2501.00001v1
KW  - grokking
ER  -

TY  - JOUR
TI  - A mean-field theory of learning revisited
DO  - 10.48550/arXiv.2501.00004
ER  -

TY  - JOUR
TI  - Without an end
"""

CSL = [
    {"type": "article", "title": "Grokking", "number": "arXiv:2501.00001", "author": []},
    {"type": "article-journal", "title": "Something else entirely", "DOI": "10.1234/abc.5"},
    {
        "type": "article",
        "title": "Statistical mechanics of deep learning",
        "URL": "https://arxiv.org/abs/2501.00002",
        "author": [{"given": "Yasaman", "family": "Bahri"}],
    },
    "not an item",
]


def paper(i: int, title: str, *, doi: str | None = None) -> IngestRecord:
    return IngestRecord(
        Paper(
            arxiv_id=f"2501.{i:05d}",
            title=title,
            abstract=f"Abstract {i} about learning.",
            authors=["Ada Lovelace", "Alan Turing", f"Author {i}"],
            doi=doi,
            version=1,
        ),
        "test",
        f"t:{i}",
    )


@pytest.fixture
def library(store: Store) -> tuple[Store, int]:
    store.write_batch(
        [
            paper(1, "Grokking: Generalization Beyond Overfitting on Small Algorithmic Datasets"),
            paper(2, "Statistical mechanics of deep learning"),
            paper(3, "Something else entirely", doi="10.1234/abc.5"),
            paper(4, "A mean-field theory of learning, revisited"),
        ]
    )
    from paperfeed.community.auth import Accounts
    from paperfeed.settings import Settings

    accounts = Accounts(store, Settings.from_env({}), lambda: NOW)
    user = accounts.create("reader", "reader@example.org", None)
    return store, user.id


def run(store: Store, user_id: int, data: str | bytes, name: str) -> li.ImportReport:
    raw = data.encode() if isinstance(data, str) else data
    return import_library(
        store, user_id, raw, name, now=NOW, keyword=store.search.keyword, fetch=None
    )


def test_bibtex(library: tuple[Store, int]) -> None:
    store, user = library
    report = run(store, user, BIBTEX, "refs.bib")
    assert report.format == "bibtex" and report.references == 5  # + 1 unreadable
    assert [pid for _, pid in report.matched] == [
        "2501.00001",  # arXiv:… in the journal field
        "2501.00002",  # eprint, version dropped
        "2501.00003",  # DOI, any case
        "2501.00004",  # title: punctuation and case aside
    ]
    assert [p.where for p in report.unmatched] == ["line 23"]  # "Nobody has this paper"
    assert [p.where for p in report.problems] == ["line 21"]  # the unclosed brace
    assert "closing `}`" in report.problems[0].message
    assert report.saved == 4
    assert store.personal.saved_ids(user) == {f"2501.0000{i}" for i in range(1, 5)}
    assert ("Ada Lovelace", 4) in report.coauthors  # offered to follow
    again = run(store, user, BIBTEX, "refs.bib")
    assert again.saved == 0 and len(again.matched) == 4  # nothing saved twice


def test_ris_and_duplicates(library: tuple[Store, int]) -> None:
    store, user = library
    report = run(store, user, RIS + "\n" + RIS.split("\n\n")[0] + "\n", "zotero.ris")
    assert [pid for _, pid in report.matched] == ["2501.00001", "2501.00004"]
    assert report.duplicates == [("line 16", "2501.00001")]
    assert [p.message for p in report.problems] == ["reference without its end (ER)"]


def test_csl_json(library: tuple[Store, int]) -> None:
    store, user = library
    report = run(store, user, json.dumps(CSL), "zotero.json")
    assert [pid for _, pid in report.matched] == ["2501.00001", "2501.00003", "2501.00002"]
    assert [p.where for p in report.problems] == ["item 4"]


def test_id_lists_and_fetching(library: tuple[Store, int]) -> None:
    store, user = library
    text = "# my reading\n2501.00001\nhttps://arxiv.org/abs/2501.00002v2\nnonsense\n2512.99999\n"
    asked: list[list[str]] = []

    def fetch(ids: list[str]) -> dict[str, str]:  # what arxiv_fetcher answers
        asked.append(ids)
        return {}

    report = import_library(
        store, user, text.encode(), "ids.txt", now=NOW, keyword=store.search.keyword, fetch=fetch
    )
    assert [pid for _, pid in report.matched] == ["2501.00001", "2501.00002"]
    assert asked == [["2512.99999"]]
    assert [(p.where, p.message) for p in report.unmatched] == [
        ("line 5", "2512.99999: not found on arXiv")
    ]
    assert [p.where for p in report.problems] == ["line 4"]


def test_a_long_id_list_is_looked_up_in_batches(library: tuple[Store, int]) -> None:
    """1,500 arXiv ids (more than one query's worth): the four the store holds are matched,
    wherever they are in the list, the others left for arXiv."""
    store, user = library
    ids = [f"2502.{n:05d}" for n in range(1500)]
    for place, known in zip((0, 499, 500, 1499), range(1, 5), strict=True):
        ids[place] = f"2501.{known:05d}"
    report = run(store, user, "\n".join(ids) + "\n", "ids.txt")
    assert [(where, pid) for where, pid in report.matched] == [
        ("line 1", "2501.00001"),
        ("line 500", "2501.00002"),
        ("line 501", "2501.00003"),
        ("line 1500", "2501.00004"),
    ]
    assert len(report.unmatched) == 1496 and report.saved == 4


def test_whole_file_errors() -> None:
    with pytest.raises(LibraryError, match="at most 50 MB"):
        read_library(b" " * (li.MAX_BYTES + 1), "big.bib")
    with pytest.raises(LibraryError, match="not UTF-8"):
        read_library(b"\xff\xfe\x00junk", "x.bib")
    with pytest.raises(LibraryError, match="not valid JSON"):
        read_library(b"[{", "x.json")
    assert read_library(b"", "empty.bib")[1:] == ([], [])  # empty: nothing, no error


def test_hostile_and_odd_entries_are_data() -> None:
    text = "@article{x, title = {<script>alert(1)</script> $\\alpha$ \\emph{x}}, doi={10.1103/X.1}}"
    _, references, problems = read_library(text.encode(), "x.bib")
    assert not problems and references[0].doi == "10.1103/x.1"
    assert "<script>" in (references[0].title or "")  # kept as text; pages escape it


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("arXiv preprint arXiv:2310.06110", "2310.06110"),
        ("https://arxiv.org/pdf/2310.06110v2.pdf", "2310.06110"),
        ("10.48550/arXiv.2310.06110", "2310.06110"),
        ("arXiv:hep-th/9901001", "hep-th/9901001"),
        ("Phys. Rev. Lett. 2020", None),
    ],
)
def test_arxiv_ids_in_text(text: str, expected: str | None) -> None:
    assert li._arxiv_in([text]) == expected


def test_unknown_papers_are_fetched_from_arxiv(library: tuple[Store, int]) -> None:
    """Recorded arXiv API answers, served over HTTP to the real client; a half answer (the
    broken id) leaves the reference unmatched with the reason, the rest is saved."""
    from conftest import BROKEN_ID, arxiv_routes
    from fixture_server import FixtureServer
    from paperfeed.ingest.arxiv_api import ArxivClient

    store, user = library
    with (
        FixtureServer(*arxiv_routes()) as server,
        ArxivClient(server.url + "/api/query", min_interval=0.0, backoff=0.0) as client,
    ):
        fetch = li.arxiv_fetcher(store, client)
        report = import_library(
            store,
            user,
            b"1707.08567\n2501.00001\n",
            "ids.txt",
            now=NOW,
            keyword=store.search.keyword,
            fetch=fetch,
        )
        assert [pid for _, pid in report.fetched] == ["1707.08567"]
        stored = store.get_paper("1707.08567")
        assert stored is not None and stored.title.startswith("Proceedings of Workshop AEW10")
        assert store.personal.saved_ids(user) == {"1707.08567", "2501.00001"}
        broken = import_library(
            store,
            user,
            BROKEN_ID.encode(),
            "x.txt",
            now=NOW,
            keyword=store.search.keyword,
            fetch=fetch,
        )
        assert not broken.fetched and "arXiv could not be reached" in broken.unmatched[0].message
