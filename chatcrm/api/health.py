"""GET /healthz: is the service up, does its database answer, how late does its event loop run."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from chatcrm.api.spec import json_content
from chatcrm.http import json_response
from chatcrm.keys import DATABASE, LOOP_LAG
from chatcrm.store.base import DATABASE_ERRORS

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """200 with the database kind when the database answers within 2 s, else 503; both with
    the event loop's worst lag (ms) of the last 10 s and since start-up."""
    database = request.app[DATABASE]
    lag = request.app[LOOP_LAG].view()
    try:
        await asyncio.wait_for(database.store.ping(), timeout=2)
    except (TimeoutError, *DATABASE_ERRORS):
        body = {"status": "unavailable", "database": database.kind, "loop_lag_ms": lag}
        return json_response(body, status=503)
    return json_response({"status": "ok", "database": database.kind, "loop_lag_ms": lag})


_LAG = {
    "type": "object",
    "description": "How late the event loop ran a 10 ms timer, at worst (milliseconds): the "
    "longest a webhook or request ready meanwhile had to wait",
    "required": ["last_10s", "since_start"],
    "properties": {
        "last_10s": {"type": "number", "minimum": 0},
        "since_start": {"type": "number", "minimum": 0},
    },
}
_HEALTH = {
    "type": "object",
    "required": ["status", "database", "loop_lag_ms"],
    "properties": {
        "status": {"enum": ["ok", "unavailable"]},
        "database": {"enum": ["embedded", "mongodb"]},
        "loop_lag_ms": _LAG,
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    "/healthz": {
        "get": {
            "summary": "Is the service up, does its database answer, how late its event loop runs",
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
