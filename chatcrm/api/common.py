"""Helpers shared by the order, import and customer-detail routes: errors and OpenAPI pieces."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from chatcrm.http import ApiError
from chatcrm.keys import DATABASE
from chatcrm.orders import Conflict, NotFound
from chatcrm.store import ShopStore


@contextmanager
def order_errors() -> Iterator[None]:
    """Answer NotFound with 404 and Conflict with 409 (DomainError is already a 422)."""
    try:
        yield
    except NotFound as err:
        raise ApiError(404, "not_found", str(err), err.field) from None
    except Conflict as err:
        raise ApiError(409, "conflict", str(err), err.field, **err.extra) from None


async def shop_context(request: web.Request, shop_id: str) -> tuple[ShopStore, str]:
    """The shop's store and currency."""
    store = request.app[DATABASE].store
    shop = await store.shops.get(shop_id)
    if shop is None:
        raise ApiError(401, "unauthorized", "the token's shop no longer exists")
    return store.for_shop(shop_id), shop.currency


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "field"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": ["string", "null"]},
            },
        }
    },
}

_ERROR_TEXT = {
    400: "malformed body",
    401: "no or bad token",
    403: "role not allowed",
    404: "unknown, or another shop's",
    409: "conflicts with the stored state",
    413: "body too large",
    415: "wrong content type",
    422: "invalid value; `field` names it",
    503: "database not answering",
}


def error_responses(*codes: int) -> dict[str, Any]:
    """OpenAPI responses for error statuses, all with the JSON error shape."""
    return {
        str(code): {
            "description": _ERROR_TEXT[code],
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        }
        for code in codes
    }


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI content map of one JSON schema."""
    return {"application/json": {"schema": schema}}


BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
