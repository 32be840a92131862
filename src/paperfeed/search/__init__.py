"""Search: the query language, keyword and semantic rankers, hybrid fusion, indexing."""

from .engine import MODES, Fusion, Hit, Searcher, SearchResults, rrf
from .query import Query, QuerySyntaxError, parse_query

__all__ = [
    "MODES",
    "Fusion",
    "Hit",
    "Query",
    "QuerySyntaxError",
    "SearchResults",
    "Searcher",
    "parse_query",
    "rrf",
]
