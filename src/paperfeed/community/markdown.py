"""Comments: check the text a reader typed, and render its Markdown as safe HTML.

Two well-kept libraries do the work, in two independent layers:

1. ``markdown-it-py`` with the CommonMark preset parses the Markdown. Raw HTML is off,
   so ``<script>`` or ``<img onerror=...>`` typed in a comment is shown as text. A single
   newline is a line break, as in GitHub comments.
2. ``nh3`` (Python bindings to the Rust sanitizer ammonia) then cleans the HTML against a
   short allow-list: ``p br em strong code pre blockquote ul ol li a hr h4 h5 h6`` and
   ``span class="math"``. Links keep only ``href`` and ``title``, only the ``http``,
   ``https`` and ``mailto`` schemes survive (relative links pass, they stay on this site),
   and every link gets ``rel="nofollow ugc noopener noreferrer"``. Even if a future
   parser option let something through, the sanitizer would still remove it.

Choices made for comments, not for documents:

- **Headings are demoted**: a comment sits under the paper's own headings, so ``#`` becomes
  ``<h4>``, ``##`` becomes ``<h5>`` and every deeper level ``<h6>``.
- **No images**: a remote image would let its host track readers, so ``![alt](url)``
  becomes a link to the image with the alt text (or the URL) as its text; inside a link
  it is just the alt text.
- **Math is left as text**: ``$x_1$``, ``$$\\sum_i a_i$$``, ``\\(x\\)`` and ``\\[x\\]``
  come out exactly as typed (escaped, delimiters included) in ``<span class="math">``,
  so Markdown emphasis never eats the ``_`` and ``*`` of TeX and a page script such as
  KaTeX's auto-render can typeset them. Dollars use ``mdit-py-plugins``' dollarmath with
  Pandoc's rules (no space inside the dollars, no digit right after the closing one), so
  ``$5`` and "between $5 and $10" stay prices. Inside code spans and blocks nothing is
  math.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.dollarmath.index import math_inline_dollar

MAX_COMMENT_CHARS = 10_000

ALLOWED_TAGS = frozenset(
    {"p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr"}
    | {"h4", "h5", "h6", "span"}
)
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow ugc noopener noreferrer"

_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
_ALLOWED_CLASSES = {"span": {"math"}}
_ALLOWED_CONTROL_CHARS = frozenset("\n\t\r")
# Cc: C0 and C1 control characters and DEL; Cs: lone surrogates, which are not text.
_REJECTED_CATEGORIES = frozenset({"Cc", "Cs"})

_DEMOTED_HEADING = {"h1": "h4", "h2": "h5", "h3": "h6", "h4": "h6", "h5": "h6", "h6": "h6"}
_MATH_CLOSING = {"$": "$", "$$": "$$", "\\(": "\\)", "\\[": "\\]"}
_BRACKET_MATH_OPENINGS = frozenset({"\\(", "\\["})


class CommentError(ValueError):
    """The text of a comment cannot be accepted; the message says why."""


def check_comment(source: str) -> str:
    """Return the comment text stripped of surrounding whitespace, or raise CommentError."""
    text = source.strip()
    if not text:
        raise CommentError("a comment cannot be empty")
    if len(text) > MAX_COMMENT_CHARS:
        raise CommentError(
            f"a comment is at most {MAX_COMMENT_CHARS:,} characters, this one has {len(text):,}"
        )
    for position, char in enumerate(text, start=1):
        if _is_control_char(char):
            raise CommentError(
                f"a comment cannot contain control characters "
                f"(U+{ord(char):04X} at character {position})"
            )
    return text


def _is_control_char(char: str) -> bool:
    return char not in _ALLOWED_CONTROL_CHARS and (
        unicodedata.category(char) in _REJECTED_CATEGORIES
    )


def render_comment(source: str) -> str:
    """Render the Markdown of a comment as HTML that is safe to put in a page.

    The source should have passed check_comment when it was stored; rendering does not
    check it again, so a stored comment still renders if the rules change.
    """
    return nh3.clean(
        _MARKDOWN.render(source),
        tags=set(ALLOWED_TAGS),
        attributes=_ALLOWED_ATTRIBUTES,
        allowed_classes=_ALLOWED_CLASSES,
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )


def _bracket_math(state: StateInline, silent: bool) -> bool:
    r"""Inline rule for ``\(...\)`` and ``\[...\]``, run before backslash escapes."""
    opening = state.src[state.pos : state.pos + 2]
    if opening not in _BRACKET_MATH_OPENINGS:
        return False
    content_start = state.pos + 2
    end = state.src.find(_MATH_CLOSING[opening], content_start + 1)
    if end == -1:
        return False
    if not silent:
        token = state.push("math_inline", "math", 0)
        token.markup = opening
        token.content = state.src[content_start:end]
    state.pos = end + 2
    return True


def _dollar_math_rule() -> Callable[[StateInline, bool], bool]:
    """dollarmath's inline rule, with the digit checks done here.

    With ``allow_digits=False`` the plugin looks at ``src[pos - 1]`` even at ``pos == 0``,
    i.e. at the last character of the paragraph, so ``$x$ is 5`` would not be math.
    """
    dollar_rule = math_inline_dollar(allow_space=False, allow_digits=True, allow_double=True)

    def rule(state: StateInline, silent: bool) -> bool:
        start = state.pos
        if start > 0 and state.src[start - 1].isdigit():
            return False
        if not dollar_rule(state, True):
            return False
        end, state.pos = state.pos, start
        if end < len(state.src) and state.src[end].isdigit():
            return False
        return dollar_rule(state, silent)

    return rule


def _render_math(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """Math exactly as typed, delimiters included, in a span a page script can typeset."""
    token = tokens[idx]
    tex = token.markup + token.content + _MATH_CLOSING[token.markup]
    span = f'<span class="math">{escapeHtml(tex)}</span>'
    return f"<p>{span}</p>\n" if token.block else span


def _render_image_as_link(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """A link to the image instead of the image: no remote content loads with the page."""
    image = tokens[idx]
    src = str(image.attrGet("src") or "")
    text = escapeHtml(self.renderInlineAsText(image.children, options, env) or src)
    if _inside_link(tokens, idx):
        return text
    title = image.attrGet("title")
    title_attr = f' title="{escapeHtml(str(title))}"' if title else ""
    return f'<a href="{escapeHtml(src)}"{title_attr}>{text}</a>'


def _inside_link(tokens: Sequence[Token], idx: int) -> bool:
    depth = 0
    for token in tokens[:idx]:
        if token.type == "link_open":
            depth += 1
        elif token.type == "link_close":
            depth -= 1
    return depth > 0


def _demote_headings(state: StateCore) -> None:
    for token in state.tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = _DEMOTED_HEADING[token.tag]


def _comment_markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": True})
    dollarmath_plugin(md, allow_labels=False, allow_space=False, double_inline=True)
    md.inline.ruler.at("math_inline", _dollar_math_rule())
    md.inline.ruler.before("escape", "bracket_math", _bracket_math)
    for math_token in ("math_inline", "math_inline_double", "math_block"):
        md.add_render_rule(math_token, _render_math)
    md.add_render_rule("image", _render_image_as_link)
    md.core.ruler.push("demote_headings", _demote_headings)
    return md


_MARKDOWN = _comment_markdown()
