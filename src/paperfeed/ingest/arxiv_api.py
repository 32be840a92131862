"""The arXiv API (Atom): parse its feeds, and a polite client that fetches by id or query.

arXiv's API terms ask for at most one request every three seconds, a User-Agent that says who
is asking, and result pages rather than huge requests; :class:`ArxivClient` does all three.
Both the 2026 response format and the older one (http URLs, inline namespaces) parse.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element

from paperfeed.models import IngestRecord, InvalidArxivId, split_arxiv_id

from . import fields
from .errors import RecordError, SourceError
from .http import FetchError, PoliteClient
from .xmldoc import parse_xml

SOURCE = "arxiv-api"
ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
IDS_PER_REQUEST = 100
PAGE_SIZE = 100


class ArxivApiError(SourceError):
    """The API answered with an error (its error feed, or an HTTP failure after retries)."""


@dataclass(frozen=True)
class FeedPage:
    total: int
    start: int
    records: list[IngestRecord]


def parse_feed(data: bytes, source: str) -> FeedPage:
    """One API response as records. Malformed XML raises :class:`SourceError` with the
    position; an error feed (an entry titled ``Error``) raises :class:`ArxivApiError`."""
    root = parse_xml(data, source)
    if root.tag != f"{ATOM}feed":
        raise SourceError(f"{source}: not an Atom feed (root element {root.tag!r})")
    entries = root.findall(f"{ATOM}entry")
    for entry in entries:
        if "/api/errors" in (_text(entry, f"{ATOM}id") or ""):
            message = _text(entry, f"{ATOM}summary") or "unknown error"
            raise ArxivApiError(f"{source}: arXiv API error: {message}")
    records = [_entry_record(entry, f"{source} (entry {i})") for i, entry in enumerate(entries, 1)]
    return FeedPage(
        total=_int(root, f"{OPENSEARCH}totalResults", len(records)),
        start=_int(root, f"{OPENSEARCH}startIndex", 0),
        records=records,
    )


def _text(element: Element, path: str) -> str | None:
    found = element.find(path)
    return found.text if found is not None and found.text is not None else None


def _int(element: Element, path: str, default: int) -> int:
    text = _text(element, path)
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _entry_record(entry: Element, location: str) -> IngestRecord:
    url = _text(entry, f"{ATOM}id") or ""
    try:
        arxiv_id, version = split_arxiv_id(url.rsplit("/abs/", 1)[-1])
    except InvalidArxivId:
        raise RecordError(location, f"entry id {url!r} is not an arXiv abstract URL") from None
    primary = entry.find(f"{ARXIV}primary_category")
    categories = [c.get("term", "") for c in entry.findall(f"{ATOM}category")]
    if primary is not None and primary.get("term"):
        primary_term = primary.get("term", "")
        categories = [primary_term, *[c for c in categories if c != primary_term]]
    flat: dict[str, Any] = {
        "title": _text(entry, f"{ATOM}title"),
        "abstract": _text(entry, f"{ATOM}summary"),
        "authors": [_text(a, f"{ATOM}name") or "" for a in entry.findall(f"{ATOM}author")],
        "categories": list(dict.fromkeys(c for c in categories if c)),
        "comment": _text(entry, f"{ARXIV}comment"),
        "journal_ref": _text(entry, f"{ARXIV}journal_ref"),
        "doi": _text(entry, f"{ARXIV}doi"),
    }
    try:
        paper = fields.build_paper(
            arxiv_id,
            version,
            flat,
            published=fields.iso_datetime(_text(entry, f"{ATOM}published"), "published"),
            updated=fields.iso_datetime(_text(entry, f"{ATOM}updated"), "updated"),
        )
    except fields.FieldError as exc:
        raise RecordError(location, str(exc)) from None
    return IngestRecord(paper=paper, source=SOURCE, location=location)


class ArxivClient:
    """Fetches from the arXiv API, politely (see :class:`~paperfeed.ingest.http.PoliteClient`:
    at most one request per ``min_interval`` seconds, bounded retries on 5xx)."""

    def __init__(self, base_url: str, *, min_interval: float = 3.0, **options: Any) -> None:
        self.base_url = base_url
        self._http = PoliteClient(min_interval=min_interval, **options)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ArxivClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch_ids(self, ids: list[str]) -> Iterator[IngestRecord | RecordError]:
        """Records for ``ids`` (with or without version), asking for 100 at a time.

        An id arXiv does not know yields a :class:`RecordError` naming it.
        """
        for start in range(0, len(ids), IDS_PER_REQUEST):
            chunk = ids[start : start + IDS_PER_REQUEST]
            page = self._get(
                {
                    "search_query": "",
                    "id_list": ",".join(chunk),
                    "start": 0,
                    "max_results": IDS_PER_REQUEST,
                }
            )
            found = {r.paper.arxiv_id for r in page.records}
            yield from page.records
            for wanted in chunk:
                bare = split_arxiv_id(wanted)[0]
                if bare not in found:
                    yield RecordError(f"arXiv id {wanted}", "arXiv has no paper with this id")

    def fetch_one(self, arxiv_id: str) -> IngestRecord:
        """One paper by id, or :class:`ArxivApiError` if arXiv does not have it."""
        for item in self.fetch_ids([arxiv_id]):
            if isinstance(item, RecordError):
                raise ArxivApiError(str(item))
            return item
        raise ArxivApiError(f"arXiv id {arxiv_id}: arXiv has no paper with this id")

    def search(
        self, query: str, max_results: int, page_size: int = PAGE_SIZE
    ) -> Iterator[IngestRecord]:
        """Up to ``max_results`` papers matching an arXiv query (``cat:cs.LG AND ti:grokking``)."""
        start = 0
        while start < max_results:
            size = min(page_size, max_results - start)
            page = self._get(
                {"search_query": query, "id_list": "", "start": start, "max_results": size}
            )
            yield from page.records
            start += size
            if not page.records or start >= page.total:
                return

    def _get(self, params: dict[str, Any]) -> FeedPage:
        params = {**params, "sortBy": "relevance", "sortOrder": "descending"}
        try:
            where, body = self._http.get(self.base_url, params)
        except FetchError as exc:
            raise ArxivApiError(str(exc)) from None
        return parse_feed(body, where)
