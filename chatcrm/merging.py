"""One person across channels: merging customers into a person, splitting one back out.

A person is the customer document of its first identity (the merge target: its id, ``channel``
and ``platform_user_id`` stay). Every customer merged into it stays as a *tombstone*: its own
document, keeping its identity (so the unique identity index still refuses to create it
again), its own first-seen and last-contact times and what the seller had set, with
``merged_into`` = the person and ``merged`` true, which reports leave out. Ingest and orders
follow a tombstone to its person.

Crash safety without multi-document transactions (docs/architecture.md#merging-customers):

1. a merge record states the intent (target, others, the versions read) before any change;
2. every customer taken part is *claimed* (``merge_id``) by a replacement guarded by the
   version read: a customer changed meanwhile, or claimed by an overlapping merge, makes the
   merge release its claims and answer 409 — nothing of it shows;
3. once all are claimed the record is ``applying`` and the merge only moves forward, by
   idempotent steps: the others become tombstones (hidden from the report at once), then the
   person gains their identities, tags and notes; orders and messages move to the person
   (each keeping the identity it came from), the aggregates are recomputed once, and the
   record is ``done``. `recover_merges` (start-up, then every few minutes) completes an
   ``applying`` record and aborts a ``claiming`` one left by a crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chatcrm.domain import DomainError, NotFoundError, as_utc
from chatcrm.orders import RECOVERY_INTERVAL, in_every_shop, recover_forever, refresh_aggregates
from chatcrm.store.base import Doc, utcnow

if TYPE_CHECKING:
    from chatcrm.store import ShopStore, Store


MAX_OTHERS = 20
"""Customers merged into a person at once."""
STALE_CLAIM_MS = 60_000
"""A merge record still claiming after this long was left by a crash: recovery aborts it."""
CONTACT_FIELDS = ("name", "phone", "email")
"""Fields the target keeps; each filled from the first other customer where it has none."""
ADDRESS_FIELDS = ("province", "postal_code", "province_key")
"""The address, kept or filled in as one (from the first other customer that has one)."""
PERSON_FIELDS = (*CONTACT_FIELDS, *ADDRESS_FIELDS, "tags", "notes")
"""What the audit entry of a merge shows of each customer."""
AUTO_MERGE_ACTOR = "system:auto-merge"
"""The audit trail's actor of the merges `auto_merge` makes."""


class MergeConflict(DomainError):
    """A merge that cannot proceed: a customer changed, merged or being merged (409)."""

    status = 409

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message, field, code="merge_conflict")


def parse_others(value: Any, target: str) -> list[str]:
    """The body's ``others``: 1 to `MAX_OTHERS` distinct customer ids other than `target`."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_OTHERS:
        raise DomainError(f"others must be a list of 1 to {MAX_OTHERS} customer ids", "others")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not 0 < len(item) <= 100 or not item.isprintable():
            raise DomainError(f"others[{i}] must be a customer id", f"others[{i}]")
    if target in value or len(set(value)) != len(value):
        raise DomainError("others must be distinct and not the customer itself", "others")
    return list(value)


def parse_versions(value: Any, ids: Sequence[str]) -> dict[str, int]:
    """The body's optional ``versions``: ``{customer id: version}`` the client saw."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not set(value) <= set(ids):
        raise DomainError("versions must map the merged customers' ids to versions", "versions")
    for key, version in value.items():
        if isinstance(version, bool) or not isinstance(version, int):
            raise DomainError(f"versions.{key} must be an integer", f"versions.{key}")
    return dict(value)


async def _read_all(shop: ShopStore, ids: Sequence[str], versions: dict[str, int]) -> list[Doc]:
    """The customers to merge as read now; NotFound / MergeConflict when one cannot be."""
    docs = []
    for i, cid in enumerate(ids):
        field = "id" if i == 0 else f"others[{i - 1}]"
        doc = await shop.customers.get(cid)
        if doc is None:
            raise NotFoundError(f"no such customer {cid}", field)
        if doc.get("merged_into"):
            raise MergeConflict(f"{cid} is already merged into {doc['merged_into']}", field)
        if doc.get("merge_id"):
            raise MergeConflict(f"{cid} is being merged; try again", field)
        if cid in versions and versions[cid] != doc.get("version"):
            raise MergeConflict(f"{cid} changed since version {versions[cid]}", "versions")
        docs.append(doc)
    return docs


async def _claim_all(shop: ShopStore, record: Doc, docs: list[Doc]) -> None:
    """Claim every customer of `record` or none (released, record aborted, MergeConflict)."""
    claimed: list[str] = []
    for doc in docs:
        if not await shop.customers.claim(doc, record["_id"]):
            for cid in claimed:
                await _release(shop, cid, record["_id"])
            await shop.merges.set_state(record, "aborted")
            raise MergeConflict(f"{doc['_id']} changed meanwhile; reload and merge again", "id")
        claimed.append(doc["_id"])
    await shop.merges.set_state(record, "applying")


async def _release(shop: ShopStore, customer_id: str, merge_id: str) -> None:
    """Drop the claim of merge `merge_id` on a customer (if it still holds it)."""
    await shop.customers.rewrite(
        customer_id, lambda d: {"merge_id": None} if d.get("merge_id") == merge_id else None
    )


async def merge(
    shop: ShopStore,
    target: str,
    others: list[str],
    versions: dict[str, int],
    actor: str,
    reason: dict[str, Any] | None = None,
) -> Doc:
    """Merge `others` into the person `target`; the person as it is now (see the module doc).
    `reason` (why an automatic merge was made) goes into the audit entry."""
    docs = await _read_all(shop, [target, *others], versions)
    versions_read = {d["_id"]: d["version"] for d in docs}
    details = {"reason": reason} if reason else {}
    record = await shop.merges.begin(
        "merge", target, others, versions=versions_read, actor=actor, **details
    )
    await _claim_all(shop, record, docs)
    return await apply(shop, record)


async def auto_merge(shop: ShopStore, customer: Doc, phone: str, source: str) -> Doc | None:
    """Merge `customer` (as ingest just wrote it) and the one other customer whose phone is
    `phone`, the normalised number the platform `source` itself gave of `customer` — what a
    shop whose `Shop.auto_merge` is on asks for. Nothing when no other live customer (not a
    chat admin) has the number, or several do (the suggestions list them). The customer the
    seller edited stays the person (what they typed is kept), else the one seen first.
    Audited as `AUTO_MERGE_ACTOR` with the reason. The person, or None: no merge.
    `MergeConflict` (and the other errors of `merge`) when the merge cannot be made: then
    nothing of it shows."""
    me = await shop.customers.get_person(customer["_id"])  # merged meanwhile: its person
    if me is None or me.get("chat_admin"):
        return None
    found = [
        m
        for m in await shop.merges.members("phone", phone)
        if m["_id"] != me["_id"] and not m.get("chat_admin")
    ]
    if len(found) != 1:
        return None
    target, other = sorted([found[0], me], key=_kept_first)
    reason = {"field": "phone", "value": phone, "source": source}
    return await merge(shop, target["_id"], [other["_id"]], {}, AUTO_MERGE_ACTOR, reason)


def _kept_first(doc: Doc) -> tuple[bool, datetime]:
    """Orders the two customers of an automatic merge: the person first (stable: on a tie,
    the customer that had the number before)."""
    seen = as_utc(doc.get("first_seen_at")) or datetime.max.replace(tzinfo=UTC)
    return (not doc.get("seller_fields"), seen)


async def unmerge(shop: ShopStore, target: str, channel: str, user_id: str, actor: str) -> Doc:
    """Split the identity (`channel`, `user_id`) out of the person `target` as its own
    customer again; that customer as it is now."""
    (person,) = await _read_all(shop, [target], {})
    identity = await shop.customers.find_identity(channel, user_id)
    if identity is not None and identity["_id"] == target:
        raise DomainError("the person's first identity stays; split the others out", "identity")
    if identity is None or identity.get("merged_into") != target:
        raise NotFoundError("the person has no such identity", "identity")
    record = await shop.merges.begin("unmerge", target, [identity["_id"]], actor=actor)
    await _claim_all(shop, record, [person])
    await apply(shop, record)
    found = await shop.customers.get(identity["_id"])
    assert found is not None
    return found


async def apply(shop: ShopStore, record: Doc) -> Doc:
    """Carry out an ``applying`` record to the end (idempotent: recovery runs it again)."""
    if record["kind"] == "merge":
        person = await _apply_merge(shop, record)
    else:
        person = await _apply_unmerge(shop, record)
    shop.customers.merges_changed()
    await shop.merges.set_state(record, "done")
    return person


async def _apply_merge(shop: ShopStore, record: Doc) -> Doc:
    target, merge_id = record["target"], record["_id"]
    for other in record["others"]:
        await shop.customers.rewrite(other, lambda d: _tombstone(d, target))
        for earlier in await shop.customers.merged_into(other):  # a person merged in whole
            await shop.customers.rewrite(earlier["_id"], lambda d: _tombstone(d, target))
    others = [d for d in await shop.customers.merged_into(target) if d["_id"] in record["others"]]
    members = await shop.customers.merged_into(target)
    await shop.customers.rewrite(target, lambda d: _person(d, merge_id, others, members))
    for other in record["others"]:
        await shop.orders.move_to_person(other, target)
        await shop.messages.move_to_person(other, target)
    person = await refresh_aggregates(shop, target)
    assert person is not None
    await shop.audit.record_once(
        f"aud_{merge_id}",
        record.get("actor") or "recovery",
        "customer.merge",
        customer_id=target,
        others=record["others"],
        before={d["_id"]: {f: d.get(f) for f in PERSON_FIELDS} for d in others},
        after={f: person.get(f) for f in PERSON_FIELDS},
        **({"reason": record["reason"]} if record.get("reason") else {}),
    )
    return person


async def _apply_unmerge(shop: ShopStore, record: Doc) -> Doc:
    target, merge_id = record["target"], record["_id"]
    (split,) = record["others"]
    await shop.customers.rewrite(split, lambda d: _revived(d, target))
    await shop.orders.give_back(target, split)
    await shop.messages.give_back(target, split)
    members = await shop.customers.merged_into(target)
    await shop.customers.rewrite(target, lambda d: _person(d, merge_id, [], members))
    person = await refresh_aggregates(shop, target)
    await refresh_aggregates(shop, split)
    await shop.audit.record_once(
        f"aud_{merge_id}",
        record.get("actor") or "recovery",
        "customer.unmerge",
        customer_id=target,
        others=[split],
    )
    assert person is not None
    return person


def _tombstone(doc: Doc, person: str) -> dict[str, Any] | None:
    """The fields that make `doc` a tombstone of `person` (None: it is one already)."""
    if doc.get("merged_into") == person and doc.get("merged"):
        return None
    return {"merged_into": person, "merged": True, "merge_id": None}


def _revived(doc: Doc, person: str) -> dict[str, Any] | None:
    """The fields that make the tombstone `doc` of `person` its own customer again."""
    if doc.get("merged_into") != person:
        return None
    return {
        "merged_into": None,
        "merged": False,
        "merge_id": None,
        "channels": [doc["channel"]],
        "identity_channels": None,
        "platform_user_ids": None,
        "merged_ids": [],
    }


def _person(doc: Doc, merge_id: str, others: list[Doc], members: list[Doc]) -> dict[str, Any]:
    """The person `doc` with its identities `members` (every tombstone merged into it) and,
    once per merge, what `others` (this merge's) bring: tags, notes, missing contact fields."""
    fields: dict[str, Any] = {"merge_id": None, **_identity_fields(doc, members)}
    applied = list(doc.get("applied_merges") or [])
    if others and merge_id not in applied:
        fields.update(_joined(doc, others))
        fields["applied_merges"] = [*applied, merge_id][-50:]
    return fields


def _identity_fields(doc: Doc, members: list[Doc]) -> dict[str, Any]:
    """Identity lists, times and status of a person and its merged identities."""
    own_first = doc.get("own_first_seen_at", doc.get("first_seen_at"))
    own_last = doc.get("own_last_contact_at", doc.get("last_contact_at"))
    if not members:  # a single identity again
        return {
            "channels": [doc["channel"]],
            "identity_channels": None,
            "platform_user_ids": None,
            "merged_ids": [],
            "first_seen_at": own_first,
            "last_contact_at": own_last,
        }
    firsts = [t for t in (as_utc(m.get("first_seen_at")) for m in members) if t]
    lasts = [t for t in (as_utc(m.get("last_contact_at")) for m in members) if t]
    status_doc = max([doc, *members], key=_status_key)
    return {
        "channels": list(dict.fromkeys([doc["channel"], *(m["channel"] for m in members)])),
        "identity_channels": [doc["channel"], *(m["channel"] for m in members)],
        "platform_user_ids": [doc["platform_user_id"], *(m["platform_user_id"] for m in members)],
        "merged_ids": [m["_id"] for m in members],
        "own_first_seen_at": own_first,
        "own_last_contact_at": own_last,
        "first_seen_at": _extreme(min, as_utc(own_first), firsts),
        "last_contact_at": _extreme(max, as_utc(own_last), lasts),
        "status": status_doc.get("status"),
    }


def _extreme(pick: Any, own: datetime | None, times: list[datetime]) -> datetime | None:
    values = [t for t in (own, *times) if t is not None]
    return pick(values) if values else None


def _status_key(doc: Doc) -> list[int]:
    order = doc.get("status_order")
    return [int(p) for p in order] if isinstance(order, list) and order else [0]


def _joined(doc: Doc, others: list[Doc]) -> dict[str, Any]:
    """Tags united, notes joined (none lost), contact fields the target lacks filled in."""
    tags = list(
        dict.fromkeys([*(doc.get("tags") or []), *(t for o in others for t in o.get("tags") or [])])
    )
    notes = [n for n in (doc.get("notes"), *(o.get("notes") for o in others)) if n]
    fields: dict[str, Any] = {"tags": tags, "notes": "\n\n".join(dict.fromkeys(notes))}
    seller = list(doc.get("seller_fields") or [])
    for name in CONTACT_FIELDS:
        source = next((o for o in others if o.get(name) is not None), None)
        if doc.get(name) is None and source is not None:
            fields[name] = source[name]
            if name in (source.get("seller_fields") or []) and name not in seller:
                seller.append(name)
    fields["seller_fields"] = seller
    if not _has_address(doc):
        source = next((o for o in others if _has_address(o)), None)
        if source is not None:
            fields.update({name: source.get(name) for name in ADDRESS_FIELDS})
    return fields


def _has_address(doc: Doc) -> bool:
    return doc.get("province") is not None or doc.get("postal_code") is not None


def public_identities(doc: Doc, members: list[Doc]) -> list[dict[str, Any]]:
    """A person's identities for the customer detail, the first one first, each with its own
    first-seen and last-contact times."""
    own = {
        "customer_id": doc["_id"],
        "channel": doc.get("channel"),
        "channel_id": doc.get("channel_id"),
        "platform_user_id": doc.get("platform_user_id"),
        "first_seen_at": as_utc(doc.get("own_first_seen_at", doc.get("first_seen_at"))),
        "last_contact_at": as_utc(doc.get("own_last_contact_at", doc.get("last_contact_at"))),
        "status": doc.get("status"),
    }
    return [
        own,
        *(
            {
                "customer_id": m["_id"],
                "channel": m.get("channel"),
                "channel_id": m.get("channel_id"),
                "platform_user_id": m.get("platform_user_id"),
                "first_seen_at": as_utc(m.get("first_seen_at")),
                "last_contact_at": as_utc(m.get("last_contact_at")),
                "status": m.get("status"),
            }
            for m in members
        ),
    ]


async def recover_shop(shop: ShopStore) -> int:
    """Complete the shop's ``applying`` merge records and abort stale ``claiming`` ones."""
    done = 0
    for record in await shop.merges.open_records("applying"):
        await apply(shop, record)
        done += 1
    stale = int(utcnow().timestamp() * 1000) - STALE_CLAIM_MS
    for record in await shop.merges.open_records("claiming", before_ms=stale):
        for cid in [record["target"], *record["others"]]:
            await _release(shop, cid, record["_id"])
        await shop.merges.set_state(record, "aborted")
        done += 1
    return done


async def recover_merges(store: Store) -> int:
    """`recover_shop` in every shop; how many records it finished."""
    return await in_every_shop(store, recover_shop)


async def recover_merges_forever(store: Store, interval: float = RECOVERY_INTERVAL) -> None:
    """Run `recover_merges` now, then every `interval` seconds, until cancelled."""
    await recover_forever(recover_merges, store, "merges", interval)
