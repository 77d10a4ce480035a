"""Search terms: a side collection that turns every `q`, `tag` and merged-shop `channel`
filter into one index equality (docs/search-design.md).

``customer_terms`` holds one row per (person, term): ``_id`` = ``"<person>|<term>"``,
``shop_id``, ``person``, ``term``, and copies of the person's ``paid_total`` and ``_key`` so
that the rows of one term come in the report's default order from one index:

- ``by_term`` (shop_id, term, paid_total, _key): the rows of a term in page order (an index
  range in order that stops after the page), its count (an index-only ``COUNT`` on nx-27017, a
  ``COUNT_SCAN`` on MongoDB), the keyset ranges after a cursor;
- ``by_person`` (shop_id, person): a person's rows, to rewrite them;
- ``_id``: "has this person this term" lookups, one ``$in`` of ids per batch (nx-27017 serves
  an ``_id`` ``$in`` from its primary key, unlike any other ``$in``).

`terms_of` (pure) says which rows a customer document has; `sync_terms` is called for every
customer write (`chatcrm.store.derived`) and brings the rows in step; `rebuild_shop` rebuilds a
shop's rows (start-up backfill, ``chatcrm reindex-search``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from pymongo import DeleteOne, InsertOne, UpdateOne
from pymongo.errors import BulkWriteError

from chatcrm.domain import is_live
from chatcrm.input_rules import MIN_Q_CHARS, phone_digits, q_term, search_text
from chatcrm.store.base import DUPLICATE_KEY, Doc, index

log = logging.getLogger(__name__)

TERMS = "customer_terms"
STATE = "search_state"
"""One document, ``_id`` = `STATE_ID`: ``pending``, the shops whose rows are being backfilled."""
STATE_ID = "customer_terms"

INDEXES = {
    TERMS: [
        index("shop_id", "term", "paid_total", "_key", name="by_term"),
        index("shop_id", "person", name="by_person"),
    ]
}

MAX_START = 24
"""Longest term stored: a name's starts stop here, a longer e-mail or id is stored by its first
`MAX_START` characters. A longer `q` looks up its first `MAX_START` characters and the
candidates are checked against the whole `q` (`finds`)."""
MIN_PHONE_START = 3
"""Fewest digits of a phone's stored starts."""
MIN_PHONE_END = 4
"""Fewest digits of a phone's stored ends."""
TAG = "\x1ftag\x1f"
"""Prefix of a tag's row: a control character, which no `q` keeps, so a typed `q` never finds
a tag row."""
CHANNEL = "\x1fchannel\x1f"
"""Prefix of a channel's row (any identity's channel of a person: ``channels``)."""


SOURCES = (
    "paid_total",
    "name",
    "profile_name",
    "phone",
    "email",
    "platform_user_id",
    "platform_user_ids",
    "tags",
    "channels",
    "channel",
    "_key",
    "merged_into",
    "merged",
    "chat_admin",
)
"""The fields `term_rows` derives from: a write that changes none of them changes no row."""


def tag_term(tag: str) -> str:
    """The row of customers tagged `tag` (tags compare exactly, as the ``tags`` array does)."""
    return TAG + tag


def channel_term(channel: str) -> str:
    """The row of persons with an identity on `channel`."""
    return CHANNEL + channel


def row_term(term: str) -> str:
    """The stored row a `q` term is looked up by: its first `MAX_START` characters."""
    return term if term.startswith("\x1f") else term[:MAX_START]


def searchable(doc: Doc | None) -> bool:
    """Whether `doc` is a person a report may list: not a tombstone of a merge, not a customer
    linked as a chat admin (both are never found)."""
    return doc is not None and is_live(doc)  # the reports' own rule (the `live` key)


def terms_of(doc: Doc | None, cap: int | None = MAX_START) -> set[str]:
    """Every term a `q`, `tag` or `channel` filter finds `doc` by; empty for a tombstone or a
    chat admin. The spec of `q` (issue 12, the API description of `q`):

    - name and profile name (`search_text`): from the start of each word on, every start of the
      rest of the name of 2 characters or more (``สมชาย ใจดี`` -> ``สม`` … ``สมชาย ใจดี``,
      ``ใจ`` … ``ใจดี``), no start ending in a space;
    - phone (stored normalised): every start from 3 digits, every end from 4 digits;
    - e-mail: the whole address and its part before ``@`` (`q_term`);
    - every identity's platform user id (`q_term`);
    - ``TAG + tag`` per tag, ``CHANNEL + channel`` per channel of ``channels``.

    `cap` (None: none) is `MAX_START`: each text term is stored by its first `cap` characters.
    """
    if not searchable(doc):
        return set()
    assert doc is not None
    terms: set[str] = set()
    for field in ("name", "profile_name"):
        terms.update(_name_starts(doc.get(field)))
    terms.update(_phone_parts(doc.get("phone")))
    email = doc.get("email")
    if isinstance(email, str) and email:
        address = q_term(email)
        terms.update(t for t in (address, address.split("@")[0]) if len(t) >= MIN_Q_CHARS)
    ids = [doc.get("platform_user_id"), *(doc.get("platform_user_ids") or ())]
    terms.update(t for t in (q_term(str(i)) for i in ids if i) if len(t) >= MIN_Q_CHARS)
    if cap is not None:
        terms = {t[:cap] for t in terms}
    terms.update(tag_term(t) for t in doc.get("tags") or () if isinstance(t, str))
    channels = doc.get("channels") or ([doc["channel"]] if doc.get("channel") else [])
    terms.update(channel_term(c) for c in channels if isinstance(c, str))
    return terms


def _name_starts(name: Any) -> Iterable[str]:
    """The starts of a name stored as terms (`terms_of`); only up to `MAX_START` + 1 characters
    of each word's rest: a longer start is stored as its first `MAX_START` (`finds` checks the
    rest)."""
    if not isinstance(name, str):
        return
    text = search_text(name)
    at = 0
    while at < len(text):
        rest = text[at:]
        for n in range(MIN_Q_CHARS, len(rest) + 1):
            if rest[n - 1] != " ":
                yield rest[:n]
        space = rest.find(" ")
        if space < 0:
            break
        at += space + 1


def _phone_parts(phone: Any) -> Iterable[str]:
    """Starts (3+ digits) and ends (4+ digits) of a stored phone, in its local digits."""
    if not isinstance(phone, str) or not phone:
        return
    digits = q_term(phone) if phone_digits(phone) is not None else None
    if not digits or not digits.isdigit():
        return
    yield from (digits[:n] for n in range(MIN_PHONE_START, len(digits) + 1))
    yield from (digits[-n:] for n in range(MIN_PHONE_END, len(digits)))


def finds(doc: Doc | None, term: str) -> bool:
    """Whether the term `term` (a `q_term`, `tag_term` or `channel_term`, any length) finds
    `doc`: the check of a page's customers against their rows, which may be stale for a moment
    (a concurrent write) or a shortened `q` (`row_term`)."""
    if not searchable(doc):
        return False
    if len(term) <= MAX_START or term.startswith("\x1f"):
        return term in terms_of(doc)
    return term in terms_of(doc, cap=None)


def finds_all(doc: Doc | None, groups: Sequence[Sequence[str]]) -> bool:
    """Whether `doc` has a term of every group (`finds` of each, its terms computed once)."""
    if not searchable(doc):
        return False
    stored = terms_of(doc)
    whole: set[str] | None = None
    for group in groups:
        for term in group:
            if len(term) <= MAX_START or term.startswith("\x1f"):
                if term in stored:
                    break
                continue
            whole = terms_of(doc, cap=None) if whole is None else whole
            if term in whole:
                break
        else:
            return False
    return True


def term_rows(doc: Doc) -> dict[str, Doc]:
    """The rows of `doc` by ``_id`` (none for a tombstone or a chat admin)."""
    person = doc["_id"]
    return {
        f"{person}|{term}": {
            "_id": f"{person}|{term}",
            "shop_id": doc["shop_id"],
            "person": person,
            "term": term,
            "paid_total": doc.get("paid_total"),
            "_key": doc.get("_key") or person,
            "version": doc.get("version") or 0,
        }
        for term in terms_of(doc)
    }


Change = tuple[Doc | None, Doc]


async def sync_terms(db: Any, shop_id: str, changes: Sequence[Change]) -> None:
    """Bring the rows of the persons of `changes` (customer as read, as written) in step.

    Nothing at all when no change touches the terms or ``paid_total`` (a chat message). Else,
    in one unordered ``bulk_write``: the added rows (an insert for a new customer, else an
    upsert guarded by ``version``: a row a later writer already claimed is left to it), the
    dropped rows (deleted if no later writer claimed them), and for a changed ``paid_total``
    with unchanged terms one ``update_many`` of the person's rows (``by_person``). Writers of
    one customer may reach here out of order; so each then checks that the customer is still
    at the version it wrote and otherwise rewrites the person's rows from the customer as it
    is now (`resync`), until that holds.
    """
    ops: list[Any] = []
    paid: list[Doc] = []
    touched: dict[str, int] = {}
    for before, after in changes:
        if before is not None and all(before.get(f) == after.get(f) for f in SOURCES):
            continue  # a chat message, a status: not even `terms_of` (ingest's hot path)
        old, new = terms_of(before), terms_of(after)
        price_changed = (before or {}).get("paid_total") != after.get("paid_total")
        if old == new and not (price_changed and new):
            continue
        version = after.get("version") or 0
        touched[after["_id"]] = version
        rows = term_rows(after)
        for term in new - old:
            row = rows[f"{after['_id']}|{term}"]
            if before is None:
                ops.append(InsertOne(row))
            else:
                guard = {"_id": row["_id"], "version": {"$lte": version}}
                ops.append(UpdateOne(guard, {"$set": row}, upsert=True))
        for term in old - new:
            ops.append(DeleteOne({"_id": f"{after['_id']}|{term}", "version": {"$lte": version}}))
        if price_changed and old & new:
            paid.append(after)
    if not touched:
        return
    coll = db[TERMS]
    await _bulk(coll, ops)
    for doc in paid:
        version = doc.get("version") or 0
        mine = {"shop_id": {"$eq": shop_id}, "person": {"$eq": doc["_id"]}}
        update = {"$set": {"paid_total": doc.get("paid_total"), "version": version}}
        await coll.update_many({**mine, "version": {"$lte": version}}, update)
    await settle(db, shop_id, touched)


async def _bulk(coll: Any, ops: list[Any]) -> None:
    """One unordered ``bulk_write`` of `ops`; a duplicate key (a row a later writer claimed,
    or an insert of a row that exists) is not an error."""
    if not ops:
        return
    try:
        await coll.bulk_write(ops, ordered=False)
    except BulkWriteError as err:
        others = [e for e in err.details.get("writeErrors", []) if e.get("code") != DUPLICATE_KEY]
        if others:
            raise


async def settle(db: Any, shop_id: str, written: dict[str, int], attempts: int = 20) -> None:
    """Make sure the rows of persons just synced at the versions `written` are those of the
    customer as it is now: where the customer moved on meanwhile (another writer's sync may have
    run before ours), `resync` it from what it is now, until its version stays put. One
    ``_id`` ``$in`` read of the customers' versions."""
    for _ in range(attempts):
        if not written:
            return
        found = db.customers.find({"_id": {"$in": list(written)}}, {"version": 1})
        now = {d["_id"]: d.get("version") or 0 async for d in found}
        moved = [pid for pid, v in written.items() if now.get(pid) != v]
        written = {}
        for pid in moved:
            version = await resync(db, shop_id, pid)
            if version is not None:
                written[pid] = version
    if written:
        log.warning("search terms of %s kept changing; `chatcrm reindex-search` repairs", written)


async def resync(db: Any, shop_id: str, person: str) -> int | None:
    """Rewrite `person`'s rows from the customer as it is now; its version read (None when it
    does not exist: its rows are deleted). Rows a later writer claimed are left to it."""
    doc = await db.customers.find_one({"_id": {"$eq": person}, "shop_id": {"$eq": shop_id}})
    have = db[TERMS].find({"shop_id": {"$eq": shop_id}, "person": {"$eq": person}})
    rows = {r["_id"]: r async for r in have}
    await _bulk(db[TERMS], _diff(rows, doc, person))
    return None if doc is None else doc.get("version") or 0


def _diff(rows: dict[str, Doc], doc: Doc | None, person: str) -> list[Any]:
    """The writes that turn a person's `rows` into those of `doc` (None: no rows), each guarded
    by the version of `doc` (a row claimed by a later writer is left)."""
    want = term_rows(doc) if doc is not None else {}
    version = (doc or {}).get("version") or 0
    ops: list[Any] = []
    for rid, row in want.items():
        have = rows.get(rid)
        if have is None:  # an insert: several times faster than an upsert on nx-27017
            ops.append(InsertOne(row))
        elif have.get("paid_total") != row["paid_total"]:
            guard = {"_id": rid, "version": {"$lte": version}}
            ops.append(UpdateOne(guard, {"$set": row}, upsert=True))
    guard: Doc = {"version": {"$lte": version}} if doc is not None else {}  # None: no person
    ops += [DeleteOne({"_id": rid, **guard}) for rid in rows if rid not in want]
    return ops


REBUILD_BATCH = 1000
"""Customers per step of `rebuild_shop`."""


async def rebuild_shop(db: Any, shop_id: str, batch: int = REBUILD_BATCH) -> int:
    """Make every row of the shop agree with its customers; how many rows it wrote or deleted.

    The shop's customer ids (an index led by ``shop_id``), sorted; then per batch of consecutive ids
    the customers (``_id`` ``$in``) and the rows of exactly those persons (a range on
    ``by_person``), and the difference written (`_diff`); rows of persons that are no
    customer are deleted. Writers keep writing meanwhile: persons whose customer changed during
    the batch are settled (`settle`). Then the shop is no longer pending: its `q` takes the
    term path. The start-up backfill of a shop written before search terms existed, and the
    repair after a crash between a customer write and its rows (``chatcrm reindex-search``).
    """
    shop = {"shop_id": {"$eq": shop_id}}
    found = db.customers.find(shop, {"_id": 1}).batch_size(10_000)
    ids = sorted([d["_id"] async for d in found])
    changed = 0
    for start in range(0, max(len(ids), 1), batch):
        part = ids[start : start + batch]
        low = part[0] if start > 0 and part else None
        high = ids[start + batch] if start + batch < len(ids) else None
        changed += await _rebuild_part(db, shop_id, part, low, high)
    await db[STATE].update_one({"_id": STATE_ID}, {"$pull": {"pending": shop_id}})
    return changed


async def _rebuild_part(
    db: Any, shop_id: str, ids: list[str], low: str | None, high: str | None
) -> int:
    """`rebuild_shop` for the persons `ids`, whose rows are those with ``person`` in
    [`low`, `high`) (None: open)."""
    shop = {"shop_id": {"$eq": shop_id}}
    docs = {}
    if ids:  # the shop checked here: with it in the filter, SQLite walks the shop's index
        cursor = db.customers.find({"_id": {"$in": ids}})
        docs = {d["_id"]: d async for d in cursor if d.get("shop_id") == shop_id}
    span: Doc = {}
    if low is not None:
        span["$gte"] = low
    if high is not None:
        span["$lt"] = high
    rows: dict[str, dict[str, Doc]] = {}
    query = {**shop, "person": span} if span else shop
    async for row in db[TERMS].find(query):
        rows.setdefault(row["person"], {})[row["_id"]] = row
    ops: list[Any] = []
    for person in set(docs) | set(rows):
        ops += _diff(rows.get(person, {}), docs.get(person), person)
    await _bulk(db[TERMS], ops)
    written = {pid: d.get("version") or 0 for pid, d in docs.items()}
    await settle(db, shop_id, written)
    return len(ops)


async def pending_shops(db: Any) -> set[str] | None:
    """The shops whose rows are still being backfilled; None before the backfill was planned
    (`plan_backfill`)."""
    state = await db[STATE].find_one({"_id": {"$eq": STATE_ID}})
    return None if state is None else set(state.get("pending") or ())


async def plan_backfill(db: Any) -> None:
    """Once per database: list the shops that exist now as pending (their customers were
    written before search terms were kept; shops created later have their rows from the
    start). Concurrent start-ups: the first insert wins."""
    if await db[STATE].find_one({"_id": {"$eq": STATE_ID}}) is not None:
        return
    shops = [d["_id"] async for d in db.shops.find({}, {"_id": 1})]
    state = {"_id": STATE_ID, "pending": shops}
    try:
        await db[STATE].insert_one(state)
    except Exception as err:  # noqa: BLE001 - a concurrent start-up inserted it
        if getattr(err, "code", None) != DUPLICATE_KEY:
            raise


async def backfill(db: Any) -> int:
    """Rebuild the rows of every pending shop, marking each done; how many rows written.
    Run in the background at start-up (`chatcrm.app`): until its shop is done, a `q` runs the
    slower search of the customers themselves."""
    total = 0
    for shop_id in sorted(await pending_shops(db) or ()):
        took = asyncio.get_running_loop().time()
        n = await rebuild_shop(db, shop_id)
        took = asyncio.get_running_loop().time() - took
        log.info("search terms of shop %s: %d rows written in %.0f s", shop_id, n, took)
        total += n
    return total


_READY: set[tuple[int, str]] = set()
"""(database, shop) pairs known to have their rows: a shop never becomes pending again."""


async def terms_ready(db: Any, shop_id: str) -> bool:
    """Whether the shop's rows are complete (planned and not pending), cached once true."""
    key = (id(db.client), shop_id)
    if key in _READY:
        return True
    pending = await pending_shops(db)
    if pending is None or shop_id in pending:
        return False
    _READY.add(key)
    return True
