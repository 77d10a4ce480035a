"""Report filters, sort orders and cursors, run against the real database server."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chatcrm.domain import DomainError, new_customer_fields
from chatcrm.provinces import province_key
from chatcrm.report_query import SORT_FIELDS, Sort, parse_filters, parse_page, parse_sort
from chatcrm.store import Store
from tests.conftest import ShopFixture

BASE = datetime(2026, 11, 1, tzinfo=UTC)


def customer(shop_id: str, i: int, **fields: Any) -> dict[str, Any]:
    """A customer document as the store keeps it."""
    doc = {
        **new_customer_fields(),
        "_id": f"cus_{i:04d}",
        "_key": f"cus_{i:04d}",
        "shop_id": shop_id,
        "channel": "line",
        "channel_id": "ch_1",
        "platform_user_id": f"U{i:032x}",
        "first_seen_at": BASE,
        "last_contact_at": BASE,
        "updated_at": BASE,
        **fields,
    }
    doc["province_key"] = province_key(doc["province"], doc["postal_code"])
    return doc


async def seed(store: Store, shop_id: str, n: int = 60) -> list[dict[str, Any]]:
    rng = random.Random(7)
    docs = []
    for i in range(n):
        docs.append(
            customer(
                shop_id,
                i,
                name=rng.choice(["สมชาย", "Nok", None, "ปุ๊ก 🌸"]),
                channel=rng.choice(["line", "telegram", "messenger"]),
                paid_total=rng.choice([0, 0, 12500, 99000, 250000]),
                order_count=rng.randint(0, 4),
                last_order_at=rng.choice([None, BASE - timedelta(days=rng.randint(1, 90))]),
                updated_at=BASE - timedelta(hours=rng.randint(0, 24 * 30)),
                tags=rng.sample(["VIP", "COD", "ส่งฟรี"], rng.randint(0, 2)),
                postal_code=rng.choice([None, "10110", "50200", "83000", "10270"]),
            )
        )
    await store.for_shop(shop_id).customers.insert_new(docs)
    return docs


async def all_pages(store: Store, shop_id: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    filters = parse_filters(
        {k: v for k, v in params.items() if k not in ("sort", "order", "limit")}, "Asia/Bangkok"
    )
    sort = parse_sort(params)
    limit = parse_page(params).limit
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        page, cursor = await store.for_shop(shop_id).customers.search(
            filters, sort, limit=limit, cursor=cursor
        )
        rows.extend(page)
        if cursor is None:
            return rows


def expected_order(docs: list[dict[str, Any]], sort: Sort) -> list[str]:
    nulls = [d for d in docs if d[sort.field] is None]
    values = [d for d in docs if d[sort.field] is not None]
    ordered = sorted(nulls, key=lambda d: d["_key"]) + sorted(
        values, key=lambda d: (d[sort.field], d["_key"])
    )
    if not sort.ascending:
        ordered.reverse()
    return [d["_id"] for d in ordered]


@pytest.mark.parametrize("field", SORT_FIELDS)
@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_pages_walk_every_customer_once_in_order(
    store: Store, shop: ShopFixture, field: str, order: str
) -> None:
    docs = await seed(store, shop.id)
    rows = await all_pages(store, shop.id, {"sort": field, "order": order, "limit": "7"})
    assert [r["_id"] for r in rows] == expected_order(docs, Sort(field, order == "asc"))


async def test_default_sort_is_paid_total_ascending(store: Store, shop: ShopFixture) -> None:
    await seed(store, shop.id)
    rows = await all_pages(store, shop.id, {})
    paid = [r["paid_total"] for r in rows]
    assert paid == sorted(paid) and paid[0] < paid[-1]


async def test_filters(store: Store, shop: ShopFixture, other_shop: ShopFixture) -> None:
    docs = await seed(store, shop.id)
    await seed(store, other_shop.id)

    async def ids(**params: Any) -> set[str]:
        return {r["_id"] for r in await all_pages(store, shop.id, params)}

    assert await ids(channel=["line", "telegram"]) == {
        d["_id"] for d in docs if d["channel"] in ("line", "telegram")
    }
    assert await ids(province="กรุงเทพมหานคร") == {
        d["_id"] for d in docs if d["postal_code"] == "10110"
    }
    assert await ids(province="Samut Prakan") == {
        d["_id"] for d in docs if d["postal_code"] == "10270"
    }
    assert await ids(province="unknown") == {d["_id"] for d in docs if d["postal_code"] is None}
    assert await ids(postal_code="10*") == {
        d["_id"] for d in docs if (d["postal_code"] or "").startswith("10")
    }
    assert await ids(tag=["VIP", "COD"]) == {
        d["_id"] for d in docs if {"VIP", "COD"} & set(d["tags"])
    }
    assert await ids(tag=["VIP", "COD"], tag_mode="all") == {
        d["_id"] for d in docs if {"VIP", "COD"} <= set(d["tags"])
    }
    assert await ids(q="nok") == {d["_id"] for d in docs if d["name"] == "Nok"}
    # updated_to is inclusive: the whole shop-local day
    day = (BASE - timedelta(days=3)).astimezone().date().isoformat()
    got = await ids(updated_from=day, updated_to=day)
    bkk = [d for d in docs if (d["updated_at"] + timedelta(hours=7)).date().isoformat() == day]
    assert got == {d["_id"] for d in bkk}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"channel": "icq"}, "channel"),
        ({"province": "Atlantis"}, "province"),
        ({"postal_code": "1011"}, "postal_code"),
        ({"updated_from": "yesterday"}, "updated_from"),
        ({"updated_from": "2026-11-02", "updated_to": "2026-11-01"}, "updated_to"),
        ({"tag_mode": "some"}, "tag_mode"),
        ({"status": "angry"}, "status"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_filter_names_the_field(params: dict[str, str], field: str) -> None:
    with pytest.raises(DomainError) as err:
        parse_filters(params, "Asia/Bangkok")
    assert err.value.field == field


@pytest.mark.parametrize(
    ("params", "field"),
    [({"sort": "age"}, "sort"), ({"order": "up"}, "order"), ({"limit": "201"}, "limit")],
)
def test_bad_page_names_the_field(params: dict[str, str], field: str) -> None:
    with pytest.raises(DomainError) as err:
        parse_sort(params)
        parse_page(params)
    assert err.value.field == field


async def test_bad_cursor_is_refused(store: Store, shop: ShopFixture) -> None:
    await seed(store, shop.id)
    customers = store.for_shop(shop.id).customers
    _, cursor = await customers.search(parse_filters({}, "UTC"), Sort(), limit=5)
    assert cursor is not None
    for bad, sort in [("garbage!", Sort()), (cursor, Sort("name"))]:
        with pytest.raises(DomainError) as err:
            await customers.search(parse_filters({}, "UTC"), sort, cursor=bad)
        assert err.value.field == "cursor"
