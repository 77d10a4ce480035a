"""Orders of a shop (amounts in integer minor units), linked to a customer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from chatcrm.store.base import CustomerOwned, Doc, index

INDEXES = {
    "orders": [
        index("shop_id", "order_id", unique=True, name="order_identity"),
        index("shop_id", "customer_id", "created_at", name="by_customer"),
        index("shop_id", "dirty", name="by_dirty"),
    ]
}

DIRTY = {"$gt": ""}
"""Matches a pending aggregate refresh token. Not ``{"$ne": None}``: nx-27017 matches documents
lacking the field with it (MongoDB does not); ``$gt ""`` means "a non-empty string" on both."""

AGGREGATE_FIELDS = {"_id": 1, "status": 1, "amount": 1, "created_at": 1, "dirty": 1}


class ShopOrders(CustomerOwned):
    """One shop's orders."""

    collection_name = "orders"

    async def get(self, order_id: str) -> Doc | None:
        """This shop's order by its order id (the seller's number, e.g. ``A-1001``)."""
        return await self.coll.find_one(self.scope({"order_id": order_id}))

    async def insert(self, doc: Doc) -> bool:
        """Insert a new order; False when this shop already has the order id."""
        try:
            await self.coll.insert_one({**doc, "shop_id": self.shop_id})
        except DuplicateKeyError:
            return False
        return True

    async def transition(self, current: Doc, to_status: str, fields: dict[str, Any]) -> bool:
        """Move the order read as `current` to `to_status`; only one concurrent caller wins.

        A replacement guarded by the status read: True for the winner, False when the order
        is no longer in that status. (A replacement, not ``$set``: see
        docs/mongodb-compat.md#whole-document-writes.)
        """
        new = {**current, **fields, "status": to_status, "shop_id": self.shop_id}
        result = await self.coll.replace_one(
            self.scope({"_id": current["_id"], "status": current["status"]}), new
        )
        return result.modified_count == 1

    async def aggregate_inputs(self, customer_id: str) -> list[Doc]:
        """Status, amount, time and dirty token of every order of a customer."""
        cursor = self.coll.find(self.scope({"customer_id": customer_id}), AGGREGATE_FIELDS)
        return await cursor.to_list(None)

    async def clear_dirty(self, order_ids_tokens: list[tuple[str, str]]) -> None:
        """Clear the refresh tokens that were read; a token set since then is kept."""
        for oid, token in order_ids_tokens:
            await self.coll.update_one(
                self.scope({"_id": oid, "dirty": token}), {"$set": {"dirty": None}}
            )

    async def has_dirty(self, customer_id: str) -> bool:
        """True when an order of the customer awaits its aggregate refresh."""
        query = self.scope({"customer_id": customer_id, "dirty": DIRTY})
        return await self.coll.find_one(query, {"_id": 1}) is not None

    async def dirty_customer_ids(self, limit: int = 1000) -> list[str]:
        """Customers with an order change whose aggregates may not be applied yet."""
        cursor = self.coll.find(self.scope({"dirty": DIRTY}), {"customer_id": 1}).limit(limit)
        return sorted({d["customer_id"] for d in await cursor.to_list(None)})

    async def for_customer(self, customer_id: str, limit: int = 50) -> list[Doc]:
        """A customer's orders, newest first."""
        cursor = (
            self.coll.find(self.scope({"customer_id": customer_id}))
            .sort([("created_at", -1), ("_id", -1)])
            .limit(limit)
        )
        return await cursor.to_list(None)

    async def paid_since(self, customer_id: str, since: datetime) -> int:
        """Sum of the customer's paid orders with ``paid_at >= since`` (minor units)."""
        cursor = self.coll.find(
            self.scope({"customer_id": customer_id, "status": "paid", "paid_at": {"$gte": since}}),
            {"amount": 1},
        )
        return sum(int(d["amount"]) for d in await cursor.to_list(None))
