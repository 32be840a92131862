"""BibTeX entries for papers, as LaTeX, biber and reference managers read them.

An entry is ``@article`` when the paper was published somewhere arXiv knows of (a journal
reference or a DOI), else ``@misc``; both carry the arXiv fields that natbib and biblatex
styles read (``eprint``, ``archivePrefix``, ``primaryClass``). Its key is the first
author's surname, the year and the title's first word that is not a small one, in ASCII:
``vaswani2017attention``, the same on every run.

Titles are LaTeX the way arXiv's authors write them: ``$...$`` stays mathematics (braced, so
that styles do not lowercase it); everywhere else the characters LaTeX or BibTeX treat
specially are escaped to print as themselves, and words with capitals after their first
letter (acronyms, names like ImageNet) or of one capital letter are braced so that
sentence-case styles keep them. Unicode stays as it is (biber, or BibTeX with inputenc).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from paperfeed.models import Paper

# LaTeX's special characters, written to print as themselves. Braces become commands:
# BibTeX counts the brace of "\{" too, so that would unbalance the field.
_TEXT_ESCAPES = {
    "\\": r"\textbackslash{}",
    "{": r"\textbraceleft{}",
    "}": r"\textbraceright{}",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "_": r"\_",
    "$": r"\$",
    "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}",
}
_TEXT_SPECIAL = re.compile("[" + re.escape("".join(_TEXT_ESCAPES)) + "]")
_MATH = re.compile(r"\$([^$]+)\$")
_MATH_BREAKERS = re.compile(r"(?<!\\)([%#&])")  # a comment or an alignment tab in maths
_SMALL_WORDS = frozenset(
    "a an and as at by for from in into is of on or the to toward towards via with".split()  # noqa: SIM905
)
_ASCII_LETTERS = str.maketrans(
    {"ß": "ss", "æ": "ae", "ø": "o", "ł": "l", "đ": "d", "œ": "oe", "þ": "th", "ð": "d", "ı": "i"}
)
_NAME_SUFFIXES = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"})
_AND = re.compile(r"\sand\s", re.IGNORECASE)


def latex_escape(text: str) -> str:
    """``text`` as LaTeX that prints it as it is."""
    return _TEXT_SPECIAL.sub(lambda match: _TEXT_ESCAPES[match.group(0)], text)


def latex_title(text: str, *, keep_case: bool = True) -> str:
    """A title (or journal) as LaTeX: ``$...$`` kept as mathematics, the rest escaped; with
    ``keep_case``, words whose capitals a style must not lower are braced."""
    text = " ".join(text.split())
    out, last = [], 0
    for match in _MATH.finditer(text):
        if not _balanced(match.group(1)):
            continue  # not maths LaTeX could read: escaped with the text around it
        out.append(_latex_words(text[last : match.start()], keep_case))
        out.append("{$" + _MATH_BREAKERS.sub(r"\\\1", match.group(1)) + "$}")
        last = match.end()
    out.append(_latex_words(text[last:], keep_case))
    return "".join(out)


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _latex_words(text: str, keep_case: bool) -> str:
    if not keep_case:
        return latex_escape(text)
    return re.sub(r"\S+", lambda match: _latex_word(match.group(0)), text)


def _latex_word(word: str) -> str:
    letters = [char for char in word if char.isalpha()]
    keep = any(char.isupper() for char in letters[1:]) or (
        len(letters) == 1 and letters[0].isupper()
    )
    return "{" + latex_escape(word) + "}" if keep else latex_escape(word)


def _latex_name(name: str) -> str:
    """An author for BibTeX's ``and``-joined list: braced whole when BibTeX would split it
    (an "and" inside) or misread it (more commas than "von Last, Jr, First" has)."""
    escaped = latex_escape(name)
    return "{" + escaped + "}" if _AND.search(name) or name.count(",") > 2 else escaped


def _ascii_word(text: str) -> str:
    """``text`` in lowercase ASCII letters and digits only: "Müller" -> "muller"."""
    folded = unicodedata.normalize("NFKD", text.lower().translate(_ASCII_LETTERS))
    return "".join(char for char in folded if char.isascii() and char.isalnum())


def _surname(name: str) -> str:
    if "," in name:  # "Last, First"
        return name.split(",")[0]
    parts = [part for part in name.split() if part.lower() not in _NAME_SUFFIXES]
    return parts[-1] if parts else name


def citation_key(paper: Paper) -> str:
    """``surname`` + ``year`` + first word, in ASCII: "vaswani2017attention"; "anon" for a
    paper without authors (or whose surname has no Latin letters)."""
    surname = _ascii_word(_surname(paper.authors[0])) if paper.authors else ""
    when = paper.published or paper.first_seen
    words = (_ascii_word(word) for word in _MATH.sub("", paper.title).split())
    first = next((w for w in words if w not in _SMALL_WORDS and any(c.isalpha() for c in w)), "")
    return f"{surname or 'anon'}{when.year if when else ''}{first}"


def bibtex_entry(paper: Paper, key: str | None = None) -> str:
    """The paper's BibTeX entry (with ``key``, default :func:`citation_key`)."""
    authors = [" ".join(name.split()) for name in paper.authors]
    when = paper.published or paper.first_seen
    fields = [
        ("title", latex_title(paper.title)),
        ("author", " and ".join(_latex_name(name) for name in authors if name)),
        ("journal", latex_title(paper.journal_ref or "", keep_case=False)),
        ("year", str(when.year) if when else ""),
        ("eprint", paper.arxiv_id),
        ("archivePrefix", "arXiv"),
        ("primaryClass", latex_escape(paper.primary_category or "")),
        ("url", paper.abs_url),
        ("doi", (paper.doi or "").replace("{", "").replace("}", "").strip()),
    ]
    kind = "article" if paper.journal_ref or paper.doi else "misc"
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields if value)
    return f"@{kind}{{{key or citation_key(paper)},\n{body}\n}}\n"


def bibtex_entries(papers: Iterable[Paper]) -> str:
    """Entries for a list of papers, blank-line separated. A key that an earlier entry
    already has gets a letter ("smith2024deepb"), so every key is unique in the list."""
    used: set[str] = set()
    entries = []
    for paper in papers:
        key = base = citation_key(paper)
        suffix = 1
        while key in used:
            suffix += 1
            key = base + (chr(ord("a") + suffix - 1) if suffix <= 26 else str(suffix))
        used.add(key)
        entries.append(bibtex_entry(paper, key))
    return "\n".join(entries)
