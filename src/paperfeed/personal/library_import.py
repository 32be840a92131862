"""Library import: seed a reader's library from a reference manager's export.

Four formats, told apart by the file's name or, failing that, its first characters: BibTeX
(``.bib``; Google Scholar, Zotero, JabRef, arXiv's own), RIS (``.ris``; Zotero, Mendeley,
EndNote), CSL-JSON (``.json``; Zotero's "CSL JSON" export) and a plain list of arXiv ids or
URLs (one per line, ``#`` comments). Each reference is matched to a paper of the store by,
in order: its arXiv id (the ``eprint`` field, an arXiv URL, a ``10.48550/arXiv.…`` DOI,
"arXiv:2310.06110" anywhere in a journal or note field), its DOI, then its title (the same
letters and digits, case and accents aside, among the best keyword matches). A reference
with an arXiv id the store does not hold is fetched through the arXiv API client (the
same one ``paperfeed ingest arxiv`` uses). What cannot be matched is reported with its line
(or item number), as is every entry the parser could not read; nothing of the rest is lost
because of them, and importing the same file twice saves nothing twice.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from paperfeed.ingest.arxiv_api import ArxivClient
from paperfeed.ingest.errors import SourceError
from paperfeed.models import IngestRecord, InvalidArxivId, SearchFilter, split_arxiv_id
from paperfeed.store import Store

MAX_BYTES = 50 * 1024 * 1024  # a library of tens of thousands of references fits easily
FORMATS = ("bibtex", "ris", "csl-json", "ids")

_ARXIV_IN_TEXT = re.compile(
    r"(?:arxiv[:\s./]*(?:abs/|pdf/)?|arxiv\.org/(?:abs|pdf|html)/)"
    r"(?P<id>\d{4}\.\d{4,5}(?:v\d+)?|[a-z][a-z.-]*/\d{7}(?:v\d+)?)",
    re.IGNORECASE,
)
_ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(?P<id>.+)$", re.IGNORECASE)
_DOI = re.compile(r"10\.\d{4,9}/\S+", re.IGNORECASE)


class LibraryError(ValueError):
    """The file as a whole cannot be imported (too large, not text, unknown format)."""


@dataclass
class Reference:
    """One reference of a library file, as far as it tells."""

    where: str  # "line 12" or "item 3": for the report
    title: str | None = None
    arxiv_id: str | None = None
    doi: str | None = None
    authors: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.title or self.arxiv_id or self.doi or "(no title)"


@dataclass
class Problem:
    where: str
    message: str


@dataclass
class ImportReport:
    """What an import did: every reference is in exactly one of matched, fetched, duplicate
    or unmatched; ``problems`` are entries the parser could not read."""

    format: str
    references: int = 0
    matched: list[tuple[str, str]] = field(default_factory=list)  # (where, arxiv id)
    fetched: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    unmatched: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    saved: int = 0  # papers newly saved (the rest were in the library already)
    coauthors: list[tuple[str, int]] = field(default_factory=list)  # to offer to follow

    @property
    def paper_ids(self) -> list[str]:
        return [pid for _, pid in [*self.matched, *self.fetched]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "references": self.references,
            "matched": [{"where": w, "arxiv_id": p} for w, p in self.matched],
            "fetched": [{"where": w, "arxiv_id": p} for w, p in self.fetched],
            "duplicates": [{"where": w, "arxiv_id": p} for w, p in self.duplicates],
            "unmatched": [{"where": p.where, "reason": p.message} for p in self.unmatched],
            "problems": [{"where": p.where, "message": p.message} for p in self.problems],
            "saved": self.saved,
            "coauthors": [{"name": n, "papers": c} for n, c in self.coauthors],
        }

    def line(self) -> str:
        return (
            f"{self.references} references: {len(self.matched)} matched, "
            f"{len(self.fetched)} fetched from arXiv, {len(self.duplicates)} duplicates, "
            f"{len(self.unmatched)} unmatched, {len(self.problems)} unreadable; "
            f"{self.saved} newly saved"
        )


# -- reading --------------------------------------------------------------------------


def read_library(data: bytes, filename: str = "") -> tuple[str, list[Reference], list[Problem]]:
    """The format, references and unreadable entries of a library file's bytes."""
    if len(data) > MAX_BYTES:
        raise LibraryError(
            f"the file is {len(data) / 1e6:.1f} MB; at most {MAX_BYTES // (1024 * 1024)} MB"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LibraryError(f"the file is not UTF-8 text (byte {exc.start})") from None
    kind = detect_format(text, filename)
    readers: dict[str, Callable[[str], tuple[list[Reference], list[Problem]]]] = {
        "bibtex": read_bibtex,
        "ris": read_ris,
        "csl-json": read_csl_json,
        "ids": read_ids,
    }
    references, problems = readers[kind](text)
    return kind, references, problems


def detect_format(text: str, filename: str = "") -> str:
    suffix = Path(filename).suffix.lower()
    by_suffix = {".bib": "bibtex", ".bibtex": "bibtex", ".ris": "ris", ".json": "csl-json"}
    if suffix in by_suffix:
        return by_suffix[suffix]
    head = text.lstrip()[:200]
    if head.startswith("@"):
        return "bibtex"
    if re.match(r"TY  - ", head):
        return "ris"
    if head.startswith(("[", "{")):
        return "csl-json"
    return "ids"


def read_bibtex(text: str) -> tuple[list[Reference], list[Problem]]:
    from bibtexparser.entrypoint import parse_string

    logging.getLogger("bibtexparser").setLevel(logging.ERROR)  # problems are reported here
    library = parse_string(text)
    references = []
    for entry in library.entries:
        fields = {k.lower(): str(v.value) for k, v in entry.fields_dict.items()}
        ref = Reference(f"line {(entry.start_line or 0) + 1}", _clean_tex(fields.get("title")))
        ref.authors = [
            _clean_tex(name) or "" for name in re.split(r"\s+and\s+", fields.get("author", ""))
        ]
        ref.authors = [_bibtex_name(a) for a in ref.authors if a]
        ref.keywords = [k.strip() for k in re.split(r"[,;]", fields.get("keywords", "")) if k]
        eprint = fields.get("eprint", "")
        prefix = fields.get("archiveprefix", fields.get("eprinttype", "arxiv")).lower()
        ref.arxiv_id = (_arxiv_id(eprint) if prefix == "arxiv" else None) or _arxiv_in(
            fields.get(key, "") for key in ("url", "journal", "note", "howpublished", "doi")
        )
        ref.doi = _doi(fields.get("doi", ""))
        references.append(ref)
    problems = [
        Problem(f"line {(block.start_line or 0) + 1}", _block_error(block))
        for block in library.failed_blocks
    ]
    return references, problems


def _block_error(block: Any) -> str:
    error = getattr(block, "error", None)
    reason = str(getattr(error, "abort_reason", "") or error or "").strip()
    return f"not a readable BibTeX entry: {reason or type(error).__name__}"


def read_ris(text: str) -> tuple[list[Reference], list[Problem]]:
    references: list[Reference] = []
    problems: list[Problem] = []
    current: Reference | None = None
    urls: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if not line.strip():
            continue
        match = re.match(r"^([A-Z][A-Z0-9])  -(?: (.*))?$", line)
        if match is None:
            if current is None:
                problems.append(Problem(f"line {number}", "not a RIS line (`XX  - value`)"))
            continue  # a continued value: ignored
        tag, value = match[1], (match[2] or "").strip()
        if tag == "TY":
            if current is not None:
                problems.append(Problem(current.where, "reference without its end (ER)"))
            current, urls = Reference(f"line {number}"), []
        elif current is None:
            problems.append(Problem(f"line {number}", f"{tag} outside a reference (no TY)"))
        elif tag == "ER":
            current.arxiv_id = current.arxiv_id or _arxiv_in(urls)
            references.append(current)
            current = None
        elif tag in ("TI", "T1") and not current.title:
            current.title = value
        elif tag in ("AU", "A1"):
            current.authors.append(_bibtex_name(value))
        elif tag == "DO":
            current.doi = _doi(value)
            current.arxiv_id = current.arxiv_id or _arxiv_in([value])
        elif tag in ("UR", "L1", "L2", "N1", "M3", "JO", "T2", "SN"):
            urls.append(value)
        elif tag == "KW":
            current.keywords.append(value)
    if current is not None:
        problems.append(Problem(current.where, "reference without its end (ER)"))
    return references, problems


def read_csl_json(text: str) -> tuple[list[Reference], list[Problem]]:
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise LibraryError(f"not valid JSON: {exc}") from None
    if isinstance(items, dict):
        items = items.get("items", [items])
    if not isinstance(items, list):
        raise LibraryError("CSL-JSON must be a list of items")
    references, problems = [], []
    for number, item in enumerate(items, start=1):
        where = f"item {number}"
        if not isinstance(item, dict):
            problems.append(Problem(where, "not a CSL-JSON item (an object)"))
            continue
        ref = Reference(where, title=_text(item.get("title")))
        for person in item.get("author") or []:
            if isinstance(person, dict):
                name = " ".join(
                    str(person.get(k, "")) for k in ("given", "family") if person.get(k)
                ) or str(person.get("literal", ""))
                if name:
                    ref.authors.append(name)
        ref.doi = _doi(_text(item.get("DOI")) or "")
        ref.arxiv_id = _arxiv_in(
            _text(item.get(key)) or ""
            for key in ("number", "URL", "DOI", "archive_location", "note", "container-title")
        )
        keywords = _text(item.get("keyword")) or ""
        ref.keywords = [k.strip() for k in re.split(r"[,;]", keywords) if k.strip()]
        references.append(ref)
    return references, problems


def read_ids(text: str) -> tuple[list[Reference], list[Problem]]:
    from paperfeed.community.submit import SubmitError, parse_submission

    references, problems = [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            references.append(Reference(f"line {number}", arxiv_id=parse_submission(line)))
        except SubmitError:
            problems.append(Problem(f"line {number}", f"not an arXiv id or URL: {line[:80]!r}"))
    return references, problems


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value).strip() if value not in (None, "") else None


def _clean_tex(value: str | None) -> str | None:
    """A BibTeX value without its braces and the commonest TeX accents."""
    if not value:
        return None
    from pylatexenc.latex2text import LatexNodes2Text

    try:
        text = LatexNodes2Text().latex_to_text(value)
    except Exception:  # pylatexenc gives up on some TeX: keep the letters
        text = re.sub(r"[{}\\]", "", value)
    return re.sub(r"\s+", " ", text).strip() or None


def _bibtex_name(name: str) -> str:
    """``Parisi, Giorgio`` as ``Giorgio Parisi``."""
    if "," in name:
        last, _, first = name.partition(",")
        return f"{first.strip()} {last.strip()}".strip()
    return name.strip()


def _arxiv_id(text: str) -> str | None:
    text = re.sub(r"^arxiv:\s*", "", text.strip(), flags=re.IGNORECASE)
    try:
        return split_arxiv_id(text)[0] if text else None
    except InvalidArxivId:
        return None


def _arxiv_in(texts: Iterable[str]) -> str | None:
    for text in texts:
        doi = _ARXIV_DOI.match(text.strip())
        if doi and (found := _arxiv_id(doi["id"])):
            return found
        match = _ARXIV_IN_TEXT.search(text)
        if match and (found := _arxiv_id(match["id"])):
            return found
    return None


def _doi(text: str) -> str | None:
    match = _DOI.search(text)
    return match[0].rstrip(".,;").lower() if match else None


def title_key(title: str) -> str:
    """Letters and digits of a title, case and accents aside: what title matching compares."""
    folded = unicodedata.normalize("NFKD", title.casefold())
    return "".join(ch for ch in folded if ch.isalnum())


# -- matching -------------------------------------------------------------------------


def match_references(
    references: Sequence[Reference],
    *,
    papers_by_doi: Callable[[Sequence[str]], dict[str, str]],
    keyword: Callable[[Sequence[str], SearchFilter, int], list[tuple[str, float]]],
    titles: Callable[[Sequence[str]], dict[str, str]],
    fetch: Callable[[list[str]], dict[str, str]] | None,
    report: ImportReport,
) -> None:
    """Fill ``report`` with what each reference matched. ``fetch`` gets unknown arXiv ids
    from arXiv and answers {id: "" or why not}; ``None`` leaves them unmatched."""
    seen: dict[str, str] = {}
    by_doi = papers_by_doi([r.doi for r in references if r.doi])
    known = titles(sorted({r.arxiv_id for r in references if r.arxiv_id}))  # one look
    to_fetch: list[tuple[Reference, str]] = []

    def place(ref: Reference, arxiv_id: str, bucket: list[tuple[str, str]]) -> None:
        if arxiv_id in seen:
            report.duplicates.append((ref.where, arxiv_id))
        else:
            seen[arxiv_id] = ref.where
            bucket.append((ref.where, arxiv_id))

    for ref in references:
        if ref.arxiv_id and ref.arxiv_id in known:
            place(ref, ref.arxiv_id, report.matched)
        elif ref.doi and ref.doi in by_doi:
            place(ref, by_doi[ref.doi], report.matched)
        elif ref.title and (found := _by_title(ref.title, keyword, titles)):
            place(ref, found, report.matched)
        elif ref.arxiv_id:
            to_fetch.append((ref, ref.arxiv_id))
        else:
            why = "no arXiv id, DOI or title of a paper here"
            report.unmatched.append(Problem(ref.where, f"{ref.label[:120]}: {why}"))
    if not to_fetch:
        return
    if fetch is None:
        for ref, arxiv_id in to_fetch:
            report.unmatched.append(Problem(ref.where, f"{arxiv_id}: not here (fetching is off)"))
        return
    answers = fetch(sorted({arxiv_id for _, arxiv_id in to_fetch}))
    for ref, arxiv_id in to_fetch:
        why = answers.get(arxiv_id, "not found on arXiv")
        if why:
            report.unmatched.append(Problem(ref.where, f"{arxiv_id}: {why}"))
        else:
            place(ref, arxiv_id, report.fetched)


def _by_title(
    title: str,
    keyword: Callable[[Sequence[str], SearchFilter, int], list[tuple[str, float]]],
    titles: Callable[[Sequence[str]], dict[str, str]],
) -> str | None:
    """The paper whose title is ``title`` (letters and digits equal), among the ten best
    keyword matches of its words."""
    wanted = title_key(title)
    words = re.findall(r"\w+", title)[:30]
    if not wanted or not words:
        return None
    candidates = [pid for pid, _ in keyword(words, SearchFilter(), 10)]
    for pid, stored in titles(candidates).items():
        if title_key(stored) == wanted:
            return pid
    return None


def coauthors(
    authors_of: Iterable[Sequence[str]], limit: int = 10, minimum: int = 2
) -> list[tuple[str, int]]:
    """The names that appear on most of the imported papers: the reader, and the people they
    work with, whom the import offers to follow."""
    counts = Counter(name for names in authors_of for name in dict.fromkeys(names))
    return [(name, n) for name, n in counts.most_common(limit) if n >= minimum]


# -- the whole import -----------------------------------------------------------------


def import_library(
    store: Store,
    user_id: int,
    data: bytes,
    filename: str,
    *,
    now: datetime,
    keyword: Callable[[Sequence[str], SearchFilter, int], list[tuple[str, float]]],
    fetch: Callable[[list[str]], dict[str, str]] | None = None,
    tag: tuple[str, str] | None = None,
) -> ImportReport:
    """Read ``data`` (a library file named ``filename``), match its references, save the
    matched papers to ``user_id``'s library (tagged ``tag`` = (name, key) when given) and
    report. Raises :class:`LibraryError` for a file that cannot be read at all."""
    kind, references, problems = read_library(data, filename)
    report = ImportReport(kind, len(references), problems=problems)
    match_references(
        references,
        papers_by_doi=store.search.papers_by_doi,
        keyword=keyword,
        titles=store.search.titles,
        fetch=fetch,
        report=report,
    )
    for paper_id in report.paper_ids:
        report.saved += store.personal.save(user_id, paper_id, now=now)
        if tag is not None:
            store.personal.add_tag(user_id, paper_id, tag[0], tag[1], now=now)
    found = store.search.papers(report.paper_ids)
    report.coauthors = coauthors(p.authors for p in found.values())
    return report


def arxiv_fetcher(store: Store, client: ArxivClient) -> Callable[[list[str]], dict[str, str]]:
    """Fetch papers by arXiv id through ``client`` and store them: {id: "" when stored, or
    why not}."""

    def fetch(ids: list[str]) -> dict[str, str]:
        answers: dict[str, str] = {}
        records = []
        try:
            for item in client.fetch_ids(ids):
                if isinstance(item, IngestRecord):
                    records.append(item)
                    answers[item.paper.arxiv_id] = ""
                # an id arXiv does not know is left out: "not found on arXiv"
        except SourceError as exc:  # ArxivApiError too: arXiv unreachable or refusing
            for arxiv_id in ids:
                answers.setdefault(arxiv_id, f"arXiv could not be reached: {exc}")
        if records:
            store.write_batch(records)
        return answers

    return fetch
