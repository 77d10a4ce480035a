"""Webhook routes: verify the platform's signature, store the raw events, acknowledge."""

from __future__ import annotations

from aiohttp import web

from webhooks import line, messenger, telegram


def setup_routes(app: web.Application) -> None:
    """Register the three platforms' webhook routes on `app`."""
    app.router.add_routes(line.routes)
    app.router.add_routes(telegram.routes)
    app.router.add_routes(messenger.routes)
