"""The audit trail: who changed or exported what, and when."""

from __future__ import annotations

from typing import Any

from pymongo.errors import DuplicateKeyError

from chatcrm.store.base import Doc, ShopScoped, index, new_id, utcnow

INDEXES = {
    "audit": [
        index("shop_id", "at", name="by_time"),
        index("shop_id", "customer_id", "at", name="by_customer"),
    ]
}


class ShopAudit(ShopScoped):
    """One shop's audit trail."""

    collection_name = "audit"

    async def record(self, actor: str, action: str, **details: Any) -> str:
        """Append an entry; return its id."""
        entry_id = new_id("aud")
        await self.record_once(entry_id, actor, action, **details)
        return entry_id

    async def record_once(self, entry_id: str, actor: str, action: str, **details: Any) -> bool:
        """Append an entry under a given id unless it exists; False when it did.

        For work that may be re-run after a crash (a bot command taken over): one entry.
        """
        try:
            await self.coll.insert_one(
                {
                    "_id": entry_id,
                    "shop_id": self.shop_id,
                    "at": utcnow(),
                    "actor": actor,
                    "action": action,
                    **details,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def recent(self, limit: int = 50, action: str | None = None) -> list[Doc]:
        """Newest entries first."""
        query = {"action": action} if action else {}
        cursor = self.coll.find(self.scope(query)).sort([("at", -1), ("_id", -1)]).limit(limit)
        return await cursor.to_list(None)

    async def for_customer(self, customer_id: str, limit: int = 100) -> list[Doc]:
        """A customer's entries (edits), newest first."""
        cursor = (
            self.coll.find(self.scope({"customer_id": customer_id}))
            .sort([("at", -1), ("_id", -1)])
            .limit(limit)
        )
        return await cursor.to_list(None)
