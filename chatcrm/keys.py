"""Typed keys of the aiohttp application's state."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from chatcrm.config import Settings
    from chatcrm.database import Database

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DATABASE: web.AppKey[Database] = web.AppKey("database")
HTTP_SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("http_session")
