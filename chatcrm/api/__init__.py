"""The JSON API, the dashboard and the health route."""

from __future__ import annotations

from aiohttp import web

from chatcrm.api import (
    auth,
    channels,
    chat_admins,
    customer_detail,
    customers,
    dashboard,
    downloads,
    exports,
    health,
    i18n,
    imports,
    merges,
    openapi,
    orders,
    replies,
    report,
    schedules,
    segments,
    shop,
    users,
)

MODULES = (
    health,
    dashboard,
    i18n,
    auth,
    shop,
    channels,
    customers,
    replies,
    customer_detail,
    merges,
    report,
    segments,
    schedules,
    orders,
    imports,
    exports,
    downloads,
    chat_admins,
    users,
    openapi,
)
"""Every route module: each has `routes` and `OPENAPI_PATHS` describing them."""


def setup_routes(app: web.Application) -> None:
    """Register every API route on `app`."""
    for module in MODULES:
        app.router.add_routes(module.routes)
