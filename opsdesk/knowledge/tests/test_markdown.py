"""Article bodies render as Markdown, and nothing executable gets through."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from opsdesk.knowledge.markdown import ALLOWED_TAGS, plain_text, render_markdown

NASTY = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
    "![x](javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    "<iframe src=https://evil.test></iframe>",
    "<svg onload=alert(1)>",
    "<style>body{display:none}</style>",
    '<div style="background:url(javascript:alert(1))">',
    "<!-- <script> -->",
    "`<script>`",
    "<<script>script>alert(1)<</script>/script>",
    '"><script>alert(1)</script>',
    "[a](vbscript:msgbox)",
    "<form action=x><input></form>",
    "<math><mi xlink:href='javascript:alert(1)'>",
    "&lt;script&gt;",
    "\x00<script>",
]


class _Elements(HTMLParser):
    """Every element and attribute a browser would build from the HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))

    handle_startendtag = handle_starttag


SAFE_URL = re.compile(r"(https?:|mailto:|[^:]*$)", re.IGNORECASE)


def assert_safe(html: str) -> None:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    for tag, attrs in parser.found:
        assert tag in ALLOWED_TAGS, (tag, html)
        for name, value in attrs:
            assert not name.startswith("on") and name not in {"style", "srcdoc"}, (name, html)
            if name in {"href", "src"}:
                url = re.sub(r"[\x00-\x20]", "", value or "")
                assert SAFE_URL.match(url), (url, html)


def test_markdown_renders():
    html = render_markdown("# Title\n\n1. **Bold** and `code`\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<h1>Title</h1>" in html
    assert "<strong>Bold</strong>" in html and "<code>code</code>" in html
    assert "<table>" in html and "<td>1</td>" in html
    link = render_markdown("[docs](https://example.com/vpn)")
    assert 'href="https://example.com/vpn"' in link and 'rel="noopener noreferrer nofollow"' in link


def test_raw_html_is_shown_as_text():
    html = render_markdown("Type <script>alert(1)</script> here")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert plain_text("**Hello** <b>x</b>") == "Hello &lt;b&gt;x&lt;/b&gt;"


def test_known_attacks_are_neutralised():
    for source in NASTY:
        html = render_markdown(source)
        assert_safe(html)
        assert "<script" not in html and "<img src=x" not in html


nasty_pieces = st.sampled_from(
    [*NASTY, "<", ">", '"', "'", "=", "(", ")", "[", "]", "!", ":", "javascript", "on",
     "load", "error", "script", "img", "a href", " ", "\n", "`", "*", "#", "&", ";", "\\"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(nasty_pieces, st.text(max_size=8)), max_size=25).map("".join))
def test_generated_nasty_strings_never_get_executable_html_through(source):
    assert_safe(render_markdown(source))
