"""The caller of a shop route: its shop loaded one way, its token named in the audit trail."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from chatcrm.customer_edit import EDITABLE
from chatcrm.store import Store
from tests.conftest import ShopFixture
from tests.test_customer_query import customer

SHOP_ROUTES = [
    ("GET", "/api/v1/shop"),
    ("GET", "/api/v1/customers"),
    ("GET", "/api/v1/customers/cus_x"),
    ("GET", "/api/v1/customers/cus_x/messages"),
    ("GET", "/api/v1/customers/cus_x/audit"),
    ("GET", "/api/v1/report/summary"),
    ("GET", "/api/v1/orders/A-1"),
]


async def test_token_of_a_removed_shop_is_refused(
    client: TestClient, store: Store, shop: ShopFixture
) -> None:
    for method, path in SHOP_ROUTES:
        resp = await client.request(method, path, headers=shop.auth())
        assert resp.status != 401, path
    await store.db["shops"].delete_one({"_id": shop.id})
    for method, path in SHOP_ROUTES:
        resp = await client.request(method, path, headers=shop.auth())
        assert resp.status == 401, path
        error = (await resp.json())["error"]
        assert error["code"] == "unauthorized" and "no longer exists" in error["message"]


async def test_audit_names_the_token_that_acted(
    client: TestClient, store: Store, shop: ShopFixture
) -> None:
    second = await store.tokens.create(shop.id, "staff", "staff")  # the default label again
    for n, token in enumerate((shop.staff, second)):
        body = {
            "order_id": f"T-{n}",
            "customer": {"channel": "line", "platform_user_id": "Uaudit"},
            "amount": 1000,
            "status": "placed",
        }
        resp = await client.post(
            "/api/v1/orders", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert resp.status == 201, await resp.text()
    entries = await store.for_shop(shop.id).audit.recent(action="order.create")
    actors = {e["order_id"]: e["actor"] for e in entries}
    first, other = await store.tokens.resolve(shop.staff), await store.tokens.resolve(second)
    assert first is not None and other is not None and first.token_id != other.token_id
    assert actors == {
        "T-0": f"token:staff#{first.token_id}",
        "T-1": f"token:staff#{other.token_id}",
    }


async def test_a_method_a_route_lacks_is_405_with_allow(
    client: TestClient, shop: ShopFixture
) -> None:
    for method, path, allowed in [
        ("DELETE", "/api/v1/orders", {"POST"}),
        ("PUT", "/api/v1/customers/cus_x", {"GET", "PATCH"}),
    ]:
        resp = await client.request(method, path, headers=shop.auth())
        assert resp.status == 405, path
        assert allowed <= {m.strip() for m in resp.headers["Allow"].split(",")}, path
        assert (await resp.json())["error"]["code"] == "method_not_allowed"


async def test_an_edit_that_changes_nothing_names_what_is_missing(
    client: TestClient, store: Store, shop: ShopFixture
) -> None:
    await store.for_shop(shop.id).customers.insert_new([customer(shop.id, 1)])
    for body in ({}, {"version": 1}):
        resp = await client.patch("/api/v1/customers/cus_0001", json=body, headers=shop.auth())
        assert resp.status == 422
        error = (await resp.json())["error"]
        assert error["field"] == "body" and error["code"] == "missing_field"
        assert all(name in error["message"] for name in EDITABLE)


async def test_oversized_request_line_or_header_gets_a_json_error(
    client: TestClient, shop: ShopFixture
) -> None:
    resp = await client.get("/api/v1/customers", params={"q": "x" * 10_000}, headers=shop.auth())
    assert resp.status == 414 and resp.content_type == "application/json"
    assert (await resp.json())["error"]["code"] == "uri_too_long"
    resp = await client.get("/healthz", headers={"X-Note": "y" * 10_000})
    assert resp.status == 431 and resp.content_type == "application/json"
    error = (await resp.json())["error"]
    assert error["code"] == "header_too_large" and error["field"] == "X-Note"
