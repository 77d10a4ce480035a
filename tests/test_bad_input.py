"""Hostile input through the real service: a 4xx naming the field, and nothing changed."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chatcrm.store import Store
from chatcrm.store.base import pack_cursor
from tests.conftest import ShopFixture
from tests.test_customer_query import customer
from tests.test_orders import ORDER

LONE = "\ud83d"
"""Half of a surrogate pair: valid in JSON text (as an escape), not Unicode text."""
EDGE_DATES = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"]
"""The calendar's edges, with offsets that carry them past it in UTC."""


def raw_cursor(text: str) -> str:
    """A cursor carrying `text` as its JSON, as a client could forge it."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def post_json(
    client: TestClient, path: str, shop: ShopFixture, body: Any, method: str = "POST"
) -> tuple[int, dict[str, Any]]:
    """Send `body` (a value, dumped with escapes as needed, or JSON text) as JSON."""
    text = body if isinstance(body, str) else json.dumps(body)
    resp = await client.request(
        method,
        path,
        data=text.encode("utf-8", "surrogatepass"),
        headers={**shop.auth(), "Content-Type": "application/json"},
    )
    return resp.status, await resp.json()


@pytest.fixture
async def seeded(store: Store, shop: ShopFixture) -> None:
    await store.for_shop(shop.id).customers.insert_new(
        [customer(shop.id, i, paid_total=i) for i in range(3)]
    )


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/customers", {"limit": "²"}, "limit"),
        ("/api/v1/customers", {"limit": "1" * 5000}, "limit"),
        ("/api/v1/customers/cus_0001/messages", {"limit": "²"}, "limit"),
        (
            "/api/v1/customers",
            {"cursor": pack_cursor({"f": "paid_total", "a": True, "v": 2**64, "k": "cus_0001"})},
            "cursor",
        ),  # noqa: E501
        (
            "/api/v1/customers",
            {"cursor": pack_cursor({"f": "paid_total", "a": True, "v": -(2**70), "k": "c"})},
            "cursor",
        ),  # noqa: E501
        (
            "/api/v1/customers",
            {"cursor": pack_cursor({"f": "name", "a": True, "v": ["x"], "k": "c"})},
            "cursor",
        ),  # noqa: E501
        (
            "/api/v1/customers",
            {"cursor": raw_cursor('{"f":"paid_total","a":true,"v":1,"k":"\\ud83d"}')},
            "cursor",
        ),  # noqa: E501
        (
            "/api/v1/customers",
            {"cursor": raw_cursor('{"f":"paid_total","a":true,"v":1' + "0" * 5000 + ',"k":"c"}')},
            "cursor",
        ),  # noqa: E501
        (
            "/api/v1/customers",
            {
                "cursor": raw_cursor(
                    '{"f":"name","a":true,"v":' + "[" * 300 + "]" * 300 + ',"k":"c"}'
                )
            },
            "cursor",
        ),  # noqa: E501
        (
            "/api/v1/customers/cus_0001/messages",
            {"cursor": pack_cursor({"t": EDGE_DATES[0], "i": "m"})},
            "cursor",
        ),  # noqa: E501
        (
            "/api/v1/customers/cus_0001/messages",
            {"cursor": pack_cursor({"t": EDGE_DATES[1], "i": "m"})},
            "cursor",
        ),  # noqa: E501
        (
            "/api/v1/customers/cus_0001/messages",
            {"cursor": raw_cursor('{"t":"2026-01-01T00:00:00+00:00","i":"\\udc00"}')},
            "cursor",
        ),  # noqa: E501
    ],
)
async def test_bad_query_values_get_422(
    client: TestClient, shop: ShopFixture, seeded: None, path: str, params: Any, field: str
) -> None:
    resp = await client.get(path, params=params, headers=shop.auth())
    assert resp.status == 422, await resp.text()
    assert (await resp.json())["error"]["field"] == field


def order(**changes: Any) -> dict[str, Any]:
    return {**ORDER, **changes}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (order(paid_at=EDGE_DATES[0]), 422, "paid_at"),
        (order(paid_at=EDGE_DATES[1]), 422, "paid_at"),
        (order(created_at=EDGE_DATES[0]), 422, "created_at"),
        (order(created_at="0999-06-01T00:00:00+00:00"), 422, "created_at"),
        (
            order(customer={"channel": "line", "platform_user_id": "U" + LONE}),
            422,
            "customer.platform_user_id",
        ),  # noqa: E501
        (
            order(items=[{"name": "เสื้อ" + LONE, "quantity": 2, "unit_price": 62500}]),
            422,
            "items[0].name",
        ),  # noqa: E501
        (order(**{LONE: 1}), 422, "\\ud83d"),
        (order(status=["paid"]), 422, "status"),
        (order(currency={"code": "THB"}), 422, "currency"),
        (
            json.dumps(order()).replace('"amount": 125000', '"amount": 1' + "0" * 5000),
            422,
            "amount",
        ),  # noqa: E501
        (json.dumps(order()).replace('"amount": 125000', '"amount": 1e400'), 422, "amount"),
        (json.dumps(order()).replace('"amount": 125000', '"amount": NaN'), 422, "amount"),
        (json.dumps(order()).replace('"items": [', '"items": [' + nested(100000) + ","), 400, None),  # noqa: E501
        (json.dumps(order()).replace('"items": [', '"items": [' + nested(200) + ","), 400, None),  # noqa: E501
        ('"' + LONE + '"', 400, None),
    ],
)
async def test_bad_orders_get_4xx_and_record_nothing(
    client: TestClient, shop: ShopFixture, body: Any, status: int, field: str | None
) -> None:
    got, answer = await post_json(client, "/api/v1/orders", shop, body)
    assert got == status, answer
    assert answer["error"]["field"] == field
    assert (await client.get("/api/v1/orders/A-1001", headers=shop.auth())).status == 404


async def test_order_status_change_at_the_calendar_edge_is_refused(
    client: TestClient, shop: ShopFixture
) -> None:
    placed = order(status="placed", paid_at=None)
    assert (await post_json(client, "/api/v1/orders", shop, placed))[0] == 201
    for when in EDGE_DATES:
        body = {"status": "paid", "paid_at": when}
        status, answer = await post_json(client, "/api/v1/orders/A-1001", shop, body, "PATCH")
        assert status == 422 and answer["error"]["field"] == "paid_at", answer
    got = await (await client.get("/api/v1/orders/A-1001", headers=shop.auth())).json()
    assert got["status"] == "placed"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "all", "format": ["csv"]}, "format"),
        ({"mode": "all", "format": {"csv": 1}}, "format"),
        ({"mode": {"all": 1}, "format": "csv"}, "mode"),
        ({"mode": "all", "format": "csv", "sort": {"f": 1}}, "sort"),
        ({"mode": "all", "format": "csv", "order": ["asc"]}, "order"),
        ({"mode": "filtered", "format": "csv", "filters": {"q": "x" + LONE}}, "filters.q"),
        ({"mode": "filtered", "format": "csv", "filters": {"tag": [LONE]}}, "filters.tag[0]"),
        ({"mode": "selected", "format": "csv", "ids": ["cus_0001" + LONE]}, "ids[0]"),
    ],
)
async def test_bad_exports_get_422(
    client: TestClient, shop: ShopFixture, seeded: None, body: Any, field: str
) -> None:
    status, answer = await post_json(client, "/api/v1/exports", shop, body)
    assert status == 422, answer
    assert answer["error"]["field"] == field


async def test_bad_channels_get_422_and_store_nothing(
    client: TestClient, shop: ShopFixture
) -> None:
    secrets = {"channel_secret": "s" * 32, "access_token": "t" * 40}
    for body, field in [
        ({"platform": "line", "name": "ร้าน" + LONE, "secrets": secrets}, "name"),
        (
            {"platform": "line", "secrets": {**secrets, "access_token": LONE}},
            "secrets.access_token",
        ),
        ({"platform": ["line"], "secrets": secrets}, "platform"),
    ]:
        status, answer = await post_json(client, "/api/v1/channels", shop, body)
        assert status == 422 and answer["error"]["field"] == field, answer
    listed = await (await client.get("/api/v1/channels", headers=shop.auth())).json()
    assert listed == {"items": []}


async def test_customer_edit_with_a_huge_version_or_deep_body(
    client: TestClient, shop: ShopFixture, seeded: None
) -> None:
    path = "/api/v1/customers/cus_0001"
    status, answer = await post_json(
        client, path, shop, '{"name": "x", "version": 1' + "0" * 5000 + "}", "PATCH"
    )
    assert status == 422 and answer["error"]["field"] == "version", answer
    status, answer = await post_json(
        client, path, shop, '{"tags": ' + nested(50000) + ', "version": 1}', "PATCH"
    )
    assert status == 400, answer
    got = await (await client.get(path, headers=shop.auth())).json()
    assert got["version"] == 1 and got["name"] is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"order_id": "A-1\n"}, "order_id"),
        ({"order_id": "A-1\x00"}, "order_id"),
        (
            {"customer": {"channel": "line", "platform_user_id": "U1\n"}},
            "customer.platform_user_id",
        ),
        (
            {"customer": {"channel": "line", "platform_user_id": "U\x1b1"}},
            "customer.platform_user_id",
        ),
        ({"customer": {"id": "cus_0001\x07"}}, "customer.id"),
        ({"items": [{"name": "เสื้อ\x00", "quantity": 2, "unit_price": 62500}]}, "items[0].name"),
    ],
)
async def test_control_characters_in_order_ids_and_identities_are_refused(
    client: TestClient, shop: ShopFixture, store: Store, changes: dict[str, Any], field: str
) -> None:
    status, answer = await post_json(client, "/api/v1/orders", shop, order(**changes))
    assert status == 422 and answer["error"]["field"] == field, answer
    assert await store.db["orders"].count_documents({"shop_id": shop.id}) == 0
    assert await store.db["customers"].count_documents({"shop_id": shop.id}) == 0


async def test_control_characters_in_imported_identities_reject_the_row(
    client: TestClient, shop: ShopFixture, store: Store
) -> None:
    text = (
        "channel,platform_user_id,name,notes\n"
        'line,"U1\x01",ok,\n'
        "line,U\x1f2,ok,\n"
        'line,U3,"Nok\x1b[31m",\n'
        'line,U4,Nok,"two\nlines\tfine"\n'
        'line,U5,Nok,"VIP\x07"\n'
    )
    resp = await client.post(
        "/api/v1/imports?kind=customers",
        data=text.encode(),
        headers={**shop.auth(), "Content-Type": "text/csv"},
    )
    report = await resp.json()
    assert report["created"] == 1, report
    fields = {e["row"]: e["field"] for e in report["errors"]}
    assert fields == {2: "platform_user_id", 3: "platform_user_id", 4: "name", 6: "notes"}
    stored = await store.for_shop(shop.id).customers.find_identity("line", "U4")
    assert stored is not None and stored["notes"] == "two\nlines\tfine"
    orders = 'order_id,customer_channel,customer_platform_user_id,amount\n"Z-1\x02",line,U4,5\n'
    resp = await client.post(
        "/api/v1/imports?kind=orders",
        data=orders.encode(),
        headers={**shop.auth(), "Content-Type": "text/csv"},
    )
    report = await resp.json()
    assert report["rejected"] == 1 and report["errors"][0]["field"] == "order_id", report
