"""Chat messages of a shop, one document each, linked to a customer."""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from chatcrm.store.base import Doc, ShopScoped, index, new_id

INDEXES = {
    "messages": [
        index("shop_id", "channel", "platform_message_id", unique=True, name="message_identity"),
        index("shop_id", "customer_id", "sent_at", name="by_customer"),
    ]
}


class ShopMessages(ShopScoped):
    """One shop's chat history."""

    collection_name = "messages"

    async def add(self, message: Doc) -> bool:
        """Store a message once; return False when it was already stored."""
        doc = {"_id": new_id("msg"), **message, "shop_id": self.shop_id}
        try:
            await self.coll.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def add_many(self, messages: list[Doc]) -> dict[int, str]:
        """Store messages once each with one write (duplicates are skipped, not errors).

        Returns the write errors of the messages that could not be stored, by their index.
        """
        docs = [{"_id": new_id("msg"), **m, "shop_id": self.shop_id} for m in messages]
        return (await self.insert_unordered(docs)).errors

    async def for_customer(self, customer_id: str, limit: int = 50) -> list[Doc]:
        """A customer's messages, newest first."""
        cursor = (
            self.coll.find(self.scope({"customer_id": customer_id}))
            .sort([("sent_at", -1), ("_id", -1)])
            .limit(limit)
        )
        return await cursor.to_list(None)
