"""`paperfeed search`, `paperfeed index` and `paperfeed eval` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli import paperfeed


def test_search_and_index_commands(database_url: str, tmp_path: Path) -> None:
    paperfeed("db", "upgrade", url=database_url)
    loaded = paperfeed("import", "demo", url=database_url)
    assert "embeddings: 2," in loaded.stdout  # the demo ships its vectors
    assert "0 papers new or changed" in paperfeed("index", "--dry-run", url=database_url).stdout
    text = paperfeed(
        "search",
        "dense hebbian replica symmetric supervised",
        "--mode",
        "keyword",
        url=database_url,
    )
    assert text.stdout.startswith(" 1. Dense Hebbian neural networks")
    assert "2212.00606" in text.stdout and "results (keyword)" in text.stdout
    hybrid = paperfeed("search", "hebbian learning", "--json", "--limit", "3", url=database_url)
    data = json.loads(hybrid.stdout)
    assert data["mode"] == "hybrid" and len(data["papers"]) == 3
    bad = paperfeed("search", 'spin "glass', url=database_url, check=False)
    assert bad.returncode == 2 and "bad query: a quote is not closed" in bad.stderr
    index = paperfeed("index", url=database_url, env={"PAPERFEED_DATA_DIR": str(tmp_path)})
    assert "index: 0 papers new or changed" in index.stdout
    # and the recommender's features, kept in their file for the servers and the digest
    assert "recommender features: 2," in index.stdout and "(ready)" in index.stdout
    kept = index.stdout.split("(ready) in ")[1].split()[0]
    assert Path(kept).is_file() and kept.endswith(".npz")
    assert "last index:" in paperfeed("stats", url=database_url).stdout


def write_beir(folder: Path) -> None:
    docs = {
        "d1": ("Grokking", "Networks generalize long after memorizing modular arithmetic."),
        "d2": ("Spin glasses", "The replica method computes the free energy of disorder."),
        "d3": ("Protein folding", "Attention predicts protein structure from sequence."),
        "d4": ("Bread", "Flour, water and salt."),
    }
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w") as out:
        for doc_id, (title, text) in docs.items():
            out.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    queries = {"q1": "late generalization after memorization", "q2": "how proteins fold"}
    with (folder / "queries.jsonl").open("w") as out:
        for qid, text in queries.items():
            out.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n")
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq2\td3\t1\n")


def test_eval_on_a_beir_folder(tmp_path: Path) -> None:
    write_beir(tmp_path / "mini")
    cache = tmp_path / "vectors.npz"
    args = ("eval", "scifact", str(tmp_path / "mini"), "--json", "--vectors", str(cache))
    result = json.loads(paperfeed(*args, "--tune-on", "train").stdout)
    assert result["documents"] == 4 and result["queries"] == 2
    assert result["rankers"]["semantic"]["ndcg@10"] == 1.0  # both found first
    assert 0 < result["rankers"]["keyword"]["recall@100"] <= 1.0
    assert result["tuned"]["ndcg@10"] > 0 and cache.is_file()
    again = json.loads(paperfeed(*args).stdout)  # the cached vectors give the same figures
    assert again["rankers"]["semantic"] == {
        **result["rankers"]["semantic"],
        "p50_ms": again["rankers"]["semantic"]["p50_ms"],
    }
    missing = paperfeed("eval", "beir", str(tmp_path / "mini"), "--split", "dev", check=False)
    assert missing.returncode == 1 and "qrels/dev.tsv: no such file" in missing.stderr
