"""One artifact of an execution, for the console's pages (`<img>` sources and downloads).

The same checks as `GET /v1/executions/{id}/artifacts/{ref}` (the blob must be recorded for
this execution of the signed-in tenant: anything else is 404). Files are untrusted: raster
images and SVG are served inline for `<img>`; an SVG carries a sandboxing policy of its own,
so even opened directly (not as an image) it runs no script; anything else is a download."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from api.console.output_view import RASTER_TYPES, SVG_TYPE
from api.console.session import Viewer
from api.routes.executions import artifact_blob

router = APIRouter()

SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def artifact_headers(filename: str, content_type: str, size: int) -> dict[str, str]:
    """Headers that keep a served artifact from being run as a page."""
    base = content_type.split(";")[0].strip().lower()
    headers = {"Content-Length": str(size), "X-Content-Type-Options": "nosniff"}
    safe_name = filename.replace('"', "").replace("\\", "")
    if base == SVG_TYPE:
        headers["Content-Security-Policy"] = SVG_CSP
        headers["Content-Disposition"] = f'inline; filename="{safe_name}"'
    elif base in RASTER_TYPES:
        headers["Content-Disposition"] = f'inline; filename="{safe_name}"'
    else:
        headers["Content-Disposition"] = f'attachment; filename="{safe_name}"'
        # a download never renders here; no policy of the page applies to it, so deny all
        headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return headers


@router.get("/executions/{execution_id}/artifacts/{ref:path}")
async def artifact(
    execution_id: str, ref: str, request: Request, user: Viewer
) -> StreamingResponse:
    parsed, stat = await artifact_blob(execution_id, ref, request, user)
    content_type = stat.content_type or "application/octet-stream"
    return StreamingResponse(
        request.app.state.store.open_blob(parsed, tenant=user.tenant),
        media_type=content_type,
        headers=artifact_headers(parsed.filename, content_type, stat.size),
    )
