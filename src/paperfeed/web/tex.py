"""TeX in titles and abstracts as HTML, rendered on the server: no script, no web font.

Mathematics (``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]``) becomes MathML, which browsers
render natively (MathML Core), with the TeX kept as its ``application/x-tex`` annotation;
text-mode macros (``\\emph{}``, ``\\textbf{}``, ``~``, ``--``, ````…''`` …) become HTML.
Titles and abstracts are hostile input, so nothing from them reaches the page unescaped:
latex2mathml's element tree is rebuilt from an allowlist of MathML elements and attributes
(it would copy ``\\href`` and ``\\style`` arguments into attributes, and ``\\text{<b>}``
into markup), and a formula it cannot parse, or one with a command it does not know, is
shown as the TeX it was. A brace or dollar that is not closed is text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from xml.etree.ElementTree import Element

from latex2mathml.converter import convert_to_element
from markupsafe import Markup, escape

TextRun = Callable[[str], Markup]

# MathML Core's presentation elements (no mglyph, malignmark or maction: they take part in
# known parser-confusion tricks, and latex2mathml does not make them).
_ELEMENTS = frozenset({
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup",
    "mfrac", "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd",
    "mstyle", "mpadded", "mphantom", "menclose", "semantics", "annotation",
})  # fmt: skip
_ATTRIBUTES = frozenset({
    "display", "mathvariant", "stretchy", "fence", "form", "separator", "lspace", "rspace",
    "displaystyle", "scriptlevel", "columnalign", "rowalign", "columnspacing", "rowspacing",
    "columnlines", "rowlines", "frame", "width", "height", "depth", "accent", "accentunder",
    "movablelimits", "linethickness", "minsize", "maxsize", "symmetric", "largeop", "notation",
    "linebreak",
})  # fmt: skip
_ATTRIBUTE_VALUE = re.compile(r"^[A-Za-z0-9 .%+-]{0,40}$")


_REFERENCE = re.compile(r"&#x([0-9A-Fa-f]{1,6});")


def _symbols(text: str | None) -> str:
    """latex2mathml's text with the ``&#x…;`` references it writes for symbols decoded."""
    return _REFERENCE.sub(lambda m: chr(min(int(m.group(1), 16), 0x10FFFF)), text or "")


class _Unrenderable(Exception):
    """A formula to show as the TeX it was."""


def _clean(node: Element) -> Markup:
    """``node`` as MathML markup: allowlisted elements and attributes, every text escaped."""
    if node.tag not in _ELEMENTS:
        raise _Unrenderable(node.tag)
    attributes = "".join(
        f' {name}="{escape(value)}"'
        for name, value in sorted(node.attrib.items())
        if name in _ATTRIBUTES and _ATTRIBUTE_VALUE.match(value)
    )
    text = _symbols(node.text)
    if "\\" in text:  # a command latex2mathml did not know, copied through as its name
        raise _Unrenderable(text)
    inner = Markup("").join(_clean(child) + escape(_symbols(child.tail)) for child in node)
    return Markup(f"<{node.tag}{attributes}>") + escape(text) + inner + Markup(f"</{node.tag}>")


@lru_cache(maxsize=8192)
def formula(tex: str, display: bool = False) -> Markup | None:
    """The TeX ``tex`` (without its delimiters) as a ``<math>`` element, or None when it
    cannot be rendered faithfully."""
    try:
        tree = convert_to_element(tex, display="block" if display else "inline")
        body = Markup("").join(_clean(child) for child in tree)
    except _Unrenderable:
        return None
    except Exception:  # latex2mathml raises many kinds on malformed TeX: all mean "as text"
        return None
    mode = "block" if display else "inline"
    annotation = Markup('<annotation encoding="application/x-tex">') + escape(tex)
    return (
        Markup(f'<math display="{mode}"><semantics>')
        + body
        + annotation
        + Markup("</annotation></semantics></math>")
    )


# -- text mode ------------------------------------------------------------------------------

_STYLES = {
    "emph": ("<em>", "</em>"),
    "textit": ("<em>", "</em>"),
    "textsl": ("<em>", "</em>"),
    "textbf": ("<strong>", "</strong>"),
    "underline": ('<span class="u">', "</span>"),
    "texttt": ("<code>", "</code>"),
    "textsc": ('<span class="sc">', "</span>"),
    "textrm": ("", ""),
    "textsf": ("", ""),
    "textnormal": ("", ""),
    "mbox": ("", ""),
}
_LINKS = ("href", "url")
_SYMBOLS = {
    "---": "\u2014",
    "--": "\u2013",
    "``": "\u201c",
    "''": "\u201d",
    "~": "\u00a0",
    "\\%": "%",
    "\\&": "&",
    "\\_": "_",
    "\\#": "#",
    "\\$": "$",
    "\\{": "{",
    "\\}": "}",
    "\\ldots": "\u2026",
    "\\dots": "\u2026",
    "\\textendash": "\u2013",
    "\\textemdash": "\u2014",
}
# What is worth a look: math openers, a command, or a symbol from the table above.
_SPECIAL = re.compile(r"https?://[^\s{}]+|\$|\\[A-Za-z]+\*?\s*\{?|\\[()\[\]%&_#${}]|---?|``|''|~")
_QUICK_CHECK = re.compile(r"[$\\~`']|--")


def _closing_brace(text: str, start: int) -> int:
    """The index of the ``}`` closing the group opened just before ``start``, or -1."""
    depth = 1
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _closing_dollar(text: str, start: int, double: bool) -> int:
    """Where the math opened before ``start`` ends (its closing ``$`` or ``$$``), or -1."""
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "$":
            if double:
                if text.startswith("$$", i):
                    return i
            # "$5 and $10" is money: a closing $ follows a non-space and precedes no digit
            elif not text[i - 1].isspace() and not text[i + 1 : i + 2].isdigit():
                return i
        i += 1
    return -1


def _math(text: str, at: int) -> tuple[str, bool, int] | None:
    """The formula starting at ``at`` (its TeX, display or not, where it ends), or None."""
    if text.startswith("$$", at):
        end = _closing_dollar(text, at + 2, double=True)
        return (text[at + 2 : end], True, end + 2) if end > at + 2 else None
    if text[at] == "$":
        if text[at + 1 : at + 2].isspace():
            return None
        end = _closing_dollar(text, at + 1, double=False)
        return (text[at + 1 : end], False, end + 1) if end > at + 1 else None
    for opener, closer, display in (("\\(", "\\)", False), ("\\[", "\\]", True)):
        if text.startswith(opener, at):
            end = text.find(closer, at + 2)
            return (text[at + 2 : end], display, end + 2) if end > at + 2 else None
    return None


def _safe_url(url: str) -> str | None:
    url = url.strip()
    return url if re.match(r"^https?://[^\s\"'<>`]+$", url) else None


_MAX_NESTING = 20  # \emph{\textbf{...}} deeper than this is shown as written


class _Renderer:
    def __init__(self, links: bool, text_run: TextRun) -> None:
        self.links = links
        self.text_run = text_run
        self.depth = 0

    def render(self, text: str) -> Markup:
        if self.depth >= _MAX_NESTING:  # hostile nesting: text, not a RecursionError
            return self.text_run(text)
        self.depth += 1
        try:
            return self._render(text)
        finally:
            self.depth -= 1

    def _render(self, text: str) -> Markup:
        out: list[Markup] = []
        plain: list[str] = []
        i = 0
        while i < len(text):
            match = _SPECIAL.search(text, i)
            if match is None:
                plain.append(text[i:])
                break
            plain.append(text[i : match.start()])
            i = match.start()
            rendered, i = self._special(text, i, match.group(0))
            if isinstance(rendered, Markup):
                out.append(self.text_run("".join(plain)))
                plain = []
                out.append(rendered)
            else:
                plain.append(rendered)
        out.append(self.text_run("".join(plain)))
        return Markup("").join(out)

    def _special(self, text: str, at: int, token: str) -> tuple[str | Markup, int]:
        """What the special token at ``at`` renders to (a string is plain text, a Markup
        is HTML), and where rendering goes on."""
        if token.startswith("http"):
            return token, at + len(token)  # a URL as written: no dashes or spaces made of it
        if token.startswith("$") or token in ("\\(", "\\["):
            found = _math(text, at)
            if found is None:
                return token[0] if token.startswith("$") else token, at + len(token[:2])
            tex, display, end = found
            rendered = formula(tex.strip(), display)
            return (rendered if rendered is not None else text[at:end]), end
        if token in _SYMBOLS:
            return _SYMBOLS[token], at + len(token)
        name = token[1:].rstrip("{ ").rstrip("*") if token.startswith("\\") else ""
        if token.endswith("{") and (name in _STYLES or name in _LINKS):
            return self._command(text, at + len(token), name)
        if token.rstrip() in _SYMBOLS:
            return _SYMBOLS[token.rstrip()], at + len(token.rstrip())
        return token, at + len(token)  # an unknown command stays as written

    def _command(self, text: str, start: int, name: str) -> tuple[str | Markup, int]:
        end = _closing_brace(text, start)
        argument, after = (text[start:], len(text)) if end < 0 else (text[start:end], end + 1)
        if name in _STYLES:
            opening, closing = _STYLES[name]
            return Markup(opening) + self.render(argument) + Markup(closing), after
        url, label = argument, argument
        if name == "href" and text.startswith("{", after):
            label_end = _closing_brace(text, after + 1)
            if label_end > 0:
                label, after = text[after + 1 : label_end], label_end + 1
        target = _safe_url(url) if self.links else None
        shown = self.render(label) if name == "href" else self.text_run(label)
        if target is None:
            return shown if name == "href" else self.text_run(label), after
        link = Markup('<a href="{}" rel="nofollow noopener ugc">').format(target)
        return link + shown + Markup("</a>"), after


def _escape(text: str) -> Markup:
    return Markup(escape(text))


@lru_cache(maxsize=4096)
def _tex_to_html(text: str, links: bool) -> Markup:
    return _Renderer(links, _escape).render(text)


def tex_to_html(text: str | None, links: bool = True, text_run: TextRun | None = None) -> Markup:
    """``text`` (a title or an abstract) as HTML with its TeX rendered; ``links=False`` for
    text inside a link (titles), ``text_run`` to mark up the plain text between formulas
    (search matches; it must escape)."""
    if not text:
        return Markup("")
    if not _QUICK_CHECK.search(text):
        return text_run(text) if text_run else _escape(text)
    if text_run is not None:
        return _Renderer(links, text_run).render(text)
    return _tex_to_html(text, links)
