"""The arXiv JSONL dump format (``shared/data/arxiv``): one paper per line.

``{"id", "title", "abstract", "authors": [...], "categories": [...], "comment", "first_seen"}``;
``version``, ``journal_ref``, ``doi``, ``published`` and ``updated`` are read when present.
A record's feed day is its ``first_seen`` date.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time
from typing import Any

from paperfeed.models import IngestRecord, Paper

from . import fields
from .errors import RecordError
from .files import InputFile, decode_json_line

SOURCE = "arxiv-jsonl"


def parse_record(obj: dict[str, Any], location: str) -> IngestRecord:
    """One decoded JSON object as an :class:`IngestRecord`, or :class:`RecordError`."""
    try:
        arxiv_id, id_version = fields.arxiv_id(obj, "id")
        first_seen = fields.iso_date(obj.get("first_seen"), "first_seen")
        categories = fields.string_list(obj, "categories", max_items=fields.MAX_CATEGORIES)
        paper = Paper(
            arxiv_id=arxiv_id,
            version=fields.optional_int(obj, "version") or id_version,
            title=fields.required_text(obj, "title", max_len=fields.MAX_TITLE),
            abstract=fields.required_text(obj, "abstract", max_len=fields.MAX_ABSTRACT),
            authors=fields.string_list(obj, "authors", max_items=fields.MAX_AUTHORS),
            categories=categories or None,
            comment=fields.text(obj, "comment", max_len=fields.MAX_COMMENT, required=False),
            journal_ref=fields.text(obj, "journal_ref", max_len=fields.MAX_COMMENT, required=False),
            doi=fields.text(obj, "doi", max_len=256, required=False),
            published=fields.iso_datetime(obj.get("published"), "published"),
            updated=fields.iso_datetime(obj.get("updated"), "updated"),
            first_seen=datetime.combine(first_seen, time()),
        )
    except fields.FieldError as exc:
        raise RecordError(location, str(exc)) from None
    return IngestRecord(paper=paper, source=SOURCE, location=location, feed_day=first_seen)


def read(input_file: InputFile, skip: int = 0) -> Iterator[tuple[int, IngestRecord | RecordError]]:
    """Yield ``(line number, record or error)`` for each line after the first ``skip``."""
    for number, line in input_file.lines():
        if number <= skip or not line.strip():
            continue
        location = input_file.location(number)
        try:
            yield number, parse_record(decode_json_line(input_file, number, line), location)
        except RecordError as exc:
            yield number, exc
