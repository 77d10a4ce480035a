"""Customer detail: GET /api/v1/customers/{id} (owner or staff) with stats and orders."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatcrm.api.common import json_media
from chatcrm.api.spec import BEARER, error_responses
from chatcrm.customer_edit import etag
from chatcrm.domain import SELLER_FIELDS, as_utc
from chatcrm.http import ApiError, caller_shop, json_response
from chatcrm.merging import public_identities
from chatcrm.orders import average_order_value, public_order, recent_since, refresh_aggregates
from chatcrm.provinces import UNKNOWN_PROVINCE
from chatcrm.store.base import Doc, utcnow

routes = web.RouteTableDef()

ORDERS_LIMIT = 100


def _channel(doc: Doc) -> dict[str, Any]:
    return {
        "customer_id": doc["_id"],
        "channel": doc.get("channel"),
        "channel_id": doc.get("channel_id"),
        "platform_user_id": doc.get("platform_user_id"),
        "name": doc.get("name"),
    }


def _province(doc: Doc) -> str | None:
    """The customer's province key (English name), None when unknown."""
    key = doc.get("province_key")
    return key if key != UNKNOWN_PROVINCE else None


@routes.get("/api/v1/customers/{id}")
async def customer_detail(request: web.Request) -> web.Response:
    """Profile, channels, tags, notes, status, stats and the orders timeline (newest first)."""
    shop = (await caller_shop(request, "owner", "staff")).store
    customer_id = request.match_info["id"]
    doc = await shop.customers.get_person(customer_id)  # a merged customer's id: its person
    if doc is None:
        raise ApiError(404, "not_found", "no such customer", "id")
    customer_id = doc["_id"]
    members = await shop.customers.merged_into(customer_id)
    if await shop.orders.has_dirty(customer_id):  # an interrupted order change: finish it
        doc = await refresh_aggregates(shop, customer_id) or doc
    orders = await shop.orders.for_customer(customer_id, limit=ORDERS_LIMIT)
    now = utcnow()
    since = recent_since(now)
    linked = await shop.customers.linked(doc)
    return json_response(
        {
            "id": doc["_id"],
            "name": doc.get("name"),
            "profile_name": doc.get("profile_name"),
            "platform_username": doc.get("platform_username"),
            "platform_phone": doc.get("platform_phone"),
            "seller_fields": doc.get("seller_fields") or [],
            "picture_url": doc.get("picture_url"),
            "phone": doc.get("phone"),
            "email": doc.get("email"),
            "province": _province(doc),
            "province_input": doc.get("province"),
            "postal_code": doc.get("postal_code"),
            "channel": doc.get("channel"),
            "platform_user_id": doc.get("platform_user_id"),
            "channels": [_channel(d) for d in (doc, *members, *linked)],
            "identities": public_identities(doc, members),
            "tags": doc.get("tags") or [],
            "notes": doc.get("notes") or "",
            "status": doc.get("status"),
            "version": doc.get("version"),
            "first_seen_at": as_utc(doc.get("first_seen_at")),
            "last_contact_at": as_utc(doc.get("last_contact_at")),
            "updated_at": as_utc(doc.get("updated_at")),
            "stats": {
                "currency": doc.get("currency"),
                "paid_total": doc.get("paid_total", 0),
                "order_count": doc.get("order_count", 0),
                "average_order_value": average_order_value(
                    doc.get("paid_total", 0), doc.get("order_count", 0)
                ),
                "unpaid_total": doc.get("unpaid_total", 0),
                "refunded_total": doc.get("refunded_total", 0),
                "last_order_at": as_utc(doc.get("last_order_at")),
                "last_3_months": {
                    "paid_total": await shop.orders.paid_since(customer_id, since),
                    "since": since,
                    "until": now,
                },
            },
            "orders": [public_order(o) for o in orders],
        },
        headers={"ETag": etag(doc["version"])} if isinstance(doc.get("version"), int) else None,
    )


_STATS = {
    "type": "object",
    "properties": {
        "currency": {"type": "string"},
        "paid_total": {"type": "integer", "description": "paid orders, minor units"},
        "order_count": {"type": "integer", "description": "paid orders"},
        "average_order_value": {"type": ["integer", "null"], "description": "paid_total // n"},
        "unpaid_total": {"type": "integer", "description": "placed, not yet paid"},
        "refunded_total": {"type": "integer"},
        "last_order_at": {"type": ["string", "null"], "format": "date-time"},
        "last_3_months": {
            "type": "object",
            "description": "paid orders with paid_at in the last 90 days [since, until]",
            "properties": {
                "paid_total": {"type": "integer"},
                "since": {"type": "string", "format": "date-time"},
                "until": {"type": "string", "format": "date-time"},
            },
        },
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/customers/{id}": {
        "get": {
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "summary": "A customer: profile, channels, tags, notes, status, stats, orders",
            "security": BEARER,
            "responses": {
                "200": {
                    "description": "the customer; `orders` newest first (at most 100), "
                    "`channels` lists the person's identities, then other profiles with the "
                    "same phone or e-mail; "
                    'the ETag is the edit version (`"3"`) that PATCH\'s If-Match expects',
                    "headers": {"ETag": {"schema": {"type": "string"}}},
                    "content": json_media(
                        {
                            "type": "object",
                            "properties": {
                                "id": {"type": "string"},
                                "name": {"type": ["string", "null"]},
                                "profile_name": {"type": ["string", "null"]},
                                "platform_username": {
                                    "type": ["string", "null"],
                                    "description": "the platform's user name (WhatsApp, "
                                    "Telegram), as the platform gave it",
                                },
                                "platform_phone": {
                                    "type": ["string", "null"],
                                    "description": "the phone number the platform gave "
                                    "(WhatsApp wa_id, a Telegram contact of the sender's own)",
                                },
                                "seller_fields": {
                                    "type": "array",
                                    "items": {"enum": list(SELLER_FIELDS)},
                                    "description": "name, phone, e-mail the seller typed: "
                                    "no platform profile overwrites them",
                                },
                                "channels": {"type": "array", "items": {"type": "object"}},
                                "identities": {
                                    "type": "array",
                                    "description": "every chat identity of the person (its "
                                    "first one first; merged customers), each with its own "
                                    "`customer_id`, `first_seen_at`, `last_contact_at`",
                                    "items": {"type": "object"},
                                },
                                "tags": {"type": "array", "items": {"type": "string"}},
                                "notes": {"type": "string"},
                                "status": {"type": "string"},
                                "version": {"type": "integer"},
                                "stats": _STATS,
                                "orders": {"type": "array", "items": {"type": "object"}},
                            },
                        }
                    ),
                },
                **error_responses(401, 403, 404, 503),
            },
        },
    }
}
