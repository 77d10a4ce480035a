"""The aiohttp application factory and its lifecycle (database, HTTP session, connectors, workers).

This is the composition root: it alone wires `webhooks/` and `connectors/` into the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

import webhooks
from chatcrm.api import MODULES, setup_routes
from chatcrm.api.openapi import OPENAPI_DOCUMENT, openapi_document
from chatcrm.config import Settings
from chatcrm.database import open_database
from chatcrm.embedded import supervise
from chatcrm.http import error_middleware
from chatcrm.ingest.activity import IngestActivity
from chatcrm.ingest.worker import InboxWorker
from chatcrm.keys import (
    CONNECTOR_POOL,
    DATABASE,
    EXPORT_LIMITS,
    HTTP_SESSION,
    INGEST_ACTIVITY,
    SETTINGS,
)
from chatcrm.orders import recover_aggregates_forever
from connectors.pool import ConnectorPool
from reports.exports import DEFAULT_LIMITS, ExportLimits

log = logging.getLogger(__name__)


def create_app(
    settings: Settings, *, export_limits: ExportLimits = DEFAULT_LIMITS
) -> web.Application:
    """Build the service; resources open on start-up and close in reverse on shutdown.

    `export_limits` is for tests, which split exports of a few dozen customers.
    """
    app = web.Application(middlewares=[error_middleware], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[EXPORT_LIMITS] = export_limits
    app[INGEST_ACTIVITY] = IngestActivity()
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_embedded_supervisor)
    app.cleanup_ctx.append(_http_session)
    app.cleanup_ctx.append(_connectors)
    app.cleanup_ctx.append(_inbox_workers)
    app.cleanup_ctx.append(_aggregate_recovery)
    setup_routes(app)
    webhooks.setup_routes(app)
    app[OPENAPI_DOCUMENT] = openapi_document(
        *(module.OPENAPI_PATHS for module in MODULES), webhooks.openapi_paths()
    )
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    async with open_database(app[SETTINGS]) as database:
        app[DATABASE] = database
        yield


async def _embedded_supervisor(app: web.Application) -> AsyncIterator[None]:
    """Restart the embedded database if it dies (nothing to do with MONGODB_URI)."""
    embedded = app[DATABASE].embedded
    task = supervise(embedded) if embedded else None
    tasks = [asyncio.create_task(task, name="embedded-supervisor")] if task else []
    yield
    await _cancel(tasks)


async def _http_session(app: web.Application) -> AsyncIterator[None]:
    timeout = aiohttp.ClientTimeout(total=15, connect=5)
    async with aiohttp.ClientSession(timeout=timeout, raise_for_status=False) as session:
        app[HTTP_SESSION] = session
        yield


async def _connectors(app: web.Application) -> AsyncIterator[None]:
    pool = ConnectorPool(app[SETTINGS], app[HTTP_SESSION])
    app[CONNECTOR_POOL] = pool
    try:
        yield
    finally:
        await pool.close()


async def _inbox_workers(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    claim_lock = asyncio.Lock()  # one worker at a time waits for events and claims
    workers = [
        InboxWorker(
            app[DATABASE].store,
            app[CONNECTOR_POOL],
            settings,
            activity=app[INGEST_ACTIVITY],
            claim_lock=claim_lock,
        )
        for _ in range(settings.inbox_workers)
    ]
    tasks = [asyncio.create_task(w.run(), name=f"inbox-worker-{i}") for i, w in enumerate(workers)]
    if tasks:
        log.info("inbox workers: %s", len(tasks))
    yield
    await _cancel(tasks)


async def _aggregate_recovery(app: web.Application) -> AsyncIterator[None]:
    """Finish order aggregate refreshes a crash interrupted: at start-up, then periodically."""
    task = asyncio.create_task(
        recover_aggregates_forever(app[DATABASE].store), name="aggregate-recovery"
    )
    yield
    await _cancel([task])


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel background tasks and wait until they have stopped."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
