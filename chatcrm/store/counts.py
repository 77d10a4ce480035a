"""Summary counters: the customer summary of a shop, and of one channel, province or tag,
kept as counts maintained on every customer write (docs/search-design.md#the-summary-counters).

`customer_counts` holds a row per (dimension value, breakdown value) pair a shop's live
customers have: ``{_id: "<shop>|<dimension>=<value>|<breakdown>=<value>", shop_id, dim:
"<dimension>=<value>", n, paid_total}``. Dimensions are ``all``, ``channel``, ``tag`` and
``province`` (the summary's filter); breakdowns ``currency`` (with the paid-total sum),
``channel``, ``tag`` and ``province`` (the summary's groups). A summary reads the rows of one
``dim``: an equality on the ``shop_id, dim`` index on both servers (nx-27017 does not serve a
range on ``_id``: it scans the collection).

`customer_counts_state` holds one document per shop (``_id`` = shop id): ``status`` "done"
once the shop's counters are exact (only then does the summary read them), "recounting"
while `recount` rebuilds them, with the ``log`` of the changes written meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import unquote

from pymongo import DeleteMany, InsertOne, UpdateOne
from pymongo.errors import DuplicateKeyError

from chatcrm.domain import CustomerFilters, epoch_ms, is_live
from chatcrm.provinces import UNKNOWN_PROVINCE
from chatcrm.store.base import DATABASE_ERRORS, Doc, index, new_id, utcnow

log = logging.getLogger(__name__)

COUNTS = "customer_counts"
STATE = "customer_counts_state"
INDEXES = {COUNTS: [index("shop_id", "dim", name="by_dimension")]}
"""`STATE` is read by ``_id`` only."""

DONE = "done"
RECOUNTING = "recounting"
STOPPED = "stopped"
"""A recount that did not finish: writes move nothing, the summary groups, a sweep recounts."""
RECOUNT_EVERY_S = 600.0
"""Seconds between sweeps for shops whose counters are not exact (`recount_forever`)."""
STALE_RECOUNT_MS = 15 * 60 * 1000
"""A recount that has not finished after this long is taken to have died: another may start."""

SCAN_BATCH = 5000
"""Customers per read of a recount's scan."""

ALL = "all="
"""The dimension of the unfiltered summary."""

Counted = tuple[Any, Any, tuple[str, ...], tuple[str, ...], str]
"""What a live customer counts under: (currency, paid total, channels, tags, province)."""
Pairs = dict[str, tuple[int, Any]]
"""``"<dimension>=<value>|<breakdown>=<value>"`` -> (customers, paid total)."""


def counted(doc: Doc | None) -> Counted | None:
    """What the summary counts `doc` under, or None when it counts nowhere: a tombstone (a
    customer merged into a person: ``merged_into`` set) or a customer linked as a chat admin,
    the customers `ShopCustomers.summary` leaves out. A person counts in each of its
    identities' ``channels``; tags and channels once each, strings only."""
    if doc is None or not is_live(doc):  # the reports' own rule (the `live` key)
        return None
    channels = doc.get("channels")
    if not isinstance(channels, list) or not channels:
        channels = [doc.get("channel")]
    return (
        doc.get("currency"),
        doc.get("paid_total") or 0,
        tuple(dict.fromkeys(c for c in channels if isinstance(c, str))),
        tuple(dict.fromkeys(t for t in doc.get("tags") or () if isinstance(t, str))),
        doc.get("province_key") or UNKNOWN_PROVINCE,
    )


def _escape(value: Any) -> str:
    """A value as written in a key: ``%``, ``|`` and ``=`` escaped, so no value's key is a
    prefix of another's; None as the empty string."""
    text = "" if value is None else str(value)
    return text.replace("%", "%25").replace("|", "%7C").replace("=", "%3D")


def _values(fields: Counted) -> list[tuple[str, str]]:
    """(dimension/breakdown name, escaped value) of every value `fields` has, currency first."""
    currency, _, channels, tags, province = fields
    return [
        ("currency", _escape(currency)),
        *(("channel", _escape(c)) for c in channels),
        *(("tag", _escape(t)) for t in tags),
        ("province", _escape(province)),
    ]


def pairs(fields: Counted | None) -> Pairs:
    """The counter pairs one customer counts in: each of its dimension values (``all`` too)
    with each of its breakdown values; the paid total on the currency breakdown only."""
    if fields is None:
        return {}
    values = _values(fields)
    dims = [ALL, *(f"{name}={v}" for name, v in values if name != "currency")]
    paid = fields[1]
    return {
        f"{dim}|{name}={v}": (1, paid if name == "currency" else 0)
        for dim in dims
        for name, v in values
    }


def _add(total: dict[str, list[Any]], add: Pairs, sign: int = 1) -> None:
    """Add `add` (less it, with `sign` -1) into `total`, in place."""
    for key, (n, paid) in add.items():
        slot = total.setdefault(key, [0, 0])
        slot[0] += sign * n
        slot[1] += sign * paid


def deltas(changes: Iterable[tuple[Counted | None, Counted | None]]) -> dict[str, list[Any]]:
    """What `changes` (counted fields as read, as written) move: −1 for the pairs as read, +1
    for those as written, summed per pair; the pairs left unchanged are dropped."""
    total: dict[str, list[Any]] = {}
    for before, after in changes:
        if before != after:
            _add(total, pairs(before), -1)
            _add(total, pairs(after))
    return {k: v for k, v in total.items() if v[0] or v[1]}


Move = tuple[Doc, Counted | None, Counted | None]
"""A customer write that moves counters: (customer as written, counted as read, as written)."""


def _entry(move: Move) -> str:
    """A customer write as logged while its shop is recounted (JSON text: nx-27017 keeps a
    pushed sub-document as text anyway): id, version written, counted as read and written."""
    after, was, now = move
    return json.dumps([after["_id"], int(after.get("version") or 0), was, now], default=str)


async def customers_written(
    db: Any, shop_id: str, changes: Sequence[tuple[Doc | None, Doc]]
) -> None:
    """Bring the shop's counters in step with customer `changes` (as read, as written).

    Nothing at all when no counted field changed (a message, a contact): the ingest message
    path pays nothing. Otherwise one read of the shop's state (``_id``), then, by the state:
    "done": one unordered ``bulk_write`` of ``$inc`` upserts of the pairs that moved;
    "recounting": one ``$push`` of the changes to the recount's log, guarded by the state
    (`recount` applies them exactly once); no state (never counted) or "stopped": nothing.
    """
    moves: list[Move] = [
        (after, was, now)
        for before, after in changes
        if (was := counted(before)) != (now := counted(after))
    ]
    if not moves:
        return
    while True:
        state = await db[STATE].find_one({"_id": {"$eq": shop_id}}, {"status": 1})
        status = state.get("status") if state else None
        if status == DONE:
            await _increment(db, shop_id, deltas((was, now) for _, was, now in moves))
            return
        if status != RECOUNTING:
            return
        entries = [_entry(move) for move in moves]
        logged = await db[STATE].update_one(
            {"_id": {"$eq": shop_id}, "status": {"$eq": RECOUNTING}},
            {"$push": {"log": {"$each": entries}}, "$inc": {"logged": len(entries)}},
        )
        if logged.matched_count:
            return  # else the recount finished meanwhile: read the state again


def _row_id(shop_id: str, key: str) -> str:
    return f"{shop_id}|{key}"


def _dim(key: str) -> str:
    return key.split("|", 1)[0]


async def _increment(db: Any, shop_id: str, moved: dict[str, list[Any]]) -> None:
    """Add `moved` to the shop's rows: ``$inc`` upserts, one unordered ``bulk_write``."""
    if not moved:
        return
    ops = [
        UpdateOne(
            {"_id": _row_id(shop_id, key)},
            {"$inc": {"n": n, "paid_total": paid}, "$set": {"shop_id": shop_id, "dim": _dim(key)}},
            upsert=True,
        )
        for key, (n, paid) in moved.items()
    ]
    await db[COUNTS].bulk_write(ops, ordered=False)


def dimension(filters: CustomerFilters) -> str | None:
    """The counters' dimension that answers the summary of `filters`: ``all=`` for none,
    ``channel=…``, ``province=…`` or ``tag=…`` for exactly one of them with one value; None
    for any other filter (the summary groups the matching customers instead)."""
    others = (
        filters.postal_code,
        filters.updated_from,
        filters.updated_before,
        filters.q,
        filters.statuses,
        filters.ids,
        filters.segment,
        filters.within,
    )
    if any(value not in (None, ()) for value in others):
        return None
    given = [
        (name, values)
        for name, values in (
            ("channel", filters.channels),
            ("province", filters.provinces),
            ("tag", filters.tags),
        )
        if values
    ]
    if not given:
        return ALL
    if len(given) == 1 and len(given[0][1]) == 1:
        name, (value,) = given[0]
        return f"{name}={_escape(value)}"
    return None


async def summary(db: Any, shop_id: str, dim: str) -> Doc | None:
    """The summary of the live customers in dimension value `dim`, in `ShopCustomers.summary`'s
    shape, from the counters; None while the shop's counters are not exact (never counted, or
    being recounted). Two index reads: the state by ``_id``, the rows by ``shop_id, dim``."""
    state = await db[STATE].find_one({"_id": {"$eq": shop_id}}, {"status": 1})
    if not state or state.get("status") != DONE:
        return None
    query = {"shop_id": {"$eq": shop_id}, "dim": {"$eq": dim}}
    rows = await db[COUNTS].find(query, {"n": 1, "paid_total": 1}).to_list(None)
    raw: Doc = {"totals": [], "channels": {}, "tags": {}, "provinces": {}}
    groups = {"channel": "channels", "tag": "tags", "province": "provinces"}
    for row in rows:
        n = int(row.get("n") or 0)
        if n <= 0:
            continue
        name, _, value = row["_id"].rsplit("|", 1)[1].partition("=")
        value = unquote(value)
        if name == "currency":
            paid = int(row.get("paid_total") or 0)
            raw["totals"].append({"currency": value or None, "customers": n, "paid_total": paid})
        else:
            raw[groups[name]][value] = n
    return raw


async def mark_new_shop(db: Any, shop_id: str) -> None:
    """Mark a shop just created as counted: it has no customers, so no rows is exact."""
    await db[STATE].update_one(
        {"_id": {"$eq": shop_id}},
        {"$setOnInsert": {"status": DONE, "log": [], "logged": 0}},
        upsert=True,
    )


async def _scan(db: Any, shop_id: str, batch: int) -> tuple[dict[str, list[Any]], dict[str, int]]:
    """The shop's counters as its customers are now, and the ``version`` each was read at.

    One pass over the shop on the ``customer_identity`` index (its keys never change, so each
    customer is read once), the counted fields only; customers counting alike are summed
    first, so the pairs are built once per distinct (currency, channels, tags, province).
    """
    fields = ("version", "currency", "paid_total", "channels", "channel", "tags")
    projection = dict.fromkeys((*fields, "province_key", "merged_into", "chat_admin"), 1)
    cursor = (
        db.customers.find({"shop_id": {"$eq": shop_id}}, projection)
        .hint([("shop_id", 1), ("channel", 1), ("platform_user_id", 1)])
        .batch_size(batch)
    )
    seen: dict[str, int] = {}
    alike: dict[tuple[Any, ...], list[Any]] = {}
    async for doc in cursor:
        seen[doc["_id"]] = int(doc.get("version") or 0)
        fields_of = counted(doc)
        if fields_of is not None:
            currency, paid, *rest = fields_of
            slot = alike.setdefault((currency, *rest), [0, 0])
            slot[0] += 1
            slot[1] += paid
    total: dict[str, list[Any]] = {}
    for (currency, *rest), (n, paid) in alike.items():
        for pair, (_, paid_of_pair) in pairs((currency, paid, *rest)).items():
            slot = total.setdefault(pair, [0, 0])
            slot[0] += n
            slot[1] += paid_of_pair
    return total, seen


def _apply_log(
    total: dict[str, list[Any]], entries: Sequence[str], seen: dict[str, int]
) -> dict[str, list[Any]]:
    """The logged writes the scan did not see (the customer read at an earlier version, or
    not at all), added to `total` in place; what they moved."""
    moved = deltas(
        (_from_json(was), _from_json(now))
        for cid, version, was, now in map(json.loads, entries)
        if seen.get(cid, -1) < version
    )
    _add(total, {k: (n, paid) for k, (n, paid) in moved.items()})
    return moved


def _from_json(fields: list[Any] | None) -> Counted | None:
    """Counted fields read back from a log entry's JSON."""
    if fields is None:
        return None
    currency, paid, channels, tags, province = fields
    return (currency, paid, tuple(channels), tuple(tags), province)


async def recount(db: Any, shop_id: str, batch: int = SCAN_BATCH) -> bool:
    """Rebuild the shop's counters from its customers; False when another recount runs.

    1. The state becomes "recounting" (the summary groups customers meanwhile); from then
       on every counted write pushes itself to the state's ``log`` instead of moving rows.
    2. One scan counts the customers, noting the ``version`` each was read at.
    3. The log read so far is added: each write whose version is above the one scanned
       (the scan read the customer before it); those at or below it are in the scan already.
       The shop's rows are replaced by the result.
    4. The state becomes "done" only if the log grew no further (``logged`` unchanged);
       otherwise the new entries are added as ``$inc``s and 4 is tried again. Writes after
       that move rows as usual. Every write is counted once: either it pushed to the log
       while the state was "recounting" (and is added once, or found in the scan), or it
       moved rows after the state was "done".
    """
    run = await open_recount(db, shop_id)
    if run is None:
        return False
    try:
        return await finish_recount(db, shop_id, run, batch)
    except BaseException:  # stopped (shut down, the database gone): the next sweep recounts
        with contextlib.suppress(Exception):
            await db[STATE].update_one(
                {"_id": {"$eq": shop_id}, "run": {"$eq": run}},
                {"$set": {"status": STOPPED, "log": [], "logged": 0}},
            )
        raise


async def finish_recount(db: Any, shop_id: str, run: str, batch: int = SCAN_BATCH) -> bool:
    """Steps 2-4 of `recount` for the recount `run` opened by `open_recount`; False when a
    later recount took the shop over."""
    total, seen = await _scan(db, shop_id, batch)
    applied = 0
    while True:
        state = await db[STATE].find_one({"_id": {"$eq": shop_id}})
        if state is None or state.get("run") != run:
            return False  # taken over by a later recount
        entries = list(state.get("log") or [])
        moved = _apply_log(total, entries[applied:], seen)
        if applied == 0:
            await _replace_rows(db, shop_id, total)
        else:
            await _increment(db, shop_id, moved)
        applied = len(entries)
        closed = await db[STATE].update_one(
            {"_id": {"$eq": shop_id}, "run": {"$eq": run}, "logged": {"$eq": applied}},
            {"$set": {"status": DONE, "log": [], "logged": 0, "done_ms": epoch_ms(utcnow())}},
        )
        if closed.matched_count:
            return True


async def open_recount(db: Any, shop_id: str) -> str | None:
    """Step 1 of `recount`: make the shop's state "recounting" under a new run id; None when
    another recount started less than `STALE_RECOUNT_MS` ago. Guarded by the run read, so of
    two recounts starting at once one opens."""
    run = new_id("run")
    now = epoch_ms(utcnow()) or 0
    fresh = {"status": RECOUNTING, "run": run, "started_ms": now, "log": [], "logged": 0}
    state = await db[STATE].find_one({"_id": {"$eq": shop_id}})
    if state is None:
        try:
            await db[STATE].insert_one({"_id": shop_id, **fresh})
        except DuplicateKeyError:
            return None
        return run
    if state.get("status") == RECOUNTING and now - int(state.get("started_ms") or 0) < (
        STALE_RECOUNT_MS
    ):
        return None
    guard = {"_id": {"$eq": shop_id}, "run": {"$eq": state.get("run") or ""}}
    if not state.get("run"):
        guard["run"] = {"$exists": False}
    opened = await db[STATE].update_one(guard, {"$set": fresh})
    return run if opened.matched_count else None


async def _replace_rows(db: Any, shop_id: str, total: dict[str, list[Any]]) -> None:
    """The shop's rows replaced by `total` (pairs with customers only), in one ordered
    ``bulk_write``: delete the shop's rows, insert the new ones."""
    ops: list[Any] = [DeleteMany({"shop_id": {"$eq": shop_id}})]
    ops += [
        InsertOne(
            {
                "_id": _row_id(shop_id, k),
                "shop_id": shop_id,
                "dim": _dim(k),
                "n": n,
                "paid_total": p,
            }
        )
        for k, (n, p) in total.items()
        if n
    ]
    await db[COUNTS].bulk_write(ops, ordered=True)


async def recount_shops(db: Any, shop_ids: Sequence[str] | None = None) -> list[str]:
    """Recount `shop_ids`, or every shop whose counters are not "done" (never counted, or a
    recount that died); the shops recounted. A start-up task and ``chatcrm recount``."""
    if shop_ids is None:
        ids = [doc["_id"] async for doc in db.shops.find({}, {"_id": 1})]
        done = {doc["_id"] async for doc in db[STATE].find({"status": {"$eq": DONE}}, {"_id": 1})}
        shop_ids = [sid for sid in ids if sid not in done]
    recounted = []
    for shop_id in shop_ids:
        if await recount(db, shop_id):
            recounted.append(shop_id)
            log.info("recounted the summary counters of shop %s", shop_id)
    return recounted


async def recount_forever(db: Any, every: float = RECOUNT_EVERY_S) -> None:
    """`recount_shops` at start-up and every `every` seconds: a shop whose recount was
    stopped, or died (after `STALE_RECOUNT_MS`), is counted again without a restart."""
    while True:
        try:
            await recount_shops(db)
        except DATABASE_ERRORS as err:
            log.warning("summary counters not recounted yet: %s", err)
        await asyncio.sleep(every)
