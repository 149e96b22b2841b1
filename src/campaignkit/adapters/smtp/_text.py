"""A plain-text rendering of an HTML body, for the ``text/plain`` part of an email."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Tags whose content is not text a reader sees.
_HIDDEN = frozenset({"script", "style", "head", "title", "template", "noscript"})
# Tags that start a new line of text.
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4",
        "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section",
        "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
# Tags after which an empty line separates paragraphs.
_PARAGRAPHS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "hr"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_WHITESPACE = re.compile(r"\s+")
_PARAGRAPH = "\x00"  # marks an empty line between paragraphs (never in the text: dropped)


class _Extractor(HTMLParser):
    """Collects the visible text of an HTML document, links as ``text (url)``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0
        self._links: list[tuple[str, int]] = []  # (href, index in parts where its text starts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
            return
        if self._hidden:
            return
        if tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self._links.append((href.strip(), len(self.parts)))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(f" {alt} ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN or self._hidden:  # <style/> has no content; hidden tags show nothing
            return
        if tag == "a":  # <a href="..."/> has no text: only its target is worth keeping
            href = (dict(attrs).get("href") or "").strip()
            if _shown(href):
                self.parts.append(href)
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
            return
        if self._hidden:
            return
        if tag == "a" and self._links:
            href, start = self._links.pop()
            label = " ".join("".join(self.parts[start:]).split())
            if _shown(href) and href not in (label, f"mailto:{label}"):
                self.parts.append(f" ({href})" if label else href)
        if tag in _PARAGRAPHS:
            self.parts.append(f"\n{_PARAGRAPH}\n")
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            # in HTML a line break in the source is a space like any other
            self.parts.append(_WHITESPACE.sub(" ", data.replace(_PARAGRAPH, "")))


def _shown(href: str) -> bool:
    """Whether a link target is worth printing (not empty, an anchor or a script)."""
    return bool(href) and not href.startswith(("#", "javascript:"))


def html_to_text(html: str) -> str:
    """Return the readable text of ``html``.

    Scripts, styles and the head are dropped; block elements start new lines,
    paragraphs and headings are separated by an empty line, list items start
    with ``-``; a link keeps its target as ``text (url)``; runs of spaces
    collapse to one and the text is stripped.

    Args:
        html: An HTML document or fragment.

    Returns:
        The plain text, lines separated by line feeds.
    """
    extractor = _Extractor()
    extractor.feed(html)
    extractor.close()
    out: list[str] = []
    blank = False
    for raw in "".join(extractor.parts).split("\n"):
        line = _SPACES.sub(" ", raw).strip()
        if line == _PARAGRAPH:
            blank = bool(out)
        elif line:
            if blank:
                out.append("")
                blank = False
            out.append(line)
    return "\n".join(out)
