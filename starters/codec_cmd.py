"""`bizos codec-server`: the Temporal codec server on its own, for the Web UI.

Point the UI at it (`temporal server start-dev --ui-codec-endpoint http://localhost:8081`, or
Temporal Cloud's UI: Namespace → Codec Server) and it shows decrypted payloads; the `temporal`
CLI uses it with `--codec-endpoint http://localhost:8081`. It holds the payload keys, so
whoever reaches it can read every payload: it listens on loopback unless told otherwise, and
refuses any other address without a token (or an explicit `--allow-unauthenticated` for a
server behind an authenticating proxy).
"""

from __future__ import annotations

import ipaddress

import typer

from starters.output import fail


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def codec_server(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8081, "--port"),
    allow_unauthenticated: bool = typer.Option(
        False,
        "--allow-unauthenticated",
        help="serve a non-loopback address without BIZOS_CODEC_AUTH_TOKEN (only behind a proxy "
        "that authenticates)",
    ),
) -> None:
    """Serve POST /encode and /decode (Temporal's codec server protocol) with the payload keys
    in BIZOS_PAYLOAD_KEYS, CORS for BIZOS_CODEC_CORS_ORIGINS (default: the local and Cloud
    Web UIs), and `Authorization: Bearer $BIZOS_CODEC_AUTH_TOKEN` when that is set."""
    import uvicorn

    from api.routes.codec import CodecService, standalone_app
    from worker.codec import PayloadKeyError

    try:
        svc = CodecService.from_env()
    except PayloadKeyError as e:
        fail(str(e))
        return
    if svc.codec is None:
        fail("no payload key: set BIZOS_PAYLOAD_KEYS (`id:base64key,...`) to serve the codec")
        return
    if not _loopback(host) and not svc.token and not allow_unauthenticated:
        fail(
            f"refusing to serve decrypted payloads on {host} to anyone: set "
            "BIZOS_CODEC_AUTH_TOKEN, or pass --allow-unauthenticated behind an authenticating "
            "proxy"
        )
        return
    print(
        f"bizos codec-server: http://{host}:{port} (keys {', '.join(svc.codec.key_ids)}; "
        f"encrypting with {svc.codec.active}; "
        f"{'bearer token required' if svc.token else 'no auth'})",
        flush=True,
    )
    uvicorn.run(standalone_app(svc), host=host, port=port, log_level="warning")
