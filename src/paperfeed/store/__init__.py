"""Storage: the only package that speaks SQL. Schema, migrations and queries."""

from .engine import DatabaseError, describe_url
from .store import BatchResult, Checkpoint, JobLocked, JobRun, Stats, Store, utcnow

__all__ = [
    "BatchResult",
    "Checkpoint",
    "DatabaseError",
    "JobLocked",
    "JobRun",
    "Stats",
    "Store",
    "describe_url",
    "utcnow",
]
