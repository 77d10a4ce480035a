"""GET /downloads/{token}: a report file too large to e-mail, for 7 days (the token is the key)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from chatcrm.api.spec import json_content, ref
from chatcrm.http import ApiError
from chatcrm.keys import DATABASE, DELIVERER

routes = web.RouteTableDef()


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the UTF-8 name (RFC 6266 / RFC 5987)."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@routes.get("/downloads/{token}")
async def download(request: web.Request) -> web.StreamResponse:
    """The file behind a report e-mail's download link; 410 once the link expired."""
    downloads = request.app[DATABASE].store.downloads
    doc = await downloads.find(request.match_info["token"])
    if doc is None:
        raise ApiError(404, "not_found", "no such download (the link may be mistyped)")
    now_ms = request.app[DELIVERER].now_ms()  # the clock the link's expiry was set with
    if doc["expires_ms"] <= now_ms:
        await downloads.of_shop(doc).purge_expired(now_ms)
        raise ApiError(410, "gone", "this download link has expired")
    response = web.StreamResponse(
        headers={
            "Content-Type": doc["content_type"],
            "Content-Disposition": content_disposition(doc["filename"]),
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        }
    )
    response.content_length = int(doc["size"])
    await response.prepare(request)
    async for chunk in downloads.of_shop(doc).chunks(doc):
        await response.write(chunk)
    await response.write_eof()
    return response


OPENAPI_PATHS: dict[str, Any] = {
    "/downloads/{token}": {
        "get": {
            "summary": "A report file too large to attach to its e-mail",
            "description": "The link in the e-mail; no token header (the link is the key). "
            "Valid for 7 days.",
            "operationId": "download",
            "tags": ["report schedules"],
            "security": [],
            "parameters": [
                {
                    "name": "token",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "maxLength": 100},
                }
            ],
            "responses": {
                "200": {
                    "description": "the file",
                    "content": {"application/octet-stream": {"schema": {"type": "string"}}},
                },
                "404": json_content(ref("Error"), "No such link"),
                "410": json_content(ref("Error"), "The link expired"),
                "503": json_content(ref("Error"), "The database does not answer"),
            },
        }
    }
}
"""OpenAPI path items of this module."""
