"""Answers as sanitized Markdown with highlighted code, safe by construction.

The answer goes through `render_markdown` first (raw HTML off, allow-list sanitizer), so
a `<script>` or a `javascript:` link never survives. Code blocks that name a language are
then highlighted on the server with Pygments: the block's text is unescaped, tokenized
and escaped again by Pygments' formatter, which adds only `<span class="tok-…">`. No
script runs in the browser for highlighting, and nothing is fetched from elsewhere.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Any

from aiplayground.ui.markdown import render_markdown

# What markdown-it writes for a fenced block with an info string, after sanitizing.
CODE_BLOCK = re.compile(
    r'<pre><code class="language-([A-Za-z0-9_+#.-]{1,32})">(.*?)</code></pre>', re.DOTALL
)
TOKEN_PREFIX = "tok-"
LIGHT_STYLE = "default"
DARK_STYLE = "github-dark"
# Highlighting a huge block would hold the event loop; beyond this it stays plain.
MAX_HIGHLIGHT_CHARS = 20_000


def answer_html(text: str, *, streaming: bool = False) -> str:
    """An answer as HTML for `ui.html`: sanitized Markdown, code blocks highlighted.

    While streaming, every 100 ms brings a new text: the uncached renderer is used so
    the shared cache keeps the finished texts (model cards, stored answers).
    """
    render = render_markdown.__wrapped__ if streaming else render_markdown
    rendered: str = render(text)
    return CODE_BLOCK.sub(_highlight_block, rendered)


def _highlight_block(match: re.Match[str]) -> str:
    language, escaped = match.group(1), match.group(2)
    lexer = _lexer(language.lower())
    if lexer is None or len(escaped) > MAX_HIGHLIGHT_CHARS:
        return match.group(0)
    from pygments import highlight

    code = html.unescape(escaped)
    body = highlight(code, lexer, _formatter())
    return f'<pre><code class="language-{language}">{body}</code></pre>'


@lru_cache(maxsize=64)
def _lexer(language: str) -> Any:
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


@lru_cache(maxsize=1)
def _formatter() -> Any:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(nowrap=True, classprefix=TOKEN_PREFIX)


@lru_cache(maxsize=1)
def highlight_css() -> str:
    """Token colours for the light theme and, under `.body--dark`, the dark one."""
    from pygments.formatters import HtmlFormatter

    rules: list[str] = []
    for style, scope in (
        (LIGHT_STYLE, ".aip-answer pre"),
        (DARK_STYLE, ".body--dark .aip-answer pre"),
    ):
        defs = HtmlFormatter(style=style, classprefix=TOKEN_PREFIX).get_style_defs(scope)
        # Only the token rules: backgrounds and line numbers follow the page's own theme.
        rules += [line for line in defs.splitlines() if f" .{TOKEN_PREFIX}" in line]
    return "\n".join(rules)
