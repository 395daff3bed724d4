"""Agent output, shown to people. Agent output is untrusted: everything here produces escaped
HTML (`markupsafe.Markup` built only from escaped pieces and our own fixed tags), never passes
raw HTML through, and admits links to http(s) URLs only.

* `markdown(text)`: a small whitelist of Markdown — headings, paragraphs, lists, block quotes,
  fenced code, inline code, bold, italic and `[text](http(s)://…)` links. Anything else (HTML
  tags, `javascript:` links, images) is shown as the text it is.
* `render_value(value)`: structured output as a key/value view.
* `render_post(value)`: an output shaped like a drafted post (a title and a body, a summary or
  variants) shown as a post.
* `blob_refs(value)`: the `blob://` artifacts an output names, for the page to show (images
  as `<img>` only: an SVG in an `<img>` cannot run script).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape

TEXT_LIMIT = 100_000
"""Characters of one text shown; the rest is cut (and says so)."""
ITEMS_LIMIT = 200
"""Keys of one mapping, or items of one list, shown."""
DEPTH_LIMIT = 8

RASTER_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
SVG_TYPE = "image/svg+xml"
IMAGE_TYPES = RASTER_TYPES | {SVG_TYPE}
MARKDOWN_TYPES = frozenset({"text/markdown", "text/plain", "text/x-markdown"})

_BLOB_REF = re.compile(r"blob://[a-z0-9][a-z0-9_-]{0,62}/[0-9a-f]{64}/[^\s\"'<>()\[\]{}]+")
_SAFE_URL = re.compile(r"^https?://[^\s\"'<>`]+$", re.IGNORECASE)
_INLINE = re.compile(
    r"`(?P<code>[^`\n]+)`"
    r"|\[(?P<label>[^\]\n]+)\]\((?P<url>[^)\s]+)\)"
    r"|\*\*(?P<strong>[^*\n]+?)\*\*"
    r"|(?<!\w)__(?P<strong2>[^_\n]+?)__(?!\w)"
    r"|\*(?P<em>[^*\n]+?)\*"
    r"|(?<!\w)_(?P<em2>[^_\n]+?)_(?!\w)"
)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s{0,3}[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^\s{0,3}\d{1,9}[.)]\s+(.*)$")
_QUOTE = re.compile(r"^\s{0,3}>\s?(.*)$")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")


def safe_url(url: str) -> bool:
    """Only absolute http(s) URLs become links (no `javascript:`, `data:`, relative paths)."""
    return bool(_SAFE_URL.match(url))


def _cut(text: str) -> tuple[str, bool]:
    if len(text) > TEXT_LIMIT:
        return text[:TEXT_LIMIT], True
    return text, False


def inline(text: str) -> Markup:
    """One line of Markdown's inline syntax, escaped."""
    out: list[Markup] = []
    pos = 0
    for m in _INLINE.finditer(text):
        out.append(escape(text[pos : m.start()]))
        pos = m.end()
        if m.group("code") is not None:
            out.append(Markup("<code>%s</code>") % m.group("code"))
        elif m.group("label") is not None:
            url = m.group("url")
            if safe_url(url):
                out.append(
                    Markup('<a href="%s" rel="nofollow noopener noreferrer">%s</a>')
                    % (url, inline(m.group("label")))
                )
            else:  # not a link we make: shown as the text it is
                out.append(escape(m.group(0)))
        elif m.group("strong") is not None or m.group("strong2") is not None:
            out.append(
                Markup("<strong>%s</strong>") % inline(m.group("strong") or m.group("strong2"))
            )
        else:
            out.append(Markup("<em>%s</em>") % inline(m.group("em") or m.group("em2")))
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def _list(items: list[str], tag: str) -> Markup:
    body = Markup("").join(Markup("<li>%s</li>") % inline(i) for i in items)
    return Markup(f"<{tag}>") + body + Markup(f"</{tag}>")


def markdown(text: str) -> Markup:
    """Markdown to HTML through a whitelist: every character of `text` reaches the page
    escaped; only our own tags are added."""
    text, cut = _cut(text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = text.split("\n")
    out: list[Markup] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            out.append(Markup("<p>%s</p>") % Markup("<br>").join(inline(p) for p in para))
            para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            flush()
            code: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith(fence.group(1)):
                code.append(lines[i])
                i += 1
            out.append(Markup("<pre><code>%s</code></pre>") % "\n".join(code))
            i += 1
            continue
        heading = _HEADING.match(line)
        if heading:
            flush()
            level = min(6, len(heading.group(1)) + 2)  # inside a page: h3 … h6
            out.append(Markup(f"<h{level}>") + inline(heading.group(2)) + Markup(f"</h{level}>"))
            i += 1
            continue
        for pattern, tag in ((_BULLET, "ul"), (_NUMBERED, "ol")):
            if pattern.match(line):
                flush()
                items: list[str] = []
                while i < len(lines) and (found := pattern.match(lines[i])):
                    items.append(found.group(1))
                    i += 1
                out.append(_list(items, tag))
                break
        else:
            if _QUOTE.match(line):
                flush()
                quoted: list[str] = []
                while i < len(lines) and (found := _QUOTE.match(lines[i])):
                    quoted.append(found.group(1))
                    i += 1
                out.append(
                    Markup("<blockquote>%s</blockquote>")
                    % Markup("<br>").join(inline(q) for q in quoted)
                )
            elif not line.strip():
                flush()
                i += 1
            else:
                para.append(line.strip())
                i += 1
    flush()
    if cut:
        out.append(Markup('<p class="meta">(cut: the text is longer than shown)</p>'))
    return Markup("\n").join(out)


def _scalar(value: Any) -> Markup:
    if value is None:
        return Markup('<span class="muted">—</span>')
    if isinstance(value, bool):
        return escape("yes" if value else "no")
    if isinstance(value, int | float):
        return escape(str(value))
    text = str(value)
    if "\n" in text or len(text) > 240:
        return Markup('<div class="output output-md">%s</div>') % markdown(text)
    return Markup('<span class="text">%s</span>') % text


def render_value(value: Any, depth: int = 0) -> Markup:
    """Structured output as nested key/value lists (escaped keys and values)."""
    if depth > DEPTH_LIMIT:
        text = json.dumps(value, ensure_ascii=False, default=str)
        return Markup('<pre class="output">%s</pre>') % _cut(text)[0]
    if isinstance(value, dict):
        if not value:
            return Markup('<span class="muted">(empty)</span>')
        rows = [
            Markup("<dt>%s</dt><dd>%s</dd>") % (str(k), render_value(v, depth + 1))
            for k, v in list(value.items())[:ITEMS_LIMIT]
        ]
        more = _more(len(value))
        return Markup('<dl class="kv">') + Markup("").join(rows) + Markup("</dl>") + more
    if isinstance(value, list | tuple):
        if not value:
            return Markup('<span class="muted">(none)</span>')
        items = [
            Markup("<li>%s</li>") % render_value(v, depth + 1) for v in list(value)[:ITEMS_LIMIT]
        ]
        return (Markup('<ul class="values">') + Markup("").join(items) + Markup("</ul>")) + _more(
            len(value)
        )
    return _scalar(value)


def _more(n: int) -> Markup:
    if n <= ITEMS_LIMIT:
        return Markup("")
    return Markup('<p class="meta">… and %d more</p>') % (n - ITEMS_LIMIT)


_POST_BODY_KEYS = ("body", "text", "content", "markdown", "post")


def looks_like_post(value: Any) -> bool:
    """A drafted post: a title (or headline) with a body or variants."""
    if not isinstance(value, dict):
        return False
    if not isinstance(value.get("title") or value.get("headline"), str):
        return False
    return any(isinstance(value.get(k), str) for k in _POST_BODY_KEYS) or isinstance(
        value.get("variants"), list
    )


def render_post(value: dict[str, Any]) -> Markup:
    """A drafted post as a reader would see it: title, lead, body, variants, hashtags."""
    parts: list[Markup] = []
    title = value.get("title") or value.get("headline")
    parts.append(Markup('<h3 class="post-title">%s</h3>') % str(title))
    if isinstance(value.get("summary"), str):
        parts.append(Markup('<p class="post-lead">%s</p>') % inline(value["summary"]))
    for key in _POST_BODY_KEYS:
        if isinstance(value.get(key), str):
            parts.append(Markup('<div class="post-body output-md">%s</div>') % markdown(value[key]))
            break
    variants = value.get("variants")
    if isinstance(variants, list):
        for v in variants[:ITEMS_LIMIT]:
            if not isinstance(v, dict):
                continue
            head = Markup('<p class="meta">%s%s</p>') % (
                str(v.get("name") or "variant"),
                f" · {v['format']}" if v.get("format") else "",
            )
            body = Markup("")
            if v.get("headline"):
                body += Markup("<h4>%s</h4>") % str(v["headline"])
            if isinstance(v.get("body"), str):
                body += Markup('<div class="output-md">%s</div>') % markdown(v["body"])
            parts.append(Markup('<div class="post-variant">%s%s</div>') % (head, body))
    tags = value.get("hashtags")
    if isinstance(tags, list) and tags:
        parts.append(Markup('<p class="post-tags">%s</p>') % " ".join(str(t) for t in tags[:50]))
    return Markup('<article class="post">%s</article>') % Markup("").join(parts)


def blob_refs(value: Any) -> list[str]:
    """Every `blob://` reference among the output's strings, first mention first, once."""
    found: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            found.extend(r for r in _BLOB_REF.findall(v) if r not in found)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list | tuple):
            for x in v:
                walk(x)

    walk(value)
    return found


def artifact_url(execution_id: str, ref: str) -> str:
    """Where the console serves one artifact of an execution (`pages/artifacts.py`)."""
    return f"/admin/executions/{quote(execution_id, safe='')}/artifacts/{quote(ref, safe='')}"


def filename(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def is_markdown(content_type: str | None, ref: str) -> bool:
    base = (content_type or "").split(";")[0].strip().lower()
    return base in MARKDOWN_TYPES or ref.lower().endswith((".md", ".markdown", ".txt"))


def is_image(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() in IMAGE_TYPES


def joined(parts: Iterable[Markup]) -> Markup:
    return Markup("").join(parts)
