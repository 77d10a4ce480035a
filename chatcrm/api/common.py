"""Helpers shared by the order, import and customer-detail routes: shop lookup, order errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from chatcrm.domain import Principal
from chatcrm.http import ApiError, caller_shop
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


async def shop_context(request: web.Request, who: Principal) -> tuple[ShopStore, str]:
    """The caller's shop store and currency."""
    shop = await caller_shop(request, who)
    return request.app[DATABASE].store.for_shop(shop.id), shop.currency


def json_media(schema: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI content map of one JSON schema (for request bodies and custom responses)."""
    return {"application/json": {"schema": schema}}
