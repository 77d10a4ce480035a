"""The aiohttp application factory and its lifecycle (database, HTTP session, workers)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from chatcrm.api import setup_routes
from chatcrm.config import Settings
from chatcrm.database import open_database
from chatcrm.http import error_middleware
from chatcrm.keys import DATABASE, HTTP_SESSION, SETTINGS

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> web.Application:
    """Build the service; resources open on start-up and close in reverse on shutdown."""
    app = web.Application(middlewares=[error_middleware], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_http_session)
    setup_routes(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    async with open_database(app[SETTINGS]) as database:
        app[DATABASE] = database
        yield


async def _http_session(app: web.Application) -> AsyncIterator[None]:
    timeout = aiohttp.ClientTimeout(total=15, connect=5)
    async with aiohttp.ClientSession(timeout=timeout, raise_for_status=False) as session:
        app[HTTP_SESSION] = session
        yield
