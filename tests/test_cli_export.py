"""`paperfeed export bibtex` as a user runs it: a real process, real databases, and the
output read back by bibtexparser."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import bibtexparser

from paperfeed.models import IngestRecord, Paper
from paperfeed.store import Store
from test_cli import paperfeed

DAY = date(2025, 3, 18)


def _records() -> list[IngestRecord]:
    titles = {
        "2503.00001": "Grokking {modular} arithmetic: 100% & $x^2$",
        "2503.00002": "Grokking again, with #hashtags_and_underscores",
        "2503.00003": "Spin glasses in cond-mat",
    }
    return [
        IngestRecord(
            Paper(
                arxiv_id=arxiv_id,
                title=title,
                abstract="Grokking is delayed generalisation.",
                authors=["Ada Lovelace-Müller", "Søren Kierkegaard"],
                categories=["cs.LG"] if number < 3 else ["cond-mat.dis-nn"],
                published=datetime(2025, 3, 17),
                first_seen=datetime(2025, 3, 18),
            ),
            "test",
            f"test:{number}",
            feed_day=DAY,
            upvotes=10 * number,
        )
        for number, (arxiv_id, title) in enumerate(titles.items(), start=1)
    ]


def _parse(text: str) -> dict[str, dict[str, str]]:
    library = bibtexparser.parse_string(text)
    assert library.failed_blocks == []
    return {e.key: {f.key: f.value for f in e.fields} for e in library.entries}


def test_export_bibtex(store: Store, tmp_path: Path) -> None:
    store.write_batch(_records())
    url = store.url
    day = paperfeed("export", "bibtex", "--day", DAY.isoformat(), url=url).stdout
    entries = _parse(day)
    assert [fields["eprint"] for fields in entries.values()] == [
        "2503.00003",  # most upvoted first, as on the day's page
        "2503.00002",
        "2503.00001",
    ]
    # Two "lovelacemuller2025grokking"s: the later one gets a letter.
    assert list(entries) == [
        "lovelacemuller2025spin",
        "lovelacemuller2025grokking",
        "lovelacemuller2025grokkingb",
    ]
    first = entries["lovelacemuller2025grokkingb"]
    assert first["title"] == (
        r"Grokking \textbraceleft{}modular\textbraceright{} arithmetic: 100\% \& {$x^2$}"
    )
    assert first["author"] == "Ada Lovelace-Müller and Søren Kierkegaard"

    output = tmp_path / "grokking.bib"
    written = paperfeed(
        "export",
        "bibtex",
        "--search",
        "cat:cs.LG",
        "--limit",
        "1",
        "--output",
        str(output),
        url=url,
    )
    assert written.stdout == "" and f"wrote 1 entries to {output}" in written.stderr
    assert [f["eprint"] for f in _parse(output.read_text(encoding="utf-8")).values()] == [
        "2503.00002"  # newest first; a tie on the date goes to the larger id
    ]
    hybrid = paperfeed("export", "bibtex", "--search", "grokking arithmetic", url=url).stdout
    assert "2503.00001" in {f["eprint"] for f in _parse(hybrid).values()}


def test_export_bibtex_errors(store: Store) -> None:
    url = store.url
    for args in ([], ["--day", "2025-03-18", "--search", "x"]):
        refused = paperfeed("export", "bibtex", *args, url=url, check=False)
        assert refused.returncode == 2 and "give either --day or --search" in refused.stderr
    bad = paperfeed("export", "bibtex", "--search", '"unclosed', url=url, check=False)
    assert bad.returncode == 2 and "bad query: a quote is not closed" in bad.stderr
    empty = paperfeed("export", "bibtex", "--day", "2001-01-01", url=url, check=False)
    assert empty.returncode == 1
    assert "nothing to export: no papers on the feed for 2001-01-01" in empty.stderr
