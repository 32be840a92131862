"""TL;DR: one sentence of the abstract that stands for the whole, chosen at index time.

The sentence whose meaning is closest to the paper's embedding: the abstract's sentences are
embedded by mean-pooling the model's token vectors over each sentence's tokens, from the
same forward pass that embeds the paper (``Embedder.embed_with_summaries``), so a TL;DR costs
no extra inference; the paper vector they are compared with is the stored one (title and
abstract). A sentence that is too short to say anything ("We study X.") or runs past the
model's 256 tokens is not a candidate; an abstract of one sentence has no TL;DR (its card
shows the abstract).

Splitting abstracts into sentences is the fragile part: arXiv abstracts are full of "e.g.",
"et al.", "Fig. 2", decimals, versions, initials and TeX (``$p < 0.05$. Then``), so the
splitter only cuts after ``.``, ``!`` or ``?`` followed by white space and a capital, a digit
or an opening bracket, outside ``$…$``, and not after a known abbreviation or an initial.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

MIN_WORDS = 6  # a shorter sentence rarely summarises anything
MAX_WORDS = 70  # a longer one is a paragraph, not a TL;DR
_ABBREVIATIONS = frozenset(
    """e.g i.e al etc fig figs eq eqs ref refs sec vs cf resp approx no nos vol pp ch dr
    prof mr ms st viz w.r.t wrt""".split()  # noqa: SIM905
)
_BOUNDARY = re.compile(r"[.!?][\"')\]]*\s+(?=[A-Z0-9(\[$\\])")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of the sentences of ``text``, white space trimmed."""
    math = _math_spans(text)
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        cut = match.start() + 1
        if _inside(cut, math) or _after_abbreviation(text, match.start()):
            continue
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(text)))
    trimmed = []
    for begin, end in spans:
        piece = text[begin:end]
        left = len(piece) - len(piece.lstrip())
        right = len(piece.rstrip())
        if right > left:
            trimmed.append((begin + left, begin + right))
    return trimmed


def _math_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], None
    for match in re.finditer(r"(?<!\\)\$", text):
        if start is None:
            start = match.start()
        else:
            spans.append((start, match.end()))
            start = None
    return spans


def _inside(position: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(begin < position < end for begin, end in spans)


def _after_abbreviation(text: str, stop: int) -> bool:
    """Whether the ``.`` at ``stop`` ends an abbreviation or an initial, not a sentence."""
    word = re.search(r"([A-Za-z][A-Za-z.]*)$", text[:stop])
    if word is None:
        return False
    token = word.group(1).lower().rstrip(".")
    if token in _ABBREVIATIONS or token.replace(".", "") in {"eg", "ie", "etal", "wrt"}:
        return True
    return len(token) == 1 and text[stop - 1].isupper()  # an initial: "J. Smith"


def candidate_sentences(abstract: str) -> list[tuple[int, int]]:
    """The sentence spans of ``abstract`` that may be a TL;DR (none for a single sentence)."""
    spans = split_sentences(abstract)
    if len(spans) < 2:
        return []
    return [
        (begin, end)
        for begin, end in spans
        if MIN_WORDS <= len(abstract[begin:end].split()) <= MAX_WORDS
    ]


def choose(
    tokens: np.ndarray,
    offsets: Sequence[tuple[int, int]],
    mask: Sequence[int],
    spans: Sequence[tuple[int, int]],
    paper_vector: np.ndarray,
) -> int | None:
    """Which of ``spans`` (character spans of the embedded text) is closest to
    ``paper_vector``: each sentence is the mean of the token vectors (``tokens``, one row
    per token, with their character ``offsets``) that fall inside it; ``None`` when no
    sentence has a token (all past the truncation)."""
    best, best_score = None, -np.inf
    starts = np.array([start for start, _ in offsets])
    ends = np.array([end for _, end in offsets])
    real = np.asarray(mask, dtype=bool) & (ends > starts)  # no [CLS], [SEP], padding
    for number, (begin, end) in enumerate(spans):
        inside = real & (starts >= begin) & (ends <= end)
        if not inside.any():
            continue
        vector = tokens[inside].mean(axis=0)
        norm = float(np.linalg.norm(vector))
        if norm == 0:
            continue
        score = float(vector @ paper_vector) / norm
        if score > best_score:
            best, best_score = number, score
    return best
