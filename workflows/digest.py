"""The digest a decision is bound to: what the approver saw, reduced to one hash.

Canonical JSON of the bound steps' outputs (sorted keys, no whitespace), plus the content
hash of every file and stored output they reference, so a decision taken on one draft can
never approve another — even when only a referenced file changed. Pure: the workflow computes
it (deterministically, on replay too) and the console/links compute the same from progress.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

# blob://<tenant>/<sha256>/<name>: the content hash is part of the reference itself
_BLOB_REF = re.compile(r"blob://[^/\s]+/([0-9a-f]{64})/")
CONTENT_HASH_KEY = "$sha256"  # beside `$ref` on an output stored by reference


def content_hashes(value: Any) -> list[str]:
    """Every content hash `value` references (blob refs, stored outputs), in order."""
    found: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            found.extend(_BLOB_REF.findall(v))
        elif isinstance(v, Mapping):
            h = v.get(CONTENT_HASH_KEY)
            if isinstance(h, str):
                found.append(h)
            for key in sorted(v):
                walk(v[key])
        elif isinstance(v, list | tuple):
            for x in v:
                walk(x)

    walk(value)
    return found


def outputs_digest(outputs: Mapping[str, Any]) -> str:
    """`sha256:<hex>` over the outputs (by step id) and the content they reference."""
    canonical = json.dumps(
        {"outputs": dict(outputs), "content": content_hashes(outputs)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
