"""Chat channels of a shop; their secrets are encrypted before they reach the database."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from chatcrm.domain import Channel, validate_channel_secrets
from chatcrm.secrets_box import SecretBox
from chatcrm.store.base import Doc, ShopScoped, index, new_id, utcnow

INDEXES = {"channels": [index("shop_id", "platform")]}


def _channel(doc: Doc, box: SecretBox) -> Channel:
    return Channel(
        id=doc["_id"],
        shop_id=doc["shop_id"],
        platform=doc["platform"],
        name=doc["name"],
        enabled=doc.get("enabled", True),
        secrets={k: box.decrypt(v) for k, v in doc.get("secrets", {}).items()},
        config=doc.get("config", {}),
    )


class ShopChannels(ShopScoped):
    """One shop's channels."""

    collection_name = "channels"

    def __init__(self, db: AsyncDatabase[Doc], shop_id: str, box: SecretBox) -> None:
        super().__init__(db, shop_id)
        self.box = box

    async def add(
        self,
        platform: str,
        secrets: dict[str, str | None],
        *,
        name: str | None = None,
        config: dict[str, Any] | None = None,
        channel_id: str | None = None,
    ) -> Channel:
        """Connect a channel; secrets are validated, then stored encrypted."""
        clean = validate_channel_secrets(platform, secrets)
        cid = channel_id or new_id("ch")
        doc = {
            "_id": cid,
            "shop_id": self.shop_id,
            "platform": platform,
            "name": (name or platform).strip()[:200],
            "enabled": True,
            "secrets": {k: self.box.encrypt(v) for k, v in clean.items()},
            "config": config or {},
            "created_at": utcnow(),
        }
        await self.coll.update_one({"_id": cid}, {"$setOnInsert": doc}, upsert=True)
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

    async def set_enabled(self, channel_id: str, enabled: bool) -> bool:
        """Enable or disable a channel; return False if the shop has no such channel."""
        result = await self.coll.update_one(
            self.scope({"_id": channel_id}),
            {"$set": {"enabled": enabled}, "$currentDate": {"updated_at": True}},
        )
        return result.matched_count == 1

    async def update_config(self, channel_id: str, config: dict[str, Any]) -> None:
        """Merge non-secret settings (bot username, page id...) into the channel."""
        await self.coll.update_one(
            self.scope({"_id": channel_id}),
            {"$set": {f"config.{k}": v for k, v in config.items()}},
        )


async def channel_for_webhook(
    db: AsyncDatabase[Doc], box: SecretBox, platform: str, channel_id: str
) -> Channel | None:
    """The enabled channel a webhook URL names, with its secrets, or None.

    This is the one lookup not scoped by a shop: the URL carries only the channel id, and the
    channel's document says which shop it belongs to.
    """
    if len(channel_id) > 64:
        return None
    doc = await db["channels"].find_one({"_id": channel_id, "platform": platform, "enabled": True})
    return _channel(doc, box) if doc else None
