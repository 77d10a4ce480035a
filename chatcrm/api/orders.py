"""Orders and payments: /api/v1/orders (owner or staff)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatcrm.api.common import json_media, order_errors
from chatcrm.api.spec import BEARER, error_responses
from chatcrm.domain import ORDER_STATUSES
from chatcrm.http import caller_shop, json_body, json_response
from chatcrm.input_rules import parse_datetime
from chatcrm.orders import (
    change_status,
    get_order,
    parse_order,
    public_order,
    record_order,
)

routes = web.RouteTableDef()


@routes.post("/api/v1/orders")
async def create_order(request: web.Request) -> web.Response:
    """Record an order: 201 when new, 200 for an identical retry, 409 for other content."""
    caller = await caller_shop(request, "owner", "staff")
    body = await json_body(request)
    shop, currency = caller.store, caller.shop.currency
    order = parse_order(body, currency)
    with order_errors():
        doc, created = await record_order(shop, order, currency)
    if created:
        await shop.audit.record(
            caller.who.actor, "order.create", order_id=order.order_id, status=order.status
        )
    return json_response(public_order(doc), status=201 if created else 200)


@routes.get("/api/v1/orders/{order_id}")
async def read_order(request: web.Request) -> web.Response:
    """One order of the caller's shop."""
    shop = (await caller_shop(request, "owner", "staff")).store
    with order_errors():
        doc = await get_order(shop, request.match_info["order_id"])
    return json_response(public_order(doc))


@routes.patch("/api/v1/orders/{order_id}")
async def update_order(request: web.Request) -> web.Response:
    """Change an order's status: ``{"status": "paid", "paid_at": "..."}``."""
    caller = await caller_shop(request, "owner", "staff")
    body = await json_body(request)
    shop = caller.store
    paid_at = parse_datetime(body["paid_at"], "paid_at") if body.get("paid_at") else None
    order_id = request.match_info["order_id"]
    with order_errors():
        doc, changed = await change_status(shop, order_id, body.get("status"), paid_at)
    if changed:
        await shop.audit.record(
            caller.who.actor, "order.status", order_id=order_id, status=doc["status"]
        )
    return json_response(public_order(doc))


_ITEM = {
    "type": "object",
    "required": ["name", "quantity", "unit_price"],
    "properties": {
        "name": {"type": "string", "maxLength": 200},
        "quantity": {"type": "integer", "minimum": 1},
        "unit_price": {"type": "integer", "minimum": 0, "description": "minor units (satang)"},
    },
}
_TIME = {"type": "string", "format": "date-time", "description": "ISO 8601 with offset"}
_ORDER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "order_id": {"type": "string"},
        "customer_id": {"type": "string"},
        "channel": {"type": ["string", "null"]},
        "currency": {"type": "string"},
        "amount": {"type": "integer"},
        "items": {"type": "array", "items": _ITEM},
        "status": {"enum": list(ORDER_STATUSES)},
        "created_at": _TIME,
        "paid_at": {**_TIME, "type": ["string", "null"]},
        "refunded_at": {**_TIME, "type": ["string", "null"]},
        "cancelled_at": {**_TIME, "type": ["string", "null"]},
        "updated_at": _TIME,
        "source": {"type": ["string", "null"]},
    },
}
_CREATE = {
    "type": "object",
    "required": ["order_id", "customer", "amount"],
    "properties": {
        "order_id": {"type": "string", "maxLength": 64},
        "customer": {
            "description": "exactly one way to name the customer; an unknown chat identity "
            "creates a contact known only by its chat id; a phone/e-mail matching no customer "
            "is 404, several is 409 (field customer, candidates listed)",
            "oneOf": [
                {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
                {
                    "type": "object",
                    "required": ["channel", "platform_user_id"],
                    "properties": {
                        "channel": {"type": "string"},
                        "platform_user_id": {"type": "string"},
                    },
                },
                {"type": "object", "required": ["phone"]},
                {"type": "object", "required": ["email"]},
            ],
        },
        "currency": {"type": "string", "description": "must be the shop's currency"},
        "amount": {"type": "integer", "minimum": 0, "description": "minor units = sum of items"},
        "status": {"enum": list(ORDER_STATUSES), "default": "placed"},
        "paid_at": {**_TIME, "description": "required for paid and refunded"},
        "created_at": {**_TIME, "description": "when it was placed (default: now)"},
        "items": {"type": "array", "items": _ITEM, "maxItems": 200},
    },
}
_PARAM = [{"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}}]

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/orders": {
        "post": {
            "summary": "Record an order (owner or staff), idempotent on order_id",
            "security": BEARER,
            "requestBody": {"required": True, "content": json_media(_CREATE)},
            "responses": {
                "201": {"description": "recorded", "content": json_media(_ORDER)},
                "200": {"description": "identical retry", "content": json_media(_ORDER)},
                **error_responses(400, 401, 403, 404, 409, 413, 422, 503),
            },
        }
    },
    "/api/v1/orders/{order_id}": {
        "parameters": _PARAM,
        "get": {
            "summary": "One order",
            "security": BEARER,
            "responses": {
                "200": {"description": "the order", "content": json_media(_ORDER)},
                **error_responses(401, 403, 404, 503),
            },
        },
        "patch": {
            "summary": "Change the status: placed→paid|cancelled, paid→refunded (others 409)",
            "security": BEARER,
            "requestBody": {
                "required": True,
                "content": json_media(
                    {
                        "type": "object",
                        "required": ["status"],
                        "properties": {"status": {"enum": list(ORDER_STATUSES)}, "paid_at": _TIME},
                    }
                ),
            },
            "responses": {
                "200": {"description": "changed, or already so", "content": json_media(_ORDER)},
                **error_responses(400, 401, 403, 404, 409, 413, 422, 503),
            },
        },
    },
}
