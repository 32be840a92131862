"""Papers in formats other programs read: Atom feeds and BibTeX."""

from .atom import FeedInfo, atom_feed, entry_id
from .bibtex import bibtex_entries, bibtex_entry, citation_key, latex_escape

__all__ = [
    "FeedInfo",
    "atom_feed",
    "bibtex_entries",
    "bibtex_entry",
    "citation_key",
    "entry_id",
    "latex_escape",
]
