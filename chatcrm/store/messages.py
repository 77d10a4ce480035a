"""Chat messages of a shop, one document each, linked to a customer."""

from __future__ import annotations

from datetime import datetime

from pymongo.errors import DuplicateKeyError

from chatcrm.domain import DomainError, as_utc
from chatcrm.input_rules import parse_datetime
from chatcrm.store.base import Doc, ShopScoped, index, new_id, pack_cursor, unpack_cursor

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

    async def page_for_customer(
        self, customer_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Doc], str | None]:
        """One page of a customer's messages, newest first, and the cursor of the next page.

        Keyset pagination on (``sent_at``, ``_id``), both descending: stable while new
        messages arrive. DomainError(field="cursor") for a cursor this did not hand out.
        """
        base: Doc = {"customer_id": {"$eq": customer_id}}
        ranges: list[Doc] = [base]
        if cursor:
            sent_at, last_id = _decode_cursor(cursor)
            # consecutive ranges, each a flat filter (nx-27017 evaluates an $or in Python over
            # the whole collection): the rest of this instant, then older messages
            ranges = [
                {**base, "sent_at": {"$eq": sent_at}, "_id": {"$lt": last_id}},
                {**base, "sent_at": {"$lt": sent_at}},
            ]
        rows: list[Doc] = []
        for query in ranges:
            rows += (
                await self.coll.find(self.where(query))
                .sort([("sent_at", -1), ("_id", -1)])
                .limit(limit + 1 - len(rows))
                .to_list(None)
            )
            if len(rows) > limit:
                break
        next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
        return rows[:limit], next_cursor


def _encode_cursor(doc: Doc) -> str:
    return pack_cursor({"t": as_utc(doc["sent_at"]).isoformat(), "i": doc["_id"]})  # type: ignore[union-attr]


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    data = unpack_cursor(cursor)
    try:
        sent_at = parse_datetime(data["t"], "cursor")
        last_id = data["i"]
        if not isinstance(last_id, str):
            raise ValueError("cursor")
    except (ValueError, KeyError):  # DomainError is a ValueError
        raise DomainError("cursor is not valid", field="cursor") from None
    return sent_at, last_id
