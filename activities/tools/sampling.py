"""Deterministic sample data: a seed hashed from a tool's input.

A tool with no data of its own still gives an answer that depends on what it was asked:
the same input always yields the same sample (replayable, testable) and a different input
a different one. `output_dir` is left out of the hash so where files go never changes them.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import TYPE_CHECKING

from activities.tools.registry import ToolInput

if TYPE_CHECKING:
    import numpy as np


def input_seed(inp: ToolInput, salt: str = "") -> int:
    payload = inp.model_dump(mode="json", exclude={"output_dir"})
    blob = json.dumps(payload, sort_keys=True, default=str) + "\x00" + salt
    return int.from_bytes(hashlib.sha256(blob.encode()).digest()[:8], "big")


def input_tag(inp: ToolInput, salt: str = "") -> str:
    """Short stable tag for file names, so two calls in one step do not overwrite each other."""
    return f"{input_seed(inp, salt):016x}"[:10]


def rng(inp: ToolInput, salt: str = "") -> random.Random:
    return random.Random(input_seed(inp, salt))


def np_rng(inp: ToolInput, salt: str = "") -> np.random.Generator:
    import numpy as np

    return np.random.default_rng(input_seed(inp, salt))
