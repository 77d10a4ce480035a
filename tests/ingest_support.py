"""Fixtures for the ingestion tests: fake platforms, a shop with three channels, the service."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
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

# the users of the fixtures
LINE_USER = "Ua69f03e594eefbb87cde656abf334c1d"
LINE_GROUP = "C2d8bf7e5aa5e893bd6419f9510a93a10"
LINE_SPEAKER = "U1fcd0443e3b10a9c6400e4388b9f8ebd"
TG_USER = "5123456789"
TG_GROUP_SPEAKER = "6234567890"
PAGE_ID = "104857392018374"
PSID = "7304918273645512"
IGSID = "1127384950617283"


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


def fixture(platform: str, name: str) -> dict[str, Any]:
    """A fixture as a JSON object, to change before sending."""
    return json.loads(load_fixture(platform, name))


def ms(value: int) -> datetime:
    """Epoch milliseconds (LINE, Meta) as a time."""
    return datetime.fromtimestamp(value / 1000, UTC)


def api_time(value: str | None) -> datetime | None:
    """A time as the API writes it."""
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


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

    async def send(self, platform: str, *payloads: str | bytes | dict[str, Any]) -> None:
        """POST each payload to the platform's webhook (each must get 200), then drain."""
        post = getattr(self, platform)
        for payload in payloads:
            resp = await post(payload)
            assert resp.status == 200, await resp.text()
        await self.drain()

    async def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the shop's API as its owner; the answer, JSON decoded (any status but 2xx fails)."""
        if not hasattr(self, "_token"):
            self._token = await self.store.tokens.create(self.shop_id, "owner", "owner")
        headers = {"Authorization": f"Bearer {self._token}", **kwargs.pop("headers", {})}
        resp = await self.client.request(method, path, headers=headers, **kwargs)
        assert resp.status < 300, await resp.text()
        return await resp.json() if resp.content_type == "application/json" else await resp.read()

    async def rows(self, **params: str) -> dict[str, dict[str, Any]]:
        """The customer report's rows (GET /api/v1/customers), by platform user id."""
        page = await self.api("GET", "/api/v1/customers", params={"limit": "200", **params})
        return {row["platform_user_id"]: row for row in page["items"]}

    async def detail(self, platform_user_id: str) -> dict[str, Any]:
        """The customer detail (GET /api/v1/customers/{id}) of a platform user."""
        row = (await self.rows())[platform_user_id]
        return await self.api("GET", f"/api/v1/customers/{row['id']}")

    async def history(self, platform_user_id: str) -> list[dict[str, Any]]:
        """A platform user's chat history as the API shows it, oldest first."""
        row = (await self.rows())[platform_user_id]
        page = await self.api("GET", f"/api/v1/customers/{row['id']}/messages?limit=200")
        return page["items"]


@pytest.fixture
async def ingest(
    aiohttp_client: Any, settings: Settings, store: Store, shop: Any, fakes: Fakes
) -> Ingest:
    """The real service pointed at the fakes, with its inbox workers off (tests drain)."""
    channels = await add_channels(store, shop.id, fakes)
    client = await aiohttp_client(create_app(settings_for(settings, fakes, inbox_workers=0)))
    return Ingest(client, store, shop.id, channels)
