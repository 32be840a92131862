"""The query language: what each piece means, clear errors, and properties over any text."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paperfeed.search import QuerySyntaxError, parse_query
from paperfeed.search.query import MAX_PARTS, MAX_QUERY_CHARS


def test_every_piece() -> None:
    query = parse_query(
        'mean-field spin "Replica  Symmetry" -quantum -"glass transition" '
        'author:parisi author:"Marc Mézard" cat:cond-mat.dis-nn cat:cs '
        "since:2021-03-01 until:2024 sort:date"
    )
    assert query.words == ["mean-field", "spin"]
    assert query.phrases == ["Replica Symmetry"]
    assert query.excluded == ["quantum", "glass transition"]
    assert query.authors == ["parisi", "Marc Mézard"]
    assert query.categories == ["cond-mat.dis-nn", "cs"]
    assert (query.since, query.until) == (date(2021, 3, 1), date(2024, 12, 31))
    assert query.sort == "date"
    assert query.text == "Replica Symmetry mean-field spin"
    assert query.filter().phrases == ("Replica Symmetry",)


def test_year_and_other_text() -> None:
    query = parse_query("BERT: arXiv:2310.06110 year:2023 Time-series")
    assert query.words == ["BERT", "arXiv", "2310.06110", "Time-series"]
    assert (query.since, query.until) == (date(2023, 1, 1), date(2023, 12, 31))
    assert parse_query("x year:2023 since:2023-06-01").since == date(2023, 6, 1)
    assert parse_query("x", sort="upvotes").sort == "upvotes"
    assert not parse_query("author:lecun").has_text and parse_query("author:lecun").has_filters
    assert parse_query("  ").words == [] and not parse_query("").has_filters


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ('spin "glass', "a quote is not closed", 5),
        ("author:", "author: needs a value", 0),
        ("x cat:cs/LG", "'cs/LG' is not an arXiv category", 2),
        ("year:20x3", "year:20x3 is not a year", 0),
        ("year:0000", "year:0000 is not a year", 0),  # was a ValueError from date()
        ("year:²⁰²³", "year:²⁰²³ is not a year", 0),  # isdigit, but int() refuses
        ("until:9999", "until:9999 is not a date", 0),  # its day after overflowed in the store
        ("since:2024-02-30", "since:2024-02-30 is not a date", 0),
        ("sort:best", "sort: must be one of relevance, date, upvotes", 0),
        ("-author:x", "author: cannot be negated", 0),
        ('author:"Le"Cun', "text after a closing quote", 7),
        ("since:2024-05-01 until:2024-01-01", "the dates exclude each other", 0),
    ],
)
def test_bad_syntax_is_a_clear_error(text: str, message: str, position: int) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_query(text)
    assert message in info.value.message and info.value.position == position
    assert f"(at character {position + 1})" in str(info.value)


def test_limits() -> None:
    with pytest.raises(QuerySyntaxError, match="too long"):
        parse_query("a" * (MAX_QUERY_CHARS + 1))
    with pytest.raises(QuerySyntaxError, match="too many terms"):
        parse_query(" ".join(["w"] * (MAX_PARTS + 1)))
    with pytest.raises(QuerySyntaxError, match="sort must be one of"):
        parse_query("x", sort="best")


@given(st.text(max_size=200))
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    try:
        query = parse_query(text)
    except QuerySyntaxError as exc:
        assert 0 <= exc.position <= len(text)
        return
    # Every word is taken from the text, and the canonical form means the same.
    folded = text.casefold()
    assert all(word.casefold() in folded for word in query.words)
    again = parse_query(query.canonical())
    assert again == query


pieces = st.one_of(
    st.from_regex(r"[A-Za-z][a-z0-9]{0,8}", fullmatch=True),
    st.from_regex(r'"[a-z]{1,6}( [a-z]{1,6}){0,2}"', fullmatch=True),
    st.from_regex(r"-[a-z]{2,6}", fullmatch=True),
    st.from_regex(r"author:[a-z]{2,8}", fullmatch=True),
    st.from_regex(r"cat:(cs|math|cond-mat)(\.[A-Z]{2})?", fullmatch=True),
    st.from_regex(r"year:20[0-2][0-9]", fullmatch=True),
)


@given(st.lists(pieces, max_size=12))
def test_well_formed_queries_round_trip(parts: list[str]) -> None:
    try:
        query = parse_query(" ".join(parts))
    except QuerySyntaxError as exc:  # two different year: pieces
        assert "the dates exclude each other" in exc.message
        return
    assert parse_query(query.canonical()) == query
    assert len(query.words) + len(query.phrases) + len(query.excluded) <= len(parts)
