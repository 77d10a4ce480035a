"""Shops and their API tokens (tokens are stored only as SHA-256 digests)."""

from __future__ import annotations

import hashlib
import secrets

from pymongo.asynchronous.database import AsyncDatabase

from chatcrm.domain import ROLES, DomainError, Principal, Shop, validate_shop
from chatcrm.store import counts
from chatcrm.store.base import Doc, index, new_id, utcnow

INDEXES = {
    "shops": [index("shop_id", unique=True)],
    "tokens": [index("shop_id", "role")],
}
TOKEN_PREFIX = "ccrm_"  # noqa: S105 - a prefix, not a secret


def token_digest(token: str) -> str:
    """Digest a token is stored under; 256 random bits need no slow password hash."""
    return hashlib.sha256(token.encode()).hexdigest()


def _token_doc(shop_id: str, role: str, label: str) -> Doc:
    """A token's stored fields (its `_id` is the digest); DomainError for an unknown role."""
    if role not in ROLES:
        raise DomainError(f"role must be one of {', '.join(ROLES)}", field="role")
    return {"shop_id": shop_id, "role": role, "label": label, "created_at": utcnow()}


class Shops:
    """The shops collection: creating and reading tenants."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.coll = db["shops"]

    async def create(
        self,
        name: str,
        *,
        timezone: str = "Asia/Bangkok",
        currency: str = "THB",
        locale: str = "th",
        shop_id: str | None = None,
    ) -> Shop:
        """Create a shop; with a fixed `shop_id`, return the existing one if already there."""
        validate_shop(name, timezone, currency, locale)
        sid = shop_id or new_id("shop")
        doc = {
            "name": name.strip(),
            "timezone": timezone,
            "currency": currency,
            "locale": locale,
            "auto_merge": False,
        }
        created = await self.coll.update_one(
            {"_id": sid},
            {"$setOnInsert": {**doc, "shop_id": sid, "created_at": utcnow()}},
            upsert=True,
        )
        if created.upserted_id is not None:  # no customers yet: its counters are exact
            await counts.mark_new_shop(self.coll.database, sid)
        shop = await self.get(sid)
        assert shop is not None
        return shop

    async def get(self, shop_id: str) -> Shop | None:
        """Return the shop or None."""
        doc = await self.coll.find_one({"_id": shop_id})
        return Shop.from_doc(doc) if doc else None

    async def set_auto_merge(self, shop_id: str, enabled: bool) -> Shop | None:
        """Turn the shop's automatic merging on or off; the shop as it is now (None: gone)."""
        await self.coll.update_one({"_id": shop_id}, {"$set": {"auto_merge": enabled}})
        return await self.get(shop_id)

    async def backfill_settings(self) -> int:
        """Give shops created before the setting existed an explicit ``auto_merge`` false
        (a start-up migration); how many it set."""
        result = await self.coll.update_many(
            {"auto_merge": {"$exists": False}}, {"$set": {"auto_merge": False}}
        )
        return result.modified_count

    async def list(self) -> list[Shop]:
        """Every shop, oldest first (operator use: CLI and scheduler)."""
        return [Shop.from_doc(d) async for d in self.coll.find({}).sort("created_at", 1)]


class Tokens:
    """API tokens of shop users, with roles."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.coll = db["tokens"]

    async def create(self, shop_id: str, role: str = "owner", label: str = "owner") -> str:
        """Create a token and return it in clear text: the only time it is ever visible."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        await self.coll.insert_one({"_id": token_digest(token), **_token_doc(shop_id, role, label)})
        return token

    async def install(self, shop_id: str, role: str, label: str, secret: str) -> str:
        """Make the token made of `secret` the shop's only token with `label`; return it.

        For a token derived from a stable secret (the demo link): idempotent, so running it
        again keeps the token working, and a token of the label made otherwise is revoked.
        """
        token = TOKEN_PREFIX + secret
        digest = token_digest(token)
        doc = _token_doc(shop_id, role, label)
        await self.coll.update_one({"_id": digest}, {"$setOnInsert": doc}, upsert=True)
        await self.coll.delete_many({"shop_id": shop_id, "label": label, "_id": {"$ne": digest}})
        return token

    async def resolve(self, token: str) -> Principal | None:
        """Return who a presented token belongs to, or None."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        doc = await self.coll.find_one({"_id": token_digest(token)})
        if doc is None:
            return None
        return Principal(
            shop_id=doc["shop_id"], role=doc["role"], token_id=doc["_id"][:12], label=doc["label"]
        )
