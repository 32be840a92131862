"""Errors that say where in the input something is wrong."""

from __future__ import annotations


class RecordError(ValueError):
    """One input record is unusable. ``location`` is ``path:line``."""

    def __init__(self, location: str, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message


class SourceError(RuntimeError):
    """The input as a whole cannot be read further (missing file, broken gzip, bad JSON)."""
