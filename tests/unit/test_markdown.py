"""render_markdown: useful Markdown stays, anything that could run or phone home goes."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from aiplayground.ui.markdown import (
    ALLOWED_TAGS,
    is_allowed_link,
    markdown_excerpt,
    render_markdown,
)

ATTACKS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=2">',
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](java\tscript:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="javascript:alert(1)">x</a>',
    '<svg onload="alert(1)"></svg>',
    '<iframe src="https://evil.example"></iframe>',
    "<style>body{display:none}</style>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    '[a](https://x.example "t" onmouseover=alert(1))',
    "![x](javascript:alert(1))",
    '<details open ontoggle="alert(1)">',
    "<!-- <script>alert(1)</script> -->",
    "<<script>script>alert(1)<</script>/script>",
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
]


class _Elements(HTMLParser):
    """Every element and attribute the browser would build from the HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))


def elements(html: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.elements


@pytest.mark.parametrize("text", ATTACKS)
def test_attacks_render_inert(text: str) -> None:
    html = render_markdown(text)
    for tag, attrs in elements(html):
        assert tag in ALLOWED_TAGS, html
        assert not any(name.startswith("on") or name == "style" for name in attrs), html
        for name in ("href", "src"):
            if name in attrs:
                assert is_allowed_link(attrs[name]), html


def test_raw_html_is_shown_as_text() -> None:
    assert render_markdown("<b>bold?</b>") == "<p>&lt;b&gt;bold?&lt;/b&gt;</p>\n"


def test_common_markdown_survives() -> None:
    html = render_markdown(
        "# Title\n\n**bold** _it_ ~~gone~~ `code`\n\n- a\n- b\n\n> quote\n\n"
        "| x | y |\n|---|---|\n| 1 | 2 |\n\n```python\nprint('<hi>')\n```\n"
    )
    for fragment in (
        "<h1>Title</h1>",
        "<strong>bold</strong>",
        "<em>it</em>",
        "<s>gone</s>",
        "<code>code</code>",
        "<li>a</li>",
        "<blockquote>",
        "<table>",
        "<td>1</td>",
        '<code class="language-python">',
        "print('&lt;hi&gt;')",
    ):
        assert fragment in html


def test_links_get_rel_and_keep_safe_targets() -> None:
    html = render_markdown(
        "[site](https://example.org/a?b=1&c=2) [mail](mailto:a@example.org) "
        "[page](/catalog/models/iris) [anchor](#usage) and https://bare.example.org"
    )
    assert '<a href="https://example.org/a?b=1&amp;c=2" rel="noopener nofollow">site</a>' in html
    assert '<a href="mailto:a@example.org" rel="noopener nofollow">mail</a>' in html
    assert '<a href="/catalog/models/iris" rel="noopener nofollow">page</a>' in html
    assert 'href="#usage"' in html
    assert '<a href="https://bare.example.org" rel="noopener nofollow">' in html


def test_remote_images_become_links_and_local_images_stay() -> None:
    html = render_markdown(
        "![chart](https://tracker.example/pixel.png) ![logo](/static/logo.png) "
        "![proto](//tracker.example/x.png)"
    )
    assert "<img" in html
    assert 'src="/static/logo.png"' in html
    assert "tracker.example/pixel.png" not in re.findall(r'src="([^"]*)"', html)
    assert '<a href="https://tracker.example/pixel.png" rel="noopener nofollow">chart</a>' in html
    assert "//tracker.example/x.png" not in html


def test_code_blocks_are_not_linkified() -> None:
    html = render_markdown("```\ncurl https://example.org/x\n```")
    assert "<a" not in html


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://a.example", True),
        ("http://a.example/x", True),
        ("mailto:x@y.z", True),
        ("/api/v1/models", True),
        ("#top", True),
        ("//evil.example", False),
        ("/\\evil.example", False),
        ("javascript:alert(1)", False),
        (" javascript:alert(1)", False),
        ("https:/no-host", False),
        ("ftp://a.example", False),
        ("file:///etc/passwd", False),
        ("relative/path", False),
    ],
)
def test_is_allowed_link(url: str, allowed: bool) -> None:
    assert is_allowed_link(url) is allowed


def test_empty_and_huge_inputs() -> None:
    assert render_markdown("") == ""
    assert render_markdown(None) == ""
    assert "<blockquote>" in render_markdown("> " * 5000 + "deep")
    assert len(render_markdown("x" * 500_000)) < 120_000


def test_excerpt_is_plain_text() -> None:
    text = (
        "# Iris\n\nLogistic regression on the **Iris** data, see [docs](https://x.example).\n"
        "<script>alert(1)</script> `skops` format.\n\n" + "more words " * 100
    )
    excerpt = markdown_excerpt(text, max_chars=120)
    assert excerpt.startswith("Iris Logistic regression on the Iris data, see docs.")
    assert "<script>alert(1)</script> skops format." in excerpt  # text, shown with ui.label
    assert excerpt.endswith("…")
    assert len(excerpt) <= 120
    assert markdown_excerpt("") == ""
    assert markdown_excerpt("short") == "short"
