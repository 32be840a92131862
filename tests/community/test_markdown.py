"""Comment text: the checks on what a reader typed, and the safety of the rendered HTML."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from paperfeed.community.markdown import (
    ALLOWED_TAGS,
    ALLOWED_URL_SCHEMES,
    LINK_REL,
    MAX_COMMENT_CHARS,
    CommentError,
    check_comment,
    render_comment,
)

ALLOWED_ATTRIBUTES = {"a": {"href", "title", "rel"}, "span": {"class"}, "ol": {"start"}}
# What a browser takes for a URL's scheme: after trimming C0 controls and spaces and
# removing tabs and newlines, letters up to the first colon.
URL_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
REL = f'rel="{LINK_REL}"'


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text of each math span."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.math: list[str] = []
        self._in_math = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "span":
            self._in_math = True
            self.math.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "span":
            self._in_math = False

    def handle_data(self, data: str) -> None:
        if self._in_math:
            self.math[-1] += data


def elements(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    parser.close()
    return parser


def url_scheme(href: str) -> str | None:
    trimmed = href.strip("".join(map(chr, range(0x21))))
    match = URL_SCHEME.match(re.sub(r"[\t\n\r]", "", trimmed))
    return match.group(1).lower() if match else None


def assert_safe(html: str) -> None:
    assert "<script" not in html.lower()
    for tag, attrs in elements(html).tags:
        assert tag in ALLOWED_TAGS, html
        assert set(attrs) <= ALLOWED_ATTRIBUTES.get(tag, set()), html
        assert not any(name.startswith("on") for name in attrs), html
        if tag == "span":
            assert attrs.get("class") == "math", html
        if tag == "a":
            assert attrs.get("rel") == LINK_REL, html
            href = attrs.get("href")
            if href is not None:
                assert url_scheme(href) in {None, *ALLOWED_URL_SCHEMES}, html


# check_comment


def test_check_comment_strips_surrounding_whitespace() -> None:
    assert check_comment("  \n Nice *result*.\n\n") == "Nice *result*."


@pytest.mark.parametrize("source", ["", "   ", "\n\t\r\n"])
def test_empty_comment_is_rejected(source: str) -> None:
    with pytest.raises(CommentError, match=r"^a comment cannot be empty$"):
        check_comment(source)


def test_longest_comment_is_accepted() -> None:
    assert len(check_comment("x" * MAX_COMMENT_CHARS + "\n")) == MAX_COMMENT_CHARS


def test_too_long_comment_says_how_long_it_is() -> None:
    with pytest.raises(CommentError) as error:
        check_comment("x" * 10_001)
    assert str(error.value) == "a comment is at most 10,000 characters, this one has 10,001"


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\ud800"])
def test_control_characters_are_rejected(char: str) -> None:
    with pytest.raises(CommentError, match=rf"U\+{ord(char):04X} at character 3"):
        check_comment(f"ab{char}cd")


def test_newlines_tabs_and_carriage_returns_are_accepted() -> None:
    assert check_comment("a\tb\r\nc\nd") == "a\tb\r\nc\nd"


def test_comment_error_is_a_value_error() -> None:
    assert issubclass(CommentError, ValueError)


# Markdown


@pytest.mark.parametrize(
    ("source", "html"),
    [
        ("*em* and **strong**", "<p><em>em</em> and <strong>strong</strong></p>\n"),
        ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n"),
        ("3. three\n4. four", '<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>\n'),
        ("use `x < y`", "<p>use <code>x &lt; y</code></p>\n"),
        ("```python\nprint(1)\n```", "<pre><code>print(1)\n</code></pre>\n"),
        ("> quoted\n\n---", "<blockquote>\n<p>quoted</p>\n</blockquote>\n<hr>\n"),
        ("one\ntwo", "<p>one<br>\ntwo</p>\n"),
    ],
)
def test_markdown(source: str, html: str) -> None:
    assert render_comment(source) == html


@pytest.mark.parametrize(
    ("source", "href"),
    [
        ("[paper](https://arxiv.org/abs/2401.00001)", "https://arxiv.org/abs/2401.00001"),
        ("<http://example.org>", "http://example.org"),
        ("<reader@example.org>", "mailto:reader@example.org"),
        ("[query](https://e.org/?a=1&b=2)", "https://e.org/?a=1&amp;b=2"),
    ],
)
def test_links_keep_their_href_and_get_rel(source: str, href: str) -> None:
    html = render_comment(source)
    assert f'href="{href}"' in html
    assert REL in html


def test_link_title_is_kept_and_escaped() -> None:
    html = render_comment('[x](https://e.org "a\\" onmouseover=\\"alert(1)")')
    assert 'title="a&quot; onmouseover=&quot;alert(1)"' in html
    assert_safe(html)


@pytest.mark.parametrize(
    ("source", "html"),
    [
        ("# One", "<h4>One</h4>\n"),
        ("## Two", "<h5>Two</h5>\n"),
        ("### Three", "<h6>Three</h6>\n"),
        ("###### Six", "<h6>Six</h6>\n"),
        ("Setext\n===", "<h4>Setext</h4>\n"),
    ],
)
def test_headings_are_demoted(source: str, html: str) -> None:
    assert render_comment(source) == html


def test_image_becomes_a_link_to_it() -> None:
    html = render_comment('![a *diagram*](https://e.org/fig.png "Figure")')
    assert html == (f'<p><a href="https://e.org/fig.png" title="Figure" {REL}>a diagram</a></p>\n')


def test_image_without_alt_text_shows_its_url() -> None:
    html = render_comment("![](https://e.org/fig.png)")
    assert html == f'<p><a href="https://e.org/fig.png" {REL}>https://e.org/fig.png</a></p>\n'


def test_image_inside_a_link_becomes_its_alt_text() -> None:
    html = render_comment("[![badge](https://e.org/b.svg)](https://e.org)")
    assert html == f'<p><a href="https://e.org" {REL}>badge</a></p>\n'


# Hostile input


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">x</a>',
        '<a href="&#106;avascript:alert(1)">x</a>',
        "<svg onload=alert(1)>",
        '<iframe src="https://evil.example"></iframe>',
        '<p style="background:url(javascript:alert(1))">x</p>',
        "<!-- comment -->",
    ],
)
def test_raw_html_is_shown_as_text(source: str) -> None:
    html = render_comment(source)
    assert elements(html).tags == [("p", {})]
    assert html.startswith("<p>&lt;")
    assert_safe(html)


@pytest.mark.parametrize(
    "source",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](&#106;avascript:alert(1))",
        "[x](javascript&#58;alert(1))",
        "[x](  javascript:alert(1))",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "[x](file:///etc/passwd)",
        "<javascript:alert(1)>",
        "[x][1]\n\n[1]: javascript:alert(1)",
        "![x](javascript:alert(1))",
    ],
)
def test_dangerous_link_is_not_a_link(source: str) -> None:
    html = render_comment(source)
    assert "<a" not in html
    assert_safe(html)


@pytest.mark.parametrize(
    "source",
    [
        "[x](ftp://e.org/file)",
        "![x](data:image/png;base64,iVBORw0KGgo=)",
        "[x](java&#x09;script:alert(1))",
        "[x](%6Aavascript:alert(1))",
    ],
)
def test_link_with_other_scheme_is_neutralised(source: str) -> None:
    html = render_comment(source)
    for tag, attrs in elements(html).tags:
        if tag == "a" and "href" in attrs:
            assert url_scheme(str(attrs["href"])) is None
    assert_safe(html)


# Math


@pytest.mark.parametrize(
    ("source", "math"),
    [
        ("$x_1 + y_2$", ["$x_1 + y_2$"]),
        ("$a_1 * b_2 * c$", ["$a_1 * b_2 * c$"]),
        ("$x_i$ and $y_i$", ["$x_i$", "$y_i$"]),
        ("where $$\\sum_i a_i$$ holds", ["$$\\sum_i a_i$$"]),
        ("$$\n\\sum_i a_i\n$$", ["$$\n\\sum_i a_i\n$$"]),
        ("\\(a_1 * b_2\\) or \\[x_i *y_i\\]", ["\\(a_1 * b_2\\)", "\\[x_i *y_i\\]"]),
        ("\\[\n\\sum_i a_i\n\\]", ["\\[\n\\sum_i a_i\n\\]"]),
        ('$a<b$ and $"q" & r$', ["$a<b$", '$"q" & r$']),
        ("$x$ is 5", ["$x$"]),
        ("*see $a_1*b_1$*", ["$a_1*b_1$"]),
    ],
)
def test_math_is_left_as_typed(source: str, math: list[str]) -> None:
    assert elements(render_comment(source)).math == math


def test_math_is_escaped() -> None:
    assert render_comment("$a<b$") == '<p><span class="math">$a&lt;b$</span></p>\n'


def test_display_math_is_a_paragraph_of_its_own() -> None:
    html = render_comment("$$ x $$")
    assert html == '<p><span class="math">$$ x $$</span></p>\n'


@pytest.mark.parametrize(
    "source",
    [
        "costs $5",
        "between $5 and $10",
        "$5-$10",
        "$ x $",
        "\\$x$ and y",
        "\\\\(not math\\\\)",
    ],
)
def test_dollars_that_are_not_math_stay_text(source: str) -> None:
    assert elements(render_comment(source)).math == []


@pytest.mark.parametrize(
    ("source", "html"),
    [
        ("`$x_1$`", "<p><code>$x_1$</code></p>\n"),
        ("```\n$x_1$ *a*\n```", "<pre><code>$x_1$ *a*\n</code></pre>\n"),
        ("    \\(x_1\\)", "<pre><code>\\(x_1\\)\n</code></pre>\n"),
    ],
)
def test_no_math_inside_code(source: str, html: str) -> None:
    assert render_comment(source) == html


# Properties

HOSTILE_PIECES = st.sampled_from(
    [
        "<",
        ">",
        '"',
        "'",
        "=",
        "&",
        "#",
        ";",
        ":",
        "(",
        ")",
        "[",
        "]",
        "!",
        "\\",
        "\n",
        " ",
        "$",
        "$$",
        "*",
        "_",
        "`",
        "```",
        "~",
        "-",
        "1.",
        "> ",
        "# ",
        "    ",
        "javascript:",
        "JaVaScRiPt:",
        "vbscript:",
        "data:text/html,",
        "&#106;",
        "&#x09;",
        "%6A",
        "on",
        "onerror=",
        " onload=alert(1)",
        "script",
        "<script>",
        "</script>",
        "<img src=x ",
        "<svg",
        "<a href=",
        "style=",
        "http://e.org",
        "mailto:a@b.c",
        "](",
        "![",
        "\\(",
        "\\)",
        "\\[",
        "\\]",
        "x_1",
        "a",
    ]
)
COMMENT_TEXT = st.lists(HOSTILE_PIECES | st.text(max_size=4), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(COMMENT_TEXT)
def test_rendered_comment_is_always_safe(source: str) -> None:
    try:
        text = check_comment(source)
    except CommentError:
        assume(False)
    assert_safe(render_comment(text))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_any_accepted_text_renders_safely(source: str) -> None:
    try:
        text = check_comment(source)
    except CommentError:
        assume(False)
    assert_safe(render_comment(text))


TEX = st.text(alphabet="ab_^*{}+=<>&\"' ", min_size=1, max_size=20).filter(
    lambda tex: not tex[0].isspace() and not tex[-1].isspace()
)


@settings(max_examples=100, deadline=None)
@given(TEX, TEX)
def test_dollar_math_comes_out_as_typed(first: str, second: str) -> None:
    source = f"Let ${first}$ and ${second}$."
    assert elements(render_comment(source)).math == [f"${first}$", f"${second}$"]
