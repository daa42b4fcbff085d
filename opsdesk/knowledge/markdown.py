"""Article bodies: Markdown rendered by markdown-it-py, then sanitised by nh3.

Two locks on one door: markdown-it runs with raw HTML off (``<script>`` in the source is
shown as text) and refuses ``javascript:``-style links; nh3 then keeps only the tags,
attributes and URL schemes listed here, whatever the renderer let through.
"""

from __future__ import annotations

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)

ALLOWED_TAGS = {
    "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "img", "li", "ol", "p", "pre", "s", "strong", "table", "tbody", "td", "th", "thead", "tr",
    "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
    "code": {"class"},
}
URL_SCHEMES = {"http", "https", "mailto"}


def render_markdown(source: str | None) -> SafeString:
    """Safe HTML for an article body."""
    html = _md.render(source or "")
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return mark_safe(clean)  # noqa: S308  (sanitised by nh3 just above)


def plain_text(source: str | None) -> str:
    """The text of the rendered Markdown, without any tags (for previews)."""
    return nh3.clean(_md.render(source or ""), tags=set(), attributes={}).strip()
