"""The JSON API and health routes."""

from __future__ import annotations

from aiohttp import web

from chatcrm.api import channels, customer_detail, exports, health, imports, orders


def setup_routes(app: web.Application) -> None:
    """Register every API route on `app`."""
    app.router.add_routes(health.routes)
    app.router.add_routes(channels.routes)
    app.router.add_routes(orders.routes)
    app.router.add_routes(customer_detail.routes)
    app.router.add_routes(imports.routes)
    app.router.add_routes(exports.routes)
