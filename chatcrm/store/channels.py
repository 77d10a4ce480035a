"""Chat channels of a shop; their secrets are encrypted before they reach the database."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from chatcrm.domain import Channel
from chatcrm.secrets_box import SecretBox
from chatcrm.store.base import Doc, ShopScoped, index, new_id, utcnow

INDEXES = {"channels": [index("shop_id", "platform")]}


def _channel(doc: Doc, box: SecretBox) -> Channel:
    return Channel(
        id=doc["_id"],
        shop_id=doc["shop_id"],
        platform=doc["platform"],
        name=doc["name"],
        enabled=bool(doc.get("enabled", True)),
        secrets={k: box.decrypt(v) for k, v in doc.get("secrets", {}).items()},
        config=doc.get("config", {}),
    )


class ChannelCache:
    """Enabled channels by (database, id) for a few seconds, shared by every `Store` of a process.

    Spares the webhook route and the workers a database round trip per request. A change made
    through `ShopChannels` in this process drops the entry at once; a change made by another
    process (another service instance, the CLI) is seen once the entry is `max_age` old. Only
    channels that exist and are enabled are kept, so unknown ids cannot fill it.
    """

    MAX_ENTRIES = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._entries: dict[tuple[str, str], tuple[float, Channel]] = {}
        self._generation = 0

    @property
    def generation(self) -> int:
        """Bumped by every `forget`: a lookup that started before it must not be cached."""
        return self._generation

    def get(self, db_name: str, channel_id: str, max_age: float) -> Channel | None:
        """The cached channel, or None when absent or older than `max_age` seconds."""
        entry = self._entries.get((db_name, channel_id))
        if entry is None or self.clock() - entry[0] >= max_age:
            return None
        return entry[1]

    def put(self, db_name: str, channel: Channel, generation: int) -> None:
        """Keep `channel`, read while `generation` was current (else it may be stale)."""
        if generation != self._generation or not channel.enabled:
            return
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[(db_name, channel.id)] = (self.clock(), channel)

    def forget(self, channel_id: str) -> None:
        """Drop a channel that changed (from every database's entries)."""
        self._generation += 1
        for key in [k for k in self._entries if k[1] == channel_id]:
            del self._entries[key]


CHANNEL_CACHE = ChannelCache()
"""The process's channel cache (see `Store.channel_for_webhook`)."""


class ShopChannels(ShopScoped):
    """One shop's channels."""

    collection_name = "channels"

    def __init__(self, db: AsyncDatabase[Doc], shop_id: str, box: SecretBox) -> None:
        super().__init__(db, shop_id)
        self.box = box

    async def add(
        self,
        platform: str,
        secrets: dict[str, str],
        *,
        name: str | None = None,
        config: dict[str, Any] | None = None,
        channel_id: str | None = None,
    ) -> Channel:
        """Connect a channel; `secrets` (validated by the platform's connector) stored encrypted."""
        cid = channel_id or new_id("ch")
        doc = {
            "_id": cid,
            "shop_id": self.shop_id,
            "platform": platform,
            "name": (name or platform).strip()[:200],
            "enabled": True,
            "secrets": {k: self.box.encrypt(v) for k, v in secrets.items()},
            "config": config or {},
            "created_at": utcnow(),
        }
        await self.coll.update_one({"_id": cid}, {"$setOnInsert": doc}, upsert=True)
        CHANNEL_CACHE.forget(cid)
        channel = await self.get(cid)
        assert channel is not None
        return channel

    async def get(self, channel_id: str) -> Channel | None:
        """This shop's channel, or None (another shop's id gives None too)."""
        doc = await self.coll.find_one(self.scope({"_id": channel_id}))
        return _channel(doc, self.box) if doc else None

    async def list(self) -> list[Channel]:
        """This shop's channels, oldest first."""
        cursor = self.coll.find(self.scope()).sort("created_at", 1)
        return [_channel(d, self.box) async for d in cursor]

    async def remove(self, channel_id: str) -> bool:
        """Delete a channel of this shop; False when it has none with that id."""
        result = await self.coll.delete_one(self.scope({"_id": channel_id}))
        CHANNEL_CACHE.forget(channel_id)
        return result.deleted_count == 1

    async def set_enabled(self, channel_id: str, enabled: bool) -> bool:
        """Enable or disable a channel; return False if the shop has no such channel."""
        result = await self.coll.update_one(
            self.scope({"_id": channel_id}),
            {"$set": {"enabled": enabled}, "$currentDate": {"updated_at": True}},
        )
        CHANNEL_CACHE.forget(channel_id)
        return result.matched_count == 1


async def channel_for_webhook(
    db: AsyncDatabase[Doc],
    box: SecretBox,
    platform: str,
    channel_id: str,
    *,
    max_age: float = 0.0,
) -> Channel | None:
    """The enabled channel a webhook URL names, with its secrets, or None.

    This is the one lookup not scoped by a shop: the URL carries only the channel id, and the
    channel's document says which shop it belongs to. With `max_age` > 0 an answer up to that
    many seconds old may come from `CHANNEL_CACHE` (see there for what that means).
    """
    if len(channel_id) > 64:
        return None
    if max_age > 0:
        cached = CHANNEL_CACHE.get(db.name, channel_id, max_age)
        if cached is not None:
            return cached if cached.platform == platform else None
    generation = CHANNEL_CACHE.generation
    doc = await db["channels"].find_one({"_id": channel_id, "platform": platform, "enabled": True})
    if doc is None:
        return None
    channel = _channel(doc, box)
    if max_age > 0:
        CHANNEL_CACHE.put(db.name, channel, generation)
    return channel
