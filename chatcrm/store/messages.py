"""Chat messages of a shop, one document each, linked to a customer."""

from __future__ import annotations

from bisect import bisect
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from chatcrm.domain import DomainError, as_utc, epoch_ms
from chatcrm.input_rules import parse_datetime
from chatcrm.store.base import CustomerOwned, Doc, index, new_id, pack_cursor, unpack_cursor

INDEXES = {
    "messages": [
        index("shop_id", "channel", "platform_message_id", unique=True, name="message_identity"),
        index("shop_id", "customer_id", "sent_at", name="by_customer"),
    ]
}


_MAX_WRITE_ATTEMPTS = 20

CHANGE_FIELDS: dict[str, Any] = {
    "edited_at": None,
    "edit_order": None,
    "earlier_texts": [],
    "earlier_ms": [],
    "unsent_at": None,
    "revision": 0,
}
"""What a message carries about its changes, at their empty values (written explicitly):
``edited_at`` and ``edit_order`` of the edit that gave the current text; the texts it had
before, oldest first, each with the time it was written (``earlier_texts``/``earlier_ms``,
scalar arrays); ``unsent_at`` when its sender withdrew it; ``revision`` guards rewrites."""


def _with_edit(stored: Doc, text: str | None, at: datetime, order: list[int]) -> Doc | None:
    """`stored` after an edit to `text` at `at`; None when the edit changes nothing.

    The newest edit (greatest `order`) gives the text; an older one, arriving late, only
    joins the earlier texts. A withdrawn message stays withdrawn.
    """
    if stored.get("unsent_at") is not None:
        return None
    current = stored.get("edit_order")
    current = None if current is None else [int(part) for part in current]
    if order == current:
        return None  # this very edit again
    if current is None or order > current:
        written = stored.get("edited_at") or stored.get("sent_at")
        changed = {**stored, "text": text, "edited_at": at, "edit_order": order}
        before = stored.get("text")
        return _with_earlier(changed, before if before != text else None, written)
    late = _with_earlier(stored, text, at)
    return None if late is stored else late


def _with_earlier(doc: Doc, text: str | None, written: Any) -> Doc:
    """`doc` with `text`, written at `written`, among its earlier texts (oldest first).

    `doc` itself when there is no text or it is there already.
    """
    texts = list(doc.get("earlier_texts") or [])
    times = [int(t) for t in doc.get("earlier_ms") or []]
    when = epoch_ms(written) or 0
    if text is None or (text, when) in zip(texts, times, strict=False):
        return doc
    place = bisect(times, when)
    texts.insert(place, text)
    times.insert(place, when)
    return {**doc, "earlier_texts": texts, "earlier_ms": times}


class ShopMessages(CustomerOwned):
    """One shop's chat history."""

    collection_name = "messages"

    def _new(self, message: Doc) -> Doc:
        return {"_id": new_id("msg"), **CHANGE_FIELDS, **message, "shop_id": self.shop_id}

    async def add(self, message: Doc) -> bool:
        """Store a message once; return False when it was already stored."""
        try:
            await self.coll.insert_one(self._new(message))
        except DuplicateKeyError:
            return False
        return True

    async def add_many(self, messages: list[Doc]) -> dict[int, str]:
        """Store messages once each with one write (duplicates are skipped, not errors).

        Returns the write errors of the messages that could not be stored, by their index.
        """
        return (await self.insert_unordered([self._new(m) for m in messages])).errors

    async def find(self, channel: str, platform_message_id: str) -> Doc | None:
        """This shop's message by its platform id, or None."""
        return await self.coll.find_one(
            self.exact({"channel": channel, "platform_message_id": platform_message_id})
        )

    async def edit(self, message: Doc, order: Sequence[int]) -> None:
        """Apply an edit: `message` is the message as the edit shows it, at ``sent_at``.

        The stored message takes the edit's text unless a newer edit gave it one (greater
        `order`, the edit's time and its place in delivery order); the text it had is kept in
        ``earlier_texts``. A message never seen is stored with the edit's text.
        """
        at = message["edited_at"]
        for _ in range(_MAX_WRITE_ATTEMPTS):
            stored = await self.find(message["channel"], message["platform_message_id"])
            if stored is None:
                if await self.add({**message, "edit_order": list(order)}):
                    return
                continue
            changed = _with_edit(stored, message["text"], at, list(order))
            if changed is None or await self._rewrite(stored, changed):
                return
        raise RuntimeError("the message kept changing; edit not applied")

    async def withdraw(self, message: Doc) -> None:
        """Mark the message as withdrawn by its sender at ``message["sent_at"]``.

        Its text, earlier texts and media description are dropped: the history shows that it
        was withdrawn, never what it said. A message never seen is kept as a withdrawal that
        belongs to no customer's history, so the message, should it arrive late, stays
        withdrawn (its insert is a duplicate).
        """
        at = message["sent_at"]
        gone = {"text": None, "earlier_texts": [], "earlier_ms": [], "meta": {}, "unsent_at": at}
        for _ in range(_MAX_WRITE_ATTEMPTS):
            stored = await self.find(message["channel"], message["platform_message_id"])
            if stored is None:
                if await self.add({**message, **gone, "customer_id": None}):
                    return
                continue
            if stored.get("unsent_at") is not None or await self._rewrite(
                stored, {**stored, **gone}
            ):
                return
        raise RuntimeError("the message kept changing; withdrawal not applied")

    async def _rewrite(self, stored: Doc, changed: Doc) -> bool:
        """Replace `stored` by `changed` unless it changed meanwhile (guarded by ``revision``).

        A replacement, not ``$set`` (docs/mongodb-compat.md#whole-document-writes).
        """
        revision = stored.get("revision")
        guard = {"$eq": revision} if revision is not None else {"$exists": False}
        query = self.where({"_id": {"$eq": stored["_id"]}, "revision": guard})
        new = {**changed, "revision": (revision or 0) + 1, "shop_id": self.shop_id}
        return (await self.coll.replace_one(query, new)).matched_count == 1

    async def page_for_customer(
        self, customer_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Doc], str | None]:
        """One page of a customer's messages, newest first, and the cursor of the next page.

        Keyset pagination on (``sent_at``, ``_id``), both descending: stable while new
        messages arrive. DomainError(field="cursor") for a cursor this did not hand out.
        """
        base: Doc = {"customer_id": {"$eq": customer_id}}
        ranges: list[Doc] = [base]
        if cursor:
            sent_at, last_id = _decode_cursor(cursor)
            # consecutive ranges, each a flat filter (nx-27017 evaluates an $or in Python over
            # the whole collection): the rest of this instant, then older messages
            ranges = [
                {**base, "sent_at": {"$eq": sent_at}, "_id": {"$lt": last_id}},
                {**base, "sent_at": {"$lt": sent_at}},
            ]
        rows: list[Doc] = []
        for query in ranges:
            rows += (
                await self.coll.find(self.where(query))
                .sort([("sent_at", -1), ("_id", -1)])
                .limit(limit + 1 - len(rows))
                .to_list(None)
            )
            if len(rows) > limit:
                break
        next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
        return rows[:limit], next_cursor


def _encode_cursor(doc: Doc) -> str:
    return pack_cursor({"t": as_utc(doc["sent_at"]).isoformat(), "i": doc["_id"]})  # type: ignore[union-attr]


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    data = unpack_cursor(cursor)
    try:
        sent_at = parse_datetime(data["t"], "cursor")
        last_id = data["i"]
        if not isinstance(last_id, str):
            raise ValueError("cursor")
    except (ValueError, KeyError):  # DomainError is a ValueError
        raise DomainError("cursor is not valid", field="cursor") from None
    return sent_at, last_id
