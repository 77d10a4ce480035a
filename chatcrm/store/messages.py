"""Chat messages of a shop, one document each, linked to a customer."""

from __future__ import annotations

from bisect import bisect
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from chatcrm.domain import DomainError, epoch_ms
from chatcrm.input_rules import parse_datetime
from chatcrm.store.base import (
    CustomerOwned,
    Doc,
    index,
    new_id,
    pack_cursor,
    set_missing,
    setting,
    unpack_cursor,
)

INDEXES = {
    "messages": [
        index("shop_id", "channel", "platform_message_id", unique=True, name="message_identity"),
        index("shop_id", "customer_id", "sent_ms", "_key", name="by_customer_sent_ms"),
    ]
}

RETIRED_INDEXES = {"messages": [[("shop_id", 1), ("customer_id", 1), ("sent_at", 1)]]}
"""Index keys of earlier versions, dropped at start-up: history pages use `sent_ms` now."""

_BACKFILL_BATCH = 1000
"""Messages per write when backfilling `history_keys`."""


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
        doc = {"_id": new_id("msg"), **CHANGE_FIELDS, **message, "shop_id": self.shop_id}
        return {**doc, **history_keys(doc)}

    async def insert_new(self, docs: list[Doc]) -> int:
        """Insert prepared messages (the demo's), with their `history_keys`; duplicates skipped."""
        return await super().insert_new([{**d, **history_keys(d)} for d in docs])

    async def add(self, message: Doc) -> bool:
        """Store a message once; return False when it was already stored."""
        try:
            await self.coll.insert_one(self._new(message))
        except DuplicateKeyError:
            return False
        return True

    async def record(self, message: Doc) -> Doc:
        """Store a message once; the message as stored (the one there already when its
        platform id was seen first, e.g. the platform's echo of a reply)."""
        doc = self._new(message)
        try:
            await self.coll.insert_one(doc)
        except DuplicateKeyError:
            return await self.find(message["channel"], message["platform_message_id"]) or doc
        return doc

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
        new.update(history_keys(new))
        return (await self.coll.replace_one(query, new)).matched_count == 1

    async def page_for_customer(
        self, customer_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Doc], str | None]:
        """One page of a customer's chat history, as a chat app shows it, and the older cursor.

        The first page holds the newest `limit` messages; the cursor (None at the start of the
        conversation) asks for the `limit` messages before them. Each page is in
        chronological order, oldest first. Keyset pagination on (``sent_ms``, ``_key``):
        integer milliseconds, since nx-27017 compares dates in whole seconds
        (docs/mongodb-compat.md#dates-compare-whole-seconds), and the id's copy, since no
        index may include ``_id``; so no message is repeated or skipped, however many share a
        second and whatever arrives meanwhile. DomainError(field="cursor") for a cursor this
        did not hand out.
        """
        base: Doc = {"customer_id": {"$eq": customer_id}}
        ranges: list[Doc] = [base]
        if cursor:
            sent_ms, last_key = _decode_cursor(cursor)
            # consecutive ranges, each a flat filter (docs/mongodb-compat.md#keyset-ranges):
            # the rest of this millisecond, then older messages
            ranges = [
                {**base, "sent_ms": {"$eq": sent_ms}, "_key": {"$lt": last_key}},
                {**base, "sent_ms": {"$lt": sent_ms}},
            ]
        rows: list[Doc] = []
        for query in ranges:
            rows += (
                await self.coll.find(self.where(query))
                .sort([("sent_ms", -1), ("_key", -1)])
                .limit(limit + 1 - len(rows))
                .to_list(None)
            )
            if len(rows) > limit:
                break
        older = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
        return rows[:limit][::-1], older


def history_keys(doc: Doc) -> Doc:
    """What history pages sort on: ``sent_ms``, the integer copy of ``sent_at`` (epoch ms),
    and ``_key``, a copy of the id (docs/mongodb-compat.md#indexes-without-id)."""
    return {"sent_ms": epoch_ms(doc.get("sent_at")), "_key": doc["_id"]}


async def backfill_history_keys(coll: Any, batch: int = _BACKFILL_BATCH) -> int:
    """Set `history_keys` on messages stored before they existed, for every shop; how many.

    A batched ``$set`` of integers and strings guarded by ``revision`` and by the keys still
    missing (docs/mongodb-compat.md#dates-as-integer-copies).
    """
    missing = {"sent_ms": {"$exists": False}}
    projection = {"_id": 1, "sent_at": 1}
    return await set_missing(
        coll, missing, projection, setting(history_keys), batch, guard="revision"
    )


def _encode_cursor(doc: Doc) -> str:
    return pack_cursor({"t": doc["sent_ms"], "i": doc["_key"]})


def _decode_cursor(cursor: str) -> tuple[int, str]:
    """(``sent_ms``, ``_key``) of a cursor; one of the former kind carries the time as text."""
    data = unpack_cursor(cursor)
    try:
        sent = data["t"]
        last_key = data["i"]
        if isinstance(sent, str):
            sent = epoch_ms(parse_datetime(sent, "cursor"))
        if not isinstance(sent, int) or isinstance(sent, bool) or not isinstance(last_key, str):
            raise ValueError("cursor")
    except (ValueError, KeyError):  # DomainError is a ValueError
        raise DomainError("cursor is not valid", field="cursor") from None
    return sent, last_key
