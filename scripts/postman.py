"""Write the API's Postman (v2.1) collection, `docs/postman_collection.json`, from the app's
own OpenAPI document — no network, no Postman tooling:

    python scripts/postman.py            # rewrite docs/postman_collection.json
    python scripts/postman.py --check    # exit 1 when the committed file is stale

A folder per OpenAPI tag; each request has its method, `{{baseUrl}}/…` URL with path variables
(`:execution_id`), optional query parameters (disabled), an example JSON body built from the
request schema, and the collection's Bearer auth `{{apiKey}}` (health probes: no auth).
`tests/api/test_postman.py` keeps the committed file current."""

from __future__ import annotations

import argparse
import json
import re
import sys
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "postman_collection.json"
SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
NO_AUTH_TAGS = {"health"}
EXAMPLE_STRINGS = {
    "topic": "AI agents for small businesses",
    "mode": "echo",
    "step": "review",
    "decision": "approve",
    "comment": "looks good",
    "url": "https://example.com/bizos-hook",
    "schedule_id": "nightly-report",
    "template": "content_creation",
    "name": "content_creation",
    "agent_id": "content_generation",
    "agent": "content_generation",
    "execution_id": "acme.content_creation.0123456789ab",
    "schedule_id_path": "nightly-report",
    "endpoint_id": "wh_0123456789abcdef",
    "ref": "blob-ref",
    "note": "first version",
    "group_by": "agent",
    "Idempotency-Key": "{{$guid}}",
}
EXAMPLE_BODIES: dict[str, Any] = {
    # Bodies worth more than their schema's shape: they run as they are against the seed.
    "ExecuteWorkflow": {"params": {"topic": "durable AI agents", "channels": ["blog"]}},
    "ExecuteAgent": {"mode": "marketing_content", "inputs": {"topic": "durable AI agents"}},
    "CreateSchedule": {
        "schedule_id": "nightly-report",
        "template": "content_creation",
        "cron": ["0 3 * * *"],
        "params": {"topic": "durable AI agents", "channels": ["blog"]},
        "paused": True,
    },
}


def openapi() -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    from api.app import create_app
    from api.settings import ApiSettings

    return create_app(ApiSettings(), store=object(), temporal=object()).openapi()


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def example(spec: dict[str, Any], schema: dict[str, Any], name: str = "", depth: int = 0) -> Any:
    """A plausible value for `schema`: its example or default, else one built from its type."""
    ref = schema.get("$ref", "").rsplit("/", 1)[-1]
    if ref in EXAMPLE_BODIES:
        return EXAMPLE_BODIES[ref]
    schema = _resolve(spec, schema)
    if "example" in schema:
        return schema["example"]
    if schema.get("examples"):
        return schema["examples"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [s for s in schema.get(key, []) if s.get("type") != "null"]
        if options:
            return example(spec, options[0], name, depth)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 3:
            return {}
        required = set(schema.get("required", []))
        return {  # optional properties that default to null are left out
            prop: example(spec, sub, prop, depth + 1)
            for prop, sub in schema.get("properties", {}).items()
            if prop in required or sub.get("default", ...) is not None
        }
    if kind == "array":
        return [example(spec, schema.get("items", {}), name, depth + 1)]
    if kind == "string":
        if schema.get("format") == "date-time":
            return "2026-01-01T00:00:00Z"
        return EXAMPLE_STRINGS.get(name, name or "string")
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    return None


def _request(spec: dict[str, Any], method: str, path: str, op: dict[str, Any]) -> dict[str, Any]:
    segments = re.sub(r"\{([^}]+)\}", r":\1", path).strip("/").split("/")
    params = op.get("parameters", [])
    url: dict[str, Any] = {
        "raw": "{{baseUrl}}/" + "/".join(segments),
        "host": ["{{baseUrl}}"],
        "path": segments,
    }
    variables = [
        {
            "key": p["name"],
            "value": str(example(spec, p.get("schema", {}), p["name"])),
            "description": p.get("description", ""),
        }
        for p in params
        if p["in"] == "path"
    ]
    query = [
        {
            "key": p["name"],
            "value": str(example(spec, p.get("schema", {}), p["name"])),
            "disabled": not p.get("required", False),
            "description": p.get("description", ""),
        }
        for p in params
        if p["in"] == "query"
    ]
    if variables:
        url["variable"] = variables
    if query:
        url["query"] = query
        url["raw"] += "?" + "&".join(f"{q['key']}={q['value']}" for q in query if not q["disabled"])
        url["raw"] = url["raw"].rstrip("?")
    request: dict[str, Any] = {
        "method": method.upper(),
        "header": [{"key": "Accept", "value": "application/json"}],
        "url": url,
        "description": op.get("description") or op.get("summary", ""),
    }
    for p in params:
        if p["in"] == "header":
            request["header"].append(
                {
                    "key": p["name"],
                    "value": str(example(spec, p.get("schema", {}), p["name"])),
                    "disabled": not p.get("required", False),
                    "description": p.get("description", ""),
                }
            )
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        request["header"].append({"key": "Content-Type", "value": "application/json"})
        request["body"] = {
            "mode": "raw",
            "raw": json.dumps(example(spec, body.get("schema", {})), indent=2),
            "options": {"raw": {"language": "json"}},
        }
    if set(op.get("tags", [])) & NO_AUTH_TAGS:
        request["auth"] = {"type": "noauth"}
    return {"name": op.get("summary") or f"{method.upper()} {path}", "request": request}


def build(spec: dict[str, Any]) -> dict[str, Any]:
    folders: dict[str, list[dict[str, Any]]] = {}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            tag = (op.get("tags") or ["other"])[0]
            folders.setdefault(tag, []).append(_request(spec, method, path, op))
    title = spec["info"]["title"]
    return {
        "info": {
            "_postman_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bizos:{title}")),
            "name": f"{title} API (v{spec['info']['version']})",
            "description": spec["info"].get("description", "")
            + "\n\nGenerated by scripts/postman.py from /openapi.json; set `baseUrl` and "
            "`apiKey` (a key from `bizos keys create`).",
            "schema": SCHEMA,
        },
        "auth": {
            "type": "bearer",
            "bearer": [{"key": "token", "value": "{{apiKey}}", "type": "string"}],
        },
        "variable": [
            {"key": "baseUrl", "value": "http://127.0.0.1:8000", "type": "string"},
            {"key": "apiKey", "value": "", "type": "string"},
        ],
        "item": [{"name": tag, "item": items} for tag, items in folders.items()],
    }


def render(spec: dict[str, Any] | None = None) -> str:
    return json.dumps(build(spec or openapi()), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale: run python scripts/postman.py", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
