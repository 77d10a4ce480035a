"""CSV imports: POST /api/v1/imports?kind=customers|orders (owner or staff)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatcrm.api.common import json_media
from chatcrm.api.spec import BEARER, error_responses
from chatcrm.http import ApiError, caller_shop, json_response
from chatcrm.imports import KINDS, run_import

routes = web.RouteTableDef()

CSV_TYPES = ("text/csv", "application/csv", "text/plain")


@routes.post("/api/v1/imports")
async def import_csv(request: web.Request) -> web.Response:
    """Apply a CSV body; 200 with the row-level report (bad rows are listed, not applied)."""
    caller = await caller_shop(request, "owner", "staff")
    kind = request.query.get("kind")
    if kind not in KINDS:
        raise ApiError(422, "invalid", f"kind must be one of {', '.join(KINDS)}", "kind")
    if request.content_type not in CSV_TYPES:
        raise ApiError(415, "unsupported_media_type", "send the file as text/csv")
    data = await request.read()
    report = await run_import(
        caller.store, kind, data, caller.shop.currency, caller.who.actor, source="api"
    )
    return json_response(report.as_dict())


_REPORT = {
    "type": "object",
    "properties": {
        "kind": {"enum": list(KINDS)},
        "rows": {"type": "integer"},
        "created": {"type": "integer"},
        "updated": {"type": "integer"},
        "unchanged": {"type": "integer"},
        "rejected": {"type": "integer"},
        "errors": {
            "type": "array",
            "description": "row is the spreadsheet row (header = 1); field the CSV column",
            "items": {
                "type": "object",
                "properties": {
                    "row": {"type": "integer"},
                    "field": {"type": ["string", "null"]},
                    "reason": {"type": "string"},
                },
            },
        },
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/imports": {
        "post": {
            "summary": "Import customers or orders from CSV (UTF-8, BOM optional)",
            "description": "Good rows are applied, bad rows reported and left out; importing "
            "the same file again changes nothing. Customers: channel, platform_user_id, name, "
            "phone, email, province, postal_code, tags (; or |), notes. Orders: order_id, "
            "customer_id | customer_channel + customer_platform_user_id | customer_phone | "
            "customer_email, currency, amount (baht, e.g. 1250.00), status, paid_at, "
            "created_at, items (name:quantity:unit_price; ...).",
            "security": BEARER,
            "parameters": [
                {"name": "kind", "in": "query", "required": True, "schema": {"enum": list(KINDS)}}
            ],
            "requestBody": {
                "required": True,
                "content": {"text/csv": {"schema": {"type": "string"}}},
            },
            "responses": {
                "200": {"description": "the import report", "content": json_media(_REPORT)},
                **error_responses(401, 403, 413, 415, 422, 503),
            },
        }
    }
}
