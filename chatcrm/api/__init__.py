"""The JSON API and health routes."""

from __future__ import annotations

from aiohttp import web

from chatcrm.api import channels, customers, health, openapi, report

MODULES = (health, channels, customers, report, openapi)
"""Every route module: each has `routes` and `OPENAPI_PATHS` describing them."""


def setup_routes(app: web.Application) -> None:
    """Register every API route on `app`."""
    for module in MODULES:
        app.router.add_routes(module.routes)
