"""Every shop route loads the caller's shop the same way: a token whose shop is gone is a 401."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from chatcrm.store import Store
from tests.conftest import ShopFixture

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
