"""Ingestion: sources -> :class:`~paperfeed.models.IngestRecord` (pure parsing) -> one loader."""

from .errors import RecordError, SourceError
from .loader import ImportStopped, ImportSummary, hf_daily_reader, import_files, load_records

__all__ = [
    "ImportStopped",
    "ImportSummary",
    "RecordError",
    "SourceError",
    "hf_daily_reader",
    "import_files",
    "load_records",
]
