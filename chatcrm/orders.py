"""Orders: input rules, status transitions, and customer aggregates that change exactly once.

How the aggregates stay exact without multi-document transactions:

1. An order change is one atomic write on the order document: the insert (unique on shop and
   order id) or a status change guarded by the current status (``{"status": from}``), so of
   concurrent identical calls exactly one wins. The same write stores a fresh ``dirty`` token.
2. The customer's aggregates are then *recomputed* from the customer's orders and written with
   a guard on the customer's ``version`` read before the orders; a refresh that lost a race
   reads again. The aggregates are a function of the orders' statuses, so re-running a refresh
   (a retry, a concurrent caller, a recovery after a crash) can never count a transition twice,
   and ``version``/``updated_at`` move only when a value changes.
3. After a refresh the tokens it saw are cleared. A crash between 1 and 2 leaves the token set:
   any later read of the order or customer finishes the refresh, and so does
   `recover_aggregates_forever`, which the service runs at start-up and every few minutes
   (in every process: refreshes may overlap, see 2).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chatcrm.domain import ORDER_STATUSES, DomainError, as_utc
from chatcrm.input_rules import clean_text, normalise_email, normalise_phone, parse_datetime
from chatcrm.store.base import Doc, new_id, utcnow
from connectors.registry import CUSTOMER_CHANNELS

if TYPE_CHECKING:
    from chatcrm.store import ShopStore, Store

log = logging.getLogger(__name__)

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "placed": ("paid", "cancelled"),
    "paid": ("refunded",),
    "refunded": (),
    "cancelled": (),
}
"""Allowed status changes; any other is refused (409)."""

MAX_AMOUNT = 10**12
MAX_ITEMS = 200
MAX_QUANTITY = 1_000_000
RECENT_DAYS = 90
""""Spend in the last 3 months": paid orders with ``paid_at`` in the last 90 days."""
RECOVERY_INTERVAL = 300.0
"""Seconds between two passes of `recover_aggregates_forever`."""

_ORDER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/#-]{0,63}")


class Conflict(Exception):
    """A request that contradicts the stored state (answered 409); `field` names the input."""

    def __init__(self, message: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.field = field
        self.extra = extra


class NotFound(Exception):
    """A referenced document does not exist in the shop (answered 404)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class CustomerRef:
    """How an order names its customer: by id, chat identity, phone or e-mail."""

    id: str | None = None
    channel: str | None = None
    platform_user_id: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class OrderInput:
    """A validated order as the client sent it (times in UTC)."""

    order_id: str
    customer: CustomerRef
    currency: str
    amount: int
    status: str
    paid_at: datetime | None
    created_at: datetime | None
    items: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def fingerprint(self, customer_id: str) -> str:
        """A digest of the order's content: equal for an identical retry."""
        content = {
            "customer_id": customer_id,
            "currency": self.currency,
            "amount": self.amount,
            "status": self.status,
            "paid_at": self.paid_at.isoformat() if self.paid_at else None,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "items": list(self.items),
        }
        raw = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DomainError(f"{name} must be an integer from {low} to {high}", field=name)
    return value


def _text(value: Any, name: str, high: int) -> str:
    """Required text of at most `high` characters, without control characters."""
    text = clean_text(value, name, high) if isinstance(value, str) else ""
    if not text:
        raise DomainError(f"{name} must be 1-{high} characters", field=name)
    return text


def parse_customer_ref(value: Any) -> CustomerRef:
    """The order's ``customer``: ``{"id"}``, ``{"channel", "platform_user_id"}``,
    ``{"phone"}`` or ``{"email"}``."""
    if not isinstance(value, dict):
        raise DomainError("customer must be an object", field="customer")
    if value.get("id") is not None:
        return CustomerRef(id=_text(value["id"], "customer.id", 64))
    if value.get("channel") is not None or value.get("platform_user_id") is not None:
        channel = value.get("channel")
        if channel not in CUSTOMER_CHANNELS:
            raise DomainError(
                f"customer.channel must be one of {', '.join(CUSTOMER_CHANNELS)}",
                field="customer.channel",
            )
        user_id = _text(value.get("platform_user_id"), "customer.platform_user_id", 128)
        return CustomerRef(channel=channel, platform_user_id=user_id)
    if value.get("phone") is not None:
        return CustomerRef(phone=normalise_phone(value["phone"], "customer.phone"))
    if value.get("email") is not None:
        return CustomerRef(email=normalise_email(value["email"], "customer.email"))
    raise DomainError(
        "customer needs id, channel and platform_user_id, phone, or email", field="customer"
    )


def parse_items(value: Any) -> tuple[dict[str, Any], ...]:
    """Order lines ``[{"name", "quantity", "unit_price"}]`` (unit price in minor units)."""
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise DomainError(f"items must be a list of at most {MAX_ITEMS} lines", field="items")
    items = []
    for i, line in enumerate(value):
        where = f"items[{i}]"
        if not isinstance(line, dict):
            raise DomainError(f"{where} must be an object", field=where)
        items.append(
            {
                "name": _text(line.get("name"), f"{where}.name", 200),
                "quantity": _int(line.get("quantity"), f"{where}.quantity", 1, MAX_QUANTITY),
                "unit_price": _int(line.get("unit_price"), f"{where}.unit_price", 0, MAX_AMOUNT),
            }
        )
    return tuple(items)


def parse_order(body: Mapping[str, Any], shop_currency: str) -> OrderInput:
    """Validate an order body; DomainError names the first bad field.

    ``currency`` defaults to, and must equal, the shop's currency. With items, ``amount`` must
    equal the sum of quantity x unit price. ``paid_at`` is required for paid and refunded
    orders and refused for placed ones; ``created_at`` (when the order was placed) is optional.
    """
    order_id = body.get("order_id")
    if not isinstance(order_id, str) or not _ORDER_ID.fullmatch(order_id):
        raise DomainError(
            "order_id must be 1-64 characters: letters, digits and . _ : / # -", field="order_id"
        )
    customer = parse_customer_ref(body.get("customer"))
    currency = body.get("currency", shop_currency)
    if currency != shop_currency:
        raise DomainError(f"currency must be the shop's currency {shop_currency}", "currency")
    amount = _int(body.get("amount"), "amount", 0, MAX_AMOUNT)
    items = parse_items(body.get("items"))
    if items and amount != sum(i["quantity"] * i["unit_price"] for i in items):
        raise DomainError("amount must equal the sum of quantity x unit_price", field="amount")
    status = body.get("status", "placed")
    if status not in ORDER_STATUSES:
        raise DomainError(f"status must be one of {', '.join(ORDER_STATUSES)}", field="status")
    paid_at = parse_datetime(body["paid_at"], "paid_at") if body.get("paid_at") else None
    if status in ("paid", "refunded") and paid_at is None:
        raise DomainError(f"paid_at is required for a {status} order", field="paid_at")
    if status == "placed" and paid_at is not None:
        raise DomainError("a placed order has no paid_at yet", field="paid_at")
    created_at = (
        parse_datetime(body["created_at"], "created_at") if body.get("created_at") else None
    )
    return OrderInput(order_id, customer, currency, amount, status, paid_at, created_at, items)


def compute_aggregates(orders: list[Doc]) -> dict[str, Any]:
    """The customer's spend aggregates from its orders' statuses (pure)."""
    paid = [o["amount"] for o in orders if o["status"] == "paid"]
    live = [as_utc(o["created_at"]) for o in orders if o["status"] != "cancelled"]
    return {
        "paid_total": sum(paid),
        "order_count": len(paid),
        "unpaid_total": sum(o["amount"] for o in orders if o["status"] == "placed"),
        "refunded_total": sum(o["amount"] for o in orders if o["status"] == "refunded"),
        "last_order_at": max(live) if live else None,  # type: ignore[type-var]
    }


def average_order_value(paid_total: int, order_count: int) -> int | None:
    """Paid total // paid orders, None without paid orders."""
    return paid_total // order_count if order_count else None


async def refresh_aggregates(shop: ShopStore, customer_id: str) -> Doc | None:
    """Recompute and store a customer's aggregates (see the module doc); return the customer."""
    for _ in range(200):
        customer = await shop.customers.get(customer_id)
        if customer is None:
            return None
        orders = await shop.orders.aggregate_inputs(customer_id)
        values = compute_aggregates(orders)
        current = {k: customer.get(k) for k in values}
        current["last_order_at"] = as_utc(current["last_order_at"])
        if current != values:
            if not await shop.customers.replace_guarded(customer, values):
                continue  # another writer moved the customer on: read again
            customer = await shop.customers.get(customer_id)
        await shop.orders.clear_dirty([(o["_id"], o["dirty"]) for o in orders if o.get("dirty")])
        return customer
    raise RuntimeError(f"aggregates of {customer_id} did not settle")


async def refresh_pending(shop: ShopStore) -> int:
    """Finish every aggregate refresh left by an interrupted order change; return how many."""
    ids = await shop.orders.dirty_customer_ids()
    for customer_id in ids:
        await refresh_aggregates(shop, customer_id)
    return len(ids)


async def recover_aggregates(store: Store) -> int:
    """`refresh_pending` in every shop; return how many customers were refreshed."""
    return await in_every_shop(store, refresh_pending)


async def in_every_shop(store: Store, per_shop: Callable[[ShopStore], Awaitable[int]]) -> int:
    """Run a recovery pass (`per_shop`: how many it finished) in every shop; the sum."""
    finished = 0
    for shop in await store.shops.list():
        finished += await per_shop(store.for_shop(shop.id))
    return finished


async def recover_aggregates_forever(store: Store, interval: float = RECOVERY_INTERVAL) -> None:
    """Run `recover_aggregates` now, then every `interval` seconds, until cancelled."""
    await recover_forever(recover_aggregates, store, "order aggregate refreshes", interval)


async def recover_forever(
    recover: Callable[[Store], Awaitable[int]], store: Store, what: str, interval: float
) -> None:
    """Run a recovery pass (`recover`, how many of `what` it finished) now, then every
    `interval` seconds, until cancelled.

    A pass that fails (the database does not answer, say) is logged; the next one tries again.
    """
    while True:
        try:
            finished = await recover(store)
        except Exception:
            log.exception("recovery of interrupted %s failed; next try in %s s", what, interval)
        else:
            if finished:
                log.info("finished %d interrupted %s", finished, what)
        await asyncio.sleep(interval)


async def resolve_identity(
    shop: ShopStore, ref: CustomerRef, currency: str, *, create: bool = True
) -> tuple[Doc, Doc]:
    """The person an order names, and the identity (customer document) it was named by.

    By id: NotFound when the id is not this shop's. By phone/e-mail: NotFound when no customer
    has it, Conflict (with the candidate ids) when several do. By chat identity: a customer
    not yet known is created as a contact known only by its chat id. An id or identity of a
    customer merged into a person names that person.
    """
    doc: Doc | None = None
    if ref.id is not None:
        doc = await shop.customers.get(ref.id)
    elif ref.channel is not None and ref.platform_user_id is not None:
        doc = await shop.customers.find_identity(ref.channel, ref.platform_user_id)
        if doc is None and create:
            doc = await shop.customers.upsert_contact(
                ref.channel, ref.platform_user_id, channel_id=None, at=utcnow(), currency=currency
            )
    else:
        found = await _by_contact(shop, ref)
        return found, found
    if doc is None:
        raise NotFound("no such customer", field="customer")
    person = doc
    if doc.get("merged_into"):
        person = await shop.customers.get_person(doc["_id"]) or doc
    return person, doc


async def _by_contact(shop: ShopStore, ref: CustomerRef) -> Doc:
    """The one person with the order's phone or e-mail."""
    kind, value = ("phone", ref.phone) if ref.phone is not None else ("email", ref.email)
    assert value is not None
    found = await shop.customers.find_by_contact(kind, value)
    if not found:
        raise NotFound(f"no customer has this {kind}", field="customer")
    if len(found) > 1:
        raise Conflict(
            f"several customers have this {kind}; name the customer by id",
            field="customer",
            candidates=[d["_id"] for d in found],
        )
    return found[0]


def new_order_doc(
    order: OrderInput, customer: Doc, fingerprint: str, source: str, identity: Doc | None = None
) -> Doc:
    """The order document for a validated input (dirty: its aggregates are not applied yet),
    marked with the identity (customer document) it was placed by and its channel."""
    now = utcnow()
    identity = identity or customer
    return {
        "_id": new_id("ord"),
        "order_id": order.order_id,
        "customer_id": customer["_id"],
        "identity_id": identity["_id"],
        "channel": identity.get("channel"),
        "currency": order.currency,
        "amount": order.amount,
        "items": list(order.items),
        "status": order.status,
        "created_at": order.created_at or now,
        "paid_at": order.paid_at,
        "refunded_at": now if order.status == "refunded" else None,
        "cancelled_at": now if order.status == "cancelled" else None,
        "updated_at": now,
        "source": source,
        "fingerprint": fingerprint,
        "dirty": new_id("agg"),
    }


async def record_order(
    shop: ShopStore, order: OrderInput, currency: str, *, source: str = "api", refresh: bool = True
) -> tuple[Doc, bool]:
    """Record an order once; return (order, created).

    An identical retry returns the stored order with created False; the same order id with
    other content raises Conflict. `refresh` False leaves the aggregate refresh to the caller
    (imports refresh each customer once per batch).
    """
    existing = await shop.orders.get(order.order_id)
    if existing is None:
        customer, identity = await resolve_identity(shop, order.customer, currency)
        doc = new_order_doc(order, customer, order.fingerprint(identity["_id"]), source, identity)
        if await shop.orders.insert(doc):
            if refresh:
                await refresh_aggregates(shop, customer["_id"])
            return await _reload(shop, order.order_id), True
        existing = await shop.orders.get(order.order_id)  # a concurrent create won
        assert existing is not None
    customer, identity = await resolve_identity(shop, order.customer, currency, create=False)
    if order.fingerprint(identity["_id"]) != existing.get("fingerprint"):
        raise Conflict("this order_id was recorded with other content", field="order_id")
    if existing.get("dirty") and refresh:
        await refresh_aggregates(shop, existing["customer_id"])
    return existing, False


async def _reload(shop: ShopStore, order_id: str) -> Doc:
    doc = await shop.orders.get(order_id)
    assert doc is not None
    return doc


async def get_order(shop: ShopStore, order_id: str) -> Doc:
    """The order, finishing an interrupted aggregate refresh first; NotFound if unknown."""
    doc = await shop.orders.get(order_id)
    if doc is None:
        raise NotFound("no such order", field="order_id")
    if doc.get("dirty"):
        await refresh_aggregates(shop, doc["customer_id"])
        doc = await _reload(shop, order_id)
    return doc


async def change_status(
    shop: ShopStore, order_id: str, to_status: str, paid_at: datetime | None = None
) -> tuple[Doc, bool]:
    """Apply a status transition once; return (order, changed).

    Asking for the status the order already has is an idempotent success (changed False);
    a transition not in TRANSITIONS raises Conflict.
    """
    if to_status not in ORDER_STATUSES:
        raise DomainError(f"status must be one of {', '.join(ORDER_STATUSES)}", field="status")
    while True:
        doc = await get_order(shop, order_id)
        current = doc["status"]
        if current == to_status:
            return doc, False
        if to_status not in TRANSITIONS[current]:
            raise Conflict(f"an order {current} cannot become {to_status}", field="status")
        now = utcnow()
        fields: Doc = {"updated_at": now, "dirty": new_id("agg")}
        if to_status == "paid":
            fields["paid_at"] = paid_at or now
        elif to_status in ("refunded", "cancelled"):
            fields[f"{to_status}_at"] = now
        if not await shop.orders.transition(doc, to_status, fields):
            continue  # someone else changed it first: look again
        await refresh_aggregates(shop, doc["customer_id"])
        return await _reload(shop, order_id), True


def recent_since(now: datetime | None = None) -> datetime:
    """Start of the "last 3 months" window: `RECENT_DAYS` days before now."""
    return (now or utcnow()) - timedelta(days=RECENT_DAYS)


def public_order(doc: Doc) -> dict[str, Any]:
    """An order as API output."""
    return {
        "id": doc["_id"],
        "order_id": doc["order_id"],
        "customer_id": doc["customer_id"],
        "channel": doc.get("channel"),
        "currency": doc["currency"],
        "amount": doc["amount"],
        "items": [
            {"name": i["name"], "quantity": i["quantity"], "unit_price": i["unit_price"]}
            for i in doc.get("items") or []
            if isinstance(i, dict)
        ],
        "status": doc["status"],
        "created_at": as_utc(doc.get("created_at")),
        "paid_at": as_utc(doc.get("paid_at")),
        "refunded_at": as_utc(doc.get("refunded_at")),
        "cancelled_at": as_utc(doc.get("cancelled_at")),
        "updated_at": as_utc(doc.get("updated_at")),
        "source": doc.get("source"),
    }
