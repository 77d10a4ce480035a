"""One connector (and SDK client) per channel, for the life of the application."""

from __future__ import annotations

import logging

import aiohttp

from chatcrm.config import Settings
from chatcrm.domain import Channel
from connectors.base import Connector
from connectors.registry import CONNECTORS

log = logging.getLogger(__name__)


class ConnectorPool:
    """One connector (and SDK client) per channel, created on first use, closed with the pool.

    A channel whose secrets changed gets a fresh connector; the old one is closed with the pool.
    """

    def __init__(self, settings: Settings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http
        self._by_channel: dict[str, Connector] = {}
        self._retired: list[Connector] = []

    def get(self, channel: Channel) -> Connector:
        """The connector of `channel`."""
        current = self._by_channel.get(channel.id)
        if current is not None and current.channel == channel:
            return current
        if current is not None:
            self._retired.append(current)
        connector = CONNECTORS[channel.platform](channel, self.settings, self.http)
        self._by_channel[channel.id] = connector
        return connector

    async def close(self) -> None:
        """Close every connector's SDK clients."""
        connectors = [*self._by_channel.values(), *self._retired]
        self._by_channel.clear()
        self._retired.clear()
        for connector in connectors:
            try:
                await connector.close()
            except Exception:
                log.exception("closing the %s connector failed", connector.platform)
