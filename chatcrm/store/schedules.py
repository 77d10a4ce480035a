"""Report schedules and their deliveries: one delivery per (schedule, fire time), claimed once.

Times that are compared, sorted or rewritten are integer epoch milliseconds (``*_ms``), see
docs/mongodb-compat.md#dates-as-integer-copies.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from chatcrm.store.base import Doc, ShopScoped, index, new_id, utcnow

INDEXES = {
    "report_schedules": [
        index("shop_id", "name", name="schedule_by_name"),
        index("shop_id", "segment_id", name="schedule_by_segment"),
        # The scheduler of every process follows the changes of every shop (`ScheduleFeed`):
        # a range on changed_ms, so this index cannot be led by shop_id.
        index("changed_ms", name="schedule_changes"),
    ],
    "report_deliveries": [
        index("shop_id", "schedule_id", "fire_ms", name="delivery_by_schedule"),
        # Retries and lease take-overs of every shop (`DeliveryQueue`), as the inbox's claim:
        # only deliveries in flight have a due_ms.
        index("due_ms", "state", name="delivery_due"),
    ],
}

SENDING, RETRYING, SENT, FAILED, SKIPPED = "sending", "retrying", "sent", "failed", "skipped"
IN_FLIGHT = (SENDING, RETRYING)
MAX_ERROR_CHARS = 2000


def ms_of(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return int(moment.timestamp() * 1000)


def at_ms(ms: int) -> datetime:
    """The UTC datetime of epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, UTC)


def delivery_id(schedule_id: str, fire_ms: int) -> str:
    """The unique key of a schedule's delivery for one fire time: its ``_id``.

    The ``_id`` index makes a second claim of the same (schedule, fire time) a duplicate key
    error, in any number of processes, on MongoDB and nx-27017 alike.
    """
    return f"dlv_{schedule_id}_{fire_ms}"


@dataclass(frozen=True)
class DeliveryClaim:
    """A delivery leased to this process until it renews, finishes or loses the lease."""

    id: str
    shop_id: str
    schedule_id: str
    kind: str
    """``scheduled`` or ``test`` (a send asked for by hand)."""
    fire_ms: int
    lease: str
    attempts: int
    first_attempt_ms: int
    recipients: tuple[str, ...]
    delivered_to: tuple[str, ...]
    """Recipients an earlier attempt reached already: never sent to again."""
    actor: str

    @property
    def pending(self) -> list[str]:
        """Recipients still to reach."""
        done = {r.lower() for r in self.delivered_to}
        return [r for r in self.recipients if r.lower() not in done]

    @classmethod
    def from_doc(cls, doc: Doc) -> DeliveryClaim:
        """From a delivery document just claimed."""
        return cls(
            id=doc["_id"],
            shop_id=doc["shop_id"],
            schedule_id=doc["schedule_id"],
            kind=doc["kind"],
            fire_ms=int(doc["fire_ms"]),
            lease=doc["lease"],
            attempts=int(doc["attempts"]),
            first_attempt_ms=int(doc["first_attempt_ms"]),
            recipients=tuple(doc.get("recipients") or ()),
            delivered_to=tuple(doc.get("delivered_to") or ()),
            actor=doc.get("actor") or "scheduler",
        )


def _lease() -> str:
    return "lease_" + secrets.token_hex(8)


class ShopSchedules(ShopScoped):
    """One shop's report schedules."""

    collection_name = "report_schedules"

    async def create(
        self, fields: dict[str, Any], timezone: str, now_ms: int, schedule_id: str | None = None
    ) -> Doc:
        """Store a schedule from validated `fields` for a shop in `timezone`."""
        doc = {
            "_id": schedule_id or new_id("sch"),
            "shop_id": self.shop_id,
            **fields,
            "timezone": timezone,
            "version": 1,
            "created_at": utcnow(),
            "updated_at": utcnow(),
            "changed_ms": now_ms,
            "active_since_ms": now_ms,
            "last_fire_ms": None,
        }
        await self.coll.insert_one(doc)
        return doc

    async def get(self, schedule_id: str) -> Doc | None:
        """The shop's schedule, or None."""
        return await self.coll.find_one(self.exact({"_id": schedule_id}))

    async def list(self) -> list[Doc]:
        """The shop's schedules by name."""
        return await self.coll.find(self.where()).sort([("name", 1), ("_id", 1)]).to_list(None)

    async def using_segment(self, segment_id: str) -> list[Doc]:
        """The schedules that send a segment (at most 20)."""
        query = self.where({"segment_id": {"$eq": segment_id}})
        return await self.coll.find(query, {"name": 1}).limit(20).to_list(None)

    async def replace(self, doc: Doc, fields: dict[str, Any], now_ms: int) -> Doc | None:
        """Write `fields` onto the schedule read as `doc`; None when it changed meanwhile.

        A new cadence or time zone, or enabling a disabled schedule, starts it afresh: fire
        times before `now_ms` are neither sent late nor recorded as skipped.
        """
        new = {**doc, **fields, "shop_id": self.shop_id, "version": doc["version"] + 1}
        restarted = (
            new["cadence"] != doc["cadence"]
            or new["timezone"] != doc["timezone"]
            or (new["enabled"] and not doc["enabled"])
        )
        new.update(updated_at=utcnow(), changed_ms=now_ms)
        if restarted:
            new["active_since_ms"] = now_ms
        guard = self.exact({"_id": doc["_id"], "version": doc["version"]})
        result = await self.coll.replace_one(guard, new)
        return new if result.matched_count == 1 else None

    async def delete(self, schedule_id: str) -> bool:
        """Remove the schedule and its delivery history; False when there is no such one."""
        result = await self.coll.delete_one(self.exact({"_id": schedule_id}))
        if result.deleted_count:
            deliveries = self.coll.database["report_deliveries"]
            await deliveries.delete_many(self.where({"schedule_id": {"$eq": schedule_id}}))
        return result.deleted_count == 1

    async def note_fire(self, schedule_id: str, fire_ms: int) -> None:
        """Remember the newest fire time handled (a hint for start-up; deliveries decide)."""
        await self.coll.update_one(
            self.exact({"_id": schedule_id}), {"$max": {"last_fire_ms": fire_ms}}
        )


class ShopDeliveries(ShopScoped):
    """One shop's report deliveries: claims, outcomes and history."""

    collection_name = "report_deliveries"

    async def claim(
        self,
        schedule: Doc,
        fire_ms: int,
        *,
        now_ms: int,
        lease_ms: int,
        kind: str = "scheduled",
        actor: str = "scheduler",
    ) -> DeliveryClaim | None:
        """Claim the delivery of `schedule` for `fire_ms`; None when it was claimed before.

        The insert of the delivery's unique ``_id`` is the claim: of any number of processes
        trying, one succeeds. A test send gets an id of its own.
        """
        if kind == "scheduled":
            key = delivery_id(schedule["_id"], fire_ms)
        else:
            key = delivery_id(schedule["_id"], fire_ms) + "_" + kind + secrets.token_hex(3)
        doc = self._new(schedule, key, fire_ms, now_ms, kind, actor)
        doc.update(state=SENDING, lease=_lease(), due_ms=now_ms + lease_ms, attempts=1)
        try:
            await self.coll.insert_one(doc)
        except DuplicateKeyError:
            return None
        return DeliveryClaim.from_doc(doc)

    async def skip(self, schedule: Doc, fire_ms: int, *, now_ms: int, reason: str) -> bool:
        """Record a fire time as skipped with `reason`, unless it has a delivery already."""
        doc = self._new(schedule, delivery_id(schedule["_id"], fire_ms), fire_ms, now_ms)
        doc.update(state=SKIPPED, reason=reason, last_error=reason)
        try:
            await self.coll.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    def _new(
        self,
        schedule: Doc,
        key: str,
        fire_ms: int,
        now_ms: int,
        kind: str = "scheduled",
        actor: str = "scheduler",
    ) -> Doc:
        return {
            "_id": key,
            "shop_id": self.shop_id,
            "schedule_id": schedule["_id"],
            "kind": kind,
            "actor": actor,
            "fire_ms": fire_ms,
            "fire_at": at_ms(fire_ms),
            "state": None,
            "attempts": 0,
            "lease": None,
            "due_ms": None,
            "first_attempt_ms": now_ms,
            "updated_ms": now_ms,
            "recipients": list(schedule.get("recipients") or []),
            "delivered_to": [],
            "last_error": None,
            "reason": None,
            "rows": None,
            "message_id": None,
            "sent_ms": None,
        }

    async def renew(self, claim: DeliveryClaim, until_ms: int) -> bool:
        """Extend the lease; False when another process took the delivery over."""
        result = await self.coll.update_one(
            self.exact({"_id": claim.id, "lease": claim.lease}), {"$set": {"due_ms": until_ms}}
        )
        return result.matched_count == 1

    async def finish(self, claim: DeliveryClaim, outcome: dict[str, Any]) -> bool:
        """Record an attempt's outcome (state, due_ms, errors...) and release the lease.

        Guarded by the lease: a process that lost it records nothing.
        """
        result = await self.coll.update_one(
            self.exact({"_id": claim.id, "lease": claim.lease}),
            {"$set": {**outcome, "lease": None}},
        )
        return result.matched_count == 1

    async def get(self, key: str) -> Doc | None:
        """One of the shop's deliveries, or None."""
        return await self.coll.find_one(self.exact({"_id": key}))

    async def page(self, schedule_id: str, limit: int, before_ms: int | None = None) -> list[Doc]:
        """A schedule's deliveries, newest fire time first, from before `before_ms`."""
        query: Doc = {"schedule_id": {"$eq": schedule_id}}
        if before_ms is not None:
            query["fire_ms"] = {"$lt": before_ms}
        cursor = self.coll.find(self.where(query)).sort([("fire_ms", -1), ("_id", -1)])
        return await cursor.limit(limit).to_list(None)


class ScheduleFeed:
    """The schedules of every shop changed since a time: what each process's scheduler follows.

    A system-level query (index ``schedule_changes``): a process's scheduler serves every
    shop. Everything done for a schedule afterwards goes through `Store.for_shop`.
    """

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.coll = db["report_schedules"]

    async def changed_since(self, since_ms: int | None) -> list[Doc]:
        """Schedules written at or after `since_ms` (all of them for None), oldest change first."""
        query: Doc = {"changed_ms": {"$gte": since_ms if since_ms is not None else 0}}
        return await self.coll.find(query).sort("changed_ms", 1).to_list(None)


class DeliveryQueue:
    """Deliveries of every shop that are due again: a retry's time came, or a lease expired.

    The one other system-level query of the scheduler (index ``delivery_due``). Taking one
    over is guarded by the state, due time and attempt count read, as the inbox's claim is.
    """

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.coll = db["report_deliveries"]

    async def due(self, now_ms: int, limit: int = 50) -> list[Doc]:
        """Deliveries waiting for a retry or held by an expired lease, oldest due first."""
        query = {"due_ms": {"$lte": now_ms}, "state": {"$in": list(IN_FLIGHT)}}
        return await self.coll.find(query).sort("due_ms", 1).limit(limit).to_list(None)

    async def take(self, doc: Doc, *, now_ms: int, lease_ms: int) -> DeliveryClaim | None:
        """Lease a due delivery as read in `doc`; None when another process was first."""
        guard = {
            "_id": {"$eq": doc["_id"]},
            "shop_id": {"$eq": doc["shop_id"]},
            "attempts": {"$eq": doc["attempts"]},
            "due_ms": {"$lte": now_ms},
            "state": {"$in": list(IN_FLIGHT)},
        }
        taken = await self.coll.find_one_and_update(
            guard,
            {
                "$set": {
                    "state": SENDING,
                    "lease": _lease(),
                    "due_ms": now_ms + lease_ms,
                    "attempts": int(doc["attempts"]) + 1,
                    "updated_ms": now_ms,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        return DeliveryClaim.from_doc(taken) if taken else None


def delivery_view(doc: Doc) -> dict[str, Any]:
    """A delivery as the API and the CLI show it."""
    return {
        "id": doc["_id"],
        "schedule_id": doc["schedule_id"],
        "kind": doc.get("kind", "scheduled"),
        "fire_time": at_ms(int(doc["fire_ms"])),
        "state": doc.get("state"),
        "attempts": int(doc.get("attempts") or 0),
        "last_error": doc.get("last_error"),
        "rows": doc.get("rows"),
        "message_id": doc.get("message_id"),
        "recipients": list(doc.get("recipients") or []),
        "delivered_to": list(doc.get("delivered_to") or []),
        "sent_at": at_ms(int(doc["sent_ms"])) if doc.get("sent_ms") else None,
    }
