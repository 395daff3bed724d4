"""Output like the `temporal` CLI: `-o text` (rich), `-o json`, `-o jsonl`."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from rich.console import Console


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    jsonl = "jsonl"


console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


def emit(value: Any, fmt: OutputFormat) -> None:
    """Print one document: pretty JSON for json, one line for jsonl."""
    data = to_jsonable(value)
    if fmt is OutputFormat.jsonl:
        sys.stdout.write(json.dumps(data, default=str, separators=(",", ":")) + "\n")
    else:
        sys.stdout.write(json.dumps(data, default=str, indent=2) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 1) -> None:
    """Print an actionable error (never a traceback) and exit."""
    import typer

    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
