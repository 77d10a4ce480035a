"""Typed keys of the aiohttp application's state."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from chatcrm.config import Settings
    from chatcrm.database import Database
    from connectors import ConnectorPool

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DATABASE: web.AppKey[Database] = web.AppKey("database")
HTTP_SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("http_session")
CONNECTOR_POOL: web.AppKey[ConnectorPool] = web.AppKey("connector_pool")
INBOX_WAKEUP: web.AppKey[asyncio.Event] = web.AppKey("inbox_wakeup")
"""Set by a webhook that stored new events, so an idle worker starts at once."""
