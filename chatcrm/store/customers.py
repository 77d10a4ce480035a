"""Customers of a shop: one per (channel, platform user id), with spend aggregates."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

from chatcrm.domain import new_customer_fields
from chatcrm.filters import CustomerFilters, Sort
from chatcrm.store.base import Doc, ShopScoped, as_utc, index, new_id, utcnow
from chatcrm.store.customer_query import (
    after_cursor,
    combine,
    encode_cursor,
    filters_query,
    order_snapshot,
    report_fields,
    snapshot_row,
    sort_spec,
)

INDEXES = {
    "customers": [
        index("shop_id", "channel", "platform_user_id", unique=True, name="customer_identity"),
        index("shop_id", "paid_total", "_key", name="by_paid_total"),
        index("shop_id", "updated_at", "_key", name="by_updated_at"),
        index("shop_id", "last_order_at", "_key", name="by_last_order_at"),
        index("shop_id", "order_count", "_key", name="by_order_count"),
        index("shop_id", "name", "_key", name="by_name"),
        index("shop_id", "channel", "paid_total", "_key", name="by_channel_paid_total"),
        index("shop_id", "province_key", name="by_province"),
        index("shop_id", "tags", name="by_tag"),
        index("shop_id", "phone", name="by_phone"),
        index("shop_id", "email", name="by_email"),
    ]
}


RAW_BSON: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)
IDENTITY_INDEX = [("shop_id", 1), ("channel", 1), ("platform_user_id", 1)]
"""Keys of the identity index: they never change once a customer exists."""


class ShopCustomers(ShopScoped):
    """One shop's customers."""

    collection_name = "customers"

    async def upsert_contact(
        self,
        channel: str,
        platform_user_id: str,
        *,
        channel_id: str | None,
        at: datetime,
        currency: str = "THB",
        set_fields: dict[str, Any] | None = None,
    ) -> Doc:
        """Create the customer on first contact or update it; idempotent for the same input.

        `at` moves ``last_contact_at`` forward only, so events arriving out of order never
        move it back.
        """
        cid = new_id("cus")
        fields = dict(set_fields or {})
        insert = {k: v for k, v in new_customer_fields(currency).items() if k not in fields}
        insert.update({"_id": cid, "_key": cid, "first_seen_at": at})
        identity = self.scope({"channel": channel, "platform_user_id": platform_user_id})
        # update_one + find_one rather than find_one_and_update(upsert=True): nx-27017 drops
        # $setOnInsert there, and this form is as correct on MongoDB.
        await self.coll.update_one(
            identity,
            {
                "$setOnInsert": insert,
                "$set": {**fields, "channel_id": channel_id, "updated_at": utcnow()},
                "$max": {"last_contact_at": at},
            },
            upsert=True,
        )
        doc = await self.coll.find_one(identity)
        assert doc is not None
        if as_utc(doc["first_seen_at"]) > at:  # an older event arrived late
            # a guarded $set, not $min: nx-27017 turns a date compared by $min into a string
            await self.coll.update_one(
                {**identity, "first_seen_at": {"$gt": at}}, {"$set": {"first_seen_at": at}}
            )
            doc["first_seen_at"] = at
        return doc

    async def get(self, customer_id: str) -> Doc | None:
        """This shop's customer by id, or None."""
        return await self.coll.find_one(self.scope({"_id": customer_id}))

    async def find_identity(self, channel: str, platform_user_id: str) -> Doc | None:
        """This shop's customer by chat identity, or None."""
        return await self.coll.find_one(
            self.scope({"channel": channel, "platform_user_id": platform_user_id})
        )

    async def count(self, query: dict[str, Any] | None = None) -> int:
        """How many of this shop's customers match `query`."""
        return await self.coll.count_documents(self.scope(query))

    async def search(
        self,
        filters: CustomerFilters,
        sort: Sort,
        *,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[Doc], str | None]:
        """One page of the report: matching customers in `sort` order, and the next cursor."""
        query = combine(filters_query(filters), after_cursor(sort, cursor) if cursor else {})
        rows = (
            await self.coll.find(self.scope(query), report_fields())
            .sort(sort_spec(sort))
            .limit(limit + 1)
            .to_list(None)
        )
        next_cursor = encode_cursor(sort, rows[limit - 1]) if len(rows) > limit else None
        return rows[:limit], next_cursor

    async def count_matching(self, filters: CustomerFilters) -> int:
        """How many customers match `filters`."""
        return await self.coll.count_documents(self.scope(filters_query(filters)))

    async def export_ids(
        self, filters: CustomerFilters, sort: Sort, limit: int | None = None
    ) -> list[str]:
        """Snapshot of the ids matching `filters`, in `sort` order, each exactly once.

        The scan walks the identity index (or the ``_id`` index for selected ids), whose keys
        never change when customers get new orders or messages, so a customer that changes
        while the scan runs is neither repeated nor skipped, as it could be on an index of the
        sort field. The order is then applied in memory. With `limit`, the scan stops after
        `limit` matches: a result that long may lack matches (callers use it to refuse).
        """
        field = sort.field
        cursor = self.coll.find(
            self.scope(filters_query(filters)), {"_id": 1, "_key": 1, field: 1}
        ).batch_size(5000)
        if not filters.ids:
            cursor = cursor.hint(IDENTITY_INDEX)
        if limit is not None:
            cursor = cursor.limit(limit)
        seen: dict[str, tuple[Any, ...]] = {}
        async for doc in cursor:
            if doc["_id"] not in seen:
                seen[doc["_id"]] = snapshot_row(doc, field)
        rows = list(seen.values())
        if len(rows) <= 50_000:  # a few ms: cheaper than handing it to a thread
            return order_snapshot(rows, sort)
        return await asyncio.to_thread(order_snapshot, rows, sort)

    async def fetch_raw_by_ids(self, ids: list[str]) -> list[bytes]:
        """The report fields of these customers as undecoded BSON, in no particular order.

        For export writers that decode in another process, so this one only moves bytes.
        """
        coll = self.coll.with_options(codec_options=RAW_BSON)
        query = self.scope({"_id": {"$in": ids}})
        return [doc.raw async for doc in coll.find(query, report_fields())]
