"""OAI-PMH bulk harvest of arXiv (``ListRecords``), resumable page by page.

Each page's records and the resumptionToken of the next page are written in one transaction,
so a harvest killed at any point resumes at the first page not yet stored: no duplicates, no
gaps. ``noRecordsMatch`` is a successful harvest of zero records; other OAI errors
(``badResumptionToken``, ``badArgument`` …) stop with their code and message.

Formats: ``arXiv`` (arXiv's own: authors split into names, category codes, licence, dates of
the first and latest version; the default) and ``oai_dc`` (Dublin Core: names as "Last, First",
subjects as long names, so categories stay unknown).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from xml.etree.ElementTree import Element

from paperfeed.models import IngestRecord, InvalidArxivId, split_arxiv_id
from paperfeed.store import Store

from . import fields
from .errors import RecordError, SourceError
from .http import FetchError, PoliteClient
from .loader import ImportSummary, load_records
from .xmldoc import parse_xml

SOURCE = "arxiv-oai"
OAI = "{http://www.openarchives.org/OAI/2.0/}"
OAI_DC = "{http://www.openarchives.org/OAI/2.0/oai_dc/}"
DC = "{http://purl.org/dc/elements/1.1/}"
ARXIV_FMT = "{http://arxiv.org/OAI/arXiv/}"
FORMATS = ("arXiv", "oai_dc")
_ABS_URL = re.compile(r"^https?://arxiv\.org/abs/(.+)$")


class OaiError(SourceError):
    """The repository answered with an OAI-PMH error."""


@dataclass
class OaiPage:
    items: list[IngestRecord | RecordError]
    token: str | None
    deleted: int = 0
    complete_size: int | None = None


@dataclass
class HarvestSummary:
    pages: int = 0
    deleted: int = 0
    filtered: int = 0
    resumed: bool = False
    load: ImportSummary = field(default_factory=ImportSummary)


def parse_page(data: bytes, source: str) -> OaiPage:
    """One ``ListRecords`` response. Located errors for bad XML; :class:`OaiError` for OAI
    errors other than ``noRecordsMatch``."""
    root = parse_xml(data, source)
    error = root.find(f"{OAI}error")
    if error is not None:
        code = error.get("code", "unknown")
        if code == "noRecordsMatch":
            return OaiPage(items=[], token=None)
        raise OaiError(f"{source}: OAI-PMH error {code}: {(error.text or '').strip()}")
    listing = root.find(f"{OAI}ListRecords")
    if listing is None:
        raise SourceError(f"{source}: no ListRecords element in the answer")
    page = OaiPage(items=[], token=None)
    for index, record in enumerate(listing.findall(f"{OAI}record"), start=1):
        header = record.find(f"{OAI}header")
        if header is not None and header.get("status") == "deleted":
            page.deleted += 1
            continue
        location = f"{source} (record {index})"
        try:
            if record.find(f"{OAI}metadata/{ARXIV_FMT}arXiv") is not None:
                page.items.append(_arxiv_record(record, location))
            else:
                page.items.append(_dc_record(record, location))
        except RecordError as exc:
            page.items.append(exc)
    token = listing.find(f"{OAI}resumptionToken")
    if token is not None and (token.text or "").strip():
        page.token = (token.text or "").strip()
        size = token.get("completeListSize")
        page.complete_size = int(size) if size and size.isdigit() else None
    return page


def _texts(element: Element, path: str) -> list[str]:
    return [e.text.strip() for e in element.findall(path) if e.text and e.text.strip()]


def _dc_record(record: Element, location: str) -> IngestRecord:
    dc = record.find(f"{OAI}metadata/{OAI_DC}dc")
    if dc is None:
        raise RecordError(location, "record has no oai_dc metadata")
    identifiers = _texts(dc, f"{DC}identifier")
    abs_urls = [m.group(1) for i in identifiers if (m := _ABS_URL.match(i))]
    header_id = record.findtext(f"{OAI}header/{OAI}identifier", default="")
    raw_id = abs_urls[0] if abs_urls else header_id.removeprefix("oai:arXiv.org:")
    try:
        arxiv_id, version = split_arxiv_id(raw_id)
    except InvalidArxivId as exc:
        raise RecordError(location, str(exc)) from None
    descriptions = _texts(dc, f"{DC}description")
    comments = [
        d.removeprefix("Comment:").strip() for d in descriptions if d.startswith("Comment:")
    ]
    abstracts = [d for d in descriptions if not d.startswith("Comment:")]
    others = [i for i in identifiers if not _ABS_URL.match(i)]
    dois = [i.removeprefix("doi:") for i in others if i.startswith("doi:")]
    journal_refs = [i for i in others if not i.startswith("doi:") and "://" not in i]
    dates = _texts(dc, f"{DC}date")
    flat: dict[str, Any] = {
        "title": dc.findtext(f"{DC}title"),
        "abstract": abstracts[0] if abstracts else None,
        "authors": [_first_last(c) for c in _texts(dc, f"{DC}creator")],
        "comment": comments[0] if comments else None,
        "journal_ref": journal_refs[0] if journal_refs else None,
        "doi": dois[0] if dois else None,
    }
    try:
        paper = fields.build_paper(
            arxiv_id,
            version,
            flat,
            published=_day(dates[0], "date") if dates else None,
            updated=_day(dates[-1], "date") if len(dates) > 1 else None,
        )
    except fields.FieldError as exc:
        raise RecordError(location, str(exc)) from None
    return IngestRecord(paper=paper, source=SOURCE, location=location, datestamp=_datestamp(record))


def _arxiv_record(record: Element, location: str) -> IngestRecord:
    """A record in arXiv's ``arXiv`` metadata format (schema http://arxiv.org/OAI/arXiv.xsd)."""
    meta = record.find(f"{OAI}metadata/{ARXIV_FMT}arXiv")
    assert meta is not None

    def text(name: str) -> str | None:
        value = meta.findtext(f"{ARXIV_FMT}{name}")
        return value.strip() if value and value.strip() else None

    try:
        arxiv_id, version = split_arxiv_id(text("id") or "")
    except InvalidArxivId as exc:
        raise RecordError(location, str(exc)) from None
    authors = []
    for author in meta.findall(f"{ARXIV_FMT}authors/{ARXIV_FMT}author"):
        parts = [author.findtext(f"{ARXIV_FMT}{n}") for n in ("forenames", "keyname", "suffix")]
        authors.append(" ".join(p.strip() for p in parts if p and p.strip()))
    license_url = text("license")
    if license_url and not license_url.startswith(("https://", "http://")):
        license_url = None
    flat: dict[str, Any] = {
        "title": text("title"),
        "abstract": text("abstract"),
        "authors": authors,
        "categories": (text("categories") or "").split(),
        "comment": text("comments"),
        "journal_ref": text("journal-ref"),
        "doi": text("doi"),
        "license": license_url,
    }
    try:
        created, updated = text("created"), text("updated")
        paper = fields.build_paper(
            arxiv_id,
            version,
            flat,
            published=_day(created, "created") if created else None,
            updated=_day(updated, "updated") if updated else None,
        )
    except fields.FieldError as exc:
        raise RecordError(location, str(exc)) from None
    return IngestRecord(paper=paper, source=SOURCE, location=location, datestamp=_datestamp(record))


def _datestamp(record: Element) -> date | None:
    text = record.findtext(f"{OAI}header/{OAI}datestamp", default="").strip()
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


def _first_last(creator: str) -> str:
    """Dublin Core writes "Last, First"; the store keeps names as people write them."""
    last, comma, first = creator.partition(",")
    return f"{first.strip()} {last.strip()}" if comma and first.strip() else creator.strip()


def _day(text: str, key: str) -> datetime:
    return datetime.combine(fields.iso_date(text, key), time())


def harvest(
    store: Store,
    client: PoliteClient,
    base_url: str,
    *,
    since: date,
    until: date | None = None,
    set_spec: str | None = None,
    metadata_prefix: str = "arXiv",
    restart: bool = False,
    on_page: Callable[[int, OaiPage], None] | None = None,
    warn: Callable[[str], None] | None = None,
    transform: Callable[[IngestRecord], IngestRecord | None] | None = None,
    dry_run: bool = False,
) -> HarvestSummary:
    """Harvest ``ListRecords`` from ``since`` (to ``until``) into the store, resumably.

    ``transform`` may change a record (say, put it on a feed day) or drop it (``None``;
    counted in ``summary.filtered``). ``dry_run`` fetches and parses every page but writes
    nothing, not even a checkpoint.
    """
    if metadata_prefix not in FORMATS:
        raise ValueError(f"metadata format {metadata_prefix!r} is not one of {FORMATS}")
    params: dict[str, Any] = {
        "verb": "ListRecords",
        "metadataPrefix": metadata_prefix,
        "from": since.isoformat(),
    }
    if until:
        params["until"] = until.isoformat()
    if set_spec:
        params["set"] = set_spec
    key = "oai:" + base_url + "?" + "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    summary = HarvestSummary()
    checkpoint = None if restart or dry_run else store.get_checkpoint(key)
    if checkpoint and checkpoint.finished:
        return summary
    pages_done = checkpoint.records_done if checkpoint else 0
    token = checkpoint.cursor if checkpoint else None
    summary.resumed = bool(checkpoint)
    while True:
        ask = {"verb": "ListRecords", "resumptionToken": token} if token else params
        try:
            where, body = client.get(base_url, ask)
        except FetchError as exc:
            resume = f"rerun to resume at page {pages_done + 1}"
            raise SourceError(f"{exc}; {resume}") from None
        page = parse_page(body, f"{where} (page {pages_done + 1})")
        pages_done += 1
        finished = page.token is None
        items = _transformed(page.items, transform, summary)
        if dry_run:
            result = ImportSummary(
                read=sum(not isinstance(i, RecordError) for i in items),
                bad=sum(isinstance(i, RecordError) for i in items),
            )
        else:
            result = load_records(
                store,
                enumerate(items, start=1),
                final_checkpoint=(key, pages_done, finished, page.token),
                warn=warn,
            )
        summary.pages += 1
        summary.deleted += page.deleted
        summary.load.merge(result)
        if on_page:
            on_page(pages_done, page)
        if finished:
            return summary
        token = page.token


def _transformed(
    items: list[IngestRecord | RecordError],
    transform: Callable[[IngestRecord], IngestRecord | None] | None,
    summary: HarvestSummary,
) -> list[IngestRecord | RecordError]:
    if transform is None:
        return items
    kept: list[IngestRecord | RecordError] = []
    for item in items:
        changed = item if isinstance(item, RecordError) else transform(item)
        if changed is None:
            summary.filtered += 1
        else:
            kept.append(changed)
    return kept


PHYSICS_ARCHIVES = {
    "astro-ph",
    "cond-mat",
    "gr-qc",
    "hep-ex",
    "hep-lat",
    "hep-ph",
    "hep-th",
    "math-ph",
    "nlin",
    "nucl-ex",
    "nucl-th",
    "physics",
    "quant-ph",
}


def oai_set(category: str) -> str:
    """The arXiv OAI-PMH set that holds a category: ``cs.LG`` → ``cs``,
    ``cond-mat.stat-mech`` → ``physics:cond-mat``."""
    archive = category.split(".", 1)[0]
    return f"physics:{archive}" if archive in PHYSICS_ARCHIVES else archive
