"""Merge records (the intent of a merge or unmerge, for recovery), merge suggestions and their
dismissals."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from chatcrm.store.base import Doc, ShopScoped, index, new_id, utcnow
from chatcrm.store.customers import NOT_MERGED

INDEXES = {
    "merges": [index("shop_id", "state", "created_ms", name="by_state")],
    "merge_dismissals": [index("shop_id", "suggestion", name="by_suggestion")],
}

OPEN_STATES = ("claiming", "applying")
"""States of a merge record whose work is not finished: `chatcrm.merging.recover_merges`
aborts a `claiming` one (releasing its claims) and completes an `applying` one."""

GROUP_WINDOW = 10_000
"""Customers (with a phone or e-mail) read per suggestion window."""

CONTACT_FIELDS = ("phone", "email")
"""The customer fields whose shared values make a merge suggestion."""

MEMBER_FIELDS = {
    "_id": 1,
    "name": 1,
    "channel": 1,
    "platform_user_id": 1,
    "channels": 1,
    "phone": 1,
    "email": 1,
    "paid_total": 1,
    "order_count": 1,
    "version": 1,
    "first_seen_at": 1,
    "seller_fields": 1,
    "chat_admin": 1,
}


class ShopMerges(ShopScoped):
    """One shop's merge records; suggestions read the shop's customers."""

    collection_name = "merges"

    def __init__(self, db: AsyncDatabase[Doc], shop_id: str) -> None:
        super().__init__(db, shop_id)
        self.customers = db["customers"]
        self.dismissals = db["merge_dismissals"]

    async def begin(self, kind: str, target: str, others: list[str], **details: Any) -> Doc:
        """Write the intent of a merge (`kind` ``merge`` or ``unmerge``) before any change."""
        now = utcnow()
        record = {
            "_id": new_id("mrg"),
            "shop_id": self.shop_id,
            "kind": kind,
            "state": "claiming",
            "target": target,
            "others": others,
            "created_at": now,
            "created_ms": int(now.timestamp() * 1000),
            **details,
        }
        await self.coll.insert_one(record)
        return record

    async def set_state(self, record: Doc, state: str) -> None:
        """Move a record to `state` (a string ``$set``: no date)."""
        await self.coll.update_one(
            self.where({"_id": {"$eq": record["_id"]}}), {"$set": {"state": state}}
        )
        record["state"] = state

    async def open_records(self, state: str, before_ms: int | None = None) -> list[Doc]:
        """Records in `state`, oldest first; with `before_ms`, only those created before it."""
        query: Doc = {"state": {"$eq": state}}
        if before_ms is not None:
            query["created_ms"] = {"$lt": before_ms}
        cursor = self.coll.find(self.where(query)).sort("created_ms", 1)
        return await cursor.to_list(None)

    async def contact_groups(self, field: str, after: str | None, limit: int) -> list[Doc]:
        """Values of `field` (phone or e-mail) that several live customers share, in order,
        after `after`: ``[{"_id": value, "n": customers}]``, at most `limit`.

        Read window by window along the ``shop_id, <field>`` index: the value `GROUP_WINDOW`
        entries on bounds the window (one index read), then one ``$match`` on that range and a
        ``$group`` on the field keep the values shared; until `limit` are found or the values
        end. A page therefore costs about what its own range holds, not the whole shop's.
        """
        if field not in CONTACT_FIELDS:
            raise ValueError(field)
        found: list[Doc] = []
        low = after or ""
        while len(found) < limit:
            upper = await self._window_end(field, low)
            match: Doc = {field: {"$gt": low, **({"$lte": upper} if upper else {})}, **NOT_MERGED}
            pipeline: list[Doc] = [
                {"$match": self.where(match)},
                {"$group": {"_id": f"${field}", "n": {"$sum": 1}}},
                {"$match": {"n": {"$gt": 1}}},
                {"$sort": {"_id": 1}},
            ]
            found += await (await self.customers.aggregate(pipeline)).to_list(None)
            if upper is None:
                break
            low = upper
        return found[:limit]

    async def _window_end(self, field: str, low: str) -> str | None:
        """The value `GROUP_WINDOW` index entries after `low`; None when fewer are left."""
        cursor = (
            self.customers.find(self.where({field: {"$gt": low}}), {field: 1})
            .sort(field, 1)
            .skip(GROUP_WINDOW)
            .limit(1)
        )
        beyond = await cursor.to_list(None)
        return str(beyond[0][field]) if beyond else None

    async def members(self, field: str, value: str) -> list[Doc]:
        """The live customers whose `field` equals `value` (index ``shop_id, <field>``)."""
        query = self.where({field: {"$eq": value}, **NOT_MERGED})
        cursor = self.customers.find(query, MEMBER_FIELDS).sort("_key", 1).limit(50)
        return await cursor.to_list(None)

    async def dismissed(self, suggestion_ids: list[str]) -> dict[str, list[str]]:
        """The member ids each of these suggestions was dismissed with."""
        found: dict[str, list[str]] = {}
        for sid in suggestion_ids:
            doc = await self.dismissals.find_one(self.where({"suggestion": {"$eq": sid}}))
            if doc is not None:
                found[sid] = list(doc.get("members") or [])
        return found

    async def dismiss(self, suggestion_id: str, members: list[str], actor: str) -> None:
        """Hide a suggestion while its members are exactly `members` (replacing a former
        dismissal of it)."""
        doc = {
            "_id": f"{self.shop_id}/{suggestion_id}",
            "shop_id": self.shop_id,
            "suggestion": suggestion_id,
            "members": sorted(members),
            "actor": actor,
            "at": utcnow(),
        }
        try:
            await self.dismissals.insert_one(doc)
        except DuplicateKeyError:
            await self.dismissals.replace_one(self.where({"_id": {"$eq": doc["_id"]}}), doc)
