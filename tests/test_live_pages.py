"""Report pages and totals list live customers only (not tombstones, not chat admins), after
merges, unmerges and chat-admin links, and closed date ranges keep their edges whichever index
serves them; all through the real service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chatcrm.store import Store
from chatcrm.store import customers as customers_module
from tests.conftest import ShopFixture
from tests.test_customer_query import customer

BANGKOK = timedelta(hours=7)  # the shops' time zone (Asia/Bangkok, no daylight saving)


async def rows_of(
    client: TestClient, shop: ShopFixture, **params: str
) -> tuple[list[dict[str, Any]], int]:
    """Every row of the report in page order (pages of 4 through the cursor), and the report's
    total."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        asked = {**params, "limit": "4", **({"cursor": cursor} if cursor else {})}
        resp = await client.get("/api/v1/customers", params=asked, headers=shop.auth())
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        rows += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return rows, body["total"]


async def listed(client: TestClient, shop: ShopFixture, **params: str) -> tuple[list[str], int]:
    """`rows_of`, ids only."""
    rows, total = await rows_of(client, shop, **params)
    return [row["id"] for row in rows], total


async def post(client: TestClient, shop: ShopFixture, path: str, body: Any) -> Any:
    resp = await client.post(path, json=body, headers=shop.auth())
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_merged_and_linked_customers_leave_pages_and_totals_and_come_back(
    client: TestClient, store: Store, shop: ShopFixture, other_shop: ShopFixture
) -> None:
    docs = [
        customer(shop.id, i, paid_total=1000 * (i % 5), province="Bangkok" if i % 2 else None)
        for i in range(1, 13)
    ]
    await store.for_shop(shop.id).customers.insert_new(docs)
    await store.for_shop(other_shop.id).customers.insert_new([customer(other_shop.id, 99)])
    everyone = {d["_id"] for d in docs}
    in_bangkok = {i for i in everyone if int(i[-4:]) % 2}

    async def expect(hidden: set[str]) -> None:
        """Each report lists exactly the customers not `hidden`, in its order, and counts them."""
        for params, members in (({}, everyone), ({"province": "Bangkok"}, in_bangkok)):
            rows, total = await rows_of(client, shop, **params)
            assert {r["id"] for r in rows} == members - hidden and total == len(rows)
            order = [(r["paid_total"], r["id"]) for r in rows]  # a merge adds up paid totals
            assert order == sorted(order)
        ids, total = await listed(client, shop, sort="name", order="desc")
        assert set(ids) == everyone - hidden and total == len(ids)

    await expect(set())
    await post(
        client, shop, "/api/v1/customers/cus_0001/merge", {"others": ["cus_0003", "cus_0004"]}
    )
    await expect({"cus_0003", "cus_0004"})
    admin = ("line", docs[5]["platform_user_id"])  # cus_0006
    assert await store.for_shop(shop.id).customers.set_chat_admin(admin, True) == 1
    await expect({"cus_0003", "cus_0004", "cus_0006"})
    identity = {"channel": "line", "platform_user_id": docs[2]["platform_user_id"]}
    await post(client, shop, "/api/v1/customers/cus_0001/unmerge", {"identity": identity})
    await expect({"cus_0004", "cus_0006"})
    assert await store.for_shop(shop.id).customers.set_chat_admin(admin, False) == 1
    await expect({"cus_0004"})
    assert await listed(client, other_shop) == (["cus_0099"], 1)


async def test_customers_written_before_the_live_key_are_listed_after_start_up(
    client: TestClient, store: Store, shop: ShopFixture
) -> None:
    alive = customer(shop.id, 1, channels=["line"], merged_into=None)
    dead = customer(shop.id, 2, channels=["line"], merged_into="cus_0001", merged=True)
    for doc in (alive, dead):  # as the version before the live key wrote them
        del doc["live"]
    await store.db.customers.insert_many([alive, dead])
    await store.ensure_indexes()  # start-up: the backfill
    assert await listed(client, shop) == (["cus_0001"], 1)


async def test_closed_date_ranges_keep_their_edges_narrow_or_wide(
    client: TestClient, store: Store, shop: ShopFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first day counts from its local midnight, the last day up to (not including) the
    next local midnight. With ranges of more than 20 customers read along the sort's index
    (`WIDE_RANGE` is 5,000), the narrow range (2 customers: its own index, then a sort) and
    the wide one (59: the sort's index, the range tested per row) run both plans."""
    monkeypatch.setattr(customers_module, "WIDE_RANGE", 20)
    day = datetime(2026, 10, 1, tzinfo=UTC) - BANGKOK  # 1 October, local midnight
    ms = timedelta(milliseconds=1)
    edges = {  # narrow range: 1-2 October
        1: day - ms,  # 30 September 23:59:59.999: out
        2: day,  # in
        3: day + timedelta(days=2) - ms,  # 2 October 23:59:59.999: in
        4: day + timedelta(days=2),  # 3 October: out
    }
    docs = [customer(shop.id, i, updated_at=at, paid_total=7 * i % 11) for i, at in edges.items()]
    for i in range(5, 121):  # 10 October (the wide range) for 5-64, 30 November for the rest
        at = day + timedelta(days=9 if i <= 64 else 60, hours=i % 24)
        docs.append(customer(shop.id, i, updated_at=at, paid_total=7 * i % 11))
    docs.append(customer(shop.id, 200, updated_at=day, merged_into="cus_0002", merged=True))
    customers = store.for_shop(shop.id).customers
    await customers.insert_new(docs)
    await customers.set_chat_admin(("line", docs[4]["platform_user_id"]), True)  # cus_0005
    hidden = {"cus_0005", "cus_0200"}

    def expected(first: datetime, end: datetime) -> list[str]:
        found = [d for d in docs if first <= d["updated_at"] < end and d["_id"] not in hidden]
        return [d["_id"] for d in sorted(found, key=lambda d: (d["paid_total"], d["_key"]))]

    narrow = {"updated_from": "2026-10-01", "updated_to": "2026-10-02"}
    want = expected(day, day + timedelta(days=2))
    assert sorted(want) == ["cus_0002", "cus_0003"]
    assert await listed(client, shop, **narrow) == (want, 2)

    wide = {"updated_from": "2026-10-10", "updated_to": "2026-11-08"}
    want = expected(day + timedelta(days=9), day + timedelta(days=39))
    assert len(want) == 59
    assert await listed(client, shop, **wide) == (want, 59)
    ids, total = await listed(client, shop, **wide, order="desc")
    assert ids == want[::-1] and total == 59
    walked, _ = await rows_of(client, shop, **wide)
    ranged, _ = await rows_of(client, shop, **wide, sort="updated_at")  # its own index
    assert sorted(ranged, key=lambda r: r["id"]) == sorted(walked, key=lambda r: r["id"])
    from_only = await listed(client, shop, updated_from="2026-10-02")
    assert from_only == (expected(day + timedelta(days=1), day + timedelta(days=999)), 117)
