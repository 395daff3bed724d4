"""Static analysis, test scaffolds, compose and Terraform generation, API docs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from activities.tools.devops import ComposeValidationError, validate_compose, validate_terraform
from activities.tools.errors import InvalidToolInput
from activities.tools.registry import TOOLS

SOURCE = '''"""Pricing helpers."""
import os


def price(qty: int, unit: float, vip: bool = False) -> float:
    """Total price."""
    if qty <= 0:
        raise ValueError("qty must be positive")
    total = qty * unit
    if vip and total > 100 or qty > 50:
        total *= 0.9
    for _ in range(3):
        while total > 1000:
            total -= 1
    return total


def label(name: str) -> str:
    return name.title() if name else "-"


class Cart:
    def __init__(self, owner: str = "guest"):
        self.owner = owner
        self.items: list[int] = []

    def add(self, qty: int) -> int:
        self.items.append(qty)
        return len(self.items)
'''


def test_code_analysis_metrics_and_ruff(out: str) -> None:
    r = TOOLS["code_analysis"].run({"source": SOURCE, "output_dir": out})
    funcs = {f.name: f for f in r.functions}
    # price: 1 + if + if + (and, or: 2 boolean operators) + for + while = 7
    assert funcs["price"].complexity == 7 and funcs["price"].max_nesting == 2
    assert funcs["label"].complexity == 2  # the conditional expression
    assert (
        funcs["price"].args == 3
        and funcs["price"].has_docstring
        and not funcs["label"].has_docstring
    )
    assert r.classes == 1 and len(r.functions) == 4
    assert r.docstring_coverage == pytest.approx(25.0)
    codes = {f.code for f in r.findings}
    assert "F401" in codes  # unused import os
    f401 = next(f for f in r.findings if f.code == "F401")
    assert f401.line == 2


def test_code_analysis_on_a_directory_with_a_broken_file(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("def f():\n    return 1\n")
    (tmp_path / "bad.py").write_text("def f(:\n")
    r = TOOLS["code_analysis"].run(
        {"path": str(tmp_path), "lint": False, "output_dir": str(tmp_path)}
    )
    assert r.files == 2 and len(r.syntax_errors) == 1 and r.syntax_errors[0].startswith("bad.py:1")


def test_scaffold_runs_under_pytest(tmp_path: Path) -> None:
    r = TOOLS["test_scaffold"].run(
        {"source": SOURCE, "module": "pricing_helpers", "output_dir": str(tmp_path)}
    )
    assert set(r.covered) == {"price", "label", "Cart", "Cart.add"}
    text = Path(r.test_path).read_text()
    assert "def test_price_smoke" in text and "price(qty=1, unit=1.5)" in text
    assert "def test_price_raises_valueerror" in text
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed, 1 skipped" in proc.stdout or "3 passed" in proc.stdout


def test_scaffold_rejects_bad_source() -> None:
    with pytest.raises(InvalidToolInput, match="does not parse"):
        TOOLS["test_scaffold"].run({"source": "def (:"})


@pytest.mark.parametrize(
    "stack", ["web_postgres_redis", "temporal_dev", "monitoring", "wordpress_mysql"]
)
def test_compose_presets_parse_back(stack: str, out: str) -> None:
    r = TOOLS["compose_generator"].run({"stack": stack, "project": "demo", "output_dir": out})
    doc = yaml.safe_load(Path(r.compose_path).read_text())
    assert doc["name"] == "demo" and set(doc["services"]) == set(r.services)
    _doc, problems, _warnings = validate_compose(r.compose_yaml)
    assert problems == []
    # no password is hard-coded: secrets come from the environment
    assert "PASSWORD: ${" in r.compose_yaml or "PASSWORD" not in r.compose_yaml


def test_compose_problems_are_refused(out: str) -> None:
    with pytest.raises(ComposeValidationError, match="unknown service 'db'"):
        TOOLS["compose_generator"].run(
            {"services": [{"name": "web", "image": "nginx:1.27", "depends_on": ["db"]}]}
        )
    with pytest.raises(ComposeValidationError, match="host port 8080 already used"):
        TOOLS["compose_generator"].run(
            {
                "services": [
                    {"name": "a", "image": "nginx:1.27", "ports": ["8080:80"]},
                    {"name": "b", "image": "httpd:2.4", "ports": ["8080:80"]},
                ]
            }
        )
    with pytest.raises(ComposeValidationError, match="dependency cycle"):
        TOOLS["compose_generator"].run(
            {
                "services": [
                    {"name": "a", "image": "x:1", "depends_on": ["b"]},
                    {"name": "b", "image": "y:1", "depends_on": ["a"]},
                ]
            }
        )
    ok = TOOLS["compose_generator"].run(
        {
            "services": [{"name": "web", "image": "nginx", "environment": {"API_TOKEN": "abc"}}],
            "output_dir": out,
        }
    )
    assert any("pin the image" in w for w in ok.warnings) and any(
        "API_TOKEN is hard-coded" in w for w in ok.warnings
    )


@pytest.mark.parametrize("provider", ["aws", "gcp"])
def test_terraform_parses_with_hcl2(provider: str, out: str) -> None:
    import hcl2

    from activities.tools.devops import BLUEPRINTS

    r = TOOLS["terraform_generator"].run(
        {
            "provider": provider,
            "blueprints": list(BLUEPRINTS[provider]),
            "project": "shop",
            "environment": "prod",
            "output_dir": out,
        }
    )
    parsed = {name: hcl2.loads(Path(p).read_text()) for name, p in r.files.items()}
    assert set(parsed) == {"main.tf", "variables.tf", "outputs.tf"}
    declared = {k for block in parsed["variables.tf"]["variable"] for k in block}
    assert set(r.variables) == declared
    assert len(r.resources) >= 5
    if provider == "aws":
        assert "aws_db_instance.main" in r.resources
        assert "sensitive   = true" in Path(r.files["variables.tf"]).read_text()


def test_terraform_validator_catches_broken_references() -> None:
    files = {
        "main.tf": 'resource "aws_s3_bucket" "a" {\n  bucket = var.name\n}\noutput "x" {\n  value = aws_s3_bucket.b.id\n}\n',
        "variables.tf": "",
    }
    problems = validate_terraform(files)
    assert "var.name is used but not declared" in problems
    assert "aws_s3_bucket.b is referenced but not declared" in problems
    assert validate_terraform({"main.tf": 'resource "x" {'})[0].startswith("main.tf does not parse")
    with pytest.raises(InvalidToolInput, match="blueprint"):
        TOOLS["terraform_generator"].run({"provider": "gcp", "blueprints": ["database"]})


def test_api_docs_from_openapi(tmp_path: Path) -> None:
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "Shop", "version": "2.1"},
        "paths": {
            "/orders": {
                "get": {
                    "summary": "List orders",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string"},
                            "description": "open | closed",
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Order"},
                                    }
                                }
                            },
                        }
                    },
                },
                "post": {"responses": {"201": {"description": "Created"}}},
            },
        },
        "components": {
            "schemas": {
                "Order": {
                    "type": "object",
                    "required": ["id"],
                    "properties": {
                        "id": {"type": "integer"},
                        "total": {"type": "number", "description": "in cents"},
                    },
                }
            }
        },
    }
    path = tmp_path / "openapi.yaml"
    path.write_text(yaml.safe_dump(spec))
    r = TOOLS["api_docs"].run({"spec_path": str(path), "output_dir": str(tmp_path)})
    md = Path(r.docs_path).read_text()
    assert (r.kind, r.total, r.documented, r.undocumented) == ("openapi", 2, 1, ["POST /orders"])
    assert "# Shop 2.1" in md and "### `GET /orders`" in md
    assert "| `status` | query | string | no | open \\| closed |" in md
    assert "| 200 | OK | array of Order |" in md
    assert "| `id` | integer | yes |  |" in md


def test_api_docs_from_python_docstrings(out: str) -> None:
    r = TOOLS["api_docs"].run({"source": SOURCE, "output_dir": out})
    md = Path(r.docs_path).read_text()
    assert r.kind == "python" and r.total == 4
    assert "def price(qty: int, unit: float, vip: bool=False) -> float" in md
    assert sorted(r.undocumented) == ["<input>.py:Cart", "<input>.py:Cart.add", "<input>.py:label"]
