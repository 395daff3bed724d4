"""Output like the `temporal` CLI: `-o text` (rich), `-o json`, `-o jsonl`."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from rich.console import Console


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    jsonl = "jsonl"


T = TypeVar("T")

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


def run_command(coro_fn: Callable[[], Awaitable[T]]) -> T:
    """Run an async command; turn expected failures into one actionable line."""
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.service import RPCError

    from worker.connection import ConnectionFailed

    try:
        return asyncio.run(coro_fn())  # type: ignore[arg-type]
    except ConnectionFailed as e:
        fail(str(e))
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        fail(f"refused: {getattr(cause, 'message', None) or cause}")
    except RPCError as e:
        fail(e.message)
    except (ValueError, KeyError, RuntimeError) as e:
        fail(str(e.args[0]) if e.args else str(e))
    raise AssertionError("unreachable")


def parse_json_object(text: str, flag: str = "--params") -> dict[str, Any]:
    """A JSON object given inline or as `@file.json`; a clear error otherwise."""
    source = text
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            source = path.read_text()
        except OSError as e:
            fail(f"{flag} {text}: cannot read {path}: {e.strerror}")
    try:
        value = json.loads(source)
    except json.JSONDecodeError as e:
        fail(f"{flag} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}")
    if not isinstance(value, dict):
        fail(f'{flag} must be a JSON object, e.g. \'{{"topic": "AI agents"}}\'')
    return value  # type: ignore[no-any-return]
