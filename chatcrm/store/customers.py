"""Customers of a shop: one per (channel, platform user id), with spend aggregates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument

from chatcrm.domain import new_customer_fields
from chatcrm.filters import CustomerFilters, Sort
from chatcrm.store.base import Doc, ShopScoped, as_utc, index, new_id, utcnow
from chatcrm.store.customer_query import (
    UNKNOWN_PROVINCE,
    after_cursor,
    combine,
    encode_cursor,
    filters_query,
    report_fields,
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
        index("shop_id", "postal_code", name="by_postal_code"),
    ]
}

SUMMARY_TAG_LIMIT = 100
"""At most this many tags in a summary (the most used ones)."""


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

    async def _group_counts(self, match: Doc, field: str, *, unwind: bool = False) -> list[Doc]:
        """``[{"_id": value, "customers": n}]`` for one field (one-field ``$group`` only)."""
        pipeline: list[Doc] = [{"$match": match}]
        if unwind:
            pipeline.append({"$unwind": f"${field}"})
        pipeline.append({"$group": {"_id": f"${field}", "customers": {"$sum": 1}}})
        return await (await self.coll.aggregate(pipeline)).to_list(None)

    async def summary(self, filters: CustomerFilters) -> Doc:
        """Counts of the customers matching `filters`, in all and per channel, tag and province.

        Returns ``{"totals": [{"currency", "customers", "paid_total"}],
        "channels": {name: n}, "tags": {tag: n}, "provinces": {key: n}}``.

        Each breakdown groups on one field at a time (nx-27017 mishandles compound group keys).
        """
        match = self.scope(filters_query(filters))
        totals = await (
            await self.coll.aggregate(
                [
                    {"$match": match},
                    {
                        "$group": {
                            "_id": "$currency",
                            "customers": {"$sum": 1},
                            "paid_total": {"$sum": "$paid_total"},
                        }
                    },
                ]
            )
        ).to_list(None)
        channels = await self._group_counts(match, "channel")
        tags = await self._group_counts(match, "tags", unwind=True)
        provinces = await self._group_counts(match, "province_key")
        return {
            "totals": [
                {
                    "currency": t["_id"],
                    "customers": int(t["customers"]),
                    "paid_total": int(t["paid_total"] or 0),
                }
                for t in totals
            ],
            "channels": {c["_id"]: int(c["customers"]) for c in channels},
            "tags": {t["_id"]: int(t["customers"]) for t in tags if isinstance(t["_id"], str)},
            "provinces": {p["_id"] or UNKNOWN_PROVINCE: int(p["customers"]) for p in provinces},
        }

    async def update_guarded(
        self, customer_id: str, version: int, changes: dict[str, Any]
    ) -> Doc | None:
        """Apply `changes` if the customer is still at `version`; return the new document.

        One guarded ``update_one`` (``{_id, shop_id, version}``, ``$set`` + ``$inc`` version),
        so of two concurrent edits of the same version exactly one wins. Returns None when the
        customer is missing or at another version (the caller tells which with `get`).
        """
        return await self.coll.find_one_and_update(
            self.scope({"_id": customer_id, "version": version}),
            {"$set": {**changes, "updated_at": utcnow()}, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )
