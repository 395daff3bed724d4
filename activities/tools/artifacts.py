"""Where a tool writes its files: under the input's `output_dir`, named stably."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from activities.tools.registry import ToolInput
from activities.tools.sampling import input_tag


def output_dir(inp: ToolInput, tool: str) -> Path:
    """The agent activity sets `output_dir`; a direct call without one gets a fresh temp
    directory rather than littering the working directory."""
    if inp.output_dir:
        path = Path(inp.output_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return Path(tempfile.mkdtemp(prefix=f"bizos-{tool}-"))


class ArtifactWriter:
    """Names files `<stem>-<input tag>.<ext>` in one directory and remembers what it wrote."""

    def __init__(self, inp: ToolInput, tool: str) -> None:
        self.dir = output_dir(inp, tool)
        self.tag = input_tag(inp, tool)
        self.written: list[str] = []

    def path(self, stem: str, ext: str) -> Path:
        path = self.dir / f"{stem}-{self.tag}.{ext}"
        self.written.append(str(path))
        return path

    def text(self, stem: str, ext: str, content: str) -> str:
        path = self.path(stem, ext)
        path.write_text(content, encoding="utf-8")
        return str(path)

    def json(self, stem: str, data: Any) -> str:
        return self.text(stem, "json", json.dumps(data, indent=2, default=str))
