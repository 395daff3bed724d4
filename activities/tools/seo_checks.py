"""The on-page SEO checklist: page facts gathered in one parse, then named checks over them.

Each check has a stable id (tests and dashboards key on it), a category, a severity and a
function returning (status, detail) where status is "pass", "fail" or "n/a" (the check does
not apply, e.g. image checks on a page without images). N/A never counts as a failure.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlparse

from activities.tools.markup import BLOCK_TAGS as _BLOCKS
from activities.tools.schema_org import validate_jsonld
from activities.tools.textstats import WORD_RE, readability, words

_VAGUE_ANCHORS = {
    "click here",
    "here",
    "read more",
    "more",
    "learn more",
    "this",
    "link",
    "this page",
}
_DEPRECATED = ("font", "center", "marquee", "blink", "big", "strike", "tt", "frame", "frameset")
_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_GENERIC_TITLES = {"home", "untitled", "document", "index", "page", "welcome", "new page"}


@dataclass
class PageFacts:
    source: str
    url: str
    keyword: str
    lang: str | None = None
    doctype_html5: bool = False
    titles: list[str] = field(default_factory=list)
    meta: dict[str, list[str]] = field(default_factory=dict)  # name/property/http-equiv -> contents
    charset: bool = False
    links_rel: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # rel -> attrs
    headings: list[tuple[int, str]] = field(default_factory=list)
    text: str = ""
    text_lower: str = ""
    paragraphs: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    anchors: list[dict[str, Any]] = field(default_factory=list)
    head_scripts: list[dict[str, Any]] = field(default_factory=list)
    scripts: int = 0
    jsonld: list[str] = field(default_factory=list)
    stylesheets: int = 0
    inline_styles: int = 0
    ids: list[str] = field(default_factory=list)
    deprecated: list[str] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    labels_for: set[str] = field(default_factory=set)
    buttons: list[str] = field(default_factory=list)
    tables: list[bool] = field(default_factory=list)  # has <th>
    iframes: list[str | None] = field(default_factory=list)  # title attrs
    resources: list[str] = field(default_factory=list)  # src/href of img/script/link
    word_count: int = 0


_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)
_HIDDEN = frozenset(("script", "style", "noscript", "template"))
_TEXT_OF = frozenset(("title", "h1", "h2", "h3", "h4", "h5", "h6", "a", "p", "button"))
_NOT_A_FIELD = ("hidden", "submit", "button", "image", "reset")


class _Open:
    """An open element on the parser's stack; `buf` collects its text when we need it."""

    __slots__ = ("buf", "index", "tag")

    def __init__(self, tag: str, buf: list[str] | None, index: int) -> None:
        self.tag = tag
        self.buf = buf
        self.index = index


class _PageParser(HTMLParser):
    """One streaming pass over the page with the stdlib tokenizer (no tree: a tree costs about
    twice the time on big pages). End tags close back to their matching open tag, as lenient
    parsers do; void elements never open."""

    def __init__(self, facts: PageFacts, has_body: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.f = facts
        self.has_body = has_body
        self.stack: list[_Open] = []
        self.blocks: list[list[str]] = []
        self.block_owner: list[_Open | None] = []
        self.jsonld_buf: list[str] | None = None
        self.anchor_alts: list[list[str]] = []

    def _inside(self, tag: str) -> bool:
        return any(o.tag == tag for o in self.stack)

    def handle_starttag(self, tag: str, attr_list: list[tuple[str, str | None]]) -> None:
        f = self.f
        attrs = {k: (v if v is not None else "") for k, v in attr_list}
        if "id" in attrs:
            f.ids.append(attrs["id"])
        if "style" in attrs:
            f.inline_styles += 1
        if tag in _DEPRECATED:
            f.deprecated.append(tag)
        index = -1
        if tag == "html" and attrs.get("lang"):
            f.lang = attrs["lang"]
        elif tag == "title" and not self._inside("svg"):
            f.titles.append("")
            index = len(f.titles) - 1
        elif tag == "meta":
            if "charset" in attrs:
                f.charset = True
            key = attrs.get("name") or attrs.get("property") or attrs.get("http-equiv")
            if key:
                f.meta.setdefault(key.lower(), []).append(attrs.get("content", ""))
                if key.lower() == "content-type" and "charset" in attrs.get("content", "").lower():
                    f.charset = True
        elif tag == "link":
            rels = attrs.get("rel", "").split()
            for rel in rels:
                f.links_rel.setdefault(rel.lower(), []).append(
                    {k: v for k, v in attrs.items() if k != "rel"}
                )
            if "stylesheet" in [r.lower() for r in rels]:
                f.stylesheets += 1
            if attrs.get("href"):
                f.resources.append(attrs["href"])
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            f.headings.append((int(tag[1]), ""))
            index = len(f.headings) - 1
        elif tag == "img":
            f.images.append(attrs)
            if attrs.get("src"):
                f.resources.append(attrs["src"])
            for o in self.stack:
                if o.tag == "a":
                    self.anchor_alts[o.index].append(attrs.get("alt", ""))
        elif tag == "a":
            f.anchors.append(
                {
                    "href": attrs.get("href", "").strip(),
                    "text": "",
                    "rel": [r.lower() for r in attrs.get("rel", "").split()],
                    "target": attrs.get("target", ""),
                    "aria": attrs.get("aria-label", ""),
                }
            )
            self.anchor_alts.append([])
            index = len(f.anchors) - 1
        elif tag == "script":
            f.scripts += 1
            if attrs.get("type", "").lower() == "application/ld+json":
                self.jsonld_buf = []
            else:
                if attrs.get("src"):
                    f.resources.append(attrs["src"])
                    if self._inside("head"):
                        f.head_scripts.append(attrs)
        elif (tag == "input" and attrs.get("type", "text").lower() not in _NOT_A_FIELD) or tag in (
            "textarea",
            "select",
        ):
            f.inputs.append(
                {
                    "id": attrs.get("id"),
                    "aria": attrs.get("aria-label") or attrs.get("aria-labelledby"),
                    "wrapped": self._inside("label"),
                }
            )
        elif tag == "label" and attrs.get("for"):
            f.labels_for.add(attrs["for"])
        elif tag == "button":
            f.buttons.append(attrs.get("aria-label", "") or attrs.get("title", ""))
            index = len(f.buttons) - 1
        elif tag == "table":
            f.tables.append(False)
            index = len(f.tables) - 1
        elif tag == "th":
            for o in reversed(self.stack):
                if o.tag == "table":
                    f.tables[o.index] = True
                    break
        elif tag == "iframe":
            f.iframes.append(attrs.get("title") or None)
        if tag in _VOID:
            return
        entry = _Open(tag, [] if (tag in _TEXT_OF and index >= 0) or tag == "p" else None, index)
        self.stack.append(entry)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i].tag == tag:
                while len(self.stack) > i:
                    self._close(self.stack.pop())
                return

    def _close(self, o: _Open) -> None:
        f = self.f
        if o.tag == "script" and self.jsonld_buf is not None:
            f.jsonld.append("".join(self.jsonld_buf))
            self.jsonld_buf = None
        if o.buf is None:
            return
        text = " ".join(t.strip() for t in o.buf if t.strip())
        if o.tag == "title":
            f.titles[o.index] = "".join(o.buf).strip()
        elif o.tag[0] == "h":
            f.headings[o.index] = (f.headings[o.index][0], text)
        elif o.tag == "a":
            f.anchors[o.index]["text"] = text or " ".join(self.anchor_alts[o.index]).strip()
        elif o.tag == "button":
            f.buttons[o.index] = text or f.buttons[o.index]
        elif o.tag == "p":
            f.paragraphs.append(text)

    def handle_data(self, data: str) -> None:
        if self.jsonld_buf is not None and self.stack and self.stack[-1].tag == "script":
            self.jsonld_buf.append(data)
            return
        hidden = False
        in_body = not self.has_body
        owner: _Open | None = None
        for o in self.stack:
            if o.tag in _HIDDEN:
                hidden = True
            elif o.tag == "body":
                in_body = True
            elif o.tag == "head":
                in_body = False
            if o.tag in _BLOCKS:
                owner = o
        for o in self.stack:
            if o.buf is not None and (not hidden or o.tag == "title"):
                o.buf.append(data)
        text = " ".join(data.split())
        if hidden or not in_body or not text:
            return
        # block elements separate blocks; inline ones join the block they sit in
        if not self.blocks or self.block_owner[-1] is not owner:
            self.blocks.append([])
            self.block_owner.append(owner)
        self.blocks[-1].append(text)

    def close(self) -> None:
        super().close()
        while self.stack:
            self._close(self.stack.pop())


def gather(source: str, url: str = "", keyword: str = "") -> PageFacts:
    f = PageFacts(source=source, url=url, keyword=keyword.lower().strip())
    f.doctype_html5 = bool(re.match(r"^\s*<!doctype\s+html\s*>", source, re.I))
    parser = _PageParser(f, has_body=re.search(r"<body[\s>]", source, re.I) is not None)
    parser.feed(source)
    parser.close()
    f.text = "\n\n".join(" ".join(b) for b in parser.blocks)
    f.text_lower = f.text.lower()
    f.word_count = len(words(f.text))
    return f


Status = tuple[str, str]
PASS, FAIL, NA = "pass", "fail", "n/a"


@dataclass(frozen=True)
class Check:
    id: str
    category: str
    severity: str  # high | medium | low
    description: str
    run: Callable[[PageFacts], Status]


CHECKS: list[Check] = []


def check(
    id: str, category: str, severity: str, description: str
) -> Callable[[Callable[[PageFacts], Status]], Callable[[PageFacts], Status]]:
    def register(func: Callable[[PageFacts], Status]) -> Callable[[PageFacts], Status]:
        CHECKS.append(Check(id, category, severity, description, func))
        return func

    return register


def _ok(cond: bool, fail_detail: str, pass_detail: str = "") -> Status:
    return (PASS, pass_detail) if cond else (FAIL, fail_detail)


def _kw_in(text: str, kw: str) -> bool:
    return bool(kw) and re.search(rf"(?<!\w){re.escape(kw)}(?!\w)", text.lower()) is not None


def _meta1(f: PageFacts, key: str) -> str:
    values = f.meta.get(key) or [""]
    return values[0].strip()


def _host(u: str) -> str:
    return urlparse(u).netloc.lower()


def _is_internal(f: PageFacts, href: str) -> bool:
    if href.startswith(("mailto:", "tel:", "javascript:", "#")):
        return False
    host = _host(href)
    return not host or (bool(f.url) and host == _host(f.url))


# ---------------------------------------------------------------- title
@check("title_present", "title", "high", "The page has a non-empty <title>.")
def _c1(f: PageFacts) -> Status:
    return _ok(any(f.titles), "no <title>")


@check("title_single", "title", "medium", "Exactly one <title>.")
def _c2(f: PageFacts) -> Status:
    return _ok(len(f.titles) <= 1, f"{len(f.titles)} <title> tags") if f.titles else (NA, "")


@check("title_length", "title", "medium", "Title is 30-60 characters.")
def _c3(f: PageFacts) -> Status:
    if not any(f.titles):
        return NA, ""
    n = len(f.titles[0])
    return _ok(30 <= n <= 60, f"title is {n} characters", f"{n} characters")


@check("title_has_keyword", "title", "high", "Title contains the target keyword.")
def _c4(f: PageFacts) -> Status:
    if not f.keyword or not any(f.titles):
        return NA, ""
    return _ok(_kw_in(f.titles[0], f.keyword), f"'{f.keyword}' not in title")


@check(
    "title_not_generic", "title", "medium", "Title is not a placeholder like 'Home' or 'Untitled'."
)
def _c5(f: PageFacts) -> Status:
    if not any(f.titles):
        return NA, ""
    return _ok(f.titles[0].strip().lower() not in _GENERIC_TITLES, f"generic title '{f.titles[0]}'")


@check("title_no_stuffing", "title", "low", "Keyword appears at most twice in the title.")
def _c6(f: PageFacts) -> Status:
    if not f.keyword or not any(f.titles):
        return NA, ""
    n = len(re.findall(rf"(?<!\w){re.escape(f.keyword)}(?!\w)", f.titles[0].lower()))
    return _ok(n <= 2, f"keyword repeated {n} times in title")


# ---------------------------------------------------------------- meta description
@check("meta_description_present", "meta", "high", "A meta description is present.")
def _m1(f: PageFacts) -> Status:
    return _ok(bool(_meta1(f, "description")), "no meta description")


@check("meta_description_length", "meta", "medium", "Meta description is 70-160 characters.")
def _m2(f: PageFacts) -> Status:
    d = _meta1(f, "description")
    return _ok(70 <= len(d) <= 160, f"meta description is {len(d)} characters") if d else (NA, "")


@check("meta_description_has_keyword", "meta", "medium", "Meta description contains the keyword.")
def _m3(f: PageFacts) -> Status:
    d = _meta1(f, "description")
    return (
        _ok(_kw_in(d, f.keyword), f"'{f.keyword}' not in meta description")
        if d and f.keyword
        else (NA, "")
    )


@check("meta_description_single", "meta", "low", "Only one meta description.")
def _m4(f: PageFacts) -> Status:
    n = len(f.meta.get("description", []))
    return _ok(n <= 1, f"{n} meta descriptions") if n else (NA, "")


# ---------------------------------------------------------------- headings
@check("h1_present", "headings", "high", "The page has an <h1>.")
def _h1(f: PageFacts) -> Status:
    return _ok(any(level == 1 for level, _ in f.headings), "no <h1>")


@check("h1_single", "headings", "medium", "Exactly one <h1>.")
def _h2(f: PageFacts) -> Status:
    n = sum(1 for level, _ in f.headings if level == 1)
    return _ok(n == 1, f"{n} <h1> tags") if n else (NA, "")


@check("h1_has_keyword", "headings", "medium", "The <h1> contains the keyword.")
def _h3(f: PageFacts) -> Status:
    h1 = [t for level, t in f.headings if level == 1]
    return (
        _ok(any(_kw_in(t, f.keyword) for t in h1), f"'{f.keyword}' not in <h1>")
        if h1 and f.keyword
        else (NA, "")
    )


@check("heading_hierarchy", "headings", "low", "Heading levels do not skip (h2 before h3 ...).")
def _h4(f: PageFacts) -> Status:
    prev = 0
    for level, text in f.headings:
        if prev and level > prev + 1:
            return FAIL, f"h{level} '{text[:40]}' follows h{prev}"
        prev = level
    return (PASS, "") if f.headings else (NA, "")


@check("headings_not_empty", "headings", "low", "No empty headings.")
def _h5(f: PageFacts) -> Status:
    empty = sum(1 for _, t in f.headings if not t)
    return _ok(empty == 0, f"{empty} empty headings") if f.headings else (NA, "")


@check("subheadings_present", "headings", "low", "Content is broken up with <h2> subheadings.")
def _h6(f: PageFacts) -> Status:
    return (
        _ok(any(level == 2 for level, _ in f.headings), "no <h2> subheadings")
        if f.word_count >= 300
        else (NA, "")
    )


# ---------------------------------------------------------------- content
@check("word_count", "content", "medium", "At least 300 words of body text.")
def _t1(f: PageFacts) -> Status:
    return _ok(f.word_count >= 300, f"{f.word_count} words", f"{f.word_count} words")


@check("keyword_in_intro", "content", "medium", "Keyword appears in the first 100 words.")
def _t2(f: PageFacts) -> Status:
    if not f.keyword:
        return NA, ""
    first = " ".join(m.group(0) for m in itertools.islice(WORD_RE.finditer(f.text), 100))
    return _ok(_kw_in(first, f.keyword), f"'{f.keyword}' not in the first 100 words")


@check("keyword_density", "content", "medium", "Keyword density is 0.5-2.5%.")
def _t3(f: PageFacts) -> Status:
    if not f.keyword or not f.word_count:
        return NA, ""
    hits = len(re.findall(rf"(?<!\w){re.escape(f.keyword)}(?!\w)", f.text_lower))
    d = 100.0 * hits * len(f.keyword.split()) / f.word_count
    return _ok(0.5 <= d <= 2.5, f"keyword density {d:.2f}%", f"{d:.2f}%")


@check("no_placeholder_text", "content", "high", "No lorem ipsum or TODO placeholder text.")
def _t4(f: PageFacts) -> Status:
    # markers are upper case by convention; "lorem ipsum" in any case
    found = "lorem ipsum" if "lorem ipsum" in f.text_lower else None
    m = re.search(r"\b(?:TODO|TBD)\b", f.text)
    found = found or (m.group(0) if m else None)
    return _ok(found is None, f"placeholder text '{found}'")


@check("text_to_html_ratio", "content", "low", "Visible text is at least 10% of the HTML.")
def _t5(f: PageFacts) -> Status:
    ratio = len(f.text) / max(1, len(f.source))
    return _ok(ratio >= 0.10, f"text is {ratio:.0%} of the HTML", f"{ratio:.0%}")


@check("paragraph_length", "content", "low", "No paragraph longer than 150 words.")
def _t6(f: PageFacts) -> Status:
    longest = max((len(words(p)) for p in f.paragraphs), default=0)
    return _ok(longest <= 150, f"a paragraph has {longest} words") if f.paragraphs else (NA, "")


@check("readability", "content", "low", "Flesch reading ease of 50 or more.")
def _t7(f: PageFacts) -> Status:
    if f.word_count < 100:
        return NA, ""
    fre = readability(f.text).flesch_reading_ease
    return _ok(fre >= 50, f"Flesch reading ease {fre:.0f}", f"{fre:.0f}")


# ---------------------------------------------------------------- images
@check("img_alt_present", "images", "high", "Every <img> has an alt attribute.")
def _i1(f: PageFacts) -> Status:
    missing = [str(i.get("src", "?")) for i in f.images if "alt" not in i]
    return (
        _ok(not missing, f"{len(missing)} images without alt: {', '.join(missing[:3])}")
        if f.images
        else (NA, "")
    )


@check("img_alt_not_filename", "images", "medium", "Alt text is not a file name.")
def _i2(f: PageFacts) -> Status:
    bad = [
        str(i["alt"])
        for i in f.images
        if re.search(
            r"\.(jpe?g|png|gif|webp|svg)$|^(img|dsc|image)[_-]?\d+", str(i.get("alt", "")), re.I
        )
    ]
    return (
        _ok(not bad, f"alt text looks like a file name: {', '.join(bad[:3])}")
        if f.images
        else (NA, "")
    )


@check("img_alt_length", "images", "low", "Alt text is at most 125 characters.")
def _i3(f: PageFacts) -> Status:
    long = [i for i in f.images if len(str(i.get("alt", ""))) > 125]
    return _ok(not long, f"{len(long)} alt texts over 125 characters") if f.images else (NA, "")


@check(
    "img_dimensions", "images", "medium", "Images declare width and height (prevents layout shift)."
)
def _i4(f: PageFacts) -> Status:
    missing = [str(i.get("src", "?")) for i in f.images if not (i.get("width") and i.get("height"))]
    return _ok(not missing, f"{len(missing)} images without width/height") if f.images else (NA, "")


@check("img_lazy_loading", "images", "low", "Images after the first three load lazily.")
def _i5(f: PageFacts) -> Status:
    later = f.images[3:]
    eager = [i for i in later if str(i.get("loading", "")).lower() != "lazy"]
    return (
        _ok(not eager, f"{len(eager)} below-the-fold images without loading=lazy")
        if later
        else (NA, "")
    )


# ---------------------------------------------------------------- links
@check("internal_links", "links", "medium", "At least 3 internal links.")
def _l1(f: PageFacts) -> Status:
    n = sum(1 for a in f.anchors if a["href"] and _is_internal(f, a["href"]))
    return _ok(n >= 3, f"{n} internal links", f"{n} internal links")


@check("external_links_noopener", "links", "medium", "Links opening a new tab use rel=noopener.")
def _l2(f: PageFacts) -> Status:
    blank = [a for a in f.anchors if a["target"] == "_blank"]
    bad = [a["href"] for a in blank if not ({"noopener", "noreferrer"} & set(a["rel"]))]
    return _ok(not bad, f"{len(bad)} target=_blank links without noopener") if blank else (NA, "")


@check("anchor_text_present", "links", "medium", "Every link has text or an aria-label.")
def _l3(f: PageFacts) -> Status:
    empty = [a["href"] for a in f.anchors if not a["text"] and not a["aria"]]
    return _ok(not empty, f"{len(empty)} links without text") if f.anchors else (NA, "")


@check("anchor_text_descriptive", "links", "low", "No vague anchors like 'click here'.")
def _l4(f: PageFacts) -> Status:
    vague = [a["text"] for a in f.anchors if a["text"].lower().strip(" .!") in _VAGUE_ANCHORS]
    return (
        _ok(not vague, f"vague anchor text: {', '.join(sorted(set(vague)))}")
        if f.anchors
        else (NA, "")
    )


@check("no_javascript_links", "links", "medium", "No javascript: links.")
def _l5(f: PageFacts) -> Status:
    bad = [a for a in f.anchors if a["href"].lower().startswith("javascript:")]
    return _ok(not bad, f"{len(bad)} javascript: links") if f.anchors else (NA, "")


@check("fragment_links_resolve", "links", "low", "In-page #links point at existing ids.")
def _l6(f: PageFacts) -> Status:
    frags = [a["href"][1:] for a in f.anchors if a["href"].startswith("#") and len(a["href"]) > 1]
    ids = set(f.ids)
    broken = [x for x in frags if x not in ids]
    return (
        _ok(not broken, f"broken fragments: {', '.join('#' + b for b in broken[:3])}")
        if frags
        else (NA, "")
    )


@check("no_mixed_content", "links", "high", "An https page loads no http:// resources.")
def _l7(f: PageFacts) -> Status:
    if not f.url.startswith("https://"):
        return NA, ""
    bad = [r for r in f.resources if r.startswith("http://")]
    return _ok(not bad, f"{len(bad)} insecure resources: {', '.join(bad[:2])}")


@check("internal_links_followed", "links", "low", "Internal links are not rel=nofollow.")
def _l8(f: PageFacts) -> Status:
    internal = [a for a in f.anchors if a["href"] and _is_internal(f, a["href"])]
    bad = [a["href"] for a in internal if "nofollow" in a["rel"]]
    return _ok(not bad, f"{len(bad)} nofollow internal links") if internal else (NA, "")


@check("no_empty_hrefs", "links", "medium", "No links with an empty or '#' href.")
def _l9(f: PageFacts) -> Status:
    bad = [a for a in f.anchors if a["href"] in ("", "#")]
    return _ok(not bad, f"{len(bad)} links with empty href") if f.anchors else (NA, "")


# ---------------------------------------------------------------- technical
@check("doctype_html5", "technical", "low", "The document starts with <!doctype html>.")
def _x1(f: PageFacts) -> Status:
    return _ok(f.doctype_html5, "missing HTML5 doctype")


@check("html_lang", "technical", "medium", "<html> declares a lang.")
def _x2(f: PageFacts) -> Status:
    return _ok(bool(f.lang), "no lang attribute on <html>")


@check("html_lang_valid", "technical", "low", "The lang value is a valid BCP 47 tag.")
def _x3(f: PageFacts) -> Status:
    return _ok(bool(_LANG.match(f.lang or "")), f"invalid lang '{f.lang}'") if f.lang else (NA, "")


@check("charset_declared", "technical", "medium", "A character set is declared.")
def _x4(f: PageFacts) -> Status:
    return _ok(f.charset, "no <meta charset>")


@check("viewport_meta", "technical", "high", "A responsive viewport meta tag is present.")
def _x5(f: PageFacts) -> Status:
    v = _meta1(f, "viewport")
    return _ok(
        "width=device-width" in v.replace(" ", ""), "no viewport meta with width=device-width"
    )


@check("canonical_present", "technical", "medium", "A canonical link is present.")
def _x6(f: PageFacts) -> Status:
    return _ok(bool(f.links_rel.get("canonical")), "no rel=canonical")


@check("canonical_absolute", "technical", "low", "The canonical URL is absolute.")
def _x7(f: PageFacts) -> Status:
    c = f.links_rel.get("canonical")
    return (
        _ok(
            c[0].get("href", "").startswith(("http://", "https://")),
            f"relative canonical '{c[0].get('href', '')}'",
        )
        if c
        else (NA, "")
    )


@check("canonical_single", "technical", "medium", "Only one canonical link.")
def _x8(f: PageFacts) -> Status:
    c = f.links_rel.get("canonical") or []
    return _ok(len(c) == 1, f"{len(c)} canonical links") if c else (NA, "")


@check("robots_indexable", "technical", "high", "The page is not noindex.")
def _x9(f: PageFacts) -> Status:
    r = " ".join(f.meta.get("robots", []) + f.meta.get("googlebot", [])).lower()
    return _ok("noindex" not in r and "none" not in r.split(","), "meta robots blocks indexing")


@check("no_meta_refresh", "technical", "medium", "No meta refresh redirects.")
def _x10(f: PageFacts) -> Status:
    return _ok("refresh" not in f.meta, "meta refresh present")


@check("no_meta_keywords", "technical", "low", "No obsolete meta keywords tag.")
def _x11(f: PageFacts) -> Status:
    return _ok(
        "keywords" not in f.meta,
        "meta keywords present (ignored by search engines, leaks strategy)",
    )


@check("favicon_present", "technical", "low", "A favicon is linked.")
def _x12(f: PageFacts) -> Status:
    return _ok(
        any(r in f.links_rel for r in ("icon", "shortcut", "apple-touch-icon")), "no favicon link"
    )


@check("hreflang_valid", "technical", "low", "hreflang alternates use valid language codes.")
def _x13(f: PageFacts) -> Status:
    alts = [a.get("hreflang", "") for a in f.links_rel.get("alternate", []) if a.get("hreflang")]
    bad = [h for h in alts if h != "x-default" and not _LANG.match(h)]
    return _ok(not bad, f"invalid hreflang: {', '.join(bad)}") if alts else (NA, "")


# ---------------------------------------------------------------- social
def _social(key: str, label: str) -> Callable[[PageFacts], Status]:
    def run(f: PageFacts) -> Status:
        return _ok(bool(_meta1(f, key)), f"no {label}")

    return run


for _key, _sev in (
    ("og:title", "medium"),
    ("og:description", "low"),
    ("og:image", "medium"),
    ("og:url", "low"),
    ("og:type", "low"),
    ("twitter:card", "low"),
):
    CHECKS.append(
        Check(
            _key.replace(":", "_"),
            "social",
            _sev,
            f"<meta {_key}> is present.",
            _social(_key, f"<meta {_key}>"),
        )
    )


# ---------------------------------------------------------------- structured data
@check(
    "structured_data_present", "structured_data", "low", "The page carries JSON-LD structured data."
)
def _s1(f: PageFacts) -> Status:
    return _ok(bool(f.jsonld), "no JSON-LD")


@check(
    "structured_data_valid",
    "structured_data",
    "medium",
    "JSON-LD parses and has the required properties.",
)
def _s2(f: PageFacts) -> Status:
    if not f.jsonld:
        return NA, ""
    problems = [p for block in f.jsonld for p in validate_jsonld(block)]
    return _ok(not problems, "; ".join(problems[:3]))


# ---------------------------------------------------------------- performance
@check("html_size", "performance", "medium", "HTML is under 1 MB.")
def _p1(f: PageFacts) -> Status:
    size = len(f.source.encode())
    return _ok(size <= 1_000_000, f"HTML is {size / 1e6:.1f} MB", f"{size / 1e3:.0f} KB")


@check("script_count", "performance", "low", "At most 20 scripts.")
def _p2(f: PageFacts) -> Status:
    return _ok(f.scripts <= 20, f"{f.scripts} scripts")


@check(
    "render_blocking_scripts",
    "performance",
    "medium",
    "External scripts in <head> use async or defer.",
)
def _p3(f: PageFacts) -> Status:
    blocking = [
        str(s.get("src"))
        for s in f.head_scripts
        if "async" not in s and "defer" not in s and str(s.get("type", "")).lower() != "module"
    ]
    return (
        _ok(not blocking, f"{len(blocking)} render-blocking scripts: {', '.join(blocking[:2])}")
        if f.head_scripts
        else (NA, "")
    )


@check("stylesheet_count", "performance", "low", "At most 5 stylesheets.")
def _p4(f: PageFacts) -> Status:
    return _ok(f.stylesheets <= 5, f"{f.stylesheets} stylesheets")


@check("inline_styles", "performance", "low", "At most 20 inline style attributes.")
def _p5(f: PageFacts) -> Status:
    return _ok(f.inline_styles <= 20, f"{f.inline_styles} inline style attributes")


# ---------------------------------------------------------------- accessibility / markup
@check("no_deprecated_tags", "markup", "low", "No deprecated tags (font, center, marquee ...).")
def _a1(f: PageFacts) -> Status:
    return _ok(not f.deprecated, f"deprecated tags: {', '.join(sorted(set(f.deprecated)))}")


@check("unique_ids", "markup", "low", "Element ids are unique.")
def _a2(f: PageFacts) -> Status:
    dup = [i for i, n in Counter(f.ids).items() if n > 1]
    return _ok(not dup, f"duplicate ids: {', '.join(dup[:3])}")


@check("form_inputs_labelled", "markup", "medium", "Form fields have labels.")
def _a3(f: PageFacts) -> Status:
    bad = [
        i
        for i in f.inputs
        if not (i["wrapped"] or i["aria"] or (i["id"] and i["id"] in f.labels_for))
    ]
    return _ok(not bad, f"{len(bad)} form fields without a label") if f.inputs else (NA, "")


@check("buttons_named", "markup", "medium", "Buttons have an accessible name.")
def _a4(f: PageFacts) -> Status:
    bad = [b for b in f.buttons if not b]
    return _ok(not bad, f"{len(bad)} buttons without a name") if f.buttons else (NA, "")


@check("tables_have_headers", "markup", "low", "Data tables use <th> headers.")
def _a5(f: PageFacts) -> Status:
    bad = sum(1 for t in f.tables if not t)
    return _ok(bad == 0, f"{bad} tables without <th>") if f.tables else (NA, "")


@check("iframes_titled", "markup", "low", "Iframes have a title.")
def _a6(f: PageFacts) -> Status:
    bad = sum(1 for t in f.iframes if not t)
    return _ok(bad == 0, f"{bad} iframes without a title") if f.iframes else (NA, "")


# ---------------------------------------------------------------- url
def _url_check(f: PageFacts, cond: Callable[[str], bool], detail: str) -> Status:
    if not f.url:
        return NA, ""
    return _ok(cond(f.url), detail)


@check("url_https", "url", "high", "The URL uses https.")
def _u1(f: PageFacts) -> Status:
    return _url_check(f, lambda u: u.startswith("https://"), "URL is not https")


@check("url_lowercase", "url", "low", "The URL path is lowercase.")
def _u2(f: PageFacts) -> Status:
    return _url_check(
        f, lambda u: urlparse(u).path == urlparse(u).path.lower(), "URL path has uppercase letters"
    )


@check("url_no_underscores", "url", "low", "The URL path uses hyphens, not underscores.")
def _u3(f: PageFacts) -> Status:
    return _url_check(f, lambda u: "_" not in urlparse(u).path, "URL path has underscores")


@check("url_length", "url", "low", "The URL is at most 75 characters.")
def _u4(f: PageFacts) -> Status:
    return _url_check(f, lambda u: len(u) <= 75, f"URL is {len(f.url)} characters")


@check("url_has_keyword", "url", "low", "The URL slug contains the keyword.")
def _u5(f: PageFacts) -> Status:
    if not f.keyword:
        return NA, ""
    slug = f.keyword.replace(" ", "-")
    return _url_check(f, lambda u: slug in urlparse(u).path.lower(), f"'{slug}' not in URL path")
