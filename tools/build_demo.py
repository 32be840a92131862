"""Build the bundled demo data set (src/paperfeed/demo/) from ../shared/data.

Run from the repository root: `python tools/build_demo.py`. Deterministic: the same inputs give
byte-identical files (gzip mtime 0, sorted records). See src/paperfeed/demo/PROVENANCE.md.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "src" / "paperfeed" / "demo"

ARXIV_DAYS = ("2025-12-01", "2025-12-12")  # first_seen range taken from the arXiv corpus
HF_DAYS = ("2025-10-01", "2025-12-31")  # feed days taken from the Hugging Face dump
SEED_AUTHORS = ROOT / "tools" / "seed-authors.json"


def write_jsonl_gz(path: Path, rows: list[dict[str, object]]) -> None:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=9) as gz:
        for row in rows:
            gz.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
    path.write_bytes(buffer.getvalue())
    print(f"{path.relative_to(ROOT)}: {len(rows):,} records, {path.stat().st_size:,} bytes")


def arxiv_records() -> list[dict[str, object]]:
    rows = []
    for part in sorted((SHARED / "arxiv").glob("part-*.jsonl.gz")):
        with gzip.open(part, "rt", encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                if ARXIV_DAYS[0] <= record["first_seen"] <= ARXIV_DAYS[1]:
                    rows.append(record)
    return sorted(rows, key=lambda r: (r["first_seen"], r["id"]))


def hf_records() -> list[dict[str, object]]:
    rows = []
    with gzip.open(SHARED / "hf-daily" / "hf-daily.jsonl.gz", "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if HF_DAYS[0] <= record["date"] <= HF_DAYS[1]:
                rows.append(record)
    return sorted(rows, key=lambda r: (r["date"], r["rank_in_day"]))


def seed_records() -> list[dict[str, object]]:
    """The 34 seed papers in the shape of the Hugging Face dump, on their published day."""
    seed = json.loads((SHARED / "seed" / "seed-papers.json").read_text(encoding="utf-8"))
    authors = json.loads(SEED_AUTHORS.read_text(encoding="utf-8"))
    rows = []
    for paper in seed["papers"]:
        names = authors[paper["arxiv_id"]]["authors"]
        if len(names) != paper["n_authors"]:
            sys.exit(
                f"{paper['arxiv_id']}: {len(names)} author names, card says {paper['n_authors']}"
            )
        rows.append(
            {
                "date": paper["published"],
                "rank_in_day": paper["rank_on_page"],
                "id": paper["arxiv_id"],
                "title": paper["title"],
                "summary": paper["abstract"],
                "authors": names,
                "published_at": paper["published"] + "T00:00:00.000Z",
                "upvotes": paper["upvotes"],
                "num_comments": 0,
                "submitted_by": None,
            }
        )
    return sorted(rows, key=lambda r: (r["date"], r["id"]))


def main() -> None:
    if not SHARED.is_dir():
        sys.exit(f"{SHARED} not found: the demo is built from the shared data folder")
    OUT.mkdir(parents=True, exist_ok=True)
    write_jsonl_gz(OUT / "arxiv-2025-12.jsonl.gz", arxiv_records())
    write_jsonl_gz(OUT / "hf-daily-2025-q4.jsonl.gz", hf_records())
    write_jsonl_gz(OUT / "hf-daily-seed.jsonl.gz", seed_records())
    embed_demo()


def embed_demo() -> None:
    """Embed the demo papers the way `paperfeed index` does (after importing them the way
    `paperfeed import demo` does) and ship the vectors, as float16, with the data."""
    from paperfeed.ingest import import_files
    from paperfeed.search.embed import default_embedder
    from paperfeed.search.indexer import export_vectors, index_papers
    from paperfeed.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/demo.sqlite3")
        store.migrate()
        import_files(store, "jsonl", sorted(OUT.glob("arxiv-*.jsonl.gz")))
        import_files(store, "hf-daily", sorted(OUT.glob("hf-daily-*.jsonl.gz")))
        embedder = default_embedder()
        summary = index_papers(store, embedder)
        count = export_vectors(store, embedder.name, OUT / "embeddings.npz", dtype="float16")
        store.close()
    print(f"embeddings: {summary.line()}; {count:,} vectors written")


if __name__ == "__main__":
    main()
