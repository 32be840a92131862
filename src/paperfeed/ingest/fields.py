"""Validation of the fields of one input record, shared by every parser.

Each function takes the decoded JSON object and a key, and returns a clean value or raises
:class:`FieldError` with a message that names the field.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from paperfeed.models import InvalidArxivId, Paper, split_arxiv_id

MAX_TITLE = 1_000
MAX_ABSTRACT = 20_000
MAX_COMMENT = 2_000
MAX_AUTHORS = 5_000
MAX_NAME = 1_000  # real arXiv data has a 512-character "name" (a list run together)
MAX_CATEGORIES = 50

_SPACE = re.compile(r"\s+")


class FieldError(ValueError):
    """A field is missing or has a bad value."""


def collapse(text: str) -> str:
    """Runs of whitespace (arXiv hard-wraps titles and abstracts) become one space."""
    return _SPACE.sub(" ", text).strip()


def text(obj: dict[str, Any], key: str, *, max_len: int, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise FieldError(f"missing field {key!r}")
        return None
    if not isinstance(value, str):
        raise FieldError(f"field {key!r} must be a string, not {type(value).__name__}")
    if "\x00" in value:
        raise FieldError(f"field {key!r} contains a NUL character")
    value = collapse(value)
    if required and not value:
        raise FieldError(f"field {key!r} is empty")
    if len(value) > max_len:
        raise FieldError(f"field {key!r} is {len(value):,} characters long (limit {max_len:,})")
    return value or None


def required_text(obj: dict[str, Any], key: str, *, max_len: int) -> str:
    value = text(obj, key, max_len=max_len)
    assert value is not None
    return value


def string_list(
    obj: dict[str, Any], key: str, *, max_items: int, max_len: int = MAX_NAME
) -> list[str]:
    value = obj.get(key)
    if value is None:
        raise FieldError(f"missing field {key!r}")
    if not isinstance(value, list):
        raise FieldError(f"field {key!r} must be a list, not {type(value).__name__}")
    if len(value) > max_items:
        raise FieldError(f"field {key!r} has {len(value):,} items (limit {max_items:,})")
    items = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or "\x00" in item:
            raise FieldError(f"item {i} of {key!r} must be a string")
        item = collapse(item)
        if len(item) > max_len:
            raise FieldError(f"item {i} of {key!r} is longer than {max_len} characters")
        if item:
            items.append(item)
    return items


def arxiv_id(obj: dict[str, Any], key: str) -> tuple[str, int | None]:
    value = obj.get(key)
    if value is None:
        raise FieldError(f"missing field {key!r}")
    if not isinstance(value, str):
        raise FieldError(f"field {key!r} must be a string")
    try:
        return split_arxiv_id(value)
    except InvalidArxivId as exc:
        raise FieldError(str(exc)) from None


def iso_date(value: Any, key: str) -> date:
    if not isinstance(value, str):
        raise FieldError(f"field {key!r} must be a date string like 2025-03-18")
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        raise FieldError(f"field {key!r} is not a valid date: {value!r}") from None


def iso_datetime(value: Any, key: str) -> datetime | None:
    """An ISO 8601 timestamp (``Z`` or offset allowed) as naive UTC; None stays None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise FieldError(f"field {key!r} must be a timestamp string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FieldError(f"field {key!r} is not a valid timestamp: {value!r}") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def optional_int(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FieldError(f"field {key!r} must be a non-negative integer")
    return value


def build_paper(
    arxiv_id: str,
    version: int | None,
    flat: dict[str, Any],
    *,
    published: datetime | None = None,
    updated: datetime | None = None,
) -> Paper:
    """A :class:`Paper` from a source's fields, flattened to common names: ``title``,
    ``abstract``, ``authors``, and optionally ``categories``, ``comment``, ``journal_ref``,
    ``doi`` and ``license``. A missing optional field stays unknown (``None``)."""
    categories = None
    if flat.get("categories") is not None:
        categories = string_list(flat, "categories", max_items=MAX_CATEGORIES) or None
    return Paper(
        arxiv_id=arxiv_id,
        version=version,
        title=required_text(flat, "title", max_len=MAX_TITLE),
        abstract=required_text(flat, "abstract", max_len=MAX_ABSTRACT),
        authors=string_list(flat, "authors", max_items=MAX_AUTHORS),
        categories=categories,
        comment=text(flat, "comment", max_len=MAX_COMMENT, required=False),
        journal_ref=text(flat, "journal_ref", max_len=MAX_COMMENT, required=False),
        doi=text(flat, "doi", max_len=256, required=False),
        license=text(flat, "license", max_len=256, required=False),
        published=published,
        updated=updated,
    )
