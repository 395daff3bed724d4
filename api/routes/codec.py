"""The Temporal codec server protocol, so operators see decrypted payloads in the Temporal Web
UI and the `temporal` CLI while the server keeps only ciphertext.

Protocol: `POST <endpoint>/encode` and `POST <endpoint>/decode`, body and answer
`{"payloads": [<Payload as proto3 JSON: base64 metadata values and data>]}`; the UI adds an
`X-Namespace` header and asks a CORS preflight first. Served two ways:

* in the API, at `/v1/codec`, for operator and admin keys — for the CLI and tools:
  `temporal workflow show --codec-endpoint https://<api>/v1/codec --codec-auth "Bearer <key>"`;
* standalone, `bizos codec-server` (:func:`standalone_app`) — for the Web UI, which cannot send
  a BizOS key: on the operator's machine (loopback) or behind the organisation's SSO proxy,
  with an optional static bearer token (BIZOS_CODEC_AUTH_TOKEN) for CLI use.

Keys are the process's BIZOS_PAYLOAD_KEYS (worker.codec). Not in the OpenAPI document: the
contract is Temporal's, not the BizOS API's.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from google.protobuf import json_format
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.api.common.v1 import Payloads

from api import problems
from api.auth import require
from api.problems import Problem
from worker.codec import AesGcmCodec, PayloadDecryptError, UnknownPayloadKey, load_codec

log = logging.getLogger("bizos.codec")

Operation = Literal["encode", "decode"]
# The Web UI's origin: the dev server's UI (`bizos dev`, `temporal server start-dev`) and
# Temporal Cloud's.
DEFAULT_ORIGINS = "http://localhost:8233,http://127.0.0.1:8233,https://cloud.temporal.io"


class CodecServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BIZOS_CODEC_", env_file=".env", extra="ignore")

    cors_origins: str = Field(
        default=DEFAULT_ORIGINS, description="comma-separated Web UI origins allowed by CORS"
    )
    auth_token: SecretStr = Field(
        default=SecretStr(""),
        description="standalone server only: required as `Authorization: Bearer <token>`",
    )

    def origins(self) -> frozenset[str]:
        return frozenset(o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip())


@dataclass
class CodecService:
    """What a codec endpoint needs, kept on `app.state.codec_service` (loaded on first use)."""

    codec: AesGcmCodec | None
    origins: frozenset[str] = field(default_factory=frozenset)
    token: str = ""

    @classmethod
    def from_env(cls) -> CodecService:
        settings = CodecServerSettings()
        return cls(load_codec(), settings.origins(), settings.auth_token.get_secret_value())


def service(request: Request) -> CodecService:
    found = getattr(request.app.state, "codec_service", None)
    if found is None:
        found = request.app.state.codec_service = CodecService.from_env()
    return found  # type: ignore[no-any-return]


def cors_headers(request: Request, svc: CodecService) -> dict[str, str]:
    origin = request.headers.get("origin", "")
    if origin.rstrip("/") not in svc.origins:
        return {}
    # Credentials: the UI's "include cross-origin credentials" option sends cookies of an
    # SSO proxy in front of the codec server.
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }


async def run_codec(svc: CodecService, op: Operation, body: Any) -> dict[str, Any]:
    if svc.codec is None:
        raise Problem(
            404,
            "Not found",
            "payload encryption is not configured on this server: set BIZOS_PAYLOAD_KEYS",
            kind="codec-not-configured",
        )
    try:
        payloads = json_format.ParseDict(body, Payloads())
    except (json_format.ParseError, TypeError, AttributeError) as e:
        raise Problem(
            422,
            "Invalid request",
            f'the body must be {{"payloads": [Payload as proto3 JSON, ...]}}: {e}',
            kind="invalid-request",
        ) from None
    try:
        if op == "encode":
            out = await svc.codec.encode(payloads.payloads)
        else:
            out = await svc.codec.decode(payloads.payloads)
    except (UnknownPayloadKey, PayloadDecryptError) as e:
        raise Problem(422, "Cannot decrypt", str(e), kind="cannot-decrypt") from None
    return json_format.MessageToDict(Payloads(payloads=out))


def codec_router(guard: Callable[[Request], Awaitable[Any]], prefix: str = "/codec") -> APIRouter:
    """`<prefix>/encode|decode` behind `guard` (which refuses or sets
    `request.state.principal`), plus the CORS preflights, which carry no credentials and so
    are answered without them."""
    router = APIRouter(prefix=prefix, tags=["codec"], include_in_schema=False)
    guarded = [Depends(guard)]

    @router.options("/{op}")
    async def preflight(op: Operation, request: Request) -> Response:
        headers = cors_headers(request, service(request))
        if headers:
            headers |= {
                "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": "Content-Type, X-Namespace, Authorization",
                "Access-Control-Max-Age": "600",
            }
        return Response(status_code=204, headers=headers)

    @router.post("/{op}", dependencies=guarded)
    async def codec(op: Operation, request: Request) -> JSONResponse:
        svc = service(request)
        try:
            body = await request.json()
        except ValueError:
            raise Problem(400, "Bad request", "the body is not JSON", kind="not-json") from None
        answer = await run_codec(svc, op, body)
        # Who read decrypted data, never the data itself.
        log.info(
            "codec %s: %d payload(s) for %s (namespace %s)",
            op,
            len(answer.get("payloads", [])),
            getattr(request.state.principal, "name", request.state.principal),
            request.headers.get("x-namespace", "-"),
        )
        return JSONResponse(answer, headers=cors_headers(request, svc))

    return router


router = codec_router(require("operator"))
"""The API's route (`/v1/codec`): operator and admin keys."""


async def token_guard(request: Request) -> None:
    """The standalone server's check: the static bearer token when one is configured."""
    svc = service(request)
    request.state.principal = "token holder" if svc.token else "anonymous"
    if not svc.token:
        return
    header = request.headers.get("authorization", "")
    given = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not hmac.compare_digest(given.encode(), svc.token.encode()):
        raise Problem(
            401,
            "Unauthorized",
            "this codec server needs `Authorization: Bearer <BIZOS_CODEC_AUTH_TOKEN>`",
            headers={"WWW-Authenticate": "Bearer", **cors_headers(request, svc)},
        )


def standalone_app(svc: CodecService) -> FastAPI:
    """The codec server on its own (`bizos codec-server`): `/encode`, `/decode`, `/healthz`."""
    app = FastAPI(title="BizOS codec server", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.codec_service = svc
    problems.install(app)
    standalone = codec_router(token_guard, prefix="")  # the endpoint is the server's root

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "keys": svc.codec.key_ids if svc.codec else []}

    app.include_router(standalone)
    return app
