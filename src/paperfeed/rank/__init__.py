"""Ranking: what goes on a feed page and in which order."""
