"""Typed keys of the aiohttp application's state."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from chatcrm.auth import LinkSender
    from chatcrm.config import Settings
    from chatcrm.database import Database
    from chatcrm.ingest.activity import IngestActivity
    from connectors.pool import ConnectorPool
    from reports.exports import ExportLimits

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DATABASE: web.AppKey[Database] = web.AppKey("database")
HTTP_SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("http_session")
CONNECTOR_POOL: web.AppKey[ConnectorPool] = web.AppKey("connector_pool")
INGEST_ACTIVITY: web.AppKey[IngestActivity] = web.AppKey("ingest_activity")
"""Webhook routes -> inbox workers: new events stored, acknowledgements in flight."""
EXPORT_LIMITS: web.AppKey[ExportLimits] = web.AppKey("export_limits")
"""Rows per export file: 20,000 in the service, a few in tests."""
LINK_SENDER: web.AppKey[LinkSender] = web.AppKey("link_sender")
"""The mail hook for invitation and password-reset links; unset, links are only shown."""
