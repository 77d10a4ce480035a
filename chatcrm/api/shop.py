"""/api/v1/shop: the caller's shop and role (what the dashboard shows and formats with), and
the shop's settings the owner changes."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatcrm.api.spec import BEARER, error_responses, json_content, json_request
from chatcrm.domain import Shop
from chatcrm.http import ApiError, caller_shop, json_body, json_response

routes = web.RouteTableDef()

SETTINGS = ("auto_merge",)
"""The shop's fields `PATCH /api/v1/shop` changes (each a boolean)."""


def _view(shop: Shop, role: str) -> dict[str, Any]:
    return {
        "id": shop.id,
        "name": shop.name,
        "timezone": shop.timezone,
        "currency": shop.currency,
        "locale": shop.locale,
        "auto_merge": shop.auto_merge,
        "role": role,
    }


@routes.get("/api/v1/shop")
async def get_shop(request: web.Request) -> web.Response:
    """The shop the token belongs to: name, time zone, currency, locale, settings, and the
    caller's role."""
    caller = await caller_shop(request)
    return json_response(_view(caller.shop, caller.who.role))


@routes.patch("/api/v1/shop")
async def edit_shop(request: web.Request) -> web.Response:
    """Change the shop's settings (owner): ``{"auto_merge": bool}``; audited."""
    caller = await caller_shop(request, "owner")
    body = await json_body(request)
    for key in body:
        if key not in SETTINGS:
            raise ApiError(422, "invalid", f"unknown field {str(key)[:50]}", str(key)[:50])
    enabled = body.get("auto_merge")
    if not isinstance(enabled, bool):
        raise ApiError(422, "invalid", "auto_merge must be true or false", "auto_merge")
    shop = await caller.store.set_auto_merge(enabled)
    if shop is None:
        raise ApiError(401, "unauthorized", "the token's shop no longer exists")
    await caller.store.audit.record(
        caller.who.actor,
        "shop.update",
        before={"auto_merge": caller.shop.auto_merge},
        after={"auto_merge": shop.auto_merge},
    )
    return json_response(_view(shop, caller.who.role))


_SHOP = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "timezone": {"type": "string"},
        "currency": {"type": "string"},
        "locale": {"type": "string"},
        "auto_merge": {
            "type": "boolean",
            "description": (
                "Merge a customer automatically into the one other customer with the phone "
                "number a platform itself gave (WhatsApp's number, a Telegram contact the user "
                "shared of themselves); false (the default): such customers are only "
                "suggested (`GET /api/v1/merge-suggestions`)"
            ),
        },
        "role": {"type": "string", "enum": ["owner", "staff"]},
    },
}

OPENAPI_PATHS: dict[str, dict[str, object]] = {
    "/api/v1/shop": {
        "get": {
            "summary": "The caller's shop, its settings and the caller's role",
            "operationId": "getShop",
            "tags": ["shop"],
            "security": BEARER,
            "responses": {"200": json_content(_SHOP, "The shop"), **error_responses()},
        },
        "patch": {
            "summary": "Change the shop's settings (owner)",
            "description": (
                "`auto_merge` (boolean, the only setting so far) turns automatic merging on a "
                "platform's own phone number on or off. It applies to numbers that arrive "
                "after it is on: a merge is made when a platform first gives a customer's "
                "number and exactly one other live customer has it (the one the seller edited, "
                "else the one seen first, stays the person); numbers a seller typed, imports "
                "and orders are only suggested. Audited (`shop.update`); 422 naming the field "
                "for an unknown field or a value that is not a boolean."
            ),
            "operationId": "editShop",
            "tags": ["shop"],
            "security": BEARER,
            "requestBody": json_request(["auto_merge"], {"auto_merge": {"type": "boolean"}}),
            "responses": {
                "200": json_content(_SHOP, "The shop as it is now"),
                **error_responses(400, 403, 422),
            },
        },
    }
}
