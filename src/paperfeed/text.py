"""Small text helpers shared by the web pages and the e-mails."""

from __future__ import annotations


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` at a word boundary near ``limit`` characters, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"
