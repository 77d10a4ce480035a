"""GET /healthz: is the service up and does its database answer."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from chatcrm.api.spec import json_content
from chatcrm.http import json_response
from chatcrm.keys import DATABASE
from chatcrm.store.base import DATABASE_ERRORS

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """200 with the database kind when the database answers within 2 s, else 503."""
    database = request.app[DATABASE]
    try:
        await asyncio.wait_for(database.store.ping(), timeout=2)
    except (TimeoutError, *DATABASE_ERRORS):
        return json_response({"status": "unavailable", "database": database.kind}, status=503)
    return json_response({"status": "ok", "database": database.kind})


_HEALTH = {
    "type": "object",
    "required": ["status", "database"],
    "properties": {
        "status": {"enum": ["ok", "unavailable"]},
        "database": {"enum": ["embedded", "mongodb"]},
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    "/healthz": {
        "get": {
            "summary": "Is the service up and does its database answer",
            "operationId": "healthz",
            "tags": ["meta"],
            "security": [],
            "responses": {
                "200": json_content(_HEALTH),
                "503": json_content(_HEALTH, "The database does not answer within 2 s"),
            },
        }
    }
}
"""OpenAPI path items of this module."""
