"""`api_docs`: Markdown API documentation from an OpenAPI 3 spec (YAML/JSON) or from Python
source docstrings. Reports what is undocumented so the gap is visible, not hidden."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field

from activities.tools.artifacts import ArtifactWriter
from activities.tools.code import collect_sources
from activities.tools.errors import DataFileError, InvalidToolInput
from activities.tools.registry import ToolInput, ToolOutput, tool
from activities.tools.sampling import rng

_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


def _sample_spec(resource: str) -> dict[str, Any]:
    plural = resource + "s"
    a = "an" if resource[0] in "aeiou" else "a"
    return {
        "openapi": "3.0.3",
        "info": {
            "title": f"{resource.title()} API",
            "version": "1.0.0",
            "description": f"Manage {plural}.",
        },
        "servers": [{"url": "https://api.example.com/v1"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                resource.title(): {
                    "type": "object",
                    "required": ["id", "name"],
                    "properties": {
                        "id": {"type": "string", "description": "Unique id"},
                        "name": {"type": "string"},
                        "created_at": {"type": "string", "format": "date-time"},
                    },
                },
                "Error": {
                    "type": "object",
                    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
                },
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            f"/{plural}": {
                "get": {
                    "tags": [plural],
                    "summary": f"List {plural}",
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "default": 20},
                            "description": "Page size",
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "A page of results",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "array",
                                        "items": {
                                            "$ref": f"#/components/schemas/{resource.title()}"
                                        },
                                    }
                                }
                            },
                        }
                    },
                },
                "post": {
                    "tags": [plural],
                    "summary": f"Create {a} {resource}",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": f"#/components/schemas/{resource.title()}"}
                            }
                        },
                    },
                    "responses": {
                        "201": {"description": "Created"},
                        "400": {
                            "description": "Invalid input",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Error"}
                                }
                            },
                        },
                    },
                },
            },
            f"/{plural}/{{id}}": {
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "get": {
                    "tags": [plural],
                    "summary": f"Get {a} {resource}",
                    "responses": {
                        "200": {"description": "The item"},
                        "404": {"description": "Not found"},
                    },
                },
                "delete": {"tags": [plural], "responses": {"204": {"description": "Deleted"}}},
            },
        },
    }


def _type_of(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"array of {_type_of(schema.get('items', {}))}"
    t = str(schema.get("type", "object"))
    return f"{t} ({schema['format']})" if schema.get("format") else t


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def openapi_markdown(spec: dict[str, Any]) -> tuple[str, int, list[str]]:
    """(markdown, operations, undocumented operations)."""
    if not isinstance(spec.get("paths"), dict):
        raise InvalidToolInput("not an OpenAPI document: no 'paths' mapping")
    info = spec.get("info", {})
    md = [f"# {info.get('title', 'API')} {info.get('version', '')}".rstrip(), ""]
    if info.get("description"):
        md += [str(info["description"]), ""]
    for s in spec.get("servers", []):
        md.append(f"Base URL: `{s.get('url')}`")
    schemes = spec.get("components", {}).get("securitySchemes", {})
    if schemes:
        md += ["", "## Authentication", ""] + [
            f"- `{n}`: {s.get('type')} {s.get('scheme', s.get('in', ''))}".rstrip()
            for n, s in schemes.items()
        ]
    ops = 0
    undocumented = []
    by_tag: dict[str, list[tuple[str, str, dict[str, Any], list[Any]]]] = {}
    for path, item in spec["paths"].items():
        shared = item.get("parameters", []) if isinstance(item, dict) else []
        for method in _METHODS:
            op = item.get(method) if isinstance(item, dict) else None
            if not isinstance(op, dict):
                continue
            ops += 1
            tag = (op.get("tags") or ["default"])[0]
            by_tag.setdefault(str(tag), []).append((method, path, op, shared))
            if not (op.get("summary") or op.get("description")):
                undocumented.append(f"{method.upper()} {path}")
    for tag, entries in by_tag.items():
        md += ["", f"## {tag}", ""]
        for method, path, op, shared in entries:
            md += [f"### `{method.upper()} {path}`", ""]
            md += [str(op.get("summary") or op.get("description") or "_No description._"), ""]
            if op.get("summary") and op.get("description"):
                md += [str(op["description"]), ""]
            params = list(shared) + list(op.get("parameters", []))
            if params:
                md += [
                    "| Parameter | In | Type | Required | Description |",
                    "| --- | --- | --- | --- | --- |",
                ]
                md += [
                    (
                        f"| `{p.get('name')}` | {p.get('in')} | {_type_of(p.get('schema', {}))} "
                        f"| {'yes' if p.get('required') else 'no'} "
                        f"| {_cell(p.get('description', ''))} "
                        "|"
                    )
                    for p in params
                ]
                md.append("")
            body = (
                op.get("requestBody", {}).get("content", {})
                if isinstance(op.get("requestBody"), dict)
                else {}
            )
            for ctype, media in body.items():
                md += [f"Request body ({ctype}): `{_type_of(media.get('schema', {}))}`", ""]
            responses = op.get("responses", {})
            if responses:
                md += ["| Status | Description | Body |", "| --- | --- | --- |"]
                for code, r in responses.items():
                    content = (r or {}).get("content", {})
                    body_type = (
                        ", ".join(_type_of(m.get("schema", {})) for m in content.values())
                        if content
                        else ""
                    )
                    md.append(
                        f"| {code} | {_cell((r or {}).get('description', ''))} | {body_type} |"
                    )
                md.append("")
    schemas = spec.get("components", {}).get("schemas", {})
    if schemas:
        md += ["## Schemas", ""]
        for name, s in schemas.items():
            md += [
                f"### {name}",
                "",
                "| Field | Type | Required | Description |",
                "| --- | --- | --- | --- |",
            ]
            req = set(s.get("required", []))
            md += [
                (
                    f"| `{f}` | {_type_of(p)} | {'yes' if f in req else 'no'} "
                    f"| {_cell(p.get('description', ''))} "
                    "|"
                )
                for f, p in s.get("properties", {}).items()
            ]
            md.append("")
    return "\n".join(md) + "\n", ops, undocumented


def python_markdown(files: dict[str, str]) -> tuple[str, int, list[str]]:
    md = ["# API reference", ""]
    count = 0
    undocumented = []
    for name, text in files.items():
        try:
            tree = ast.parse(text)
        except SyntaxError as e:
            raise InvalidToolInput(f"{name} does not parse: line {e.lineno}: {e.msg}") from e
        md += [f"## `{name}`", ""]
        doc = ast.get_docstring(tree)
        if doc:
            md += [doc, ""]
        for node in tree.body:
            if isinstance(
                node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
            ) and not node.name.startswith("_"):
                items: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]] = [
                    (node.name, node)
                ]
                if isinstance(node, ast.ClassDef):
                    items += [
                        (f"{node.name}.{m.name}", m)
                        for m in node.body
                        if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef)
                        and not m.name.startswith("_")
                    ]
                for qual, n in items:
                    count += 1
                    if isinstance(n, ast.ClassDef):
                        bases = ", ".join(ast.unparse(b) for b in n.bases)
                        sig = f"class {n.name}({bases})" if bases else f"class {n.name}"
                    else:
                        ret = f" -> {ast.unparse(n.returns)}" if n.returns else ""
                        sig = (
                            f"{'async ' if isinstance(n, ast.AsyncFunctionDef) else ''}def "
                            f"{qual}({ast.unparse(n.args)}){ret}"
                        )
                    d = ast.get_docstring(n)
                    md += [
                        f"### `{qual}`",
                        "",
                        "```python",
                        sig,
                        "```",
                        "",
                        d or "_Undocumented._",
                        "",
                    ]
                    if not d:
                        undocumented.append(f"{name}:{qual}")
    return "\n".join(md) + "\n", count, undocumented


class ApiDocsInput(ToolInput):
    spec: dict[str, Any] | None = Field(
        default=None, validation_alias=AliasChoices("spec", "openapi")
    )
    spec_path: str | None = Field(
        default=None,
        validation_alias=AliasChoices("spec_path", "openapi_path"),
        description="OpenAPI YAML/JSON file",
    )
    source: str | None = Field(default=None, description="Python source to document")
    source_path: str | None = Field(
        default=None,
        validation_alias=AliasChoices("source_path", "path", "package_path"),
        description="a .py file or a package directory",
    )


class ApiDocsOutput(ToolOutput):
    kind: str = Field(default="", description="openapi | python")
    documented: int = 0
    total: int = 0
    undocumented: list[str] = Field(default_factory=list)
    docs_path: str = ""


@tool(
    "api_docs",
    (
        "Markdown API docs from an OpenAPI spec or from Python docstrings, "
        "with coverage of what is undocumented"
    ),
)
def api_docs(inp: ApiDocsInput) -> ApiDocsOutput:
    import yaml

    spec = inp.spec
    if inp.spec_path:
        p = Path(inp.spec_path)
        if not p.is_file():
            raise DataFileError(f"OpenAPI file not found: {inp.spec_path}")
        text = p.read_text(encoding="utf-8")
        try:
            spec = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as e:
            raise DataFileError(f"cannot parse {inp.spec_path}: {e}") from e
        if not isinstance(spec, dict):
            raise DataFileError(f"{inp.spec_path} is not an OpenAPI mapping")
    if spec is None and not inp.source and not inp.source_path:
        spec = _sample_spec(
            rng(inp, "api_docs").choice(("order", "invoice", "player", "campaign", "ticket"))
        )
    if spec is not None:
        md, total, undocumented = openapi_markdown(spec)
        kind = "openapi"
        what = "operations"
    else:
        md, total, undocumented = python_markdown(collect_sources(inp.source, inp.source_path))
        kind = "python"
        what = "public functions/classes"
    writer = ArtifactWriter(inp, "api_docs")
    path = writer.text("api-docs", "md", md)
    documented = total - len(undocumented)
    pct = 100.0 * documented / total if total else 100.0
    return ApiDocsOutput(
        headline=(
            f"Documented {total} {what} from {kind} ({pct:.0f}% have descriptions); "
            f"wrote {len(md.splitlines())} lines of Markdown."
        ),
        metrics={
            "total": float(total),
            "documented": float(documented),
            "coverage_pct": pct,
            "lines": float(len(md.splitlines())),
        },
        recommendations=[
            f"Describe: {', '.join(undocumented[:5])}"
            + (" ..." if len(undocumented) > 5 else "")
            + "."
        ]
        if undocumented
        else ["Every item has a description."],
        artifacts=writer.written,
        kind=kind,
        documented=documented,
        total=total,
        undocumented=undocumented,
        docs_path=path,
    )
