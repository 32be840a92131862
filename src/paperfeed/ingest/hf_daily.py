"""Hugging Face daily-papers data: API responses and the normalized JSONL dump.

Two shapes are read:

* an API response of ``GET /api/daily_papers?date=...``: a JSON array of items
  ``{"paper": {"id", "title", "summary", "authors": [{"name"}], "publishedAt", "upvotes",
  "submittedOnDailyAt"}, "publishedAt", "title", "submittedBy": {...}}``. The feed day is
  the date of ``paper.submittedOnDailyAt``; older responses lack it, and then the date in the
  file name (``2024-05-27.json``, as saved by the crawlers), else the item's top-level
  ``publishedAt`` (when older responses put it on the feed);
* the normalized dump (``shared/data/hf-daily/hf-daily.jsonl.gz``), one entry per line
  with ``date``, ``id``, ``title``, ``summary``, ``authors``, ``published_at``,
  ``upvotes`` and ``submitted_by``.

An explicit ``day`` overrides the feed day of every item.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

from paperfeed.models import IngestRecord, Paper

from . import fields
from .errors import RecordError, SourceError
from .files import InputFile, decode_json_line, iter_json_array
from .http import PoliteClient

SOURCE = "hf-daily"


def parse_api_item(
    obj: Any, location: str, day: date | None = None, file_day: date | None = None
) -> IngestRecord:
    """One item of a ``/api/daily_papers`` response."""
    if not isinstance(obj, dict) or not isinstance(obj.get("paper"), dict):
        raise RecordError(location, "expected an object with a 'paper' object")
    paper: dict[str, Any] = obj["paper"]
    try:
        authors = paper.get("authors")
        if not isinstance(authors, list) or not all(isinstance(a, dict) for a in authors):
            raise fields.FieldError("field 'paper.authors' must be a list of objects")
        feed_day = day
        if feed_day is None and paper.get("submittedOnDailyAt") is not None:
            feed_day = fields.iso_date(paper["submittedOnDailyAt"], "paper.submittedOnDailyAt")
        feed_day = feed_day or file_day or fields.iso_date(obj.get("publishedAt"), "publishedAt")
    except fields.FieldError as exc:
        raise RecordError(location, str(exc)) from None
    upvotes = paper.get("upvotes")
    flat = {  # the item in the shape of a dump line
        "id": paper.get("id"),
        "title": obj["title"] if obj.get("title") is not None else paper.get("title"),
        "summary": paper["summary"] if paper.get("summary") is not None else obj.get("summary"),
        "authors": [a.get("name") for a in authors],
        "published_at": paper.get("publishedAt"),
        "upvotes": upvotes if upvotes is not None else obj.get("upvotes"),
        "submitted_by": _submitter(obj, paper),
    }
    return _record(flat, location, feed_day)


def _submitter(obj: dict[str, Any], paper: dict[str, Any]) -> str | None:
    for holder in (obj.get("submittedBy"), paper.get("submittedOnDailyBy")):
        if isinstance(holder, dict):
            for key in ("name", "user", "fullname"):
                value = holder.get(key)
                if isinstance(value, str) and value.strip():
                    return value
    return None


def parse_dump_line(obj: dict[str, Any], location: str, day: date | None = None) -> IngestRecord:
    """One line of the normalized ``hf-daily.jsonl.gz`` dump."""
    try:
        feed_day = day or fields.iso_date(obj.get("date"), "date")
    except fields.FieldError as exc:
        raise RecordError(location, str(exc)) from None
    return _record(obj, location, feed_day)


def _record(flat: dict[str, Any], location: str, feed_day: date) -> IngestRecord:
    try:
        arxiv_id, version = fields.arxiv_id(flat, "id")
        paper = Paper(
            arxiv_id=arxiv_id,
            version=version,
            title=fields.required_text(flat, "title", max_len=fields.MAX_TITLE),
            abstract=fields.required_text(flat, "summary", max_len=fields.MAX_ABSTRACT),
            authors=fields.string_list(flat, "authors", max_items=fields.MAX_AUTHORS),
            published=fields.iso_datetime(flat.get("published_at"), "published_at"),
        )
        upvotes = fields.optional_int(flat, "upvotes")
        submitter = fields.text(flat, "submitted_by", max_len=128, required=False)
    except fields.FieldError as exc:
        raise RecordError(location, str(exc)) from None
    return IngestRecord(
        paper=paper,
        source=SOURCE,
        location=location,
        feed_day=feed_day,
        submitted_by=submitter,
        upvotes=upvotes,
    )


def _date_in_name(input_file: InputFile) -> date | None:
    try:
        return date.fromisoformat(input_file.path.name[:10])
    except ValueError:
        return None


def _first_byte(input_file: InputFile) -> bytes:
    for _, line in input_file.lines():
        stripped = line.strip()
        if stripped:
            return stripped[:1]
    return b""


def read(
    input_file: InputFile, skip: int = 0, day: date | None = None
) -> Iterator[tuple[int, IngestRecord | RecordError]]:
    """Yield ``(position, record or error)``: item number for an API array, else line."""
    if _first_byte(input_file) == b"[":
        file_day = _date_in_name(input_file)
        for index, (line, item) in enumerate(iter_json_array(input_file), start=1):
            if index <= skip:
                continue
            location = f"{input_file.location(line)} (item {index})"
            try:
                yield index, parse_api_item(item, location, day, file_day)
            except RecordError as exc:
                yield index, exc
        return
    for number, raw in input_file.lines():
        if number <= skip or not raw.strip():
            continue
        location = input_file.location(number)
        try:
            yield number, parse_dump_line(decode_json_line(input_file, number, raw), location, day)
        except RecordError as exc:
            yield number, exc


class HfDailyClient:
    """Reads ``GET {base_url}/api/daily_papers?date=YYYY-MM-DD``; the date asked is the
    feed day of every entry of the answer."""

    def __init__(self, base_url: str, **options: Any) -> None:
        self.url = base_url.rstrip("/") + "/api/daily_papers"
        self._http = PoliteClient(**options)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HfDailyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch_day(self, day: date) -> Iterator[IngestRecord | RecordError]:
        where, body = self._http.get(self.url, {"date": day.isoformat()})
        try:
            items = json.loads(body)
        except json.JSONDecodeError as exc:
            raise SourceError(
                f"{where}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
        except UnicodeDecodeError:
            raise SourceError(f"{where}: not UTF-8") from None
        if not isinstance(items, list):
            raise SourceError(f"{where}: expected a JSON array, got {type(items).__name__}")
        for index, item in enumerate(items, start=1):
            try:
                yield parse_api_item(item, f"{where} (item {index})", day=day)
            except RecordError as exc:
                yield exc
