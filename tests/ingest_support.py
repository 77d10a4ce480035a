"""Fixtures for the ingestion tests: fake platforms, a shop with three channels, the service."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chatcrm.app import create_app
from chatcrm.config import Settings
from chatcrm.domain import Channel
from chatcrm.ingest.worker import InboxWorker
from chatcrm.keys import COMMAND_LANE, CONNECTOR_POOL, DATABASE, SETTINGS
from chatcrm.store import Store
from connectors.base import Connector
from tests.fakes.graph import FakeGraph
from tests.fakes.line import FakeLine
from tests.fakes.signing import line_signature, load_fixture, meta_signature
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp

LINE_SECRET = "0123456789abcdef0123456789abcdef"
LINE_TOKEN = "line-test-access-token"
TG_SECRET = "tg_Secret-token_42"
META_APP_SECRET = "meta-app-secret"
META_VERIFY = "verify-me-please"
GRAPH_TOKEN = "EAAGgraphTestToken"


@dataclass
class Fakes:
    """The three fake platform API servers (the Graph one serves the WhatsApp Cloud API too)."""

    line: FakeLine
    telegram: FakeTelegram
    graph: FakeGraph


@pytest.fixture
async def fakes() -> AsyncIterator[Fakes]:
    """Fake LINE, Telegram and Graph (with WhatsApp's Cloud API) servers on 127.0.0.1."""
    async with (
        FakeLine(access_token=LINE_TOKEN) as line,
        FakeTelegram() as telegram,
        FakeWhatsApp(GRAPH_TOKEN) as graph,
    ):
        yield Fakes(line, telegram, graph)


def settings_for(settings: Settings, fakes: Fakes, **changes: Any) -> Settings:
    """Settings whose platform API base URLs point at the fakes."""
    urls = {
        "line_api_base_url": fakes.line.base_url,
        "telegram_api_base_url": fakes.telegram.base_url,
        "graph_api_base_url": fakes.graph.base_url,
    }
    return settings.with_changes(**{**urls, **changes})


async def add_channels(store: Store, shop_id: str, fakes: Fakes) -> dict[str, Channel]:
    """A LINE, a Telegram and a Messenger channel for the shop, with the fakes' credentials."""
    shop = store.for_shop(shop_id)
    return {
        "line": await shop.channels.add(
            "line", {"channel_secret": LINE_SECRET, "access_token": LINE_TOKEN}
        ),
        "telegram": await shop.channels.add(
            "telegram", {"bot_token": fakes.telegram.token, "secret_token": TG_SECRET}
        ),
        "messenger": await shop.channels.add(
            "messenger",
            {
                "page_access_token": GRAPH_TOKEN,
                "app_secret": META_APP_SECRET,
                "verify_token": META_VERIFY,
            },
        ),
    }


def body_of(platform: str, payload: str | bytes | dict[str, Any]) -> bytes:
    """A fixture name, raw bytes, or a JSON object, as request body bytes."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, dict):
        return json.dumps(payload, ensure_ascii=False).encode()
    return load_fixture(platform, payload)


class Ingest:
    """The service under test (workers off unless asked), a shop with channels, helpers."""

    def __init__(
        self, client: TestClient, store: Store, shop_id: str, channels: dict[str, Channel]
    ) -> None:
        self.client = client
        self.store = store
        self.shop_id = shop_id
        self.channels = channels
        self.shop = store.for_shop(shop_id)

    async def post(
        self, platform: str, payload: str | bytes | dict[str, Any], headers: dict[str, str]
    ) -> Any:
        """POST a body to the platform's webhook of the shop's channel."""
        path = self.channels[platform].webhook_path
        return await self.client.post(path, data=body_of(platform, payload), headers=headers)

    async def line(self, payload: str | bytes | dict[str, Any], secret: str = LINE_SECRET) -> Any:
        """POST to the LINE webhook, signed with `secret`."""
        body = body_of("line", payload)
        return await self.post("line", body, {"X-Line-Signature": line_signature(secret, body)})

    async def telegram(self, payload: str | bytes | dict[str, Any], secret: str = TG_SECRET) -> Any:
        """POST to the Telegram webhook with the secret token header."""
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"}
        return await self.post("telegram", payload, headers)

    async def messenger(
        self, payload: str | bytes | dict[str, Any], secret: str = META_APP_SECRET
    ) -> Any:
        """POST to the Messenger webhook, signed with the app secret."""
        body = body_of("messenger", payload)
        return await self.post(
            "messenger", body, {"X-Hub-Signature-256": meta_signature(secret, body)}
        )

    def worker(self, **options: Any) -> InboxWorker:
        """A worker on the running service's store, connectors and command lane."""
        app = self.client.server.app
        return InboxWorker(
            app[DATABASE].store,
            app[CONNECTOR_POOL],
            app[SETTINGS],
            commands=app[COMMAND_LANE],
            **options,
        )

    def connector(self, platform: str) -> Connector:
        """The running service's connector of the shop's channel on `platform`."""
        return self.client.server.app[CONNECTOR_POOL].get(self.channels[platform])

    async def drain(self) -> int:
        """Process every due inbox event."""
        return await self.worker().drain()

    async def customers(self, **query: Any) -> list[dict[str, Any]]:
        """The shop's customers matching `query`."""
        coll = self.store.db["customers"]
        return await coll.find({"shop_id": self.shop_id, **query}).to_list(None)

    async def messages(self, **query: Any) -> list[dict[str, Any]]:
        """The shop's messages matching `query`, oldest first."""
        coll = self.store.db["messages"]
        cursor = coll.find({"shop_id": self.shop_id, **query}).sort("sent_at", 1)
        return await cursor.to_list(None)

    async def inbox(self, **query: Any) -> list[dict[str, Any]]:
        """The shop's raw inbox documents."""
        return await self.store.db["inbox"].find({"shop_id": self.shop_id, **query}).to_list(None)


@pytest.fixture
async def ingest(
    aiohttp_client: Any, settings: Settings, store: Store, shop: Any, fakes: Fakes
) -> Ingest:
    """The real service pointed at the fakes, with its inbox workers off (tests drain)."""
    channels = await add_channels(store, shop.id, fakes)
    client = await aiohttp_client(create_app(settings_for(settings, fakes, inbox_workers=0)))
    return Ingest(client, store, shop.id, channels)
