"""One-time export links handed out by the chat bot (stored as SHA-256 digests).

The export is made when the link is opened; report e-mails' stored files are `downloads`.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from chatcrm.store.base import Doc, ShopScoped, index, utcnow
from chatcrm.store.inbox import now_ms

INDEXES = {"export_links": [index("shop_id", "expires_ms", name="by_expiry")]}

DOWNLOAD_TTL = timedelta(minutes=15)
MAX_TOKEN_CHARS = 100


def _digest(token: str) -> str:
    return hashlib.sha256(("download:" + token).encode()).hexdigest()


class ShopExportLinks(ShopScoped):
    """One shop's download links."""

    collection_name = "export_links"

    async def create(self, fmt: str, actor: str) -> str:
        """A new link token for an export of every customer in `fmt`, made by `actor`."""
        token = secrets.token_urlsafe(24)
        await self.coll.insert_one(
            {
                "_id": _digest(token),
                "shop_id": self.shop_id,
                "format": fmt,
                "actor": actor,
                "created_at": utcnow(),
                "expires_ms": now_ms() + int(DOWNLOAD_TTL.total_seconds() * 1000),
                "used_ms": None,
            }
        )
        return token


class ExportLinks:
    """Redeeming a link: by its token alone, which names the shop (like an API token)."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.coll = db["export_links"]

    async def redeem(self, token: str) -> Doc | None:
        """The link's document (shop, format, actor), used up; None if unknown, used or expired.

        One atomic ``find_one_and_update`` guarded by "unused and not expired": a link works
        once even when two downloads start together.
        """
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        now = now_ms()
        return await self.coll.find_one_and_update(
            {"_id": {"$eq": _digest(token)}, "used_ms": {"$eq": None}, "expires_ms": {"$gt": now}},
            {"$set": {"used_ms": now}},
            return_document=ReturnDocument.AFTER,
        )
