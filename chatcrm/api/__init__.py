"""The JSON API, the dashboard and the health route."""

from __future__ import annotations

from aiohttp import web

from chatcrm.api import (
    auth,
    channels,
    customer_detail,
    customers,
    dashboard,
    exports,
    health,
    imports,
    openapi,
    orders,
    report,
    shop,
)

MODULES = (
    health,
    dashboard,
    auth,
    shop,
    channels,
    customers,
    customer_detail,
    report,
    orders,
    imports,
    exports,
    openapi,
)
"""Every route module: each has `routes` and `OPENAPI_PATHS` describing them."""


def setup_routes(app: web.Application) -> None:
    """Register every API route on `app`."""
    for module in MODULES:
        app.router.add_routes(module.routes)
