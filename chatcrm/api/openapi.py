"""GET /api/openapi.json: the OpenAPI 3.1 description assembled from every route module."""

from __future__ import annotations

import copy
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from aiohttp import web

from chatcrm.api.spec import COMPONENTS, json_content
from chatcrm.http import json_response

routes = web.RouteTableDef()

_DESCRIPTION = (
    "Customer reports for chat-commerce sellers. Authenticate with "
    "`Authorization: Bearer <token>` (roles owner and staff). Every error is "
    '`{"error": {"code", "message", "field"}}`; `field` names the offending input on 422.'
)


OPENAPI_DOCUMENT: web.AppKey[dict[str, Any]] = web.AppKey("openapi_document")
"""The document, built once by the app factory with the routes registered outside chatcrm.api."""


def openapi_document(*described: dict[str, Any]) -> dict[str, Any]:
    """The whole document: the path items of every route module (`described`), merged."""
    try:
        release = version("chatcrm")
    except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        release = "0"

    paths: dict[str, dict[str, Any]] = {}
    for items in described:
        for path, item in items.items():
            merged = paths.setdefault(path, {})
            for method, operation in item.items():
                if method in merged:
                    raise ValueError(f"{method.upper()} {path} is described twice")
                merged[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "chatcrm", "version": release, "description": _DESCRIPTION},
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": copy.deepcopy(COMPONENTS),
    }


@routes.get("/api/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI document (no authentication)."""
    return json_response(request.app[OPENAPI_DOCUMENT])


OPENAPI_PATHS: dict[str, Any] = {
    "/api/openapi.json": {
        "get": {
            "summary": "This API's OpenAPI 3.1 description",
            "operationId": "openapi",
            "tags": ["meta"],
            "security": [],
            "responses": {"200": json_content({"type": "object"})},
        }
    }
}
"""OpenAPI path items of this module."""
