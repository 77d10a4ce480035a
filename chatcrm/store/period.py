"""A shop's activity in a period, per channel: new customers, customers who wrote, paid orders.

The bot's ``/report``. A date compared inside an aggregation matches everything on nx-27017
(docs/mongodb-compat.md#dates-as-integer-copies), so nothing here is an aggregation: new
customers and customers who wrote are the ``distinct`` customer keys of the period's documents
per channel (nx-27017 answers ``distinct`` in SQL, where a find hands over every document);
paid orders are read and summed. nx-27017 compares dates in whole seconds
(docs/mongodb-compat.md#dates-compare-whole-seconds): the whole seconds inside [start, end) go
to ``distinct``, the documents of the first and last second are read and the exact bounds
applied. Each index below is led by ``shop_id`` and used by nothing else. A report of a
segment (saved filter) checks the period's customers against the segment's conditions, a batch
of ids at a time, so no more than the period's own activity is read.
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

    def _range(self, name: str, first: datetime, after: datetime) -> Doc:
        """Every document of the shop dated in the whole seconds [first, after)."""
        return {"shop_id": {"$eq": self.shop_id}, name: {"$gte": first, "$lt": after}}

    async def counts(
        self,
        start: datetime,
        end: datetime,
        currency: str,
        segment: CustomerFilters | None = None,
    ) -> PeriodCounts:
        """What happened in [start, end): chat admins' customer records are left out.

        With a `segment` (a saved filter's parsed filters), only its customers count: the
        period's new customers and those who wrote or paid are checked against it, a batch of
        ids at a time (`_channels`).
        """
        counts = PeriodCounts()
        # _key, the id: nx-27017's distinct refuses _id (docs/mongodb-compat.md#distinct)
        new = await self._distinct("customers", "_key", "first_seen_at", start, end, {})
        admins = await self._chat_admins()
        new = {channel: ids - admins for channel, ids in new.items()}
        inbound = {"direction": {"$eq": "in"}}
        wrote = await self._distinct("messages", "customer_id", "sent_at", start, end, inbound)
        if segment is not None:
            members = (await self._channels(_union(new, wrote), segment)).keys()
            new = {channel: ids & members for channel, ids in new.items()}
            wrote = {channel: ids & members for channel, ids in wrote.items()}
        counts.new.update({channel: len(ids) for channel, ids in new.items() if ids})
        counts.wrote.update({channel: len(ids) for channel, ids in wrote.items() if ids})
        await self._paid_orders(start, end, currency, segment, counts)
        return counts

    async def _distinct(
        self, name: str, field: str, date: str, start: datetime, end: datetime, query: Doc
    ) -> dict[str, set[Any]]:
        """Per channel, the `field` values of the shop's `name` documents dated (`date`) in
        [start, end) that match `query`: ``$eq`` conditions on scalar fields only
        (docs/mongodb-compat.md#distinct).

        The whole seconds inside the period go to ``distinct`` per channel, which nx-27017
        answers in SQL (a find hands over every document: several times the cost); the
        documents of the period's first and last second are read and the exact bounds applied
        (nx-27017 compares dates in whole seconds).
        """
        coll = self.db[name]
        first, last = _inner_seconds(start, end)
        found: dict[str, set[Any]] = {}
        if first < last:
            inner = combine(query, self._range(date, first, last))
            for channel in await coll.distinct("channel", inner):
                values = await coll.distinct(field, {**inner, "channel": {"$eq": channel}})
                found.setdefault(str(channel), set()).update(values)
        edges = ((start.replace(microsecond=0), first), (last, last + timedelta(seconds=1)))
        for since, until in edges:
            if since < until:
                docs = coll.find(
                    combine(query, self._range(date, since, until)),
                    {field: 1, "channel": 1, date: 1},
                )
                async for doc in docs:
                    if _within(doc.get(date), start, end):
                        found.setdefault(str(doc.get("channel")), set()).add(doc.get(field))
        return found

    async def _chat_admins(self) -> set[Any]:
        """Keys (``_key``, the id) of the shop's customers linked as chat admins (a few: the
        ``by_chat_admin`` index), left out of the counts here rather than by ``$ne`` in the
        query, which nx-27017 mishandles beside a date range."""
        admins = self.db["customers"].find(
            {"shop_id": {"$eq": self.shop_id}, "chat_admin": {"$eq": True}}, {"_key": 1}
        )
        return {doc.get("_key") async for doc in admins}

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
        first = start.replace(microsecond=0)
        after = end.replace(microsecond=0) + timedelta(seconds=1)
        orders = self.db["orders"].find(
            {**self._range("paid_at", first, after), "status": {"$eq": "paid"}},
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


def _union(*by_channel: dict[str, set[Any]]) -> set[Any]:
    """Every value of these per-channel sets."""
    return {value for found in by_channel for ids in found.values() for value in ids}


def _inner_seconds(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The whole seconds [first, last) inside [start, end), which nx-27017 compares exactly."""
    first = start.replace(microsecond=0)
    if first < start:
        first += timedelta(seconds=1)
    return first, end.replace(microsecond=0)


def _within(value: object, start: datetime, end: datetime) -> bool:
    """True when `value` is a date in [start, end) (stored dates come back aware, in UTC)."""
    return isinstance(value, datetime) and start <= value < end
