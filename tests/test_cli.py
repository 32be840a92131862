"""The `paperfeed` command as a user runs it: a real process, real files, real databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from paperfeed.store import Store


def paperfeed(
    *args: str, url: str | None = None, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh process with only the given PAPERFEED_ settings."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PAPERFEED_")}
    if url:
        environment["PAPERFEED_DATABASE_URL"] = url
    environment.update(env or {})
    result = subprocess.run(
        [sys.executable, "-m", "paperfeed", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_help_says_what_each_command_does() -> None:
    out = paperfeed("--help").stdout
    for command in ("serve", "db", "import", "stats", "settings"):
        assert command in out
    assert "arXiv JSONL" in paperfeed("import", "--help").stdout
    assert "--strict" in paperfeed("import", "jsonl", "--help").stdout


def test_upgrade_import_stats(database_url: str, tmp_path: Path) -> None:
    upgrade = paperfeed("db", "upgrade", url=database_url)
    head = Store.open(database_url).head_revision()
    assert f"schema already at revision {head}" in upgrade.stdout  # the fixture migrated it
    records = [
        {
            "id": f"2503.0000{i}",
            "title": f"T{i}",
            "abstract": "A.",
            "authors": ["X"],
            "categories": ["cs.LG"],
            "comment": None,
            "first_seen": "2025-03-18",
        }
        for i in range(3)
    ]
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    first = paperfeed("import", "jsonl", str(path), url=database_url)
    assert "3 records read, 3 new" in first.stdout
    again = paperfeed("import", "jsonl", str(path), url=database_url)
    assert "1 file(s) already imported" in again.stdout
    stats = json.loads(paperfeed("stats", "--json", url=database_url).stdout)
    assert stats["tables"]["papers"] == 3 and stats["first_day"] == "2025-03-18"
    text = paperfeed("stats", url=database_url).stdout
    assert "papers: 3" in text and "papers from arxiv-jsonl: 3" in text
    assert "last import jsonl: " in text and ", ok" in text
    assert stats["last_runs"]["import jsonl"]["ok"] is True


def test_fresh_sqlite_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/new/paperfeed.sqlite3"
    refused = paperfeed("stats", url=url, check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith("run `paperfeed db upgrade`")
    head = Store.open(url).head_revision()
    assert f"upgraded from empty to {head}" in paperfeed("db", "upgrade", url=url).stdout


@pytest.mark.parametrize(
    ("args", "url", "message"),
    [
        (
            ["stats"],
            "postgresql://u:pw@127.0.0.1:1/x",
            "Error: cannot connect to postgresql+psycopg://u:***@127.0.0.1:1/x",
        ),
        (["stats"], "mysql://localhost/x", "Error: unsupported database 'mysql'"),
        (
            ["import", "jsonl", "/no/such/file.jsonl"],
            None,
            "Error: /no/such/file.jsonl: cannot read",
        ),
    ],
)
def test_errors_are_one_line(
    args: list[str], url: str | None, message: str, tmp_path: Path
) -> None:
    if url is None:
        url = f"sqlite:///{tmp_path}/db.sqlite3"
        paperfeed("db", "upgrade", url=url)
    result = paperfeed(*args, url=url, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_strict_import_error_names_file_and_line(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "2503.00001"\n')
    forgiving = paperfeed("import", "jsonl", str(path), url=database_url)
    assert f"warning: {path}:1: malformed JSON" in forgiving.stderr
    assert "1 bad records skipped" in forgiving.stdout
    strict = paperfeed(
        "import", "jsonl", "--strict", "--no-resume", str(path), url=database_url, check=False
    )
    assert strict.returncode == 1
    assert strict.stderr.startswith(f"Error: {path}:1: malformed JSON")
    assert Store.open(database_url).stats().tables["papers"] == 0


def test_hf_daily_date_option(database_url: str, tmp_path: Path) -> None:
    item = {
        "paper": {
            "id": "2405.15738",
            "authors": [{"name": "A"}],
            "title": "T",
            "summary": "S",
            "upvotes": 3,
            "publishedAt": "2024-05-24T17:34:15.000Z",
        },
        "publishedAt": "2024-05-27T03:50:58.348Z",
        "title": "T",
    }
    path = tmp_path / "response.json"
    path.write_text(json.dumps([item]))
    paperfeed("import", "hf-daily", "--date", "2024-06-01", str(path), url=database_url)
    stats = json.loads(paperfeed("stats", "--json", url=database_url).stdout)
    assert stats["first_day"] == "2024-06-01"


def test_demo_import_is_fast_to_repeat(database_url: str) -> None:
    first = paperfeed("import", "demo", url=database_url)
    assert "new" in first.stdout
    second = paperfeed("import", "demo", url=database_url)
    assert second.stdout.count("already imported") == 2


def test_settings_prints_every_variable() -> None:
    from paperfeed.settings import SETTINGS

    out = paperfeed("settings").stdout
    assert all(s.env_var in out for s in SETTINGS)


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """stderr on a terminal gets a progress bar; a pipe (the other tests) does not."""
    import pty

    url = f"sqlite:///{tmp_path}/db.sqlite3"
    paperfeed("db", "upgrade", url=url)
    path = tmp_path / "a.jsonl"
    record = {
        "title": "T",
        "abstract": "A.",
        "authors": ["X"],
        "categories": ["cs.LG"],
        "first_seen": "2025-03-18",
    }
    path.write_text(
        "".join(json.dumps({**record, "id": f"2503.{i:05d}"}) + "\n" for i in range(3000))
    )
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERFEED_")}
    env["PAPERFEED_DATABASE_URL"] = url
    process = subprocess.run(
        [sys.executable, "-m", "paperfeed", "import", "jsonl", "--batch-size", "500", str(path)],
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
        timeout=120,
        check=False,
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert process.returncode == 0
    assert b"importing" in shown and b"100%" in shown
