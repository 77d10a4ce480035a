"""Tests for the deterministic demo data generator."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta, timezone

import pytest

from chatcrm import domain, provinces
from chatcrm.demo_data import DemoData, generate

NOW = datetime(2026, 11, 23, 8, 30, 15, 123456, tzinfo=UTC)
NOW_MS = NOW.replace(microsecond=123000)
SHOP = "shop_demo"
CHANNELS = {"line": "ch_line", "telegram": "ch_tg", "messenger": "ch_fb"}
N = 2000

CUSTOMER_KEYS = {
    "_id",
    "shop_id",
    "channel",
    "channel_id",
    "platform_user_id",
    "name",
    "picture_url",
    "phone",
    "email",
    "province",
    "postal_code",
    "tags",
    "notes",
    "status",
    "first_seen_at",
    "last_contact_at",
    "updated_at",
    "currency",
    "paid_total",
    "order_count",
    "unpaid_total",
    "refunded_total",
    "last_order_at",
    "profile_fetched_at",
    "version",
}
ORDER_KEYS = {
    "_id",
    "shop_id",
    "order_id",
    "customer_id",
    "channel",
    "currency",
    "amount",
    "items",
    "status",
    "created_at",
    "paid_at",
    "updated_at",
    "source",
}
MESSAGE_KEYS = {
    "_id",
    "shop_id",
    "customer_id",
    "channel",
    "channel_id",
    "direction",
    "type",
    "text",
    "platform_message_id",
    "sent_at",
    "raw",
}
USER_ID_FORMATS = {
    "line": re.compile(r"U[0-9a-f]{32}"),
    "telegram": re.compile(r"[1-9][0-9]{8,9}"),
    "messenger": re.compile(r"[1-9][0-9]{15}"),
}
THAI = re.compile(r"[\u0e00-\u0e7f]")


@pytest.fixture(scope="module")
def data() -> DemoData:
    return generate(SHOP, CHANNELS, customers=N, now=NOW)


def _is_emoji(ch: str) -> bool:
    return unicodedata.category(ch) == "So" and ord(ch) > 0x2000


def _all_datetimes(data: DemoData):
    for doc in (*data.customers, *data.orders, *data.messages):
        for key, value in doc.items():
            if isinstance(value, datetime):
                yield key, value


def test_deterministic(data: DemoData) -> None:
    again = generate(SHOP, CHANNELS, customers=N, now=NOW)
    assert again == data
    assert repr(again) == repr(data)
    other = generate(SHOP, CHANNELS, customers=N, now=NOW, seed=1)
    assert other.customers != data.customers


def test_counts(data: DemoData) -> None:
    assert len(data.customers) == N
    orders_per = Counter(o["customer_id"] for o in data.orders)
    messages_per = Counter(m["customer_id"] for m in data.messages)
    ids = {c["_id"] for c in data.customers}
    assert set(orders_per) <= ids
    assert set(messages_per) == ids
    assert all(1 <= n <= 12 for n in orders_per.values())
    assert max(orders_per.values()) >= 8  # a few big spenders
    assert all(2 <= n <= 8 for n in messages_per.values())
    assert 0.25 <= 1 - len(orders_per) / N <= 0.35  # about 30% never ordered


def test_every_key_present(data: DemoData) -> None:
    for customer in data.customers:
        assert set(customer) == CUSTOMER_KEYS
    for order in data.orders:
        assert set(order) == ORDER_KEYS
    for message in data.messages:
        assert set(message) == MESSAGE_KEYS


def test_customer_fields(data: DemoData) -> None:
    for c in data.customers:
        assert c["shop_id"] == SHOP
        assert c["channel_id"] == CHANNELS[c["channel"]]
        assert USER_ID_FORMATS[c["channel"]].fullmatch(c["platform_user_id"])
        assert re.fullmatch(r"cus_[0-9a-f]{20}", c["_id"])
        assert isinstance(c["name"], str) and c["name"]
        assert c["phone"] is None or re.fullmatch(r"0[689][0-9]{8}", c["phone"])
        assert c["email"] is None or re.fullmatch(r"[a-z0-9._]+@[a-z.]+", c["email"])
        assert c["postal_code"] is None or re.fullmatch(r"[0-9]{5}", c["postal_code"])
        assert len(c["tags"]) <= 3 and len(set(c["tags"])) == len(c["tags"])
        assert isinstance(c["notes"], str)
        assert c["status"] in domain.CUSTOMER_STATUSES
        assert c["currency"] == "THB" and c["version"] == 1
    statuses = Counter(c["status"] for c in data.customers)
    assert 0.84 <= statuses["following"] / N <= 0.92
    assert any(c["notes"] for c in data.customers)
    phones = sum(c["phone"] is not None for c in data.customers) / N
    emails = sum(c["email"] is not None for c in data.customers) / N
    assert 0.40 <= phones <= 0.50 and 0.20 <= emails <= 0.30


def test_province_and_postal_code(data: DemoData) -> None:
    both = postal_only = neither = 0
    for c in data.customers:
        if c["postal_code"] is None:
            assert c["province"] is None
            neither += 1
            continue
        derived = provinces.province_for_postal_code(c["postal_code"])
        assert derived is not None
        if c["province"] is None:
            postal_only += 1
        else:
            both += 1
            assert derived.name_en == c["province"]  # consistent and canonical
    assert 0.10 <= postal_only / N <= 0.20
    assert 0.06 <= neither / N <= 0.14
    top = Counter(c["province"] for c in data.customers if c["province"]).most_common(1)
    assert top[0][0] == "Bangkok"


def test_aggregates_match_orders(data: DemoData) -> None:
    by_customer = defaultdict(list)
    for order in data.orders:
        by_customer[order["customer_id"]].append(order)
    for c in data.customers:
        orders = by_customer[c["_id"]]
        assert all(o["channel"] == c["channel"] for o in orders)

        def total(status: str, orders: list = orders) -> int:
            return sum(o["amount"] for o in orders if o["status"] == status)

        assert c["paid_total"] == total("paid")
        assert c["order_count"] == sum(o["status"] == "paid" for o in orders)
        assert c["unpaid_total"] == total("placed")
        assert c["refunded_total"] == total("refunded")
        live = [o["created_at"] for o in orders if o["status"] != "cancelled"]
        assert c["last_order_at"] == (max(live) if live else None)
        for key in ("paid_total", "order_count", "unpaid_total", "refunded_total"):
            assert type(c[key]) is int


def test_orders(data: DemoData) -> None:
    statuses = Counter(o["status"] for o in data.orders)
    assert set(statuses) == set(domain.ORDER_STATUSES)
    assert 0.70 <= statuses["paid"] / len(data.orders) <= 0.80
    for o in data.orders:
        assert o["shop_id"] == SHOP and o["currency"] == "THB" and o["source"] == "demo"
        assert re.fullmatch(r"ord_[0-9a-f]{20}", o["_id"])
        assert re.fullmatch(r"DEMO-[0-9]{6}", o["order_id"])
        assert o["items"]
        for item in o["items"]:
            assert set(item) == {"name", "quantity", "unit_price"}
            assert THAI.search(item["name"])
            assert type(item["quantity"]) is int and item["quantity"] >= 1
            assert type(item["unit_price"]) is int and 9_900 <= item["unit_price"] <= 499_000
        assert o["amount"] == sum(i["quantity"] * i["unit_price"] for i in o["items"])
        assert (o["paid_at"] is not None) == (o["status"] in ("paid", "refunded"))


def test_unique_ids(data: DemoData) -> None:
    for docs in (data.customers, data.orders, data.messages):
        assert len({d["_id"] for d in docs}) == len(docs)
    pairs = {(c["channel"], c["platform_user_id"]) for c in data.customers}
    assert len(pairs) == len(data.customers)
    assert len({o["order_id"] for o in data.orders}) == len(data.orders)
    assert len({(m["channel"], m["platform_message_id"]) for m in data.messages}) == len(
        data.messages
    )


def test_datetimes_aware_ordered_and_not_future(data: DemoData) -> None:
    earliest = NOW - timedelta(days=560)
    for key, value in _all_datetimes(data):
        assert value.tzinfo is not None and value.utcoffset() == timedelta(0), key
        assert earliest <= value <= NOW, key
        assert value.microsecond % 1000 == 0, key  # survives a MongoDB round trip
    for c in data.customers:
        assert c["first_seen_at"] <= c["last_contact_at"] <= c["updated_at"] <= NOW
        if c["profile_fetched_at"] is not None:
            assert c["first_seen_at"] <= c["profile_fetched_at"] <= c["updated_at"]
        if c["last_order_at"] is not None:
            assert c["first_seen_at"] <= c["last_order_at"] <= c["last_contact_at"]
    for o in data.orders:
        assert o["created_at"] <= (o["paid_at"] or o["created_at"]) <= o["updated_at"]
    recent = sum(c["first_seen_at"] >= NOW - timedelta(days=180) for c in data.customers)
    assert recent / N > 0.5  # more recent more likely


def test_order_numbers_follow_creation_time(data: DemoData) -> None:
    ordered = sorted(data.orders, key=lambda o: o["order_id"])
    assert ordered[0]["order_id"] == "DEMO-000001"
    assert [o["created_at"] for o in ordered] == sorted(o["created_at"] for o in ordered)


def test_platform_mix(data: DemoData) -> None:
    share = Counter(c["channel"] for c in data.customers)
    assert set(share) == {"line", "telegram", "messenger"}
    assert 0.50 <= share["line"] / N <= 0.60
    assert 0.25 <= share["telegram"] / N <= 0.35
    assert 0.11 <= share["messenger"] / N <= 0.19


def test_names(data: DemoData) -> None:
    names = [c["name"] for c in data.customers]
    thai = [n for n in names if THAI.search(n)]
    latin = [n for n in names if not THAI.search(n)]
    assert len(thai) / N > 0.4 and latin
    assert any(_is_emoji(ch) for n in names for ch in n)
    assert any(n.startswith("=") for n in names) and any(n.startswith("+") for n in names)
    telegram = [c["name"] for c in data.customers if c["channel"] == "telegram"]
    assert sum(not THAI.search(n) for n in telegram) / len(telegram) > 0.5
    assert any("(@" in n for n in telegram)


def test_messages(data: DemoData) -> None:
    by_customer = defaultdict(list)
    for m in data.messages:
        by_customer[m["customer_id"]].append(m)
    for c in data.customers:
        messages = by_customer[c["_id"]]
        times = [m["sent_at"] for m in messages]
        assert times == sorted(times)
        assert times[-1] == c["last_contact_at"]
        assert times[0] >= c["first_seen_at"]
        for m in messages:
            assert m["channel"] == c["channel"] and m["channel_id"] == c["channel_id"]
            assert m["direction"] in ("in", "out")
            assert m["type"] in ("text", "sticker", "image", "location")
            assert (m["text"] is not None) == (m["type"] in ("text", "location"))
            assert m["raw"] is None and m["shop_id"] == SHOP
        assert messages[0]["direction"] == "in"
    texts = [m["text"] for m in data.messages if m["type"] == "text"]
    assert sum(bool(THAI.search(t)) for t in texts) / len(texts) > 0.9
    assert {m["direction"] for m in data.messages} == {"in", "out"}


def test_only_given_channels() -> None:
    out = generate("s2", {"telegram": "tg1"}, customers=50, now=NOW)
    assert {c["channel"] for c in out.customers} == {"telegram"}
    assert {m["channel_id"] for m in out.messages} == {"tg1"}


def test_ids_depend_on_shop() -> None:
    a = generate("shop_a", CHANNELS, customers=20, now=NOW)
    b = generate("shop_b", CHANNELS, customers=20, now=NOW)
    assert not {c["_id"] for c in a.customers} & {c["_id"] for c in b.customers}
    assert not {o["_id"] for o in a.orders} & {o["_id"] for o in b.orders}


def test_non_utc_now_is_converted() -> None:
    bangkok = NOW.astimezone(timezone(timedelta(hours=7)))
    assert generate(SHOP, CHANNELS, customers=30, now=bangkok) == generate(
        SHOP, CHANNELS, customers=30, now=NOW
    )


def test_zero_customers() -> None:
    assert generate(SHOP, CHANNELS, customers=0, now=NOW) == DemoData()


@pytest.mark.parametrize(
    ("channels", "kwargs"),
    [
        ({}, {"now": NOW}),
        ({"whatsapp": "x"}, {"now": NOW}),
        (CHANNELS, {"now": NOW.replace(tzinfo=None)}),
        (CHANNELS, {"now": NOW, "customers": -1}),
    ],
)
def test_rejects_bad_input(channels: dict, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        generate(SHOP, channels, **kwargs)


def test_default_size_generates_in_full() -> None:
    out = generate(SHOP, CHANNELS, customers=5000, now=NOW)
    assert len(out.customers) == 5000
    assert max(v for _, v in _all_datetimes(out)) <= NOW_MS
