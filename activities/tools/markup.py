"""HTML or Markdown in, one plain `Document` out (title, headings, paragraphs, links, text).

Tools that read pages (page analysis, keyword coverage, content quality) work on this shape
and need not care which markup they were given. HTML goes through BeautifulSoup with the
stdlib parser (no lxml: wheel-only, no system libraries).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from activities.tools.errors import DataFileError, InvalidToolInput

_HTML_HINT = re.compile(
    r"<\s*(html|head|body|p|div|h[1-6]|title|article|section|span|ul|ol|table|a)\b", re.I
)
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)[^)]*\)")
_MD_LIST = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)")

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


@dataclass
class Document:
    is_html: bool
    title: str = ""
    headings: list[tuple[int, str]] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    list_items: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # (href, anchor text)
    images: list[tuple[str, str]] = field(default_factory=list)  # (src, alt)
    text: str = ""

    @property
    def h1(self) -> list[str]:
        return [t for level, t in self.headings if level == 1]


def looks_like_html(source: str) -> bool:
    return bool(_HTML_HINT.search(source[:5000]))


def load_source(text: str | None, path: str | None, what: str = "document") -> str:
    """Inline text wins; otherwise read `path`. Raises a specific error when neither works."""
    if text:
        return text
    if path:
        p = Path(path)
        if not p.is_file():
            raise DataFileError(f"{what} file not found: {path}")
        if p.stat().st_size > MAX_DOCUMENT_BYTES:
            raise DataFileError(f"{what} {path} is larger than {MAX_DOCUMENT_BYTES} bytes")
        return p.read_text(encoding="utf-8", errors="replace")
    raise InvalidToolInput(f"no {what} given: pass its text or a file path")


def parse_document(source: str) -> Document:
    return _parse_html(source) if looks_like_html(source) else _parse_markdown(source)


def _clean(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def _parse_html(source: str) -> Document:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(source, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    doc = Document(is_html=True)
    if soup.title and soup.title.string:
        doc.title = _clean(soup.title.string)
    for tag in soup.find_all(re.compile(r"^h[1-6]$")):
        doc.headings.append((int(tag.name[1]), _clean(tag.get_text(" "))))
    doc.paragraphs = [t for t in (_clean(p.get_text(" ")) for p in soup.find_all("p")) if t]
    doc.list_items = [t for t in (_clean(li.get_text(" ")) for li in soup.find_all("li")) if t]
    doc.links = [(str(a.get("href", "")), _clean(a.get_text(" "))) for a in soup.find_all("a")]
    doc.images = [(str(i.get("src", "")), str(i.get("alt", ""))) for i in soup.find_all("img")]
    doc.text = block_text(soup.body or soup)
    return doc


BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "section",
        "article",
        "aside",
        "header",
        "footer",
        "main",
        "nav",
        "li",
        "ul",
        "ol",
        "table",
        "tr",
        "td",
        "th",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "figure",
        "figcaption",
        "dd",
        "dt",
        "dl",
        "form",
        "title",
        "body",
        "html",
    ]
)


def block_text(root: Any) -> str:
    """Visible text with block elements separated by blank lines, inline ones by spaces, so
    sentence splitting never glues a heading onto the paragraph after it."""
    blocks: list[list[str]] = []
    current_block: object = None
    for node in root.find_all(string=True):
        text = _clean(str(node))
        if not text:
            continue
        block = next((p for p in node.parents if p.name in BLOCK_TAGS), None)
        if block is not current_block or not blocks:
            blocks.append([])
            current_block = block
        blocks[-1].append(text)
    return "\n\n".join(" ".join(b) for b in blocks)


def _parse_markdown(source: str) -> Document:
    doc = Document(is_html=False)
    paragraph: list[str] = []
    text_lines: list[str] = []

    def flush() -> None:
        if paragraph:
            doc.paragraphs.append(_clean(" ".join(paragraph)))
            paragraph.clear()

    for raw in source.splitlines():
        for bang, label, href in _MD_LINK.findall(raw):
            (doc.images if bang else doc.links).append((href, label))
        line = _MD_EMPHASIS.sub("", _MD_LINK.sub(r"\2", raw)).rstrip()
        heading = _MD_HEADING.match(line)
        if heading:
            flush()
            level, title = len(heading.group(1)), _clean(heading.group(2))
            doc.headings.append((level, title))
            if level == 1 and not doc.title:
                doc.title = title
            text_lines.append(title)
        elif _MD_LIST.match(line):
            flush()
            item = _clean(_MD_LIST.sub("", line))
            doc.list_items.append(item)
            text_lines.append(item)
        elif not line.strip():
            flush()
            text_lines.append("")
        else:
            paragraph.append(line.strip())
            text_lines.append(line.strip())
    flush()
    doc.text = "\n".join(text_lines)
    return doc
