"""The aiohttp application factory and its lifecycle (database, HTTP session, connectors, workers).

This is the composition root: it alone wires `webhooks/` and `connectors/` into the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

import webhooks
from chatcrm.api import MODULES, setup_routes
from chatcrm.api.openapi import OPENAPI_DOCUMENT, openapi_document
from chatcrm.bot.lane import CommandLane
from chatcrm.config import Settings
from chatcrm.database import open_database
from chatcrm.delivery import Deliverer
from chatcrm.embedded import supervise
from chatcrm.http import SERVER_OPTIONS, error_middleware
from chatcrm.ingest.activity import IngestActivity
from chatcrm.ingest.worker import InboxWorker
from chatcrm.keys import (
    COMMAND_LANE,
    CONNECTOR_POOL,
    DATABASE,
    DELIVERER,
    EXPORT_LIMITS,
    HTTP_SESSION,
    INGEST_ACTIVITY,
    LOOP_LAG,
    REPORT_SCHEDULER,
    SCHEDULER_TUNING,
    SETTINGS,
)
from chatcrm.loop_lag import LoopLag
from chatcrm.mailer import mailer_for
from chatcrm.merging import recover_merges_forever
from chatcrm.orders import recover_aggregates_forever
from chatcrm.scheduler import ReportScheduler, SchedulerTuning
from chatcrm.store import Store, counts
from chatcrm.store.base import DATABASE_ERRORS
from connectors.pool import ConnectorPool
from reports.exports import DEFAULT_LIMITS, ExportLimits
from reports.writers import start_writer_server

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    export_limits: ExportLimits = DEFAULT_LIMITS,
    scheduler: SchedulerTuning | None = None,
) -> web.Application:
    """Build the service; resources open on start-up and close in reverse on shutdown.

    `export_limits` is for tests, which split exports of a few dozen customers; `scheduler`
    sets the report scheduler's clock and timings (tests shorten them).
    """
    app = web.Application(
        middlewares=[error_middleware],
        client_max_size=settings.max_body_bytes,
        handler_args=SERVER_OPTIONS,
    )
    app[SETTINGS] = settings
    app[EXPORT_LIMITS] = export_limits
    app[SCHEDULER_TUNING] = scheduler or SchedulerTuning()
    app[INGEST_ACTIVITY] = IngestActivity()
    app[LOOP_LAG] = LoopLag()
    app.cleanup_ctx.append(_loop_lag)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_embedded_supervisor)
    app.cleanup_ctx.append(_http_session)
    app.cleanup_ctx.append(_connectors)
    app.cleanup_ctx.append(_command_lane)
    app.cleanup_ctx.append(_inbox_workers)
    app.cleanup_ctx.append(_aggregate_recovery)
    app.cleanup_ctx.append(_counter_recount)
    app.cleanup_ctx.append(_report_scheduler)
    app.cleanup_ctx.append(_export_writers)
    app.cleanup_ctx.append(_long_lived_heap)  # last: once everything has started
    setup_routes(app)
    webhooks.setup_routes(app)
    app[OPENAPI_DOCUMENT] = openapi_document(
        *(module.OPENAPI_PATHS for module in MODULES), webhooks.openapi_paths()
    )
    return app


async def _loop_lag(app: web.Application) -> AsyncIterator[None]:
    """Measure how late the event loop runs timers, from start-up on (`chatcrm.loop_lag`)."""
    tasks = [asyncio.create_task(app[LOOP_LAG].run(), name="loop-lag")]
    yield
    await _cancel(tasks)


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


async def _command_lane(app: web.Application) -> AsyncIterator[None]:
    """The chat bot's commands, answered apart from the ingest backlog (`chatcrm.bot.lane`)."""
    lane = CommandLane(
        app[DATABASE].store, app[CONNECTOR_POOL], app[SETTINGS], activity=app[INGEST_ACTIVITY]
    )
    app[COMMAND_LANE] = lane
    task = asyncio.create_task(lane.run(), name="command-lane")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


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
            commands=app[COMMAND_LANE],
        )
        for _ in range(settings.inbox_workers)
    ]
    tasks = [asyncio.create_task(w.run(), name=f"inbox-worker-{i}") for i, w in enumerate(workers)]
    if tasks:
        log.info("inbox workers: %s", len(tasks))
    yield
    await _cancel(tasks)


async def _aggregate_recovery(app: web.Application) -> AsyncIterator[None]:
    """Finish order aggregate refreshes and merges a crash interrupted: at start-up, then
    periodically; and the search terms of shops written before they existed, once."""
    store = app[DATABASE].store
    tasks = [
        asyncio.create_task(recover_aggregates_forever(store), name="aggregate-recovery"),
        asyncio.create_task(recover_merges_forever(store), name="merge-recovery"),
        asyncio.create_task(_backfill_search_terms(store), name="search-terms-backfill"),
    ]
    yield
    await _cancel(tasks)


async def _backfill_search_terms(store: Store) -> None:
    """`Store.backfill_search_terms`, logged when it fails (the next start-up tries again; the
    shops it did not finish keep the slower search meanwhile)."""
    try:
        await store.backfill_search_terms()
    except DATABASE_ERRORS as err:
        log.warning("search terms backfill stopped: %s", err)
    except Exception:
        log.exception("search terms backfill failed")


async def _counter_recount(app: web.Application) -> AsyncIterator[None]:
    """Recount the summary counters of every shop not counted yet, in the background (start-up
    does not wait; each such shop's summary groups its customers until then), then sweep
    again every few minutes (`counts.recount_forever`)."""
    db = app[DATABASE].store.db
    tasks = [asyncio.create_task(counts.recount_forever(db), name="counter-recount")]
    yield
    await _cancel(tasks)


async def _report_scheduler(app: web.Application) -> AsyncIterator[None]:
    """Scheduled report e-mails: fired in every process, each sent once (see chatcrm.scheduler)."""
    settings, tuning = app[SETTINGS], app[SCHEDULER_TUNING]
    store = app[DATABASE].store
    mailer = mailer_for(settings)
    deliverer = Deliverer(
        store, settings, mailer, tuning.delivery, tuning.clock, app[EXPORT_LIMITS]
    )
    scheduler = ReportScheduler(store, deliverer, tuning)
    app[DELIVERER] = deliverer
    app[REPORT_SCHEDULER] = scheduler
    await scheduler.start()
    try:
        yield
    finally:
        await scheduler.stop()


async def _export_writers(_app: web.Application) -> AsyncIterator[None]:
    """The fork server that export writers come from, started with the service (it stops
    with it): the first export then starts its writer in milliseconds, not in a second."""
    await asyncio.to_thread(start_writer_server)
    yield


def freeze_long_lived() -> None:
    """Leave the objects alive now (modules, clients: about 190,000) out of later full
    garbage collections.

    A full collection walks every tracked object with the GIL held; over a started service's
    heap that is a stall of the event loop of 50-300 ms, which an import's or export's
    allocations trigger. Frozen objects are not collected until `gc.unfreeze`.
    """
    gc.freeze()


async def _long_lived_heap(_app: web.Application) -> AsyncIterator[None]:
    freeze_long_lived()
    yield
    gc.unfreeze()


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel background tasks and wait until they have stopped.

    Cancelled again every 50 ms until done: a cancellation that lands inside a driver call
    can be swallowed there (seen with PyMongo's async client), and the task would then go on
    to its next sleep and never stop.
    """
    for task in tasks:
        task.cancel()
    for task in tasks:
        while not task.done():
            await asyncio.wait({task}, timeout=0.05)
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
