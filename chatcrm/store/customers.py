"""Customers of a shop: one per (channel, platform user id), with spend aggregates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import ReplaceOne
from pymongo.errors import DuplicateKeyError

from chatcrm.domain import CUSTOMER_STATUSES, new_customer_fields
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


_MAX_WRITE_ATTEMPTS = 20


def _merge_contact(
    doc: Doc,
    at: datetime,
    channel_id: str | None,
    set_fields: dict[str, Any] | None,
    status: str | None,
) -> None:
    """Apply one contact at time `at` to a customer document, in place."""
    doc.update(set_fields or {})
    doc["channel_id"] = channel_id
    doc["updated_at"] = utcnow()
    last = as_utc(doc.get("last_contact_at"))
    if last is None or at > last:
        doc["last_contact_at"] = at
    first = as_utc(doc.get("first_seen_at"))
    if first is None or at < first:
        doc["first_seen_at"] = at
    status_at = as_utc(doc.get("status_at"))
    if status is not None and (status_at is None or at > status_at):
        doc["status"] = status
        doc["status_at"] = at


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
        status: str | None = None,
    ) -> Doc:
        """Create the customer on first contact or update it; idempotent for the same input.

        `at` moves ``last_contact_at`` forward and ``first_seen_at`` back only, so events
        arriving out of order never move them the wrong way; likewise `status` (following /
        unfollowed / blocked) is applied only when `at` is newer than the event that set the
        current one (``status_at``).

        Written as read, then insert or a `replace_one` guarded by ``version`` (retried on a
        concurrent change): nx-27017 stores a date written by ``$set`` as a string and ignores
        ``$max``/``$min`` on dates, while whole-document writes keep dates on both servers.
        Every other writer of a customer document must bump ``version`` too.
        """
        if status is not None and status not in CUSTOMER_STATUSES:
            raise ValueError(f"unknown customer status {status!r}")
        identity = self.scope({"channel": channel, "platform_user_id": platform_user_id})
        for _ in range(_MAX_WRITE_ATTEMPTS):
            doc = await self.coll.find_one(identity)
            if doc is None:
                cid = new_id("cus")
                doc = {
                    **new_customer_fields(currency),
                    **identity,
                    "_id": cid,
                    "_key": cid,
                    "first_seen_at": at,
                    "last_contact_at": at,
                    "status_at": None,
                }
                _merge_contact(doc, at, channel_id, set_fields, status)
                try:
                    await self.coll.insert_one(doc)
                except DuplicateKeyError:
                    continue  # created concurrently: update that one
                return doc
            version = doc.get("version")
            _merge_contact(doc, at, channel_id, set_fields, status)
            doc["version"] = (version or 0) + 1
            guard = {"version": version} if version is not None else {"version": None}
            result = await self.coll.replace_one({**identity, "_id": doc["_id"], **guard}, doc)
            if result.matched_count == 1:
                return doc
        raise RuntimeError(f"customer {platform_user_id} kept changing; contact not recorded")

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

    async def find_by_contact(self, field: str, value: str, limit: int = 5) -> list[Doc]:
        """Customers whose normalised ``phone`` or ``email`` equals `value` (at most `limit`)."""
        if field not in ("phone", "email"):
            raise ValueError(field)
        cursor = self.coll.find(self.scope({field: value})).sort("_key", 1).limit(limit)
        return await cursor.to_list(None)

    async def linked(self, customer: Doc, limit: int = 20) -> list[Doc]:
        """Other profiles of the same person: customers sharing this one's phone or e-mail."""
        alternatives = [{f: customer[f]} for f in ("phone", "email") if customer.get(f)]
        if not alternatives:
            return []
        query = {"$or": alternatives, "_id": {"$ne": customer["_id"]}}
        cursor = self.coll.find(self.scope(query)).sort("_key", 1).limit(limit)
        return await cursor.to_list(None)

    async def replace_guarded(self, doc: Doc, fields: dict[str, Any]) -> bool:
        """Write `fields` onto the customer read as `doc` if nobody changed it since.

        Bumps ``version`` and ``updated_at``. The guard (version and update time as read)
        makes concurrent writers safe: the loser reads again. A replacement rather than
        ``$set``: nx-27017 stores a date written by ``$set`` on an existing document as a
        string.
        """
        result = await self.coll.replace_one(self._guard(doc), self._next(doc, fields, utcnow()))
        return result.modified_count == 1

    def _guard(self, doc: Doc) -> Doc:
        return self.scope(
            {"_id": doc["_id"], "version": doc["version"], "updated_at": doc.get("updated_at")}
        )

    def _next(self, doc: Doc, fields: dict[str, Any], now: datetime) -> Doc:
        return {
            **doc,
            **fields,
            "shop_id": self.shop_id,
            "updated_at": now,
            "version": doc["version"] + 1,
        }

    async def by_identities(self, identities: list[tuple[str, str]]) -> dict[tuple[str, str], Doc]:
        """This shop's customers among (channel, platform user id) pairs."""
        by_channel: dict[str, list[str]] = {}
        for channel, user_id in identities:
            by_channel.setdefault(channel, []).append(user_id)
        found: dict[tuple[str, str], Doc] = {}
        for channel, user_ids in by_channel.items():
            query = {"channel": channel, "platform_user_id": {"$in": user_ids}}
            for doc in await self.coll.find(self.scope(query)).to_list(None):
                found[(doc["channel"], doc["platform_user_id"])] = doc
        return found

    async def apply_changes(self, changes: list[tuple[Doc, dict[str, Any]]]) -> int:
        """`replace_guarded` for many (customer as read, fields) at once; how many applied."""
        if not changes:
            return 0
        now = utcnow()
        ops = [ReplaceOne(self._guard(doc), self._next(doc, f, now)) for doc, f in changes]
        result = await self.coll.bulk_write(ops, ordered=False)
        return result.modified_count

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

    async def scan_raw(
        self, filters: CustomerFilters, limit: int | None = None, batch: int = 2_000
    ) -> AsyncIterator[list[bytes]]:
        """The customers matching `filters` as undecoded BSON, in batches, in no useful order.

        One pass that walks the identity index (the ``_id`` index for selected ids): its keys
        never change, so on MongoDB each matching customer is returned once, even while
        customers change, and every customer that matches when the scan reaches it is
        included; each document is read as one consistent version (callers still drop a
        repeated ``_id``). Whole documents, no projection: a projection costs nx-27017 more
        than the extra bytes. With `limit`, the scan stops after `limit` documents.
        """
        coll = self.coll.with_options(codec_options=RAW_BSON)
        cursor = coll.find(self.scope(filters_query(filters))).batch_size(batch)
        if not filters.ids:
            cursor = cursor.hint(IDENTITY_INDEX)
        if limit is not None:
            cursor = cursor.limit(limit)
        raws: list[bytes] = []
        async for doc in cursor:
            raws.append(doc.raw)
            if len(raws) >= batch:
                yield raws
                raws = []
        if raws:
            yield raws

    async def fetch_raw_by_ids(self, ids: list[str]) -> list[bytes]:
        """These customers as undecoded BSON, in no particular order.

        For export writers that decode in another process, so this one only moves bytes.
        """
        coll = self.coll.with_options(codec_options=RAW_BSON)
        return [doc.raw async for doc in coll.find(self.scope({"_id": {"$in": ids}}))]
