"""A shop's activity in a period, per channel: new customers, customers who wrote, paid orders.

The bot's ``/report``. Each count reads the period's documents by a date range (projected to a
few fields) and counts in Python: a date compared inside an aggregation matches everything on
nx-27017 (docs/mongodb-compat.md#dates-as-integer-copies). A find with a date range is served
by the indexes below on both servers, but nx-27017 compares whole seconds
(docs/mongodb-compat.md#dates-compare-whole-seconds), so the query asks for the whole seconds
around [start, end) and the exact bounds are applied to the dates read. Each index is led by
``shop_id`` and used by nothing else. A report of a segment (saved filter) adds its conditions to
the new customers' query and checks the period's other customers against it, a batch of ids
at a time, so no more than the period's own activity is read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from chatcrm.domain import CustomerFilters
from chatcrm.store.base import Doc, index
from chatcrm.store.customer_query import combine, filters_query

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

    async def counts(
        self,
        start: datetime,
        end: datetime,
        currency: str,
        segment: CustomerFilters | None = None,
    ) -> PeriodCounts:
        """What happened in [start, end): chat admins' customer records are left out.

        With a `segment` (a saved filter's parsed filters), only its customers count: its
        conditions join the new customers' query; the customers who wrote or paid in the period
        are checked against it in batches of ids (`_channels`).
        """
        counts = PeriodCounts()
        query = self._range("first_seen_at", start, end)
        if segment is not None:
            query = combine(filters_query(segment), query)
        new = self.db["customers"].find(query, {"channel": 1, "chat_admin": 1, "first_seen_at": 1})
        async for doc in new:  # not in the query: nx-27017 mishandles $ne beside a date range
            if not doc.get("chat_admin") and _within(doc.get("first_seen_at"), start, end):
                counts.new[str(doc.get("channel"))] += 1
        messages = self.db["messages"].find(
            {**self._range("sent_at", start, end), "direction": {"$eq": "in"}},
            {"customer_id": 1, "channel": 1, "sent_at": 1},
        )
        writers = {
            d.get("customer_id"): str(d.get("channel"))
            async for d in messages
            if _within(d.get("sent_at"), start, end)
        }
        if segment is not None:
            members = await self._channels(writers, segment)
            writers = {c: channel for c, channel in writers.items() if c in members}
        counts.wrote.update(writers.values())
        await self._paid_orders(start, end, currency, segment, counts)
        return counts

    async def _channels(
        self, ids: Iterable[Any], segment: CustomerFilters | None
    ) -> dict[str, str]:
        """The channel of each of these customers (of the `segment` only, when given), read
        _ID_BATCH ids at a time."""
        ids = sorted(i for i in set(ids) if isinstance(i, str))
        member = filters_query(segment) if segment is not None else {}
        channel_of: dict[str, str] = {}
        for first in range(0, len(ids), _ID_BATCH):
            batch = {"_id": {"$in": ids[first : first + _ID_BATCH]}}
            query = {**combine(member, batch), "shop_id": {"$eq": self.shop_id}}
            found = self.db["customers"].find(query, {"channel": 1})
            channel_of.update({d["_id"]: str(d.get("channel")) async for d in found})
        return channel_of

    async def _paid_orders(
        self,
        start: datetime,
        end: datetime,
        currency: str,
        segment: CustomerFilters | None,
        counts: PeriodCounts,
    ) -> None:
        """Orders paid in the period in the shop's currency, by their customer's channel."""
        orders = self.db["orders"].find(
            {**self._range("paid_at", start, end), "status": {"$eq": "paid"}},
            {"customer_id": 1, "amount": 1, "currency": 1, "paid_at": 1},
        )
        paid: Counter[str] = Counter()
        count: Counter[str] = Counter()
        async for order in orders:
            if order.get("currency") == currency and _within(order.get("paid_at"), start, end):
                count[order["customer_id"]] += 1
                paid[order["customer_id"]] += int(order.get("amount") or 0)
        channel_of = await self._channels(count, segment)
        for customer_id, orders_paid in count.items():
            channel = channel_of.get(customer_id, None if segment else "unknown")
            if channel is not None:
                counts.orders[channel] += orders_paid
                counts.paid[channel] += paid[customer_id]


def _within(value: object, start: datetime, end: datetime) -> bool:
    """True when `value` is a date in [start, end) (stored dates come back aware, in UTC)."""
    return isinstance(value, datetime) and start <= value < end
