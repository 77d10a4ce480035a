"""Typed keys of the aiohttp application's state."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from chatcrm.auth import LinkSender
    from chatcrm.bot.lane import CommandLane
    from chatcrm.config import Settings
    from chatcrm.database import Database
    from chatcrm.delivery import Deliverer
    from chatcrm.ingest.activity import IngestActivity
    from chatcrm.loop_lag import LoopLag
    from chatcrm.scheduler import ReportScheduler, SchedulerTuning
    from connectors.pool import ConnectorPool
    from reports.exports import ExportLimits

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DATABASE: web.AppKey[Database] = web.AppKey("database")
HTTP_SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("http_session")
CONNECTOR_POOL: web.AppKey[ConnectorPool] = web.AppKey("connector_pool")
INGEST_ACTIVITY: web.AppKey[IngestActivity] = web.AppKey("ingest_activity")
"""Webhook routes -> inbox workers: new events stored, acknowledgements in flight."""
REPORT_SCHEDULER: web.AppKey[ReportScheduler] = web.AppKey("report_scheduler")
SCHEDULER_TUNING: web.AppKey[SchedulerTuning] = web.AppKey("scheduler_tuning")
DELIVERER: web.AppKey[Deliverer] = web.AppKey("deliverer")
"""Report e-mails: the process's scheduler, its timings, and what sends a delivery."""
COMMAND_LANE: web.AppKey[CommandLane] = web.AppKey("command_lane")
"""Webhook routes and inbox workers -> the chat bot's command lane."""
EXPORT_LIMITS: web.AppKey[ExportLimits] = web.AppKey("export_limits")
"""Rows per export file: 20,000 in the service, a few in tests."""
LINK_SENDER: web.AppKey[LinkSender] = web.AppKey("link_sender")
"""The mail hook for invitation and password-reset links; unset, links are only shown."""
LOOP_LAG: web.AppKey[LoopLag] = web.AppKey("loop_lag")
"""How late the event loop runs timers (`GET /healthz`)."""
