"""The reader's own data in the store and the library layer, on both backends: every write
idempotent, tags case-insensitive, limits clear, users apart, deletion cascading, "For you"
candidates honest (followed authors in, not-interested out)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from paperfeed.cli import cli
from paperfeed.community.auth import sha256
from paperfeed.models import IngestRecord, Paper
from paperfeed.personal import library as lib
from paperfeed.personal.foryou import for_you_candidates
from paperfeed.store import Store
from paperfeed.store.schema import (
    feed_tokens,
    followed_authors,
    keyword_rules,
    paper_feedback,
    paper_tags,
    saved_papers,
    seen_papers,
    tags,
    users,
)

NOW = datetime(2026, 12, 1, 12, 0)


def paper(arxiv_id: str, authors: list[str], title: str = "A title", days_ago: int = 1) -> Paper:
    return Paper(
        arxiv_id=arxiv_id,
        title=title,
        abstract=f"The abstract of {title}.",
        authors=authors,
        categories=["cs.LG"],
        version=1,
        published=NOW - timedelta(days=days_ago),
    )


PAPERS = [
    paper("2611.00001", ["Giorgio Parisi", "Ada Lovelace"], "Spin glasses"),
    paper("2611.00002", ["Christopher Parisien"], "Not by Parisi"),
    paper("2611.00003", ["G. Parisi"], "A survey of replicas", 2),
    paper("2611.00004", ["Paul Erdős"], "Random graphs", 3),
    paper("2611.00005", ["Giorgio Parisi"], "Old work", 90),
    paper("2611.00006", ["Someone Else"], "Spin glasses again", 1),
]


@pytest.fixture
def filled(store: Store) -> Store:
    store.write_batch([IngestRecord(p, "test", f"t:{i}") for i, p in enumerate(PAPERS)])
    return store


def rows(store: Store, table: sa.Table) -> int:
    with store.reading() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_every_write_is_idempotent(filled: Store) -> None:
    user = filled.create_user("ada")
    personal = filled.personal
    assert personal.save(user.id, "2611.00001", now=NOW) is True
    assert personal.save(user.id, "2611.00001", now=NOW) is False
    name, key = lib.check_tag("To Read")
    assert personal.add_tag(user.id, "2611.00001", name, key, now=NOW) is True
    assert personal.add_tag(user.id, "2611.00001", *lib.check_tag("to  READ"), now=NOW) is False
    assert personal.follow(user.id, *lib.check_author("Giorgio Parisi"), now=NOW) is True
    assert personal.follow(user.id, *lib.check_author("giorgio   PARISI"), now=NOW) is False
    assert personal.dismiss(user.id, "2611.00002", now=NOW) is True
    assert personal.dismiss(user.id, "2611.00002", now=NOW) is False
    assert personal.add_rule(user.id, *lib.check_rule("exclude", "Survey"), now=NOW) is True
    assert personal.add_rule(user.id, *lib.check_rule("exclude", "survey"), now=NOW) is False
    assert personal.mark_seen(user.id, ["2611.00001", "2611.00001"], "web", now=NOW) == 1
    assert personal.mark_seen(user.id, ["2611.00001", "2611.00003"], "digest", now=NOW) == 1
    personal.set_note(user.id, "2611.00001", "first", now=NOW)
    personal.set_note(user.id, "2611.00001", "second", now=NOW)
    counts = {t.name: rows(filled, t) for t in (saved_papers, tags, paper_tags)}
    assert counts == {"saved_papers": 1, "tags": 1, "paper_tags": 1}
    assert rows(filled, followed_authors) == rows(filled, paper_feedback) == 1
    assert rows(filled, keyword_rules) == 1 and rows(filled, seen_papers) == 2
    entry = personal.saved_paper(user.id, "2611.00001")
    assert entry is not None and entry.note == "second" and entry.tags == ("To Read",)
    # The first showing is kept: the digest's later one does not overwrite "web".
    assert personal.seen_ids(user.id, via="web") == {"2611.00001"}
    assert personal.seen_ids(user.id) == {"2611.00001", "2611.00003"}
    assert personal.followed(user.id)[0].name == "Giorgio Parisi"  # the first spelling


def test_tags_are_case_insensitive_and_go_when_unused(filled: Store) -> None:
    user = filled.create_user("ada")
    personal = filled.personal
    for arxiv_id, typed in (("2611.00001", "Deep Learning"), ("2611.00003", "deep   learning")):
        personal.add_tag(user.id, arxiv_id, *lib.check_tag(typed), now=NOW)
    personal.add_tag(user.id, "2611.00003", *lib.check_tag("ÉTÉ"), now=NOW)
    assert [(t.name, t.papers) for t in personal.tags(user.id)] == [
        ("Deep Learning", 2),
        ("ÉTÉ", 1),
    ]
    personal.save(user.id, "2611.00004", now=NOW + timedelta(minutes=1))
    everything, total = personal.library(user.id)  # most recently saved first
    assert total == 3 and everything[0].paper.arxiv_id == "2611.00004"
    entries, total = personal.library(user.id, tag_key=lib.tag_key("DEEP LEARNING"))
    assert total == 2 and [e.paper.arxiv_id for e in entries] == ["2611.00001", "2611.00003"]
    assert personal.remove_tag(user.id, "2611.00003", lib.tag_key("été")) is True
    assert personal.remove_tag(user.id, "2611.00003", lib.tag_key("été")) is False
    assert [t.name for t in personal.tags(user.id)] == ["Deep Learning"]
    # Unsaving a paper takes its tags; the other paper keeps the tag.
    assert personal.unsave(user.id, "2611.00003") is True
    assert personal.unsave(user.id, "2611.00003") is False
    assert [(t.name, t.papers) for t in personal.tags(user.id)] == [("Deep Learning", 1)]


@pytest.mark.parametrize(
    ("check", "text", "field"),
    [
        (lib.check_tag, "", "tag"),
        (lib.check_tag, "   ", "tag"),
        (lib.check_tag, "x" * 65, "tag"),
        (lib.check_tag, "ß" * 40, "tag"),  # 40 characters, 80 once case-folded
        (lib.check_tag, "a/b", "tag"),
        (lib.check_tag, "nul\x00", "tag"),
        (lib.check_tag, "export.bib", "tag"),
        (lib.check_note, "n" * 5001, "note"),
        (lib.check_note, "bell\x07", "note"),
        (lib.check_author, "", "name"),
        (lib.check_author, "...", "name"),
        (lib.check_author, "a" * 201, "name"),
    ],
)
def test_limits_say_what_is_wrong(check: object, text: str, field: str) -> None:
    with pytest.raises(lib.LibraryError) as error:
        check(text)  # type: ignore[operator]
    assert error.value.field == field and error.value.message.endswith(".")


def test_hostile_text_is_kept_as_written(filled: Store) -> None:
    user = filled.create_user("ada")
    evil = "<script>alert(1)</script> '; DROP TABLE papers; --"
    filled.personal.set_note(user.id, "2611.00001", lib.check_note(evil), now=NOW)
    evil_tag = "<img src=x onerror=alert(1)> \"'&amp;"
    filled.personal.add_tag(user.id, "2611.00001", *lib.check_tag(evil_tag), now=NOW)
    entry = filled.personal.saved_paper(user.id, "2611.00001")
    assert entry is not None and entry.note == evil and entry.tags == (evil_tag,)
    assert lib.check_note("  \r\n ") is None


def test_users_are_apart_and_deletion_cascades(filled: Store) -> None:
    ada, bob = filled.create_user("ada"), filled.create_user("bob")
    personal = filled.personal
    personal.add_tag(ada.id, "2611.00001", *lib.check_tag("mine"), now=NOW)
    personal.follow(ada.id, *lib.check_author("Parisi"), now=NOW)
    personal.dismiss(ada.id, "2611.00002", now=NOW)
    personal.add_rule(ada.id, *lib.check_rule("include", "glass"), now=NOW)
    personal.mark_seen(ada.id, ["2611.00001"], "web", now=NOW)
    token = lib.create_feed_token(filled, ada.id, "reader", now=NOW)
    assert personal.library(bob.id) == ([], 0) and personal.tags(bob.id) == []
    assert personal.tag(bob.id, "mine") is None and personal.followed(bob.id) == []
    rule = personal.rules(ada.id)[0]
    assert personal.remove_rule(bob.id, rule.id) is False  # not bob's rule
    assert personal.revoke_feed_token(bob.id, token.id, now=NOW) is False
    assert lib.feed_token_user(filled, token.token, now=NOW) == ada.id
    with filled.writing() as conn:
        conn.execute(users.delete().where(users.c.id == ada.id))
    for table in (
        saved_papers,
        tags,
        paper_tags,
        followed_authors,
        paper_feedback,
        seen_papers,
        keyword_rules,
        feed_tokens,
    ):
        assert rows(filled, table) == 0, table.name


def test_feed_tokens_are_hashed_and_revocable(filled: Store) -> None:
    user = filled.create_user("ada")
    made = lib.create_feed_token(filled, user.id, "my reader", now=NOW)
    with filled.reading() as conn:
        stored = conn.execute(sa.select(feed_tokens)).one()
    assert made.token.startswith(lib.FEED_TOKEN_PREFIX) and made.token not in str(stored)
    assert stored.token_hash == sha256(made.token) and stored.last_used_at is None
    assert lib.feed_token_user(filled, made.token, now=NOW) == user.id
    assert filled.personal.feed_tokens(user.id)[0].last_used_at == NOW
    assert lib.feed_token_user(filled, made.token[:-1] + "x", now=NOW) is None
    assert lib.feed_token_user(filled, "pf_" + made.token[4:], now=NOW) is None
    assert filled.personal.revoke_feed_token(user.id, made.id, now=NOW) is True
    assert filled.personal.revoke_feed_token(user.id, made.id, now=NOW) is False
    assert lib.feed_token_user(filled, made.token, now=NOW) is None
    assert filled.personal.feed_tokens(user.id) == []


def test_for_you_candidates(filled: Store) -> None:
    user = filled.create_user("ada")
    personal = filled.personal
    assert for_you_candidates(filled, user.id, now=NOW) == []  # an empty profile: empty, no error
    personal.follow(user.id, *lib.check_author("Giorgio Parisi"), now=NOW)
    personal.follow(user.id, *lib.check_author("Paul Erdos"), now=NOW)  # no accent typed
    personal.add_rule(user.id, *lib.check_rule("exclude", "survey"), now=NOW)
    personal.add_rule(user.id, *lib.check_rule("include", "spin glasses"), now=NOW)
    found = {c.paper.arxiv_id: c for c in for_you_candidates(filled, user.id, now=NOW)}
    # Whole words: Parisien is not Parisi; 90 days ago is outside the window.
    assert "2611.00002" not in found and "2611.00005" not in found
    assert found["2611.00001"].reasons == [
        "followed author: Giorgio Parisi",
        "keyword: spin glasses",
    ]
    assert found["2611.00006"].reasons == ["keyword: spin glasses"]
    # Papers with more reasons come first.
    assert next(iter(found)) == "2611.00001"
    # Not interested and saved papers are never candidates; those left out neither.
    personal.dismiss(user.id, "2611.00001", now=NOW)
    personal.save(user.id, "2611.00006", now=NOW)
    ids = [c.paper.arxiv_id for c in for_you_candidates(filled, user.id, now=NOW)]
    assert "2611.00001" not in ids and "2611.00006" not in ids
    assert for_you_candidates(filled, user.id, now=NOW, leave_out=ids) == []


def test_followed_authors_stay_despite_exclude_rules(filled: Store) -> None:
    user = filled.create_user("ada")
    filled.personal.follow(user.id, *lib.check_author("Parisi"), now=NOW)
    filled.personal.add_rule(user.id, *lib.check_rule("exclude", "survey"), now=NOW)
    filled.personal.add_rule(user.id, *lib.check_rule("include", "replicas"), now=NOW)
    found = {c.paper.arxiv_id: c for c in for_you_candidates(filled, user.id, now=NOW)}
    assert found["2611.00003"].authors == ("Parisi",)  # "A survey of replicas", by G. Parisi


def test_cli_save_list_follow(filled: Store) -> None:
    filled.create_user("ada")
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["--database-url", filled.url, *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert "saved to" in run("library", "save", "ada", "2611.00001v1", "--tag", "A", "--note", "n")
    assert "already in" in run("library", "save", "ada", "2611.00001", "--tag", "a", "--tag", "B")
    listed = run("library", "list", "ada", "--tag", "b", "--json")
    assert '"tags": [\n      "A",\n      "B"\n    ]' in listed and '"note": "n"' in listed
    assert run("library", "list", "ada").startswith("2611.00001\t")
    assert "now follows" in run("library", "follow", "ada", "Giorgio Parisi")
    assert "already follows" in run("library", "follow", "ada", "GIORGIO PARISI")
    assert "no longer follows" in run("library", "unfollow", "ada", "giorgio parisi")
    bad = runner.invoke(cli, ["--database-url", filled.url, "library", "save", "ada", "9999.99999"])
    assert bad.exit_code == 1 and "No paper 9999.99999 here." in bad.output
    long_tag = ["library", "save", "ada", "2611.00003", "--tag", "x" * 65]
    refused = runner.invoke(cli, ["--database-url", filled.url, *long_tag])
    assert refused.exit_code == 1 and "at most 64" in refused.output
    assert filled.personal.saved_paper(1, "2611.00003") is None  # nothing half-done
