"""Helpers shared by the order, import and customer-detail routes: order errors, media."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chatcrm.http import ApiError
from chatcrm.orders import Conflict, NotFound


@contextmanager
def order_errors() -> Iterator[None]:
    """Answer NotFound with 404 and Conflict with 409 (DomainError is already a 422)."""
    try:
        yield
    except NotFound as err:
        raise ApiError(404, "not_found", str(err), err.field) from None
    except Conflict as err:
        raise ApiError(409, "conflict", str(err), err.field, **err.extra) from None


def json_media(schema: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI content map of one JSON schema (for request bodies and custom responses)."""
    return {"application/json": {"schema": schema}}
