"""A shop's activity in a period, per channel: new customers, customers who wrote, paid orders.

The bot's ``/report``. Each count reads the period's documents by a date range (projected to a
few fields) and counts in Python: a date compared inside an aggregation matches everything on
nx-27017 (docs/mongodb-compat.md#dates-as-integer-copies). A find with a date range is served
by the indexes below on both servers, but nx-27017 compares whole seconds
(docs/mongodb-compat.md#dates-compare-whole-seconds), so the query asks for the whole seconds
around [start, end) and the exact bounds are applied to the dates read. Each index is led by
``shop_id`` and used by nothing else.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase

from chatcrm.store.base import Doc, index

INDEXES = {
    "customers": [index("shop_id", "first_seen_at", name="by_first_seen")],
    "messages": [index("shop_id", "sent_at", name="by_sent_at")],
    "orders": [index("shop_id", "paid_at", name="by_paid_at")],
}

_ID_BATCH = 1000


@dataclass
class PeriodCounts:
    """Per customer channel: new customers, customers who wrote, paid orders and their sum."""

    new: Counter[str] = field(default_factory=Counter)
    wrote: Counter[str] = field(default_factory=Counter)
    orders: Counter[str] = field(default_factory=Counter)
    paid: Counter[str] = field(default_factory=Counter)
    """Paid amounts in the shop's currency, minor units."""

    def channels(self) -> list[str]:
        """Every channel with any activity: most customers who wrote first, then most new,
        then the largest paid amount, ties by name."""
        names = set(self.new) | set(self.wrote) | set(self.orders)
        return sorted(names, key=lambda c: (-self.wrote[c], -self.new[c], -self.paid[c], c))


class ShopPeriod:
    """Reads over one shop's customers, messages and orders by a time range [start, end)."""

    def __init__(self, db: AsyncDatabase[Doc], shop_id: str) -> None:
        self.shop_id = shop_id
        self.db = db

    def _range(self, name: str, start: datetime, end: datetime) -> Doc:
        """Every document of the shop dated in the whole seconds around [start, end)."""
        first = start.replace(microsecond=0)
        after = end.replace(microsecond=0) + timedelta(seconds=1)
        return {"shop_id": {"$eq": self.shop_id}, name: {"$gte": first, "$lt": after}}

    async def counts(self, start: datetime, end: datetime, currency: str) -> PeriodCounts:
        """What happened in [start, end): chat admins' customer records are left out."""
        counts = PeriodCounts()
        new = self.db["customers"].find(
            self._range("first_seen_at", start, end),
            {"channel": 1, "chat_admin": 1, "first_seen_at": 1},
        )
        async for doc in new:  # not in the query: nx-27017 mishandles $ne beside a date range
            if not doc.get("chat_admin") and _within(doc.get("first_seen_at"), start, end):
                counts.new[str(doc.get("channel"))] += 1
        messages = self.db["messages"].find(
            {**self._range("sent_at", start, end), "direction": {"$eq": "in"}},
            {"customer_id": 1, "channel": 1, "sent_at": 1},
        )
        writers = {
            (str(d.get("channel")), d.get("customer_id"))
            async for d in messages
            if _within(d.get("sent_at"), start, end)
        }
        counts.wrote.update(channel for channel, _ in writers)
        await self._paid_orders(start, end, currency, counts)
        return counts

    async def _paid_orders(
        self, start: datetime, end: datetime, currency: str, counts: PeriodCounts
    ) -> None:
        """Orders paid in the period in the shop's currency, by their customer's channel."""
        orders = await (
            self.db["orders"]
            .find(
                {**self._range("paid_at", start, end), "status": {"$eq": "paid"}},
                {"customer_id": 1, "amount": 1, "currency": 1, "paid_at": 1},
            )
            .to_list(None)
        )
        orders = [
            o
            for o in orders
            if o.get("currency") == currency and _within(o.get("paid_at"), start, end)
        ]
        ids = list({o["customer_id"] for o in orders})
        channel_of: dict[str, str] = {}
        for start_at in range(0, len(ids), _ID_BATCH):
            batch = ids[start_at : start_at + _ID_BATCH]
            found = self.db["customers"].find(
                {"shop_id": {"$eq": self.shop_id}, "_id": {"$in": batch}}, {"channel": 1}
            )
            channel_of.update({d["_id"]: str(d.get("channel")) async for d in found})
        for order in orders:
            channel = channel_of.get(order["customer_id"], "unknown")
            counts.orders[channel] += 1
            counts.paid[channel] += int(order.get("amount") or 0)


def _within(value: object, start: datetime, end: datetime) -> bool:
    """True when `value` is a date in [start, end) (stored dates come back aware, in UTC)."""
    return isinstance(value, datetime) and start <= value < end
