"""Fixtures for the chat bot tests: people typing to the shop's channels, and what they read back.

Texts go in as signed webhooks of each platform; answers are read from the fake platform
servers, which the real SDKs (line-bot-sdk, python-telegram-bot) and the Graph client call.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import pytest

from chatcrm.app import create_app
from chatcrm.config import Settings
from chatcrm.keys import COMMAND_LANE
from chatcrm.store import Store
from tests.conftest import ShopFixture
from tests.fakes.graph import DEFAULT_PAGE_ID
from tests.fakes.signing import meta_signature
from tests.fakes.whatsapp import DEFAULT_PHONE_NUMBER_ID
from tests.ingest_support import (
    GRAPH_TOKEN,
    META_APP_SECRET,
    META_VERIFY,
    Fakes,
    Ingest,
    add_channels,
    settings_for,
)

PUBLIC_URL = "https://crm.example.com"
PLATFORMS = ("line", "telegram", "messenger", "whatsapp")
"""The chat platforms the bot answers on (each command is driven on each)."""

_serial = itertools.count(1)


def user_id(platform: str, n: int = 1) -> str:
    """A platform user id of the shape the platform uses."""
    if platform == "line":
        return f"U{n:032x}"
    if platform == "telegram":
        return str(5_100_000_000 + n)
    if platform == "whatsapp":
        return f"TH.{1_500_000_000_000_000 + n}"  # a business-scoped user id (BSUID)
    return str(7_300_000_000_000_000 + n)


def phone_of(bsuid: str) -> str:
    """The phone number of a WhatsApp test user."""
    return f"6689{int(bsuid[-7:]):07d}"


def text_event(
    platform: str, user: str, text: str, serial: int, name: str = "Somchai"
) -> dict[str, Any]:
    """A webhook body carrying one text message of `user` in a one-to-one chat (Telegram
    carries the user's `name`)."""
    ms = int(time.time() * 1000)
    if platform == "line":
        event = {
            "type": "message",
            "mode": "active",
            "timestamp": ms,
            "source": {"type": "user", "userId": user},
            "webhookEventId": f"01BOTTEST{serial:017d}",
            "deliveryContext": {"isRedelivery": False},
            "replyToken": f"reply-token-{serial}",
            "message": {"id": f"5{serial:017d}", "type": "text", "text": text},
        }
        return {"destination": "U" + "f" * 32, "events": [event]}
    if platform == "telegram":
        person = {"id": int(user), "is_bot": False, "first_name": name, "language_code": "th"}
        chat = {"id": int(user), "type": "private", "first_name": name}
        message = {"message_id": serial, "from": person, "chat": chat, "date": ms // 1000}
        return {"update_id": 900_000 + serial, "message": {**message, "text": text}}
    if platform == "whatsapp":
        return _whatsapp_event(user, text, serial, name, ms)
    item = {
        "sender": {"id": user},
        "recipient": {"id": DEFAULT_PAGE_ID},
        "timestamp": ms,
        "message": {"mid": f"m_bot{serial}", "text": text},
    }
    entry = {"id": DEFAULT_PAGE_ID, "time": ms, "messaging": [item]}
    return {"object": "page", "entry": [entry]}


def _whatsapp_event(user: str, text: str, serial: int, name: str, ms: int) -> dict[str, Any]:
    contact = {"profile": {"name": name}, "wa_id": phone_of(user), "user_id": user}
    message = {
        "from": phone_of(user),
        "from_user_id": user,
        "id": f"wamid.BOTTEST{serial:012d}",
        "timestamp": str(ms // 1000),
        "type": "text",
        "text": {"body": text},
    }
    metadata = {"display_phone_number": "66812345678", "phone_number_id": DEFAULT_PHONE_NUMBER_ID}
    value = {
        "messaging_product": "whatsapp",
        "metadata": metadata,
        "contacts": [contact],
        "messages": [message],
    }
    change = {"field": "messages", "value": value}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1093847561", "changes": [change]}],
    }


class ChatBot:
    """The service with its command lane, three channels, and the fakes' record of answers."""

    def __init__(self, ingest: Ingest, fakes: Fakes, shop: ShopFixture) -> None:
        self.ingest = ingest
        self.fakes = fakes
        self.shop = shop
        self.client = ingest.client
        self.lane = ingest.client.server.app[COMMAND_LANE]
        self._token_user: dict[str, str] = {}

    async def post(self, platform: str, body: dict[str, Any]) -> None:
        """Deliver a webhook body to the shop's channel (once more for a redelivery)."""
        if platform == "line":
            for event in body["events"]:
                self._token_user[event["replyToken"]] = event["source"]["userId"]
        if platform == "whatsapp":
            raw = json.dumps(body).encode()
            signed = {"X-Hub-Signature-256": meta_signature(META_APP_SECRET, raw)}
            resp = await self.ingest.post("whatsapp", raw, signed)
        else:
            resp = await getattr(self.ingest, platform)(body)
        assert resp.status == 200, await resp.text()

    async def send(
        self, platform: str, user: str, text: str, name: str = "Somchai"
    ) -> dict[str, Any]:
        """`user` types `text` to the shop's channel; the webhook body sent."""
        body = text_event(platform, user, text, next(_serial), name)
        await self.post(platform, body)
        return body

    async def settle(self) -> None:
        """Let the command lane and the inbox workers finish what is queued."""
        await self.lane.idle()
        await self.ingest.drain()
        await self.lane.idle()

    async def ask(self, platform: str, user: str, text: str) -> list[str]:
        """What `user` reads back after typing `text` (every message of the answer)."""
        before = len(self.replies(platform, user))
        await self.send(platform, user, text)
        await self.settle()
        return self.replies(platform, user)[before:]

    def replies(self, platform: str, user: str) -> list[str]:
        """Every text the shop's channel sent to `user`, in order (documents as captions)."""
        if platform == "line":
            out = []
            for sent in self.fakes.line.sent:
                to = sent.get("to") or self._token_user.get(sent.get("replyToken", ""))
                if to == user:
                    out += [m["text"] for m in sent["messages"]]
            return out
        if platform == "telegram":
            calls = [c for c in self.fakes.telegram.calls if c.params is not None]
            return [
                str(c.params.get("text") or c.params.get("caption"))
                for c in calls
                if str(c.params.get("chat_id")) == user and c.status == 200
            ]
        if platform == "whatsapp":
            to = {user, phone_of(user)}
            return [s["text"]["body"] for s in self.fakes.graph.sent if s.get("to") in to]
        sent = self.fakes.graph.sent
        return [s["message"]["text"] for s in sent if s.get("recipient_id") == user]

    async def link_code(self, role: str = "owner") -> str:
        """A link code made by the owner through the API."""
        resp = await self.client.post(
            "/api/v1/chat-admins/link-codes", json={"role": role}, headers=self.shop.auth()
        )
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["code"])

    async def link(self, platform: str, user: str, role: str = "owner") -> None:
        """Make `user` a chat admin of the shop through `/link CODE` on `platform`."""
        answer = await self.ask(platform, user, f"/link {await self.link_code(role)}")
        assert answer and answer[0].startswith(("This chat is now linked", "ผูกแชทนี้")), answer


async def bot_for(
    aiohttp_client: Any,
    settings: Settings,
    store: Store,
    shop: ShopFixture,
    fakes: Fakes,
    **kw: Any,
) -> ChatBot:
    """A ChatBot on a service built with `settings` changed by `kw`."""
    channels = await add_channels(store, shop.id, fakes)
    whatsapp = {
        "access_token": GRAPH_TOKEN,
        "app_secret": META_APP_SECRET,
        "verify_token": META_VERIFY,
        "phone_number_id": DEFAULT_PHONE_NUMBER_ID,
    }
    channels["whatsapp"] = await store.for_shop(shop.id).channels.add("whatsapp", whatsapp)
    changes = {"inbox_workers": 0, "public_url": PUBLIC_URL, **kw}
    client = await aiohttp_client(create_app(settings_for(settings, fakes, **changes)))
    return ChatBot(Ingest(client, store, shop.id, channels), fakes, shop)


@pytest.fixture
async def bot(
    aiohttp_client: Any, settings: Settings, store: Store, shop: ShopFixture, fakes: Fakes
) -> ChatBot:
    """The service (English shop, public URL set, inbox workers drained by the tests)."""
    await store.shops.coll.update_one({"_id": shop.id}, {"$set": {"locale": "en"}})
    return await bot_for(aiohttp_client, settings, store, shop, fakes)


@pytest.fixture
async def thai_bot(
    aiohttp_client: Any, settings: Settings, store: Store, shop: ShopFixture, fakes: Fakes
) -> ChatBot:
    """The service for a Thai shop (the default locale)."""
    return await bot_for(aiohttp_client, settings, store, shop, fakes)
