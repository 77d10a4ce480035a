"""Bot commands: one document per chat event answered, the claim that makes the answer once.

The document's ``_id`` is the event's inbox id (a digest of its platform key), so inserting it
is the claim: a redelivered event, the second path that offers the same event, or another
process gets a duplicate key and answers nothing. The holder of the claim keeps a lease
(token and ``lease_ms``) while it answers; a claim whose process died is taken over when the
lease expires (`CommandLeases`). Times are integers (`inbox.now_ms`): they are rewritten with
``$set``.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from chatcrm.store.base import Doc, ShopScoped, index, new_id
from chatcrm.store.inbox import now_ms

INDEXES = {
    "bot_commands": [
        index("shop_id", "channel", "platform_user_id", "at_ms", name="by_sender"),
        # The takeover of expired leases looks across every shop, like the inbox claim: only
        # claims being answered have a lease_ms, and nx-27017 serves a range from an index.
        index("lease_ms", name="lease_due"),
    ]
}

CLAIMED, SENDING, DONE = "claimed", "sending", "done"


class ShopBotCommands(ShopScoped):
    """One shop's answered chat events: claims, outcomes (for rate limits), delivery progress."""

    collection_name = "bot_commands"

    async def claim(self, event_id: str, fields: Doc, lease_seconds: float) -> str | None:
        """Claim the event for answering: the lease token, or None when it is claimed already."""
        lease = new_id("lease")
        now = now_ms()
        try:
            await self.coll.insert_one(
                {
                    **fields,
                    "_id": event_id,
                    "shop_id": self.shop_id,
                    "at_ms": now,
                    "state": CLAIMED,
                    "lease": lease,
                    "lease_ms": now + int(lease_seconds * 1000),
                    "attempts": 1,
                    "outcome": "pending",
                    "command": None,
                    "texts": [],
                    "document": None,
                    "sent": 0,
                    "sending": None,
                }
            )
        except DuplicateKeyError:
            return None
        return lease

    async def claimed(self, event_ids: list[str]) -> set[str]:
        """Which of these inbox events the bot has claimed (answered, or is answering)."""
        if not event_ids:
            return set()
        cursor = self.coll.find(self.where({"_id": {"$in": event_ids}}), {"_id": 1})
        return {doc["_id"] async for doc in cursor}

    async def outcomes(self, identity: tuple[str, str], since_ms: int) -> dict[str, int]:
        """How many of this chat identity's events since `since_ms` ended in each outcome."""
        match = self.where(
            {
                "channel": {"$eq": identity[0]},
                "platform_user_id": {"$eq": identity[1]},
                "at_ms": {"$gte": since_ms},
            }
        )
        pipeline: list[Doc] = [
            {"$match": match},
            {"$group": {"_id": "$outcome", "n": {"$sum": 1}}},
        ]
        groups = await (await self.coll.aggregate(pipeline)).to_list(None)
        return {str(g["_id"]): int(g["n"]) for g in groups}

    async def _guarded(self, event_id: str, lease: str, changes: Doc) -> bool:
        """Apply `changes` while `lease` still holds the claim; False when it was lost."""
        result = await self.coll.update_one(
            self.exact({"_id": event_id, "lease": lease}), {"$set": changes}
        )
        return result.matched_count == 1

    async def plan(self, event_id: str, lease: str, plan: Doc) -> bool:
        """Record the answer (outcome, command, texts, document) before anything is sent."""
        return await self._guarded(event_id, lease, {**plan, "state": SENDING})

    async def progress(self, event_id: str, lease: str, sent: int, sending: int | None) -> bool:
        """Record `sent` texts delivered and the one being sent now (None: between sends).

        A takeover finding ``sending`` set cannot know whether that send arrived: it skips it.
        """
        return await self._guarded(event_id, lease, {"sent": sent, "sending": sending})

    async def finish(self, event_id: str, lease: str, **changes: Any) -> bool:
        """Mark the event answered (or given up) and release the lease."""
        return await self._guarded(
            event_id, lease, {**changes, "state": DONE, "lease": None, "lease_ms": None}
        )

    async def renew(self, event_id: str, lease: str, lease_seconds: float) -> bool:
        """Extend the lease of a claim still being answered."""
        return await self._guarded(
            event_id, lease, {"lease_ms": now_ms() + int(lease_seconds * 1000)}
        )


class CommandLeases:
    """Claims whose process died while answering, across shops (the one cross-shop query)."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.coll = db["bot_commands"]

    async def take_expired(self, lease_seconds: float, limit: int = 20) -> list[tuple[Doc, str]]:
        """Take over claims whose lease expired: each document with the new lease token.

        Each takeover is guarded by the old lease token, so of several processes sweeping at
        once one takes a claim.
        """
        now = now_ms()
        expired = await self.coll.find({"lease_ms": {"$lte": now}}).limit(limit).to_list(None)
        taken = []
        for doc in expired:
            lease = new_id("lease")
            result = await self.coll.update_one(
                {"_id": {"$eq": doc["_id"]}, "lease": {"$eq": doc["lease"]}},
                {
                    "$set": {"lease": lease, "lease_ms": now + int(lease_seconds * 1000)},
                    "$inc": {"attempts": 1},
                },
            )
            if result.matched_count == 1:
                taken.append(({**doc, "attempts": int(doc.get("attempts") or 0) + 1}, lease))
        return taken
