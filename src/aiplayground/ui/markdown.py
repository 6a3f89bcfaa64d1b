"""User-written Markdown (model cards, chat answers, documents) as inert HTML.

Two independent gates: markdown-it renders with raw HTML disabled (a `<script>` in the text
comes out as the text `&lt;script&gt;`), then bleach keeps only an allow-list of tags and
attributes. Links may only go to http, https, mailto or a path on this server, and carry
`rel="noopener nofollow"`; images load only from this server (a remote image would tell
its host who reads the page), others become a plain link to the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache, partial
from typing import Any
from urllib.parse import urlsplit

import bleach
from bleach.linkifier import LinkifyFilter
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

ALLOWED_TAGS = frozenset(
    {
        "a",
        "blockquote",
        "br",
        "code",
        "del",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "img",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "strong",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
REL = "noopener nofollow"
# Descriptions are capped at 100 000 characters; beyond that only the start is shown.
MAX_SOURCE_CHARS = 100_000
EXCERPT_SOURCE_CHARS = 2_000


def is_local_path(url: str) -> bool:
    """A path on this server ('/api/...'), not '//host/...' or a URL with a scheme."""
    return url.startswith("/") and not url.startswith(("//", "/\\"))


def is_allowed_link(url: str) -> bool:
    """An http, https or mailto URL, a path on this server, or an in-page anchor."""
    url = url.strip()
    if url.startswith("#") or is_local_path(url):
        return True
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme.lower() not in LINK_SCHEMES:
        return False
    return parts.scheme.lower() == "mailto" or bool(parts.netloc)


def _attribute_allowed(tag: str, name: str, value: str) -> bool:
    if tag == "a":
        return name == "title" or (name == "href" and is_allowed_link(value))
    if tag == "img":
        return name in ("alt", "title") or (name == "src" and is_local_path(value))
    if tag == "code":
        return name == "class" and value.startswith("language-") and value.isascii()
    if tag == "ol":
        return name == "start" and value.isdigit()
    return False


def _link_callback(attrs: dict[Any, str], new: bool = False) -> dict[Any, str] | None:
    """Every link: allowed target or no link at all (its text stays), and rel set."""
    href = attrs.get((None, "href"), "")
    if not is_allowed_link(href):
        return None
    attrs[(None, "rel")] = REL
    return attrs


def _render_image(
    renderer: RendererHTML,
    tokens: Sequence[Token],
    idx: int,
    options: OptionsDict,
    env: EnvType,
) -> str:
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = renderer.renderInlineAsText(token.children or [], options, env)
    if is_local_path(src):
        return renderer.image(tokens, idx, options, env)
    label = alt or "image"
    if is_allowed_link(src):
        return f'<a href="{_escape(src)}">{_escape(label)}</a>'
    return _escape(label)


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _build_parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.add_render_rule("image", _render_image)
    return md


_PARSER = _build_parser()
_CLEANER = bleach.sanitizer.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=_attribute_allowed,
    protocols=LINK_SCHEMES,
    strip=True,
    strip_comments=True,
    filters=[
        partial(
            LinkifyFilter,
            callbacks=[_link_callback],
            skip_tags={"pre", "code"},
            parse_email=False,
        )
    ],
)


@lru_cache(maxsize=256)
def render_markdown(text: str | None) -> str:
    """Markdown from a user as HTML that is safe to put in the page.

    Cached: a hostile text can take seconds to parse, and a public model card is drawn
    for every visitor. Call it off the event loop (`run.io_bound`) for long texts.
    """
    if not text:
        return ""
    html = _PARSER.render(text[:MAX_SOURCE_CHARS])
    cleaned: str = _CLEANER.clean(html)
    return cleaned


def markdown_excerpt(text: str | None, max_chars: int = 240) -> str:
    """The first words of a Markdown text as plain text (for cards and lists)."""
    if not text:
        return ""
    words: list[str] = []
    for token in _PARSER.parse(text[:EXCERPT_SOURCE_CHARS]):
        if token.type != "inline" or token.children is None:
            continue
        for child in token.children:
            if child.type in ("text", "code_inline"):
                words.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                words.append(" ")
        words.append(" ")
    plain = " ".join("".join(words).split())
    if len(plain) <= max_chars:
        return plain
    return plain[: max_chars - 1].rsplit(" ", 1)[0].rstrip(" ,.;:") + "…"
