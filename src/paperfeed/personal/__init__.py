"""Views of the corpus beyond the feeds: topics of a period (and recommendations)."""
