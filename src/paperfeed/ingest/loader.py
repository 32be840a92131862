"""The one idempotent loader: records from any source into the store, in batches.

Each batch is written in one transaction together with a checkpoint (how many input records
of this file are done). A rerun of a finished file does nothing; a rerun after a crash or
Ctrl-C resumes after the last committed batch. Re-reading a file from the start
(``resume=False``) is also safe: writes are upserts by arXiv id and change nothing when the
data is the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path

from paperfeed.models import IngestRecord, is_older_version
from paperfeed.store import BatchResult, Store

from . import arxiv_jsonl, hf_daily
from .errors import RecordError
from .files import InputFile

Reader = Callable[[InputFile, int], Iterator[tuple[int, IngestRecord | RecordError]]]
Progress = Callable[[int, int], None]  # (bytes done, bytes total) of the current file
Warn = Callable[[str], None]

DEFAULT_BATCH_SIZE = 1000
MAX_REPORTED_PROBLEMS = 20


class ImportStopped(RuntimeError):
    """``--strict`` met a bad record: what came before it is committed, its batch is not."""


@dataclass
class ImportSummary:
    files: int = 0
    files_already_done: int = 0
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    older: int = 0
    bad: int = 0
    duplicates: int = 0
    feed_entries_added: int = 0
    upvotes_changed: int = 0
    resumed_at: dict[str, int] = field(default_factory=dict)

    def add(self, batch: BatchResult) -> None:
        for name in ("inserted", "updated", "unchanged", "older"):
            setattr(self, name, getattr(self, name) + getattr(batch, name))
        self.feed_entries_added += batch.feed_entries_added
        self.upvotes_changed += batch.upvotes_changed

    def merge(self, other: ImportSummary) -> None:
        for f in fields(self):
            if f.name == "resumed_at":
                self.resumed_at.update(other.resumed_at)
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def line(self) -> str:
        parts = [
            f"{self.read:,} records read",
            f"{self.inserted:,} new",
            f"{self.updated:,} updated",
            f"{self.unchanged:,} unchanged",
        ]
        if self.older:
            parts.append(f"{self.older:,} older versions ignored")
        parts.append(f"{self.feed_entries_added:,} feed entries added")
        if self.upvotes_changed:
            parts.append(f"{self.upvotes_changed:,} upvote counts changed")
        parts.append(f"{self.bad:,} bad records skipped")
        if self.duplicates:
            parts.append(f"{self.duplicates:,} duplicate ids")
        if self.files_already_done:
            parts.append(f"{self.files_already_done} file(s) already imported")
        return ", ".join(parts)


def _read_arxiv(
    input_file: InputFile, skip: int
) -> Iterator[tuple[int, IngestRecord | RecordError]]:
    return arxiv_jsonl.read(input_file, skip)


def hf_daily_reader(day: date | None = None) -> Reader:
    def read(input_file: InputFile, skip: int) -> Iterator[tuple[int, IngestRecord | RecordError]]:
        return hf_daily.read(input_file, skip, day)

    return read


READERS: dict[str, Reader] = {"jsonl": _read_arxiv, "hf-daily": hf_daily_reader()}


def import_files(
    store: Store,
    kind: str,
    paths: list[Path],
    *,
    reader: Reader | None = None,
    strict: bool = False,
    resume: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    warn: Warn | None = None,
) -> ImportSummary:
    """Import every file with the reader for ``kind``; see the module doc for guarantees."""
    total = ImportSummary()
    with store.job_lock("import"):
        for path in paths:
            summary = import_file(
                store,
                kind,
                InputFile(path),
                reader=reader or READERS[kind],
                strict=strict,
                resume=resume,
                batch_size=batch_size,
                progress=progress,
                warn=warn,
            )
            total.merge(summary)
    return total


def import_file(
    store: Store,
    kind: str,
    input_file: InputFile,
    *,
    reader: Reader,
    strict: bool = False,
    resume: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    warn: Warn | None = None,
) -> ImportSummary:
    key = f"{kind}:{input_file.identity}"
    checkpoint = store.get_checkpoint(key) if resume else None
    if checkpoint and checkpoint.finished:
        return ImportSummary(files=1, files_already_done=1)
    skip = checkpoint.records_done if checkpoint else 0

    def report_progress(finished: bool) -> None:
        if progress:
            progress(input_file.size if finished else input_file.bytes_read, input_file.size)

    summary = load_records(
        store,
        reader(input_file, skip),
        checkpoint_key=key,
        done=skip,
        strict=strict,
        batch_size=batch_size,
        on_batch=report_progress,
        warn=warn,
    )
    summary.files = 1
    if skip:
        summary.resumed_at[str(input_file.path)] = skip
    return summary


def load_records(
    store: Store,
    items: Iterable[tuple[int, IngestRecord | RecordError]],
    *,
    checkpoint_key: str | None = None,
    done: int = 0,
    final_checkpoint: tuple[str, int, bool, str | None] | None = None,
    strict: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: Callable[[bool], None] | None = None,
    warn: Warn | None = None,
) -> ImportSummary:
    """Write ``(position, record or error)`` items in batches; see the module doc.

    With a ``checkpoint_key``, each batch also records how many positions are done, so a
    rerun can skip them (``done`` is where this run started). A ``final_checkpoint`` is
    instead written with the last batch only (a page-level cursor, as OAI-PMH needs).
    """
    summary = ImportSummary()
    report = _Reporter(warn, strict)
    batch: dict[str, IngestRecord] = {}
    first_at: dict[str, str] = {}

    def flush(finished: bool) -> None:
        checkpoint: tuple[str, int, bool] | tuple[str, int, bool, str | None] | None = None
        if checkpoint_key:
            checkpoint = (checkpoint_key, done, finished)
        elif finished:
            checkpoint = final_checkpoint
        summary.add(store.write_batch(list(batch.values()), checkpoint=checkpoint))
        batch.clear()
        if on_batch:
            on_batch(finished)

    for position, item in items:
        if isinstance(item, RecordError):
            summary.bad += 1
            report.problem(str(item))
            done = position
            continue
        summary.read += 1
        arxiv_id = item.paper.arxiv_id
        if arxiv_id in first_at:
            summary.duplicates += 1
            report.problem(
                f"{item.location}: duplicate id {arxiv_id} (first at {first_at[arxiv_id]}); "
                "the later record is applied as an update"
            )
        else:
            first_at[arxiv_id] = item.location
        earlier = batch.get(arxiv_id)
        if earlier is not None and earlier.feed_day != item.feed_day:
            flush(False)  # both feed placements count: commit the earlier one first
        elif earlier is not None and is_older_version(earlier.paper, item.paper):
            done = position
            continue
        batch[arxiv_id] = item
        done = position
        if len(batch) >= batch_size:
            flush(False)
    flush(True)
    report.close()
    return summary


class _Reporter:
    """Sends problems to ``warn`` (the first few, then a count) or stops in strict mode."""

    def __init__(self, warn: Warn | None, strict: bool) -> None:
        self.warn = warn
        self.strict = strict
        self.count = 0

    def problem(self, message: str) -> None:
        if self.strict:
            raise ImportStopped(message)
        self.count += 1
        if self.warn and self.count <= MAX_REPORTED_PROBLEMS:
            self.warn(message)

    def close(self) -> None:
        if self.warn and self.count > MAX_REPORTED_PROBLEMS:
            self.warn(f"... and {self.count - MAX_REPORTED_PROBLEMS:,} more problems")
