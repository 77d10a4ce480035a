"""The inbox: raw webhook events, stored before they are acknowledged, processed once."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from chatcrm.domain import RawEvent
from chatcrm.store.base import Doc, ShopScoped, index, new_id, utcnow

INDEXES = {
    "inbox": [
        index("shop_id", "state", "due_ms", name="by_state"),
        # The worker's claim looks across every shop (see `InboxQueue`), so this one index
        # cannot be led by shop_id; on a sharded cluster the claim is a scatter-gather query.
        # Led by due_ms: only pending and processing events have one, and nx-27017 can use
        # an index for a range but not for a bare equality or `$in`.
        index("due_ms", "state", name="claim_due"),
    ]
}

RETIRED_INDEXES = {
    "inbox": [
        [("state", 1), ("due_ms", 1)],
        [("shop_id", 1), ("platform", 1), ("channel_id", 1), ("event_key", 1)],
    ]
}
"""Index keys of earlier versions, dropped at start-up (they only cost writes now); by keys,
as nx-27017 names indexes its own way."""

MAX_EVENT_BYTES = 256 * 1024
"""Largest raw event kept; a bigger one is stored truncated and marked failed, never lost."""

MAX_ERROR_CHARS = 2000

PENDING, PROCESSING, DONE, FAILED = "pending", "processing", "done", "failed"


def event_id(shop_id: str, platform: str, channel_id: str, event_key: str) -> str:
    """The inbox id of an event: a digest of its unique key (shop, platform, channel, key).

    The ``_id`` index then dedupes redeliveries, with no second unique index to maintain on
    every webhook write. The digest covers the shop, so equal ids always share a shop (and a
    shard, with a shard key led by ``shop_id``).
    """
    material = "\x1f".join((shop_id, platform, channel_id, event_key)).encode()
    return "evt_" + hashlib.sha256(material).hexdigest()[:40]


MAX_KEY_CHARS = 200
"""Longest event key kept (longer keys are cut before the id is computed)."""


def stored_key(key: str) -> str:
    """An event's key as the inbox keeps it: cut, and text that is not valid Unicode escaped."""
    return key[:MAX_KEY_CHARS].encode("utf-8", "backslashreplace").decode()


def raw_event_id(shop_id: str, platform: str, channel_id: str, event: RawEvent) -> str:
    """The inbox id `ShopInbox.put` gives a raw event of a channel."""
    return event_id(shop_id, platform, channel_id, stored_key(event.key))


def now_ms() -> int:
    """Milliseconds since the epoch.

    Queue times (``due_ms``, ``processed_ms``) are integers: they are rewritten with ``$set``
    (docs/mongodb-compat.md#dates-as-integer-copies).
    """
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Claim:
    """An inbox event leased to a worker; `raw` is the stored JSON text of the event.

    The events of one batch share one lease token.
    """

    id: str
    shop_id: str
    platform: str
    channel_id: str
    raw: str
    attempts: int
    lease: str
    received_at: datetime
    position: int = 0
    """The event's place among the events of its request (delivery order within it)."""


def _public(doc: Doc) -> Doc:
    """An inbox document for operators: the raw event shortened, internal fields dropped."""
    return {
        "id": doc["_id"],
        "shop_id": doc["shop_id"],
        "platform": doc["platform"],
        "channel_id": doc["channel_id"],
        "event_key": doc["event_key"],
        "state": doc["state"],
        "attempts": doc["attempts"],
        "last_error": doc.get("last_error"),
        "received_at": doc["received_at"],
        "raw": doc["raw"][:300],
    }


BAD_UNICODE = (
    "the event holds text that is not valid Unicode (a lone surrogate); `chatcrm inbox retry` "
    "processes it with such characters replaced by U+FFFD"
)


def stored_json(data: Any) -> tuple[str, str | None]:
    """An event as the JSON text to store, and why it cannot be processed (None if it can).

    Text that is not valid Unicode (a lone surrogate, such as JSON's ``"\\ud83d"``) cannot be
    stored as such: such an event is kept with those characters escaped (the JSON is the same)
    and fails with its reason, instead of failing the request with the other events in it.
    """
    try:
        raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        size = len(raw.encode())
    except UnicodeEncodeError:
        raw = json.dumps(data, separators=(",", ":"))
        return raw[: MAX_EVENT_BYTES // 4], BAD_UNICODE
    except RecursionError:
        return "{}", "the event's JSON is nested too deeply"
    if size > MAX_EVENT_BYTES:
        return raw[: MAX_EVENT_BYTES // 4], f"event larger than {MAX_EVENT_BYTES} bytes"
    return raw, None


class ShopInbox(ShopScoped):
    """One shop's raw webhook events."""

    collection_name = "inbox"

    async def put(self, platform: str, channel_id: str, events: Sequence[RawEvent]) -> int:
        """Store events not seen before (a redelivery is a no-op); return how many were new.

        One unordered ``insert_many``; an event whose id (`event_id`) is stored already is a
        duplicate, not an error. An event that cannot be processed (`stored_json`) is stored
        failed, with its reason. Each event keeps its place in the request (``position``).
        """
        now = utcnow()
        due = now_ms()
        docs = []
        for position, event in enumerate(events):
            raw, problem = stored_json(event.data)
            key = stored_key(event.key)
            docs.append(
                {
                    "_id": raw_event_id(self.shop_id, platform, channel_id, event),
                    "shop_id": self.shop_id,
                    "platform": platform,
                    "channel_id": channel_id,
                    "event_key": key,
                    "raw": raw,
                    "state": FAILED if problem else PENDING,
                    "attempts": 0,
                    "due_ms": None if problem else due,
                    "lease": None,
                    "last_error": problem,
                    "received_at": now,
                    "processed_ms": None,
                    "position": position,
                }
            )
        if not docs:
            return 0
        return await self.insert_new(docs)

    async def get(self, event_id: str) -> Doc | None:
        """One of this shop's inbox events (for operators), or None."""
        doc = await self.coll.find_one(self.scope({"_id": event_id}))
        return _public(doc) if doc else None

    async def count(self, state: str | None = None) -> int:
        """How many of this shop's events are in `state` (all when None)."""
        return await self.coll.count_documents(self.scope({"state": state} if state else {}))

    async def failed(self, limit: int = 100) -> list[Doc]:
        """This shop's failed events, oldest first."""
        cursor = self.coll.find(self.scope({"state": FAILED})).sort("received_at", 1).limit(limit)
        return [_public(d) async for d in cursor]

    async def retry(self, event_id: str) -> bool:
        """Queue a failed event again with fresh attempts; False if it is not a failed event."""
        result = await self.coll.update_one(
            self.scope({"_id": event_id, "state": FAILED}),
            {"$set": {"state": PENDING, "attempts": 0, "due_ms": now_ms(), "lease": None}},
        )
        return result.modified_count == 1


class InboxQueue:
    """The workers' side of the inbox: claim, complete, reschedule.

    `claim_batch` is the one system-level query of the store: a worker serves every shop, so
    it asks for the next due events of any shop (index ``claim_due``, not led by shop_id).
    A claimed document carries its shop id and everything the worker writes afterwards goes
    through `Store.for_shop`. Completion and rescheduling are guarded by the claim's lease
    token, so a worker whose lease expired cannot overwrite another worker's outcome.
    """

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.coll = db["inbox"]

    async def claim_batch(self, limit: int, lease_seconds: float) -> list[Claim]:
        """Lease up to `limit` due events (pending, or processing with an expired lease).

        Three steps, safe with any number of workers in any number of processes: read the
        oldest due candidates; take them with one ``update_many`` per distinct ``attempts``
        value, guarded by "still due" and that ``attempts`` (an event claimed by another worker
        meanwhile is no longer due: its ``due_ms`` moved to its lease's end), setting a fresh
        lease token; when fewer were taken than asked, read back which ones carry the token.
        Two workers never hold the same event, and ``attempts`` counts every claim exactly.
        """
        now = now_ms()
        due = {"due_ms": {"$lte": now}, "state": {"$in": [PENDING, PROCESSING]}}
        candidates = await self.coll.find(due).sort("due_ms", 1).limit(limit).to_list(None)
        if not candidates:
            return []
        lease = new_id("lease")
        by_attempts: dict[int, list[Doc]] = {}
        for doc in candidates:
            by_attempts.setdefault(int(doc["attempts"]), []).append(doc)
        won: set[str] = set()
        for attempts, group in by_attempts.items():
            ids = [d["_id"] for d in group]
            result = await self.coll.update_many(
                {**due, "_id": {"$in": ids}, "attempts": attempts},
                {
                    "$set": {
                        "state": PROCESSING,
                        "lease": lease,
                        "due_ms": now + int(lease_seconds * 1000),
                        "attempts": attempts + 1,
                    }
                },
            )
            if result.modified_count == len(ids):
                won.update(ids)
            elif result.modified_count:
                taken = self.coll.find({"_id": {"$in": ids}, "lease": lease}, {"_id": 1})
                won.update([d["_id"] async for d in taken])
        return [
            Claim(
                id=doc["_id"],
                shop_id=doc["shop_id"],
                platform=doc["platform"],
                channel_id=doc["channel_id"],
                raw=doc["raw"],
                attempts=int(doc["attempts"]) + 1,
                lease=lease,
                received_at=doc["received_at"],
                position=int(doc.get("position") or 0),
            )
            for doc in candidates
            if doc["_id"] in won
        ]

    async def complete(self, claims: Sequence[Claim]) -> int:
        """Mark claimed events done; return how many (an event whose lease was lost is not)."""
        by_lease: dict[str, list[str]] = {}
        for claim in claims:
            by_lease.setdefault(claim.lease, []).append(claim.id)
        done = 0
        for lease, ids in by_lease.items():
            result = await self.coll.update_many(
                {"_id": {"$in": ids}, "lease": lease},
                {
                    "$set": {
                        "state": DONE,
                        "lease": None,
                        "due_ms": None,
                        "processed_ms": now_ms(),
                        "last_error": None,
                    }
                },
            )
            done += result.modified_count
        return done

    async def reschedule(self, claim: Claim, error: str, *, max_attempts: int) -> str:
        """Record a failed attempt: retry later with backoff, or mark failed; return the state."""
        state = FAILED if claim.attempts >= max_attempts else PENDING
        delay = min(2.0**claim.attempts, 600.0) * random.uniform(0.8, 1.2)  # noqa: S311
        await self.coll.update_one(
            {"_id": claim.id, "shop_id": claim.shop_id, "lease": claim.lease},
            {
                "$set": {
                    "state": state,
                    "lease": None,
                    "due_ms": None if state == FAILED else now_ms() + int(delay * 1000),
                    "last_error": error[:MAX_ERROR_CHARS],
                }
            },
        )
        return state

    async def failed(self, limit: int = 100) -> list[Doc]:
        """Failed events of every shop (operator CLI), oldest first."""
        cursor = self.coll.find({"state": FAILED}).sort("received_at", 1).limit(limit)
        return [_public(d) async for d in cursor]

    async def find(self, event_id: str) -> Doc | None:
        """Any shop's inbox event by its globally unique id (operator CLI), or None."""
        doc = await self.coll.find_one({"_id": event_id})
        return _public(doc) if doc else None
