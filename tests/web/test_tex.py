"""TeX in titles and abstracts: MathML for formulas, HTML for text macros, text for the rest,
and never markup that the input brought (property-tested with hypothesis)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paperfeed.text import shorten
from paperfeed.web.present import rich_text
from paperfeed.web.tex import formula, tex_to_html

MATHML = {
    "math", "semantics", "annotation", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace",
    "msub", "msup", "msubsup", "mfrac", "msqrt", "mroot", "mover", "munder", "munderover",
    "mtable", "mtr", "mtd", "mstyle", "mpadded", "mphantom", "menclose",
}  # fmt: skip
TEXT_TAGS = {"em", "strong", "code", "span", "a", "mark"}


class Parsed(HTMLParser):
    """The elements, attributes and visible text of an HTML fragment."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.open: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open}"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        if "annotation" not in self.open:
            self.text.append(data)

    @property
    def names(self) -> set[str]:
        return {tag for tag, _ in self.tags}


def assert_only_safe_markup(markup: str) -> Parsed:
    parsed = Parsed(markup)
    assert not parsed.open, f"unclosed {parsed.open} in {markup!r}"
    for tag, attrs in parsed.tags:
        assert tag in MATHML | TEXT_TAGS, f"<{tag}> in {markup!r}"
        for name, value in attrs.items():
            assert (not name.startswith("on") and name not in ("style", "href", "src")) or (
                tag == "a" and name == "href" and (value or "").startswith(("http://", "https://"))
            ), f"<{tag} {name}={value!r}> in {markup!r}"
    return parsed


def test_formulas_become_mathml_with_the_tex_as_annotation() -> None:
    html = str(tex_to_html(r"A regret of $\mathcal{O}(k)$ in \emph{every} round"))
    parsed = assert_only_safe_markup(html)
    assert parsed.names >= {"math", "semantics", "annotation", "mi", "mo", "em"}
    assert '<annotation encoding="application/x-tex">\\mathcal{O}(k)</annotation>' in html
    assert "".join(parsed.text) == "A regret of 𝒪(k) in every round"
    block = str(tex_to_html(r"$$\sum_i x_i$$"))
    assert block.startswith('<math display="block">') and "∑" in block


@pytest.mark.parametrize(
    ("tex", "text"),
    [
        (r"\textbf{Bold} and \textit{italic}", "Bold and italic"),
        (r"pages 3--5 --- see~Fig.~1", "pages 3\u20135 \u2014 see\u00a0Fig.\u00a01"),
        (r"``quoted'' costs 10\% \& \$5", "\u201cquoted\u201d costs 10% & $5"),
        (r"\(a+b\) and \[c\]", "a+b and c"),
        ("costs $5 and $10 a month", "costs $5 and $10 a month"),  # money, not math
        (r"unbalanced $x^2 stays", r"unbalanced $x^2 stays"),
        (r"$\frac{a}{$ stays", r"$\frac{a}{$ stays"),  # latex2mathml fails: the TeX as text
        (r"$\mymacro{x}$ stays", r"$\mymacro{x}$ stays"),  # an unknown command: as text
        (r"an \unknown command", r"an \unknown command"),
        ("https://x.org/~me--you and --", "https://x.org/~me--you and \u2013"),
        (r"\textbf{cut short", "cut short"),
    ],
)
def test_text_and_fallbacks(tex: str, text: str) -> None:
    assert "".join(assert_only_safe_markup(str(tex_to_html(tex))).text) == text


@pytest.mark.parametrize(
    "hostile",
    [
        r"$\href{javascript:alert(1)}{x}$",
        r"$\style{background:url(x)}{y}$",
        r"$\text{<img src=x onerror=alert(1)>}$",
        r"$<script>alert(1)</script>$",
        r"$$</math><script>alert(1)</script>$$",
        r"$\mathrm{</mi><mglyph><style></math><img src onerror=alert(1)>}$",
        r"\href{javascript:alert(1)}{click}",
        r"\url{javascript:alert(1)}",
        r"\textbf{<svg onload=alert(1)>}",
        r"\href{https://ok.example/}{<b onmouseover=alert(1)>x</b>}",
        r"$\color{red}x$ $\mathcolor{red}{x}$",
        "$x$</annotation><img src=x onerror=alert(1)>",
    ],
)
def test_hostile_tex_brings_no_markup(hostile: str) -> None:
    html = str(tex_to_html(hostile))
    parsed = assert_only_safe_markup(html)
    assert not parsed.names & {"script", "img", "svg", "style", "b", "mglyph"}


def test_links_only_where_asked_and_only_to_the_web() -> None:
    source = r"Code: \href{https://github.com/a/b}{this repo}; \href{javascript:alert(1)}{that}"
    html = str(tex_to_html(source))
    assert html.count("<a ") == 1
    assert '<a href="https://github.com/a/b" rel="nofollow noopener ugc">this repo</a>' in html
    assert "<a " not in str(tex_to_html(source, links=False))  # a title is a link already


def test_search_matches_are_marked_outside_formulas() -> None:
    html = str(rich_text(r"Glass models: $\mathcal{G}$ glasses", marks=["glass"]))
    assert html.count("<mark>") == 2 and "<math" in html


def test_formulas_are_cached() -> None:
    formula.cache_clear()
    tex_to_html(r"$\alpha_{cached}$ once")
    tex_to_html(r"and $\alpha_{cached}$ again")
    assert formula.cache_info().hits == 1


def test_previews_are_never_cut_inside_a_formula() -> None:
    text = "We prove a bound of $\\mathcal{O}(k \\log n)$ for all sparse graphs here"
    assert shorten(text, 30) == "We prove a bound of…"
    assert shorten(text, 50) == "We prove a bound of $\\mathcal{O}(k \\log n)$ for…"


PIECES = [*"ab $\\{}()[]<>&\"'`~-_^%#", "\\emph{", "\\href{", "\\frac", "javascript:", "<b>"]
TEXTISH = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(TEXTISH)
def test_any_text_renders_to_safe_markup(text: str) -> None:
    parsed = assert_only_safe_markup(str(tex_to_html(text)))
    if not any(c in text for c in "$\\~`'-"):  # nothing for TeX: the text as it was
        assert "".join(parsed.text) == text


def test_deep_nesting_is_text_not_a_crash() -> None:
    # Thousands of nested macros (hostile input) must not exhaust the stack: past a depth
    # the rest shows as written, escaped.
    deep = "\\emph{" * 3000 + "<script>" + "}" * 3000
    html = str(tex_to_html(deep))
    assert html.count("<em>") == 20 and "<script>" not in html and "&lt;script&gt;" in html
    closed = "\\textbf{" * 500 + "x" + "}" * 500
    assert str(tex_to_html(closed)).count("<strong>") == 20
