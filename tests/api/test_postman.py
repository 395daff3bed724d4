"""The committed Postman collection is the one `scripts/postman.py` builds from the app's
OpenAPI today, and it holds every operation exactly once."""

from __future__ import annotations

import json
from collections import Counter

from scripts.postman import OUT, build, render
from tests.api.app_support import offline_app


def _requests(collection: dict[str, object]) -> list[str]:
    out = []
    for folder in collection["item"]:  # type: ignore[attr-defined]
        for item in folder["item"]:
            request = item["request"]
            path = "/" + "/".join(
                f"{{{seg[1:]}}}" if seg.startswith(":") else seg for seg in request["url"]["path"]
            )
            out.append(f"{request['method']} {path}")
    return out


def test_the_committed_collection_is_current() -> None:
    spec = offline_app().openapi()
    assert OUT.read_text() == render(spec), "stale: run `python scripts/postman.py`"


def test_every_operation_appears_once() -> None:
    spec = offline_app().openapi()
    collection = build(spec)
    operations = {f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m in ops}
    seen = Counter(_requests(collection))
    assert set(seen) == operations
    assert all(n == 1 for n in seen.values()), [k for k, n in seen.items() if n > 1]
    assert collection["info"]["schema"].endswith("/v2.1.0/collection.json")
    assert collection["auth"]["bearer"][0]["value"] == "{{apiKey}}"
    for folder in collection["item"]:
        for item in folder["item"]:
            assert item["request"]["url"]["raw"].startswith("{{baseUrl}}/")
            if "body" in item["request"]:
                json.loads(item["request"]["body"]["raw"])
