"""Small text helpers shared by the web pages and the e-mails."""

from __future__ import annotations

import re

_DOLLAR = re.compile(r"(?<!\\)\$")


def outside_math(text: str, index: int) -> int:
    """``index``, or where the ``$…$`` formula it falls in starts: a cut there leaves no
    formula without its closing ``$``."""
    dollars = [m.start() for m in _DOLLAR.finditer(text, 0, index)]
    return dollars[-1] if len(dollars) % 2 else index


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` at a word boundary near ``limit`` characters, with an ellipsis, never
    inside a ``$…$`` formula."""
    if len(text) <= limit:
        return text
    end = outside_math(text, limit)
    if end < limit // 2:  # a long formula early on: keep it whole if it ends soon enough
        closing = _DOLLAR.search(text, end + 1)
        end = closing.end() if closing and closing.end() <= limit * 3 // 2 else end
    cut = text[:end]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"
