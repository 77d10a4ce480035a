"""The customer report, summary, chat history and edits through the real service."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chatcrm.store import Store
from chatcrm.store.messages import backfill_history_keys
from tests.conftest import ShopFixture
from tests.test_customer_query import customer

BASE = datetime(2026, 11, 1, tzinfo=UTC)
ROW_FIELDS = {
    "id",
    "name",
    "profile_name",
    "channel",
    "platform_user_id",
    "channels",
    "identities",
    "province",
    "postal_code",
    "tags",
    "status",
    "paid_total",
    "order_count",
    "average_order_value",
    "unpaid_total",
    "currency",
    "last_order_at",
    "updated_at",
    "version",
}


async def seed_shop(store: Store, shop_id: str, start: int = 0) -> list[dict[str, Any]]:
    """Five customers with distinct spend, places, tags and channels."""
    docs = [
        customer(
            shop_id,
            start + 1,
            name="สมชาย ใจดี",
            phone="0812345678",
            channel="line",
            paid_total=99000,
            order_count=3,
            tags=["VIP", "COD"],
            province="กรุงเทพมหานคร",
            postal_code="10110",
            last_order_at=BASE - timedelta(days=2),
        ),
        customer(
            shop_id,
            start + 2,
            name="Nok",
            email="nok@example.com",
            channel="telegram",
            paid_total=12500,
            order_count=1,
            tags=["VIP"],
            postal_code="50200",
            updated_at=BASE - timedelta(days=10),
        ),
        customer(
            shop_id,
            start + 3,
            name="ปุ๊ก 🌸",
            channel="line",
            paid_total=250000,
            order_count=5,
            tags=["ส่งฟรี"],
            postal_code="10270",
        ),
        customer(shop_id, start + 4, name="Ann", channel="messenger", paid_total=0),
    ]
    await store.for_shop(shop_id).customers.insert_new(docs)
    # a chat contact known only by its platform id: no name, phone, e-mail or address
    chat_only = await store.for_shop(shop_id).customers.upsert_contact(
        "line", f"Uchatonly{start}", channel_id="ch_1", at=BASE
    )
    return [*docs, chat_only]


@pytest.fixture
async def seeded(store: Store, shop: ShopFixture, other_shop: ShopFixture) -> list[dict[str, Any]]:
    await seed_shop(store, other_shop.id, start=100)
    return await seed_shop(store, shop.id)


async def get_json(
    client: TestClient, path: str, shop: ShopFixture, role: str = "owner", **params: Any
) -> tuple[int, Any]:
    resp = await client.get(path, headers=shop.auth(role), params=params or None)
    return resp.status, await resp.json()


# --- the report -----------------------------------------------------------------------------


async def test_report_lists_every_customer_of_the_shop_only(
    client: TestClient, shop: ShopFixture, seeded: list[dict[str, Any]]
) -> None:
    for role in ("owner", "staff"):
        status, body = await get_json(client, "/api/v1/customers", shop, role)
        assert status == 200
        assert body["total"] == 5 and body["next_cursor"] is None
        assert {r["id"] for r in body["items"]} == {d["_id"] for d in seeded}
    items = body["items"]
    assert all(set(item) == ROW_FIELDS for item in items)
    # default: paid total ascending
    paid = [r["paid_total"] for r in items]
    assert paid == sorted(paid)
    chat_only = next(r for r in items if r["platform_user_id"] == "Uchatonly0")
    assert chat_only["name"] is None and chat_only["province"] is None
    by_id = {r["id"]: r for r in items}
    first = by_id["cus_0001"]
    assert first["province"] == "Bangkok" and first["average_order_value"] == 33000
    assert first["updated_at"] == BASE.isoformat(timespec="milliseconds")
    assert by_id["cus_0003"]["province"] == "Samut Prakan"  # derived from the postal code


async def test_report_filters_sort_and_cursor(
    client: TestClient, shop: ShopFixture, seeded: list[dict[str, Any]]
) -> None:
    async def ids(query: str) -> list[str]:
        resp = await client.get(f"/api/v1/customers?{query}", headers=shop.auth())
        assert resp.status == 200, await resp.text()
        return [r["id"] for r in (await resp.json())["items"]]

    assert set(await ids("channel=telegram&channel=messenger")) == {"cus_0002", "cus_0004"}
    assert await ids("province=เชียงใหม่") == ["cus_0002"]
    assert set(await ids("province=Bangkok,unknown")) == {"cus_0001", "cus_0004", seeded[4]["_id"]}
    assert set(await ids("postal_code=10*")) == {"cus_0001", "cus_0003"}
    assert set(await ids("tag=VIP")) == {"cus_0001", "cus_0002"}
    assert await ids("tag=VIP&tag=COD&tag_mode=all") == ["cus_0001"]
    assert await ids("q=081234") == ["cus_0001"]
    assert await ids("q=Uchatonly0") == [seeded[4]["_id"]]
    assert await ids("updated_to=2026-10-25") == ["cus_0002"]
    assert await ids("sort=paid_total&order=desc&limit=2") == ["cus_0003", "cus_0001"]
    # walk the pages with the cursor
    seen: list[str] = []
    cursor = None
    while True:
        params = {"sort": "name", "limit": "2", **({"cursor": cursor} if cursor else {})}
        status, body = await get_json(client, "/api/v1/customers", shop, **params)
        assert status == 200 and body["total"] == 5
        seen += [r["id"] for r in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(d["_id"] for d in seeded) and len(seen) == 5


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("channel=icq", "channel"),
        ("province=Atlantis", "province"),
        ("updated_from=yesterday", "updated_from"),
        ("limit=201", "limit"),
        ("sort=age", "sort"),
        ("order=up", "order"),
        ("cursor=garbage", "cursor"),
        ("colour=red", "colour"),
        ("q=a%00b", "q"),
    ],
)
async def test_report_bad_values_get_422_naming_the_field(
    client: TestClient, shop: ShopFixture, query: str, field: str
) -> None:
    resp = await client.get(f"/api/v1/customers?{query}", headers=shop.auth())
    assert resp.status == 422
    assert (await resp.json())["error"]["field"] == field


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/customers"),
        ("GET", "/api/v1/report/summary"),
        ("PATCH", "/api/v1/customers/cus_0001"),
        ("GET", "/api/v1/customers/cus_0001/messages"),
        ("GET", "/api/v1/customers/cus_0001/audit"),
    ],
)
async def test_every_customer_route_needs_a_token(
    client: TestClient, seeded: list[dict[str, Any]], method: str, path: str
) -> None:
    for headers in ({}, {"Authorization": "Bearer ccrm_not-a-token"}):
        resp = await client.request(method, path, headers=headers, json={"name": "x"})
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", "/api/v1/customers/cus_0101"),
        ("GET", "/api/v1/customers/cus_0101/messages"),
        ("GET", "/api/v1/customers/cus_0101/audit"),
    ],
)
async def test_another_shops_customer_is_not_found(
    client: TestClient,
    store: Store,
    shop: ShopFixture,
    seeded: list[dict[str, Any]],
    method: str,
    path: str,
) -> None:
    resp = await client.request(
        method, path, headers={**shop.auth(), "If-Match": '"1"'}, json={"name": "stolen"}
    )
    assert resp.status == 404
    body = await resp.json()
    assert set(body) == {"error"} and body["error"]["code"] == "not_found"
    other = await store.db["customers"].find_one({"_id": "cus_0101"})
    assert other is not None and other["name"] != "stolen" and other["version"] == 1


# --- the summary ------------------------------------------------------------------------------


async def test_summary_counts_the_shops_customers(
    client: TestClient, shop: ShopFixture, seeded: list[dict[str, Any]]
) -> None:
    for role in ("owner", "staff"):
        status, body = await get_json(client, "/api/v1/report/summary", shop, role)
        assert status == 200
    assert body["customers"] == 5
    assert body["paid_total"] == 99000 + 12500 + 250000 and body["currency"] == "THB"
    assert body["channels"] == [
        {"channel": "line", "customers": 3},
        {"channel": "messenger", "customers": 1},
        {"channel": "telegram", "customers": 1},
    ]
    assert body["most"] == {"channel": "line", "customers": 3}
    assert body["fewest"] == {"channel": "telegram", "customers": 1}
    assert body["tags"] == [
        {"tag": "VIP", "customers": 2},
        {"tag": "COD", "customers": 1},
        {"tag": "ส่งฟรี", "customers": 1},
    ]
    provinces = {p["province"]: p for p in body["provinces"]}
    assert body["provinces"][0]["province"] == "unknown"
    assert provinces["unknown"] == {"province": "unknown", "province_th": None, "customers": 2}
    assert provinces["Bangkok"]["province_th"] == "กรุงเทพมหานคร"
    assert provinces["Chiang Mai"]["customers"] == 1
    assert provinces["Samut Prakan"]["customers"] == 1


async def test_summary_applies_the_filters(
    client: TestClient, shop: ShopFixture, seeded: list[dict[str, Any]]
) -> None:
    status, body = await get_json(client, "/api/v1/report/summary", shop, tag="VIP")
    assert status == 200
    assert body["customers"] == 2 and body["paid_total"] == 99000 + 12500
    status, body = await get_json(client, "/api/v1/report/summary", shop, channel="instagram")
    assert status == 200
    assert body["customers"] == 0 and body["most"] is None and body["channels"] == []
    status, body = await get_json(client, "/api/v1/report/summary", shop, limit="5")
    assert status == 422 and body["error"]["field"] == "limit"


# --- chat history ---------------------------------------------------------------------------


async def add_messages(store: Store, shop_id: str, times: list[datetime]) -> list[str]:
    """Messages of cus_0001 sent at `times`, stored in that order; their texts."""
    messages = store.for_shop(shop_id).messages
    for i, sent_at in enumerate(times):
        await messages.add(
            {
                "customer_id": "cus_0001",
                "channel": "line",
                "channel_id": "ch_1",
                "direction": "in" if i % 2 else "out",
                "type": "text",
                "text": f"ข้อความ {i}",
                "platform_message_id": f"m{i}",
                "sent_at": sent_at,
            }
        )
    return [f"ข้อความ {i}" for i in range(len(times))]


async def read_history(
    client: TestClient, shop: ShopFixture, limit: int
) -> tuple[list[str], list[list[str]]]:
    """The whole chat as a chat view shows it, scrolling up page by page: (texts, pages)."""
    shown: list[str] = []
    pages: list[list[str]] = []
    cursor = None
    while True:
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        status, body = await get_json(
            client, "/api/v1/customers/cus_0001/messages", shop, "staff", **params
        )
        assert status == 200
        page = [m["text"] for m in body["items"]]
        pages.append(page)
        shown = page + shown  # older messages go above the ones shown
        cursor = body["next_cursor"]
        if cursor is None:
            return shown, pages


async def test_history_reads_like_a_chat_newest_page_first(
    client: TestClient, store: Store, shop: ShopFixture, seeded: list[dict[str, Any]]
) -> None:
    # the last two share a time: the id breaks the tie
    times = [BASE + timedelta(minutes=min(i, 5)) for i in range(7)]
    texts = await add_messages(store, shop.id, times)
    shown, pages = await read_history(client, shop, limit=3)
    assert [len(page) for page in pages] == [3, 3, 1]
    assert pages[0][0] == texts[4] and set(pages[0][1:]) == set(texts[5:])  # newest first
    assert pages[1:] == [texts[1:4], texts[:1]]  # each page oldest to newest
    assert shown[:5] == texts[:5] and len(shown) == 7
    status, body = await get_json(
        client, "/api/v1/customers/cus_0002/messages", shop, cursor="nonsense"
    )
    assert status == 422 and body["error"]["field"] == "cursor"


async def test_history_pages_through_messages_of_one_second(
    client: TestClient, store: Store, shop: ShopFixture, seeded: list[dict[str, Any]]
) -> None:
    # milliseconds apart in one second (two the same), stored out of order, and one message
    # just before and one just after that second: nx-27017 compares dates in whole seconds,
    # so a keyset on the date repeated or skipped some of them
    second = BASE.replace(hour=9, minute=34, second=8)
    offsets = [334, 125, 999, 0, 125, 500, 1, 998, 250, -1, 1000]
    texts = await add_messages(
        store, shop.id, [second + timedelta(milliseconds=o) for o in offsets]
    )
    shown, pages = await read_history(client, shop, limit=2)
    assert sorted(shown) == sorted(texts)  # each message once: no duplicates, no gaps
    assert [offsets[texts.index(t)] for t in shown] == sorted(offsets)
    assert [len(page) for page in pages] == [2, 2, 2, 2, 2, 1]


async def test_messages_stored_before_the_history_keys_are_backfilled(
    client: TestClient, store: Store, shop: ShopFixture, seeded: list[dict[str, Any]]
) -> None:
    second = BASE.replace(second=8)
    offsets = [334, 125, 999, 0, 500]
    texts = await add_messages(
        store, shop.id, [second + timedelta(milliseconds=o) for o in offsets]
    )
    # as an earlier version stored them: no integer copy, no key, some without a revision
    await store.db.messages.update_many({}, {"$unset": {"sent_ms": "", "_key": ""}})
    await store.db.messages.update_many({"text": texts[0]}, {"$unset": {"revision": ""}})
    await store.ensure_indexes()  # what every start-up runs
    stored = await store.db.messages.find({"shop_id": shop.id}).to_list(None)
    assert sorted(d["sent_ms"] for d in stored) == sorted(
        int(second.timestamp() * 1000) + o for o in offsets
    )
    assert all(d["_key"] == d["_id"] for d in stored)
    assert await backfill_history_keys(store.db.messages) == 0  # idempotent
    shown, _ = await read_history(client, shop, limit=2)
    assert [offsets[texts.index(t)] for t in shown] == sorted(offsets)


# --- edits ----------------------------------------------------------------------------------


async def patch(
    client: TestClient,
    shop: ShopFixture,
    cid: str,
    body: Any,
    etag: str | None,
    role: str = "owner",
) -> tuple[int, Any, str | None]:
    headers = shop.auth(role)
    if etag is not None:
        headers["If-Match"] = etag
    resp = await client.patch(f"/api/v1/customers/{cid}", headers=headers, json=body)
    return resp.status, await resp.json(), resp.headers.get("ETag")


async def test_edit_with_version_is_applied_and_audited(
    client: TestClient, shop: ShopFixture, store: Store, seeded: list[dict[str, Any]]
) -> None:
    chat_only = seeded[4]["_id"]
    status, body, etag = await patch(
        client,
        shop,
        chat_only,
        {"name": "  คุณแดง  ", "tags": [" VIP ", "VIP", "ขายส่ง", ""], "notes": "โทรหลัง 6 โมง"},
        '"1"',
        role="staff",
    )
    assert status == 200, body
    assert etag == '"2"' and body["version"] == 2
    assert body["name"] == "คุณแดง" and body["tags"] == ["VIP", "ขายส่ง"]
    assert body["notes"] == "โทรหลัง 6 โมง"
    # the address sets the province the report counts it under
    status, body, etag = await patch(
        client, shop, chat_only, {"postal_code": "50200", "version": 2}, None
    )
    assert status == 200 and body["province"] == "Chiang Mai" and etag == '"3"'
    status, listed = await get_json(client, "/api/v1/customers", shop, province="Chiang Mai")
    assert {r["id"] for r in listed["items"]} == {"cus_0002", chat_only}
    status, audit = await get_json(client, f"/api/v1/customers/{chat_only}/audit", shop)
    assert status == 200
    first, second = audit["items"][1], audit["items"][0]
    staff, owner = await store.tokens.resolve(shop.staff), await store.tokens.resolve(shop.owner)
    assert staff is not None and owner is not None
    assert first["actor"] == f"token:staff#{staff.token_id}"
    assert first["action"] == "customer.update"
    assert first["before"] == {"name": None, "tags": [], "notes": ""}
    assert first["after"] == {"name": "คุณแดง", "tags": ["VIP", "ขายส่ง"], "notes": "โทรหลัง 6 โมง"}
    assert second["actor"] == f"token:owner#{owner.token_id}"
    assert second["before"] == {"postal_code": None} and second["after"] == {"postal_code": "50200"}
    assert datetime.fromisoformat(second["at"]) >= datetime.fromisoformat(first["at"])
    assert (first["version"], second["version"]) == (2, 3)  # which edit made which version
    status, _ = await get_json(client, f"/api/v1/customers/{chat_only}/audit", shop, "staff")
    assert status == 403


async def test_stale_or_missing_version_is_refused(
    client: TestClient, store: Store, shop: ShopFixture, seeded: list[dict[str, Any]]
) -> None:
    status, body, _ = await patch(client, shop, "cus_0002", {"name": "A"}, None)
    assert status == 428 and body["error"]["code"] == "precondition_required"
    status, body, _ = await patch(client, shop, "cus_0002", {"name": "A"}, '"1"')
    assert status == 200
    status, body, _ = await patch(client, shop, "cus_0002", {"name": "B"}, '"1"')
    assert status == 409
    assert body["error"]["code"] == "version_conflict" and body["error"]["current_version"] == 2
    doc = await store.for_shop(shop.id).customers.get("cus_0002")
    assert doc is not None and doc["name"] == "A"


async def test_concurrent_edits_of_one_version_one_wins(
    client: TestClient, store: Store, shop: ShopFixture, seeded: list[dict[str, Any]]
) -> None:
    results = await asyncio.gather(
        *(patch(client, shop, "cus_0003", {"notes": f"edit {i}"}, '"1"') for i in range(4))
    )
    statuses = sorted(r[0] for r in results)
    assert statuses == [200, 409, 409, 409]
    doc = await store.for_shop(shop.id).customers.get("cus_0003")
    assert doc is not None and doc["version"] == 2
    entries = await store.for_shop(shop.id).audit.for_customer("cus_0003")
    assert len(entries) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tags": "VIP"}, "tags"),
        ({"tags": ["x" * 101]}, "tags"),
        ({"tags": [f"t{i}" for i in range(51)]}, "tags"),
        ({"tags": [1]}, "tags"),
        ({"notes": "n" * 5001}, "notes"),
        ({"name": "x" * 201}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"phone": "call me"}, "phone"),
        ({"province": "Atlantis"}, "province"),
        ({"postal_code": "1011"}, "postal_code"),
        ({"paid_total": 1}, "paid_total"),
        ({"version": "one", "name": "x"}, "version"),
    ],
)
async def test_bad_edits_get_422_naming_the_field(
    client: TestClient, shop: ShopFixture, seeded: list[dict[str, Any]], body: Any, field: str
) -> None:
    etag = None if "version" in body else '"1"'
    status, answer, _ = await patch(client, shop, "cus_0001", body, etag)
    assert status == 422, answer
    assert answer["error"]["field"] == field
