"""schema.org JSON-LD: the required properties we enforce per type, and a validator.

The rules follow what search engines need for rich results (schema.org itself makes every
property optional). `validate_jsonld` returns every problem found, so an author fixes them
all in one pass; `schema_jsonld` refuses to emit a document that fails it.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any

from pydantic import AliasChoices, Field

from activities.tools.artifacts import ArtifactWriter
from activities.tools.errors import InvalidToolInput
from activities.tools.registry import ToolError, ToolInput, ToolOutput, tool
from activities.tools.sampling import rng


class SchemaValidationError(ToolError):
    """The JSON-LD lacks required properties or has malformed values (all listed)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid JSON-LD: " + "; ".join(problems))


# type -> required properties; a tuple inside the list means "at least one of these".
REQUIRED: dict[str, list[str | tuple[str, ...]]] = {
    "Article": ["headline", "author", "datePublished", "image"],
    "Product": ["name", ("offers", "review", "aggregateRating")],
    "Organization": ["name", "url"],
    "LocalBusiness": ["name", "address"],
    "FAQPage": ["mainEntity"],
    "Event": ["name", "startDate", "location"],
    "Offer": ["price", "priceCurrency"],
    "PostalAddress": ["streetAddress", "addressLocality", "addressCountry"],
    "Question": ["name", "acceptedAnswer"],
    "Answer": ["text"],
    "Place": ["address"],
    "VirtualLocation": ["url"],
    "Person": ["name"],
    "AggregateRating": ["ratingValue", ("ratingCount", "reviewCount")],
}
RECOMMENDED: dict[str, list[str]] = {
    "Article": ["dateModified", "publisher", "description"],
    "Product": ["image", "description", "sku", "brand"],
    "Organization": ["logo", "sameAs", "contactPoint"],
    "LocalBusiness": ["telephone", "openingHours", "geo", "url"],
    "Event": ["endDate", "eventStatus", "image", "description", "offers"],
}
TOP_LEVEL = ("Article", "Product", "Organization", "LocalBusiness", "FAQPage", "Event")
# nested property -> the type assumed when the value has no @type
_NESTED_DEFAULT = {
    "offers": "Offer",
    "address": "PostalAddress",
    "acceptedAnswer": "Answer",
    "author": "Person",
    "aggregateRating": "AggregateRating",
}
_DATE_PROPS = ("datePublished", "dateModified", "startDate", "endDate")
_URL_PROPS = ("url", "image", "logo")
_SUBTYPES = {
    "NewsArticle": "Article",
    "BlogPosting": "Article",
    "Restaurant": "LocalBusiness",
    "Store": "LocalBusiness",
}


def _is_iso_date(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        (datetime.fromisoformat(v.replace("Z", "+00:00")) if "T" in v else date.fromisoformat(v))
        return True
    except ValueError:
        return False


def _is_url(v: Any) -> bool:
    if isinstance(v, list):
        return bool(v) and all(_is_url(x) for x in v)
    if isinstance(v, dict):  # ImageObject etc.
        return _is_url(v.get("url") or v.get("contentUrl"))
    return isinstance(v, str) and bool(re.match(r"^https?://[^\s/]+\.[^\s]+$", v))


def _present(v: Any) -> bool:
    return v not in (None, "", [], {})


def validate_node(node: Any, path: str, expected: str | None = None) -> list[str]:
    if not isinstance(node, dict):
        # a plain name is fine for an author; anything else nested must be an object
        if expected in (None, "Person"):
            return []
        return [f"{path}: expected a {expected} object, got {type(node).__name__}"]
    problems: list[str] = []
    raw_type = node.get("@type", expected)
    if isinstance(raw_type, list):
        raw_type = raw_type[0] if raw_type else expected
    typ = _SUBTYPES.get(str(raw_type), str(raw_type)) if raw_type else None
    if typ is None:
        return [f"{path}: missing @type"]
    for req in REQUIRED.get(typ, []):
        options = req if isinstance(req, tuple) else (req,)
        if not any(_present(node.get(p)) for p in options):
            problems.append(f"{path} ({typ}): missing required property {' or '.join(options)}")
    for prop in _DATE_PROPS:
        if prop in node and not _is_iso_date(node[prop]):
            problems.append(f"{path}.{prop}: {node[prop]!r} is not an ISO 8601 date")
    for prop in _URL_PROPS:
        if prop in node and not _is_url(node[prop]):
            problems.append(f"{path}.{prop}: {node[prop]!r} is not an absolute http(s) URL")
    if typ == "Offer":
        price = node.get("price")
        if _present(price) and not re.match(r"^\d+(\.\d+)?$", str(price)):
            problems.append(f"{path}.price: {price!r} must be a number without currency symbols")
        cur = node.get("priceCurrency")
        if _present(cur) and not re.match(r"^[A-Z]{3}$", str(cur)):
            problems.append(f"{path}.priceCurrency: {cur!r} must be an ISO 4217 code like USD")
    if typ == "FAQPage":
        entities = node.get("mainEntity")
        items = entities if isinstance(entities, list) else [entities] if entities else []
        for i, q in enumerate(items):
            problems += validate_node(q, f"{path}.mainEntity[{i}]", "Question")
    if typ == "Event" and isinstance(node.get("location"), dict):
        loc = node["location"]
        problems += validate_node(loc, f"{path}.location", "Place")
    for prop, default in _NESTED_DEFAULT.items():
        value = node.get(prop)
        for i, item in enumerate(
            value if isinstance(value, list) else [value] if value is not None else []
        ):
            if isinstance(item, dict):
                problems += validate_node(
                    item, f"{path}.{prop}" + (f"[{i}]" if isinstance(value, list) else ""), default
                )
    return problems


def validate_jsonld(doc: Any) -> list[str]:
    """Every problem in a JSON-LD document (object, list, or @graph), [] when valid."""
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except json.JSONDecodeError as e:
            return [f"not valid JSON: {e.msg} at line {e.lineno}"]
    nodes = (
        doc
        if isinstance(doc, list)
        else doc.get("@graph", [doc])
        if isinstance(doc, dict)
        else None
    )
    if not nodes:
        return ["empty JSON-LD"]
    problems = []
    for i, n in enumerate(nodes):
        path = f"$[{i}]" if len(nodes) > 1 else "$"
        if (
            isinstance(n, dict)
            and "@context" not in n
            and not (isinstance(doc, dict) and "@context" in doc)
        ):
            problems.append(f"{path}: missing @context (use https://schema.org)")
        problems += validate_node(n, path)
    return problems


def _sample(schema_type: str, inp: SchemaJsonLdInput) -> dict[str, Any]:
    rnd = rng(inp, "schema")
    name = inp.name or rnd.choice(
        (
            "Nimbus Analytics",
            "Harbor Coffee",
            "Summit Conference",
            "Kite Running Shoes",
            "Atlas Guide",
        )
    )
    base = (
        inp.url or f"https://www.example.com/{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}"
    ).rstrip("/")
    day = f"2025-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
    samples: dict[str, dict[str, Any]] = {
        "Article": {
            "headline": f"How {name} works",
            "author": {"@type": "Person", "name": rnd.choice(("Ada Park", "Sam Lee", "Riya Shah"))},
            "datePublished": day,
            "image": f"{base}/cover.jpg",
            "publisher": {"@type": "Organization", "name": name},
        },
        "Product": {
            "name": name,
            "image": f"{base}/product.jpg",
            "description": f"{name}, built to last.",
            "sku": f"SKU-{rnd.randint(1000, 9999)}",
            "offers": {
                "@type": "Offer",
                "price": f"{rnd.randint(19, 299)}.00",
                "priceCurrency": "USD",
                "availability": "https://schema.org/InStock",
            },
        },
        "Organization": {
            "name": name,
            "url": base,
            "logo": f"{base}/logo.png",
            "sameAs": [f"https://www.linkedin.com/company/{rnd.randint(1000, 99999)}"],
        },
        "LocalBusiness": {
            "name": name,
            "url": base,
            "telephone": f"+1-555-{rnd.randint(100, 999)}-{rnd.randint(1000, 9999)}",
            "address": {
                "@type": "PostalAddress",
                "streetAddress": f"{rnd.randint(1, 999)} Main St",
                "addressLocality": rnd.choice(("Austin", "Denver", "Portland")),
                "postalCode": f"{rnd.randint(10000, 99999)}",
                "addressCountry": "US",
            },
            "openingHours": "Mo-Fr 08:00-18:00",
        },
        "FAQPage": {
            "mainEntity": [
                {"@type": "Question", "name": q, "acceptedAnswer": {"@type": "Answer", "text": a}}
                for q, a in (
                    ("What is " + name + "?", name + " is a product by our team."),
                    ("How much does it cost?", f"Plans start at ${rnd.randint(9, 49)} per month."),
                    ("Is there a free trial?", "Yes, 14 days."),
                )
            ]
        },
        "Event": {
            "name": name,
            "startDate": f"{day}T09:00:00-05:00",
            "endDate": f"{day}T17:00:00-05:00",
            "eventAttendanceMode": "https://schema.org/OfflineEventAttendanceMode",
            "location": {
                "@type": "Place",
                "name": "Convention Center",
                "address": {
                    "@type": "PostalAddress",
                    "streetAddress": "1 Center Plaza",
                    "addressLocality": "Denver",
                    "addressCountry": "US",
                },
            },
        },
    }
    return samples[schema_type]


class SchemaJsonLdInput(ToolInput):
    schema_type: str = Field(
        default="Article",
        validation_alias=AliasChoices("schema_type", "type"),
        description=" | ".join(TOP_LEVEL),
    )
    properties: dict[str, Any] = Field(
        default_factory=dict, description="the item's properties; sample ones when empty"
    )
    name: str = ""
    url: str = ""
    jsonld: Any = Field(
        default=None, description="an existing JSON-LD document to validate instead"
    )


class SchemaJsonLdOutput(ToolOutput):
    schema_type: str = ""
    jsonld: dict[str, Any] = Field(default_factory=dict)
    script_tag: str = ""
    valid: bool = False
    problems: list[str] = Field(default_factory=list)
    missing_recommended: list[str] = Field(default_factory=list)
    jsonld_path: str = ""


@tool(
    "schema_jsonld",
    "schema.org JSON-LD for Article/Product/Organization/LocalBusiness/FAQPage/Event, validated",
)
def schema_jsonld(inp: SchemaJsonLdInput) -> SchemaJsonLdOutput:
    if inp.jsonld is not None:
        problems = validate_jsonld(inp.jsonld)
        if problems:
            raise SchemaValidationError(problems)
        doc = json.loads(inp.jsonld) if isinstance(inp.jsonld, str) else inp.jsonld
        typ = str((doc.get("@type") if isinstance(doc, dict) else "") or "graph")
    else:
        typ = inp.schema_type
        if typ not in TOP_LEVEL:
            raise InvalidToolInput(
                f"unsupported schema_type {typ!r}; use one of {', '.join(TOP_LEVEL)}"
            )
        props = dict(inp.properties) or _sample(typ, inp)
        doc = {
            "@context": "https://schema.org",
            "@type": typ,
            **{k: v for k, v in props.items() if k not in ("@context", "@type")},
        }
        problems = validate_jsonld(doc)
        if problems:
            raise SchemaValidationError(problems)
    missing_rec = [
        p for p in RECOMMENDED.get(typ, []) if isinstance(doc, dict) and not _present(doc.get(p))
    ]
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    tag = f'<script type="application/ld+json">\n{text}\n</script>'
    writer = ArtifactWriter(inp, "schema_jsonld")
    path = writer.text(f"jsonld-{typ.lower()}", "json", text)
    return SchemaJsonLdOutput(
        headline=(
            f"Valid {typ} JSON-LD with {len(doc) - 2 if isinstance(doc, dict) else 0} "
            f"properties; {len(missing_rec)} recommended properties missing."
        ),
        metrics={
            "properties": float(len(doc) - 2 if isinstance(doc, dict) else 0),
            "missing_recommended": float(len(missing_rec)),
            "valid": 1.0,
        },
        recommendations=[f"Add recommended properties: {', '.join(missing_rec)}."]
        if missing_rec
        else ["Paste the script tag into the page <head>."],
        artifacts=writer.written,
        schema_type=typ,
        jsonld=doc if isinstance(doc, dict) else {"@graph": doc},
        script_tag=tag,
        valid=True,
        problems=[],
        missing_recommended=missing_rec,
        jsonld_path=path,
    )
