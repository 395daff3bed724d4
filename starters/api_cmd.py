"""`bizos api`: the HTTP service on uvicorn (`bizos dev` starts it beside the workers)."""

from __future__ import annotations

import typer


def api(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs) against the connected
    Temporal and the store."""
    import uvicorn

    from api.app import create_app
    from api.settings import ApiSettings

    settings = ApiSettings(host=host, port=port)
    # The access log would print URLs only; keys travel in headers, never logged.
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
