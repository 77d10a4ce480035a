"""Customers of a shop: one per (channel, platform user id), with spend aggregates."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import ReplaceOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from chatcrm.domain import (
    CUSTOMER_STATUSES,
    LIVE_KEY,
    PHONE_KEY,
    SORT_FIELDS,
    CustomerFilters,
    DomainError,
    Sort,
    as_utc,
    date_keys,
    epoch_ms,
    is_live,
    new_customer_fields,
    phone_key,
    with_derived_keys,
)
from chatcrm.input_rules import normalise_phone
from chatcrm.provinces import UNKNOWN_PROVINCE
from chatcrm.store import counts
from chatcrm.store.base import (
    Doc,
    InsertOutcome,
    ShopScoped,
    index,
    new_id,
    set_missing,
    setting,
    utcnow,
)
from chatcrm.store.customer_query import (
    after_cursor,
    combine,
    encode_cursor,
    filters_query,
    order_snapshot,
    page_index_keys,
    range_sort_spec,
    report_fields,
    snapshot_row,
    sort_key,
    split_ranges,
)
from chatcrm.store.derived import Change, customers_written
from chatcrm.store.term_search import TermSearch, term_plan
from chatcrm.store.terms import terms_ready

INDEXES = {
    "customers": [
        index("shop_id", "channel", "platform_user_id", unique=True, name="customer_identity"),
        *(index(*page_index_keys(f), name=f"live_by_{f}") for f in SORT_FIELDS),
        index("shop_id", LIVE_KEY, "channel", "paid_total", "_key", name="live_by_channel"),
        index("shop_id", LIVE_KEY, "province_key", name="live_by_province"),
        index("shop_id", LIVE_KEY, "postal_code", name="live_by_postal_code"),
        index("shop_id", "tags", name="by_tag"),
        index("shop_id", "phone", name="by_phone"),
        index("shop_id", "phone_rev", name="by_phone_end"),
        index("shop_id", "email", name="by_email"),
        index("shop_id", "chat_admin", name="by_chat_admin"),
        index("shop_id", "merged_into", name="by_merged_into"),
        index("shop_id", "channels", "paid_total", "_key", name="by_channels_paid_total"),
    ]
}

RETIRED_INDEXES = {
    "customers": [
        [("shop_id", 1), ("updated_at", 1), ("_key", 1)],
        [("shop_id", 1), ("last_order_at", 1), ("_key", 1)],
        *([("shop_id", 1), (sort_key(f), 1), ("_key", 1)] for f in SORT_FIELDS),
        [("shop_id", 1), ("channel", 1), ("paid_total", 1), ("_key", 1)],
        [("shop_id", 1), ("province_key", 1)],
        [("shop_id", 1), ("postal_code", 1)],
    ]
}
"""Index keys of earlier versions, dropped at start-up: the date sorts use `DATE_KEYS` now, and
the page and filter indexes carry `LIVE_KEY` after ``shop_id`` (the ``live_by_*`` indexes)."""

_BACKFILL_BATCH = 1000
"""Customers per write when backfilling the integer date copies."""


_MAX_WRITE_ATTEMPTS = 20

Identity = tuple[str, str]

ALIASES = "customer_aliases"
"""Ids a platform gave a customer before renaming the user (WhatsApp's BSUIDs, its phone
number before them): ``_id`` = [shop, channel, former id] as JSON, ``customer_id``. Read by
``_id`` only, so no other index."""
"""A customer's (channel, platform user id)."""


@dataclass(frozen=True)
class Contact:
    """One contact of a platform user at time `at` (a chat event), for `record_contacts`."""

    channel: str
    platform_user_id: str
    channel_id: str | None
    at: datetime
    status: str | None = None
    order: tuple[int, ...] = ()
    """Breaks ties of `at` between status events: greater is later (see `status_order`)."""

    @property
    def identity(self) -> Identity:
        """The customer this contact is about."""
        return (self.channel, self.platform_user_id)


@dataclass(frozen=True)
class IfNull:
    """A value of `set_fields` written only where the customer has none (null or missing).

    For what a platform tells that a seller may have typed already (a phone number).
    """

    value: Any


def _set_fields(doc: Doc, fields: dict[str, Any] | None) -> None:
    """Write `fields` onto `doc`, in place; an `IfNull` value only where `doc` has none."""
    for name, value in (fields or {}).items():
        if not isinstance(value, IfNull):
            doc[name] = value
        elif doc.get(name) is None:
            doc[name] = value.value


_CONTACT_FIELDS = (
    "_id",
    "version",
    "updated_at",
    "channel_id",
    "last_contact_at",
    "first_seen_at",
    "status",
    "status_at",
    "status_order",
)


def _written(stored: Doc | None, intended: Doc, fields: dict[str, Any]) -> bool:
    """True when `stored` carries every field a contact merge set in `intended`."""
    if stored is None:
        return False
    for name in (*_CONTACT_FIELDS, *fields):
        a, b = stored.get(name), intended.get(name)
        if isinstance(a, datetime | str) and isinstance(b, datetime):
            try:
                a = as_utc(a)
            except ValueError:
                return False
            b = as_utc(b)
        if a != b:
            return False
    return True


def status_order(at: datetime, order: Sequence[int] = ()) -> list[int]:
    """The order of a status event: its time in epoch ms, then `order` (ties, in delivery order).

    Stored beside the status as ``status_order``; a status event applies only when its order
    is greater than the stored one.
    """
    return [epoch_ms(at) or 0, *order]


def _newer_status(doc: Doc, key: list[int]) -> bool:
    """Whether a status event of order `key` is newer than the one that set `doc`'s status."""
    current = doc.get("status_order")
    if not isinstance(current, list) or not current:
        status_at = epoch_ms(doc.get("status_at"))
        if status_at is None:
            return True
        current = [status_at]  # written before ties had an order
    return key > [int(part) for part in current]


def _platform_fields(doc: Doc, fields: dict[str, Any] | None) -> dict[str, Any]:
    """`fields` (a platform's) without those the seller set on `doc` (``seller_fields``)."""
    mine = set(doc.get("seller_fields") or ())
    return {name: value for name, value in (fields or {}).items() if name not in mine}


def _merge_contact(
    doc: Doc,
    at: datetime,
    channel_id: str | None,
    set_fields: dict[str, Any] | None,
    status: str | None,
    order: Sequence[int] = (),
    *,
    own: bool = True,
) -> None:
    """Apply one contact at time `at` to a customer document, in place.

    `set_fields` never overwrite what the seller typed (the fields in ``seller_fields``).
    A person's own identity also moves its ``own_*`` times (`own`; not for a contact of an
    identity merged into it).
    """
    _set_fields(doc, _platform_fields(doc, set_fields))
    if own:
        doc["channel_id"] = channel_id
    doc["updated_at"] = utcnow()
    with_derived_keys(doc)
    names = ["last_contact_at", "first_seen_at"]
    if own and "own_last_contact_at" in doc:
        names += ["own_last_contact_at", "own_first_seen_at"]
    for name in names:
        current = as_utc(doc.get(name))
        later = name.endswith("last_contact_at")
        if current is None or (at > current if later else at < current):
            doc[name] = at
    key = status_order(at, order)
    if status is not None and _newer_status(doc, key):
        doc["status"] = status
        doc["status_at"] = at
        doc["status_order"] = key


def _by_identity(contacts: Sequence[Contact]) -> dict[Identity, list[Contact]]:
    """The contacts of each customer, in order; ValueError on an unknown status."""
    by_identity: dict[Identity, list[Contact]] = {}
    for contact in contacts:
        if contact.status is not None and contact.status not in CUSTOMER_STATUSES:
            raise ValueError(f"unknown customer status {contact.status!r}")
        by_identity.setdefault(contact.identity, []).append(contact)
    return by_identity


@dataclass
class _ContactWrites:
    """What `ShopCustomers.record_contacts` achieved so far, per customer."""

    written: dict[Identity, Doc] = field(default_factory=dict)
    errors: dict[Identity, str] = field(default_factory=dict)
    retry: list[Identity] = field(default_factory=list)
    """Customers whose batched write lost to another writer: retried one by one."""


RAW_BSON: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)
"""Undecoded documents. Their ``raw`` is ``bytes`` below 4 KiB but a read-only ``memoryview``
from 4 KiB on, which cannot be pickled to the export writer: readers copy it with ``bytes()``
(docs/mongodb-compat.md, "Raw BSON across processes")."""
IDENTITY_INDEX = [("shop_id", 1), ("channel", 1), ("platform_user_id", 1)]
"""Keys of the identity index: they never change once a customer exists."""


MERGED = {"$gt": ""}
"""Matches a tombstone's ``merged_into`` (a customer id): "a non-empty string" on both servers,
not ``{"$ne": None}`` (docs/mongodb-compat.md#no-ne-conditions)."""

LIVE = {LIVE_KEY: {"$eq": True}}
"""The customers reports list: neither tombstones nor chat admins (`domain.LIVE_KEY`). An index
equality on both servers (the ``live_by_*`` indexes), where the earlier per-row tests
``merged``/``chat_admin`` ``$nin [true]`` cost nx-27017 a ``json_each`` per row walked."""

NOT_MERGED = {"merged": {"$nin": [True]}}
"""Leaves out tombstones only (merge suggestions): exact on both servers whether ``merged`` is
false, null or missing (docs/mongodb-compat.md#merged-customers)."""

WIDE_RANGE = 5_000
"""Live customers in a range on another field than the page's sort (a closed date range sorted
by paid total) above which the page walks the sort's index and tests the range per row: about
51 x shop / matches rows (2,040 at 200,000, 10,200 at 1,000,000), where the range's index would
sort every match; at or below it, the range's index and a sort of at most this many rows.
A count rather than a share of the shop: counting the shop costs as much as the walk
(docs/search-design.md#closed-date-ranges-with-the-default-sort)."""

_FENCE = 2**62
"""A ``$limit`` no page reaches, between the walk in sort order and the range's test: SQLite
neither flattens nor pushes the test into a subquery with a LIMIT, so nx-27017 walks the sort's
index as a co-routine and stops at the page's end instead of choosing the range's index."""


def person_id(doc: Doc) -> str:
    """The id of the person a customer document belongs to: its own, or that of the person
    a tombstone was merged into."""
    return str(doc.get("merged_into") or doc["_id"])


class ShopCustomers(ShopScoped):
    """One shop's customers."""

    collection_name = "customers"
    _any_merged: bool | None = None

    async def has_merges(self) -> bool:
        """Whether the shop has merged customers (one lookup on ``by_merged_into``, once per
        repository): only then do reports leave out tombstones and match any identity's channel,
        which costs nx-27017 its index-only totals and the channel index."""
        if self._any_merged is None:
            found = await self.coll.find_one(self.where({"merged_into": MERGED}), {"_id": 1})
            self._any_merged = found is not None
        return self._any_merged

    def merges_changed(self) -> None:
        """Forget `has_merges`: this repository merged customers."""
        self._any_merged = None

    async def report_filter(
        self, filters: CustomerFilters, *, sorted_page: bool = False, live: bool = True
    ) -> Doc:
        """`filters_query` of a report, leaving out tombstones and chat admins (`LIVE`).

        `LIVE` is an equality on the second key of every page and filter index
        (``live_by_*``), so pages walk their sort's index and totals stay index-only whether or
        not the shop has merges or chat admins (`live` false leaves it out: every customer,
        for a benchmark's query plans). Once the shop has merged customers a channel matches
        any identity's (``channels``).
        """
        query = filters_query(filters, sorted_page=sorted_page)
        if live:
            query.update(LIVE)
        if await self.has_merges():
            if "channel" in query:  # any identity's channel: the `channels` array
                condition = query.pop("channel")
                query["channels"] = {"$in": condition.get("$in") or [condition.get("$eq")]}
        return query

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
        order: Sequence[int] = (),
    ) -> Doc:
        """Create the customer on first contact or update it; idempotent for the same input.

        `at` moves ``last_contact_at`` forward and ``first_seen_at`` back only, so events
        arriving out of order never move them the wrong way; likewise `status` (following /
        unfollowed / blocked) is applied only when the event is newer than the one that set
        the current status: later `at`, or the same `at` and a greater `order` (its place in
        delivery order), kept as ``status_order``. `set_fields` leave what the seller typed.

        Written as read, then insert or a `replace_one` guarded by ``version`` (retried on a
        concurrent change): nx-27017 stores a date written by ``$set`` as a string and ignores
        ``$max``/``$min`` on dates, while whole-document writes keep dates on both servers.
        Every other writer of a customer document must bump ``version`` too.
        """
        if status is not None and status not in CUSTOMER_STATUSES:
            raise ValueError(f"unknown customer status {status!r}")
        identity = self.scope({"channel": channel, "platform_user_id": platform_user_id})
        for _ in range(_MAX_WRITE_ATTEMPTS):
            doc = await self.find_identity(channel, platform_user_id)
            if doc is None:
                doc = self._new_customer(channel, platform_user_id, at, currency)
                _merge_contact(doc, at, channel_id, set_fields, status, order)
                try:
                    await self.coll.insert_one(doc)
                except DuplicateKeyError:
                    continue  # created concurrently: update that one
                await self._written([(None, doc)])
                return doc
            version = doc.get("version")
            before = dict(doc)
            _merge_contact(doc, at, channel_id, set_fields, status, order)
            doc["version"] = (version or 0) + 1
            guard = {"version": version} if version is not None else {"version": None}
            result = await self.coll.replace_one({**identity, "_id": doc["_id"], **guard}, doc)
            if result.matched_count == 1:
                await self._written([(before, doc)])
                return doc
        raise RuntimeError(f"customer {platform_user_id} kept changing; contact not recorded")

    def _new_customer(
        self, channel: str, platform_user_id: str, at: datetime, currency: str
    ) -> Doc:
        cid = new_id("cus")
        return {
            **new_customer_fields(currency),
            **self.scope({"channel": channel, "platform_user_id": platform_user_id}),
            "_id": cid,
            "_key": cid,
            "first_seen_at": at,
            "last_contact_at": at,
            "status_at": None,
            "status_order": None,
            "channels": [channel],
            "merged_into": None,
        }

    async def record_contacts(
        self,
        contacts: Sequence[Contact],
        existing: dict[Identity, Doc],
        *,
        currency: str = "THB",
        set_fields: dict[Identity, dict[str, Any]] | None = None,
    ) -> tuple[dict[Identity, Doc], dict[Identity, str]]:
        """`upsert_contact` for many contacts, writing each customer once, in few round trips.

        `existing` holds the customers as read beforehand (`by_identities`); `set_fields`
        the fields to set per customer (a fetched profile). Contacts of one customer are
        merged in order, exactly as one `upsert_contact` each would. New customers go in by
        one unordered ``insert_many`` (one created meanwhile by another writer: its contacts
        go through `upsert_contact`); existing ones by one unordered ``bulk_write`` of
        replacements guarded by ``version`` (a customer changed meanwhile: read again and
        retried through `upsert_contact`). Idempotent, like `upsert_contact`.

        Returns the customers as written, and the error of each customer that could not be.
        """
        fields_of = set_fields or {}
        by_identity = _by_identity(contacts)
        inserts, replaces = self._merge_contacts(by_identity, existing, fields_of, currency)
        outcome = _ContactWrites()
        await self._insert_merged(inserts, outcome)
        await self._replace_merged(replaces, existing, fields_of, outcome)
        await self._retry_singly(outcome, by_identity, fields_of, currency)
        return outcome.written, outcome.errors

    def _merge_contacts(
        self,
        by_identity: dict[Identity, list[Contact]],
        existing: dict[Identity, Doc],
        fields_of: dict[Identity, dict[str, Any]],
        currency: str,
    ) -> tuple[list[tuple[Identity, Doc]], list[tuple[Identity, Doc]]]:
        """Each customer with its contacts merged in order: (new ones, ones read before)."""
        inserts: list[tuple[Identity, Doc]] = []
        replaces: list[tuple[Identity, Doc]] = []
        for identity, items in by_identity.items():
            fields = fields_of.get(identity) or {}
            read = existing.get(identity)
            if read is None:
                doc = self._new_customer(*identity, items[0].at, currency)
            else:
                doc = dict(read)
            for item in items:
                _merge_contact(doc, item.at, item.channel_id, fields, item.status, item.order)
            if read is None:
                inserts.append((identity, doc))
            else:
                doc["version"] = (read.get("version") or 0) + 1
                replaces.append((identity, doc))
        return inserts, replaces

    async def _insert_merged(
        self, inserts: list[tuple[Identity, Doc]], outcome: _ContactWrites
    ) -> None:
        """New customers by one unordered ``insert_many``; one created meanwhile is retried."""
        result = await self.insert_unordered([doc for _, doc in inserts])
        for i, (identity, doc) in enumerate(inserts):
            if i in result.duplicates:
                outcome.retry.append(identity)
            elif i in result.errors:
                outcome.errors[identity] = result.errors[i]
            else:
                outcome.written[identity] = doc

    async def _replace_merged(
        self,
        replaces: list[tuple[Identity, Doc]],
        existing: dict[Identity, Doc],
        fields_of: dict[Identity, dict[str, Any]],
        outcome: _ContactWrites,
    ) -> None:
        """Read customers by one unordered ``bulk_write`` guarded by the version read.

        A customer changed meanwhile (its replacement matched nothing) is retried.
        """
        if not replaces:
            return
        ops = [
            ReplaceOne(
                self.scope(
                    {
                        "channel": identity[0],
                        "platform_user_id": identity[1],
                        "_id": doc["_id"],
                        "version": existing[identity].get("version"),
                    }
                ),
                doc,
            )
            for identity, doc in replaces
        ]
        result = await self.coll.bulk_write(ops, ordered=False)
        if result.matched_count == len(ops):
            outcome.written.update(replaces)
            await self._written([(existing[identity], doc) for identity, doc in replaces])
            return
        now = await self.by_identities([identity for identity, _ in replaces])  # which lost?
        won: list[Change] = []
        for identity, doc in replaces:
            if _written(now.get(identity), doc, fields_of.get(identity) or {}):
                outcome.written[identity] = doc
                won.append((existing[identity], doc))
            else:
                outcome.retry.append(identity)
        await self._written(won)

    async def _retry_singly(
        self,
        outcome: _ContactWrites,
        by_identity: dict[Identity, list[Contact]],
        fields_of: dict[Identity, dict[str, Any]],
        currency: str,
    ) -> None:
        """The contacts of each customer to retry, one `upsert_contact` at a time."""
        for identity in outcome.retry:
            try:
                for item in by_identity[identity]:
                    outcome.written[identity] = await self.upsert_contact(
                        *identity,
                        channel_id=item.channel_id,
                        at=item.at,
                        currency=currency,
                        set_fields=fields_of.get(identity),
                        status=item.status,
                        order=item.order,
                    )
            except RuntimeError as err:  # it kept changing
                outcome.errors[identity] = str(err)

    async def touch_persons(
        self, contacts: Sequence[Contact], written: dict[Identity, Doc]
    ) -> None:
        """Apply the contacts of merged identities (their customers as `written` are
        tombstones) to the persons they belong to: last contact, first seen, status. One
        guarded replacement per person, retried on conflict."""
        by_person: dict[str, list[Contact]] = {}
        for contact in contacts:
            doc = written.get(contact.identity)
            if doc is not None and doc.get("merged_into"):
                by_person.setdefault(doc["merged_into"], []).append(contact)
        for person, items in by_person.items():

            def change(doc: Doc, items: list[Contact] = items) -> dict[str, Any]:
                doc = dict(doc)
                for c in items:
                    _merge_contact(doc, c.at, None, None, c.status, c.order, own=False)
                keys = ("last_contact_at", "first_seen_at", "status", "status_at", "status_order")
                return {k: doc.get(k) for k in keys}

            await self.rewrite(person, change)

    async def get(self, customer_id: str) -> Doc | None:
        """This shop's customer by id, or None."""
        return await self.coll.find_one(self.scope({"_id": customer_id}))

    async def find_identity(self, channel: str, platform_user_id: str) -> Doc | None:
        """This shop's customer by chat identity, or None."""
        return await self.coll.find_one(
            self.exact({"channel": channel, "platform_user_id": platform_user_id})
        )

    def _aliases(self) -> Any:
        return self.coll.database[ALIASES]

    def _alias_id(self, channel: str, former_id: str) -> str:
        return json.dumps([self.shop_id, channel, former_id], ensure_ascii=False)

    async def remember_former_ids(
        self, formers: Mapping[Identity, Sequence[str]], customers: Mapping[Identity, Doc]
    ) -> None:
        """Record that each customer of `customers` was known by its `formers` ids (a platform
        renamed the user), so a late event under one of them finds it (`by_former_ids`).
        One small document per former id (`ALIASES`), written once; idempotent."""
        docs = [
            {
                "_id": self._alias_id(identity[0], former),
                "shop_id": self.shop_id,
                "channel": identity[0],
                "former_id": former,
                "customer_id": customers[identity]["_id"],
            }
            for identity, ids in formers.items()
            for former in ids
            if former != identity[1]
        ]
        if docs:
            with contextlib.suppress(BulkWriteError):  # known already: duplicates
                await self._aliases().insert_many(docs, ordered=False)

    async def by_former_ids(self, identities: Sequence[Identity]) -> dict[Identity, Doc]:
        """The customers that `identities` name by an id they had before (a platform renamed
        the user): one ``_id`` lookup of `ALIASES` each, then the customer."""

        async def one(identity: Identity) -> Doc | None:
            key = self._alias_id(*identity)
            alias = await self._aliases().find_one(self.where({"_id": {"$eq": key}}))
            return await self.get(alias["customer_id"]) if alias else None

        found = await asyncio.gather(*(one(i) for i in identities))
        return {i: doc for i, doc in zip(identities, found, strict=True) if doc is not None}

    async def rekey(
        self, channel: str, former_ids: Sequence[str], platform_user_id: str
    ) -> Doc | None:
        """Move the customer known by the first of `former_ids` found to `platform_user_id`.

        For a platform that changed how it names a user: the customer keeps its id, orders,
        messages and everything a seller set, and lists the ids it had in
        ``former_user_ids``. Returns the customer as moved, or None when there was nothing to
        move: no customer has a former id, or one already has `platform_user_id` (two
        customers are never merged). A guarded replacement, like every customer write; the
        unique identity index refuses a concurrent creation of `platform_user_id`.
        """
        for _ in range(_MAX_WRITE_ATTEMPTS):
            if await self.find_identity(channel, platform_user_id) is not None:
                return None
            doc = None
            for former in former_ids:
                if (doc := await self.find_identity(channel, former)) is not None:
                    break
            if doc is None:
                return None
            known = [*(doc.get("former_user_ids") or []), doc["platform_user_id"]]
            moved = {"platform_user_id": platform_user_id, "former_user_ids": known}
            try:
                if await self.replace_guarded(doc, moved):
                    return await self.find_identity(channel, platform_user_id)
            except DuplicateKeyError:
                return None  # created meanwhile under the new id
        raise RuntimeError(f"customer {former_ids[0]} kept changing; not moved")

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
        """One page of the report: matching customers in `sort` order, and the next cursor.

        After a cursor, the page is read from the consecutive ranges `after_cursor` gives (one
        query per range, until the page is full): each a flat filter an index serves in order,
        ``shop_id, live, <sort key>, _key`` (`page_index_keys`). A range on another field (a
        closed date range sorted by paid total) is counted first (index-only) and, when it
        holds more than `WIDE_RANGE` customers, tested per row along the sort's index
        (`_walk`); otherwise its index gives its few matches, sorted.
        A `q`, tags or a merged shop's channels take the term path (`TermSearch.page`).
        """
        terms = await self._term_search(filters)
        if terms is not None:  # term path
            return await terms.page(sort, limit, cursor)
        base = await self.report_filter(filters, sorted_page=True)
        walked, tested = split_ranges(base, sort_key(sort.field))
        wide = bool(tested) and await self._count(self.where({**tested, **LIVE})) > WIDE_RANGE
        rows: list[Doc] = []
        for extra in after_cursor(sort, cursor) if cursor else [{}]:
            wanted = limit + 1 - len(rows)
            if wanted <= 0:
                break
            spec = range_sort_spec(sort, extra)
            if wide:
                rows += await self._walk(combine(walked, extra), tested, sort, spec, wanted)
                continue
            rows += (
                await self.coll.find(self.where(combine(base, extra)), report_fields())
                .sort(spec)
                .limit(wanted)
                .to_list(None)
            )
        next_cursor = encode_cursor(sort, rows[limit - 1]) if len(rows) > limit else None
        return rows[:limit], next_cursor

    async def _term_search(self, filters: CustomerFilters) -> TermSearch | None:
        """The term path of `filters` (docs/search-design.md), or None: no `q`, tag or merged
        shop's channel, or the shop's search terms are still being backfilled."""
        if not (filters.q or filters.tags or filters.channels or filters.within):
            return None
        plan = term_plan(filters, await self.has_merges())
        if plan is None or not await terms_ready(self.coll.database, self.shop_id):
            return None
        return TermSearch(self, plan)

    async def _by_ids(self, filters: CustomerFilters) -> CustomerFilters:
        """`filters` as the ids they match when they take the term path, so that exports
        select exactly the report's customers (`TermSearch.all_ids`); else as they are."""
        terms = await self._term_search(filters)
        if terms is None:
            return filters
        return CustomerFilters(ids=tuple(await terms.all_ids()) or ("",))  # "": no customer

    async def _walk(
        self, walked: Doc, tested: Doc, sort: Sort, spec: list[tuple[str, int]], limit: int
    ) -> list[Doc]:
        """The first `limit` customers of `walked` in `spec` order (`range_sort_spec` of
        `sort`) that match `tested` (ranges), read along the sort's index: ``$match`` `walked`,
        ``$sort``, ``$limit`` `_FENCE`, ``$match`` `tested`, ``$limit``. nx-27017 walks
        ``shop_id, live, <sort key>, _key`` and stops at the page's end (the fence keeps SQLite
        from choosing the range's index; it ignores ``hint``); MongoDB is told the same index
        by ``hint`` and streams the stages, the ``$match`` after the ``$limit`` staying where
        it is."""
        pipeline: list[Doc] = [
            {"$match": self.where(walked)},
            {"$sort": dict(spec)},
            {"$limit": _FENCE},
            {"$match": tested},
            {"$limit": limit},
            {"$project": report_fields()},
        ]
        hint = [(key, 1) for key in page_index_keys(sort.field)]
        return await (await self.coll.aggregate(pipeline, hint=hint)).to_list(None)

    async def count_matching(self, filters: CustomerFilters) -> int:
        """How many customers match `filters`.

        ``$match`` + ``$count``, which nx-27017 runs as one SQL ``COUNT`` over the shop's index
        range (it runs ``count_documents``' ``$group`` on a constant in Python over the whole
        collection). A date condition compares the integer copy (`DATE_KEYS`): nx-27017
        compares dates wrongly inside an aggregation ``$match``. A `q`, tags or a merged shop's
        channels take the term path (`TermSearch.count`).
        """
        terms = await self._term_search(filters)
        if terms is not None:  # term path
            return await terms.count()
        return await self._count(self.where(await self.report_filter(filters)))

    async def _count(self, match: Doc) -> int:
        """How many customers match `match` (with the shop): ``$match`` + ``$count``, an
        index-only SQL ``COUNT`` on nx-27017 when an index's equality prefix and range cover
        `match` (a ``live_by_*`` index with `LIVE`), a ``COUNT_SCAN`` on MongoDB."""
        groups = await self._group(match, None)
        return int(groups[0]["customers"]) if groups else 0

    async def _live_groups(
        self, filters: CustomerFilters, field: str | None, **sums: Any
    ) -> list[Doc]:
        """`_group` (on `field`; None: one group of all) of the live customers matching
        `filters`: one pass over the ``shop_id, live`` prefix of an index (`LIVE`), where the
        tombstones' groups were read and subtracted before the `LIVE_KEY` existed."""
        return await self._group(self.where(await self.report_filter(filters)), field, **sums)

    async def find_by_contact(self, field: str, value: str, limit: int = 5) -> list[Doc]:
        """Persons whose normalised ``phone`` or ``email`` equals `value` (at most `limit`):
        a merged identity's phone or e-mail finds the person it belongs to."""
        if field not in ("phone", "email"):
            raise ValueError(field)
        cursor = self.coll.find(self.scope({field: value})).sort("_key", 1).limit(limit)
        return await self._persons(await cursor.to_list(None))

    async def linked(self, customer: Doc, limit: int = 20) -> list[Doc]:
        """Other profiles of the same person: customers sharing this one's phone or e-mail
        (not yet merged with it)."""
        alternatives = [{f: customer[f]} for f in ("phone", "email") if customer.get(f)]
        if not alternatives:
            return []
        query = {"$or": alternatives, "_id": {"$ne": customer["_id"]}}
        cursor = self.coll.find(self.scope(query)).sort("_key", 1).limit(limit)
        found = await self._persons(await cursor.to_list(None))
        return [d for d in found if d["_id"] != customer["_id"]]

    async def persons_of(self, found: dict[Identity, Doc]) -> dict[Identity, Doc]:
        """`found` (customers by identity) with each tombstone replaced by its person."""
        persons = {doc["_id"]: doc for doc in await self._persons(list(found.values()))}
        return {i: persons[person_id(d)] for i, d in found.items() if person_id(d) in persons}

    async def _persons(self, docs: list[Doc]) -> list[Doc]:
        """`docs` with each tombstone replaced by its person, each person once, in order."""
        persons: dict[str, Doc] = {}
        for doc in docs:
            pid = person_id(doc)
            if pid not in persons:
                found = doc if pid == doc["_id"] else await self.get(pid)
                if found is not None:
                    persons[pid] = found
        return list(persons.values())

    async def find_person(self, channel: str, platform_user_id: str) -> Doc | None:
        """The person a chat identity belongs to (a merged identity's person), or None."""
        doc = await self.find_identity(channel, platform_user_id)
        if doc is None or not doc.get("merged_into"):
            return doc
        return await self.get(doc["merged_into"])

    async def get_person(self, customer_id: str) -> Doc | None:
        """This shop's customer by id; the person for a merged customer's id."""
        doc = await self.get(customer_id)
        if doc is None or not doc.get("merged_into"):
            return doc
        return await self.get(doc["merged_into"])

    async def claim(self, doc: Doc, merge_id: str | None) -> bool:
        """Mark the customer read as `doc` as taken by merge `merge_id` (None: release it), if
        nobody changed it since (its ``version``); bumps ``version``. A merge claims every
        customer it changes before changing any, so of two overlapping merges one loses."""
        guard = self.scope({"_id": doc["_id"], "version": doc["version"]})
        new = {**doc, "merge_id": merge_id, "version": doc["version"] + 1}
        if (await self.coll.replace_one(guard, new)).matched_count != 1:
            return False
        await self._written([(doc, new)])
        return True

    async def rewrite(
        self, customer_id: str, change: Callable[[Doc], dict[str, Any] | None]
    ) -> Doc | None:
        """Apply `change` (the customer as read → fields to write, None for nothing) by a
        replacement guarded by the version read, read again until it holds; the customer as
        written (None when it does not exist)."""
        for _ in range(_MAX_WRITE_ATTEMPTS):
            doc = await self.get(customer_id)
            if doc is None:
                return None
            fields = change(doc)
            if fields is None:
                return doc
            if await self.replace_guarded(doc, fields):
                return await self.get(customer_id)
        raise RuntimeError(f"customer {customer_id} kept changing")

    async def merged_into(self, person: str) -> list[Doc]:
        """The tombstones of the customers merged into `person` (index ``by_merged_into``)."""
        cursor = self.coll.find(self.where({"merged_into": {"$eq": person}})).sort("_key", 1)
        return await cursor.to_list(None)

    async def replace_guarded(self, doc: Doc, fields: dict[str, Any]) -> bool:
        """Write `fields` onto the customer read as `doc` if nobody changed it since.

        Bumps ``version`` and ``updated_at``. The guard (version and update time as read)
        makes concurrent writers safe: the loser reads again. A replacement rather than
        ``$set`` (docs/mongodb-compat.md#whole-document-writes).
        """
        new = self._next(doc, fields, utcnow())
        if (await self.coll.replace_one(self._guard(doc), new)).modified_count != 1:
            return False
        await self._written([(doc, new)])
        return True

    def _guard(self, doc: Doc) -> Doc:
        return self.scope(
            {"_id": doc["_id"], "version": doc["version"], "updated_at": doc.get("updated_at")}
        )

    def _next(self, doc: Doc, fields: dict[str, Any], now: datetime) -> Doc:
        return with_derived_keys(
            {
                **doc,
                **fields,
                "shop_id": self.shop_id,
                "updated_at": now,
                "version": doc["version"] + 1,
            }
        )

    async def insert_new(self, docs: list[Doc]) -> int:
        """Insert prepared customers (seeds, imports), with their `DATE_KEYS` copies set."""
        return await super().insert_new([with_derived_keys(with_channels(doc)) for doc in docs])

    async def insert_unordered(self, docs: list[Doc]) -> InsertOutcome:
        """`ShopScoped.insert_unordered`, reporting each customer inserted (`_written`)."""
        outcome = await super().insert_unordered(docs)
        failed = outcome.duplicates | set(outcome.errors)
        await self._written([(None, doc) for i, doc in enumerate(docs) if i not in failed])
        return outcome

    async def _written(self, changes: list[Change]) -> None:
        """Bring what other collections derive from customers in step with `changes`
        (`derived.customers_written`): every successful customer write reports here."""
        await customers_written(self.coll.database, self.shop_id, changes)

    async def by_identities(
        self, identities: Sequence[Identity], concurrency: int = 16
    ) -> dict[Identity, Doc]:
        """This shop's customers among (channel, platform user id) pairs, by one lookup each.

        The lookups run concurrently, each `find_identity` served by the ``customer_identity``
        index on both servers, so a batch costs the same whatever the size of the collection.
        Not one ``$in``: nx-27017 serves that (and a bare equality) by reading every customer
        of every shop, which made each ingest batch slower as customers accumulated
        (docs/benchmarks.md#ingest, docs/mongodb-compat.md#eq-for-equality).
        """
        gate = asyncio.Semaphore(concurrency)

        async def one(identity: Identity) -> Doc | None:
            async with gate:
                return await self.find_identity(*identity)

        found = await asyncio.gather(*(one(i) for i in identities))
        return {i: doc for i, doc in zip(identities, found, strict=True) if doc is not None}

    async def apply_changes(self, changes: list[tuple[Doc, dict[str, Any]]]) -> int:
        """`replace_guarded` for many (customer as read, fields) at once; how many applied."""
        if not changes:
            return 0
        now = utcnow()
        pairs = [(doc, self._next(doc, f, now)) for doc, f in changes]
        ops = [ReplaceOne(self._guard(doc), new) for doc, new in pairs]
        result = await self.coll.bulk_write(ops, ordered=False)
        if result.modified_count != len(ops):  # which lost? those not at the version written
            ids = [new["_id"] for _, new in pairs]
            found = self.coll.find(self.where({"_id": {"$in": ids}}), {"version": 1})
            now_at = {d["_id"]: d.get("version") async for d in found}
            pairs = [(doc, new) for doc, new in pairs if now_at.get(new["_id"]) == new["version"]]
        await self._written(pairs)
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
        filters = await self._by_ids(filters)
        field = sort_key(sort.field)
        cursor = self.coll.find(
            self.where(await self.report_filter(filters)), {"_id": 1, "_key": 1, field: 1}
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

        A walk of the identity index (the ``_id`` index for selected ids), whose keys never
        change, so each matching customer is returned once even while customers change, and
        every customer that matches when the walk reaches it is included; each document is
        read as one consistent version (callers still drop a repeated ``_id``). Whole
        documents, no projection: a projection costs nx-27017 more than the extra bytes. With
        `limit`, the walk stops after `limit` documents.

        The walk is keyset pages of `batch` (`_identity_pages`) unless the filter itself names
        the identity fields or runs in Python (a top-level ``$or``/``$and``): then one cursor.
        Pages because nx-27017 reads a cursor's whole result before its first batch (0.5 s
        for 20,000 customers, holding the database): a page comes back in tens of
        milliseconds, so the writer starts at once and other requests wait one page at most.
        """
        filters = await self._by_ids(filters)
        query = self.where(await self.report_filter(filters))
        paged = not filters.ids and not any(
            key.startswith("$") or key in ("channel", "platform_user_id") for key in query
        )
        pages = (
            self._identity_pages(query, limit, batch)
            if paged
            else self._one_cursor(query, limit, batch, hint=not filters.ids)
        )
        async for raws in pages:
            yield raws

    async def _identity_pages(
        self, query: Doc, limit: int | None, batch: int
    ) -> AsyncIterator[list[bytes]]:
        """`query`'s matches as keyset pages over the identity index (``customer_identity``:
        shop_id, channel, platform_user_id), each one bounded index range read in index order
        on both servers: the rest of a channel after the last user id read, then the channels
        after it. `query` must not name ``channel`` or ``platform_user_id`` itself."""
        coll = self.coll.with_options(codec_options=RAW_BSON)
        channel: str | None = None  # the last row's identity; None: from the start
        user: str | None = None  # None: the channels after `channel` (all when both None)
        read = 0
        while limit is None or read < limit:
            size = batch if limit is None else min(batch, limit - read)
            in_channel = user is not None
            if user is None:
                keyset: Doc = {} if channel is None else {"channel": {"$gt": channel}}
                order = [("channel", 1), ("platform_user_id", 1)]
            else:
                keyset = {"channel": {"$eq": channel}, "platform_user_id": {"$gt": user}}
                order = [("platform_user_id", 1)]
            cursor = coll.find({**query, **keyset}).sort(order).hint(IDENTITY_INDEX)
            docs = await cursor.limit(size).batch_size(size).to_list(None)
            if docs:
                # a memoryview from 4 KiB on: see RAW_BSON
                yield [bytes(doc.raw) for doc in docs]
                read += len(docs)
                channel, user = docs[-1]["channel"], docs[-1]["platform_user_id"]
            if len(docs) < size:
                if not in_channel:
                    return  # the channels from here on hold no more matches
                user = None  # this channel is done: the channels after it

    async def _one_cursor(
        self, query: Doc, limit: int | None, batch: int, *, hint: bool
    ) -> AsyncIterator[list[bytes]]:
        """`query`'s matches from one cursor (on the identity index when `hint`), in batches."""
        cursor = self.coll.with_options(codec_options=RAW_BSON).find(query).batch_size(batch)
        if hint:
            cursor = cursor.hint(IDENTITY_INDEX)
        if limit is not None:
            cursor = cursor.limit(limit)
        raws: list[bytes] = []
        async for doc in cursor:
            raws.append(bytes(doc.raw))  # a memoryview from 4 KiB on: see RAW_BSON
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
        return [bytes(doc.raw) async for doc in coll.find(self.scope({"_id": {"$in": ids}}))]

    async def _group(self, match: Doc, field: str | None, **sums: Any) -> list[Doc]:
        """``[{"_id": value, "customers": n, **sums}]`` grouped on one field (nx-27017 mishandles
        compound group keys); `field` None: ``$count`` (one SQL ``COUNT``, see
        `count_matching`) and no sums."""
        if field is None:
            pipeline: list[Doc] = [{"$match": match}, {"$count": "customers"}]
        else:
            group = {"_id": f"${field}", "customers": {"$sum": 1}, **sums}
            pipeline = [{"$match": match}, {"$group": group}]
        return await (await self.coll.aggregate(pipeline)).to_list(None)

    async def summary(self, filters: CustomerFilters) -> Doc:
        """Counts of the customers matching `filters`, in all and per channel, tag and province.

        Returns ``{"totals": [{"currency", "customers", "paid_total"}],
        "channels": {name: n}, "tags": {tag: n}, "provinces": {key: n}}``.

        No filter, or one channel, one province or one tag alone: read from the summary
        counters (`counts.summary`, two index reads) once the shop's are exact; any other
        filter, or a shop not counted yet: `grouped_summary`.
        """
        dimension = counts.dimension(filters)
        if dimension is not None:
            counted = await counts.summary(self.coll.database, self.shop_id, dimension)
            if counted is not None:
                return counted
        return await self.grouped_summary(filters)

    async def grouped_summary(self, filters: CustomerFilters) -> Doc:
        """`summary` by grouping the customers matching `filters` (four ``GROUP BY``s over
        their index range; twice in a shop with merges, see `_live_groups`).

        Each breakdown groups on one field at a time (nx-27017 mishandles compound group keys);
        tags are grouped by the whole tag list and added up per tag, which nx-27017 runs in SQL
        (``$unwind`` makes it copy the whole collection first). A date condition compares the
        integer copy (`DATE_KEYS`): nx-27017 compares dates wrongly inside an aggregation
        ``$match``. Filters that take the term path (`q`, tags, a merged shop's channels) are
        first turned into the ids they match (`_by_ids`), so the summary counts exactly the
        report's customers.
        """
        filters = await self._by_ids(filters)
        totals = await self._live_groups(filters, "currency", paid_total={"$sum": "$paid_total"})
        tags = _per_item(await self._live_groups(filters, "tags"))
        provinces = await self._live_groups(filters, "province_key")
        if await self.has_merges():  # a person on two channels counts in each
            channel_counts = _per_item(await self._live_groups(filters, "channels"))
        else:
            channels = await self._live_groups(filters, "channel")
            channel_counts = {c["_id"]: int(c["customers"]) for c in channels}
        return {
            "totals": [
                {
                    "currency": t["_id"],
                    "customers": int(t["customers"]),
                    "paid_total": int(t["paid_total"] or 0),
                }
                for t in totals
            ],
            "channels": channel_counts,
            "tags": tags,
            "provinces": {p["_id"] or UNKNOWN_PROVINCE: int(p["customers"]) for p in provinces},
        }

    async def update_guarded(
        self, customer_id: str, version: int, changes: dict[str, Any]
    ) -> Doc | None:
        """Apply `changes` if the customer is still at `version`; return the new document.

        The customer as read at `version`, then one ``replace_one`` guarded by
        ``{_id, shop_id, version}`` bumping ``version`` and setting ``updated_at`` and its
        integer copy, so of two concurrent edits of the same version exactly one wins. A
        replacement, not ``$set`` (docs/mongodb-compat.md#whole-document-writes). Returns None
        when the customer is missing or at another version (the caller tells which with `get`).
        """
        guard = self.scope({"_id": customer_id, "version": version})
        doc = await self.coll.find_one(guard)
        if doc is None:
            return None
        new = self._next(doc, changes, utcnow())
        if (await self.coll.replace_one(guard, new)).matched_count != 1:
            return None
        await self._written([(doc, new)])
        return new

    async def set_chat_admin(self, identity: Identity, linked: bool) -> int:
        """Hide (`linked`) or show again the customer of a chat identity linked as a chat admin.

        Reports, summaries and exports leave out customers with ``chat_admin`` true (their
        `LIVE_KEY` false, `report_filter`); the record itself (spend, history) is kept. A
        boolean ``$set`` of both (no date) that bumps ``version`` like every customer writer,
        only when the flag changes; how many customers changed (0 or 1).
        """
        query = self.exact({"channel": identity[0], "platform_user_id": identity[1]})
        for _ in range(_MAX_WRITE_ATTEMPTS):
            doc = await self.coll.find_one(query)
            if doc is None or bool(doc.get("chat_admin")) == linked:
                return 0
            after = {**doc, "chat_admin": linked, "version": (doc.get("version") or 0) + 1}
            flags = {"chat_admin": linked, LIVE_KEY: is_live(after)}
            result = await self.coll.update_one(
                {**query, "version": {"$eq": doc.get("version")}},
                {"$set": flags, "$inc": {"version": 1}},
            )
            if result.modified_count == 1:
                after[LIVE_KEY] = flags[LIVE_KEY]
                await self._written([(doc, after)])
                return 1
        raise RuntimeError(f"customer {identity[1]} kept changing; chat admin not set")


def with_channels(doc: Doc) -> Doc:
    """`doc` with ``channels`` (the channels of its identities) and an explicit
    ``merged_into``, where it lacks them (a customer not merged: its own channel)."""
    doc.setdefault("channels", [doc["channel"]] if doc.get("channel") else [])
    doc.setdefault("merged_into", None)
    return doc


async def backfill_channels(coll: Any, batch: int = _BACKFILL_BATCH) -> int:
    """Set ``channels`` and ``merged_into`` on customers written before merges existed.

    For every shop at once (a start-up migration), batched and guarded like
    `backfill_date_keys`.
    """
    missing = {"channels": {"$exists": False}}
    projection = {"_id": 1, "version": 1, "channel": 1}
    listed = setting(lambda d: with_channels({"channel": d.get("channel")}))
    return await set_missing(coll, missing, projection, listed, batch)


async def backfill_date_keys(coll: Any, batch: int = _BACKFILL_BATCH) -> int:
    """Set the `DATE_KEYS` copies on customers written before they existed; how many.

    For every shop at once (a start-up migration, not a shop's query). Batched and
    idempotent: each ``$set`` of integers (kept as integers by nx-27017) is guarded by the
    ``version`` read, which every customer writer bumps, and by the copy still missing, so a
    customer changed meanwhile keeps what its writer wrote.
    """
    missing = {"updated_ms": {"$exists": False}}
    projection = {"_id": 1, "version": 1, "updated_at": 1, "last_order_at": 1}
    return await set_missing(coll, missing, projection, setting(date_keys), batch)


async def backfill_live_keys(coll: Any, batch: int = _BACKFILL_BATCH) -> int:
    """Set `LIVE_KEY` on customers written before it existed; how many.

    For every shop at once (a start-up migration): until a customer has it, no report lists it
    (`LIVE`). Batched and guarded by the ``version`` read and the key still missing, like
    `backfill_date_keys`; a boolean ``$set`` (no date), kept as it is by nx-27017.
    """
    missing = {LIVE_KEY: {"$exists": False}}
    projection = {"_id": 1, "version": 1, "merged_into": 1, "chat_admin": 1}
    live = setting(lambda doc: {LIVE_KEY: is_live(doc)})
    return await set_missing(coll, missing, projection, live, batch)


async def backfill_phone_keys(coll: Any, batch: int = _BACKFILL_BATCH) -> int:
    """Normalise the phones of customers written before `PHONE_KEY` existed, and set the key.

    For every shop at once (a start-up migration); how many customers it set. Earlier edits
    stored a phone as typed (``+66812345678``); orders, searches and other profiles of the same
    person compare the normalised form (``0812345678``), so it is rewritten once rather than
    normalised at every read. A phone that is not a usable number stays as it is. A customer
    whose phone changes gets a new ``version``, like at every edit.
    """
    projection = {"_id": 1, "version": 1, "phone": 1}
    # only customers with a phone: nx-27017's `$exists: false` also matches a null key, so
    # every phoneless customer (key null) was read and rewritten at every start-up (181 s at
    # 400,000 customers); a customer without a phone needs no key
    missing = {"phone": {"$gt": ""}, PHONE_KEY: {"$exists": False}}  # a non-empty string
    return await set_missing(coll, missing, projection, _phone_update, batch)


def _phone_update(doc: Doc) -> Doc:
    """The update of `backfill_phone_keys` for one customer."""
    phone = doc.get("phone")
    if isinstance(phone, str):
        try:
            phone = normalise_phone(phone)
        except DomainError:
            pass  # kept as the seller typed it
    update: Doc = {"$set": {"phone": phone, PHONE_KEY: phone_key(phone)}}
    if phone != doc.get("phone"):
        update["$inc"] = {"version": 1}
    return update


async def backfill_seller_fields(db: Any, batch: int = _BACKFILL_BATCH) -> int:
    """Set ``seller_fields`` and ``profile_name`` on customers written before they existed.

    For every shop at once (a start-up migration); returns how many customers it set. Until
    then no platform set an e-mail address, nor a phone number other than WhatsApp's (kept as
    ``platform_phone``), so a customer's others were typed by the seller; so was the name if
    the seller's last edit of it (the audit trail) is the name the customer has, or no
    platform ever contacted the customer (an import). Any other name is the platform's, and
    becomes ``profile_name`` too.
    """
    missing = {"seller_fields": {"$exists": False}}
    if await db.customers.find_one(missing, {"_id": 1}) is None:
        return 0
    typed: dict[tuple[Any, Any], Any] = {}
    edits = db.audit.find(
        {"action": "customer.update", "after.name": {"$exists": True}},
        {"shop_id": 1, "customer_id": 1, "after": 1},
    ).sort("at", 1)
    async for entry in edits:
        typed[(entry["shop_id"], entry.get("customer_id"))] = entry["after"].get("name")

    def seller_fields(doc: Doc) -> Doc:
        fields = [name for name in ("phone", "email") if doc.get(name)]
        if "phone" in fields and _same_number(doc["phone"], doc.get("platform_phone")):
            fields.remove("phone")  # WhatsApp's, filled in where the customer had none
        name = doc.get("name")
        edited = typed.get((doc.get("shop_id"), doc["_id"])) == name
        if name and (edited or doc.get("last_contact_at") is None):
            fields.insert(0, "name")
        return {"seller_fields": fields, "profile_name": None if "name" in fields else name}

    fields = ("shop_id", "version", "name", "phone", "email", "platform_phone", "last_contact_at")
    projection = dict.fromkeys(fields, 1)
    return await set_missing(db.customers, missing, projection, setting(seller_fields), batch)


def _same_number(phone: Any, other: Any) -> bool:
    """Whether two phone numbers, as written, end in the same nine digits."""
    digits = [
        "".join(c for c in str(p or "") if c.isascii() and c.isdigit()) for p in (phone, other)
    ]
    return len(digits[0]) >= 9 and digits[0][-9:] == digits[1][-9:]


def _per_item(groups: list[Doc]) -> dict[str, int]:
    """Customers per item of groups on an array field (tags, channels): each group's count
    added to every item of its key."""
    counts: dict[str, int] = {}
    for group in groups:
        for item in _tag_list(group["_id"]):
            counts[item] = counts.get(item, 0) + int(group["customers"])
    return counts


def _tag_list(value: Any) -> list[str]:
    """The tags of a ``$group`` key on the tag list; nx-27017 returns the list as JSON text."""
    if isinstance(value, str) and value.startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    if not isinstance(value, list):
        return []
    return list(dict.fromkeys(t for t in value if isinstance(t, str)))
