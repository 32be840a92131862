from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paperfeed.models import InvalidArxivId, Paper, merge_paper, split_arxiv_id


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2503.11677", ("2503.11677", None)),
        ("2503.11677v3", ("2503.11677", 3)),
        ("0704.0001", ("0704.0001", None)),
        ("hep-th/9901001v2", ("hep-th/9901001", 2)),
        ("math.AG/0601001", ("math.AG/0601001", None)),
        (" 2401.12686 ", ("2401.12686", None)),
    ],
)
def test_split_arxiv_id(text: str, expected: tuple[str, int | None]) -> None:
    assert split_arxiv_id(text) == expected


@pytest.mark.parametrize(
    "text", ["", "abc", "2503.116", "2503.11677v", "../etc/passwd", "2503.11677<script>"]
)
def test_split_arxiv_id_rejects(text: str) -> None:
    with pytest.raises(InvalidArxivId, match="not an arXiv id"):
        split_arxiv_id(text)


NOW = datetime(2026, 1, 1)
versions = st.none() | st.integers(1, 9)
dates = st.none() | st.datetimes(datetime(2020, 1, 1), datetime(2026, 1, 1))
papers = st.builds(
    Paper,
    arxiv_id=st.just("2501.00001"),
    title=st.text(min_size=1, max_size=5),
    abstract=st.text(max_size=5),
    authors=st.lists(st.text(max_size=3), max_size=3),
    categories=st.none() | st.lists(st.sampled_from(["cs.LG", "cs.CL"]), min_size=1),
    version=versions,
    comment=st.none() | st.text(max_size=3),
    first_seen=dates,
)


@given(old=papers, new=papers)
def test_merge_never_moves_first_seen_later(old: Paper, new: Paper) -> None:
    old = merge_paper(None, old, NOW)
    merged = merge_paper(old, new, NOW)
    assert merged.first_seen is not None and old.first_seen is not None
    assert merged.first_seen <= old.first_seen


@given(old=papers, new=papers)
def test_merge_is_idempotent(old: Paper, new: Paper) -> None:
    once = merge_paper(merge_paper(None, old, NOW), new, NOW)
    assert merge_paper(once, new, NOW) == once


@given(old=papers, new=papers)
def test_older_version_changes_nothing(old: Paper, new: Paper) -> None:
    old = merge_paper(None, old, NOW)
    merged = merge_paper(old, new, NOW)
    if old.version and new.version and new.version < old.version:
        assert merged == old
    else:
        assert merged.title == new.title
        if new.categories is None:
            assert merged.categories == old.categories
