"""Channel administration through the API: owner only, secrets never returned."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.conftest import ShopFixture

BODY = {
    "platform": "messenger",
    "name": "เพจร้าน",
    "secrets": {
        "page_access_token": "EAAB-page-token",
        "app_secret": "app-secret-123",
        "verify_token": "verify-me",
    },
}


async def test_owner_adds_and_lists_channels_without_secrets(
    client: TestClient, shop: ShopFixture
) -> None:
    resp = await client.post("/api/v1/channels", json=BODY, headers=shop.auth())
    assert resp.status == 201
    created = await resp.json()
    assert created["webhook_path"] == f"/webhooks/messenger/{created['id']}"
    assert created["secrets_set"] == ["app_secret", "page_access_token", "verify_token"]
    listed = await (await client.get("/api/v1/channels", headers=shop.auth())).text()
    assert created["id"] in listed and "เพจร้าน" in listed
    for secret in BODY["secrets"].values():
        assert secret not in listed and secret not in str(created)


async def test_channels_need_a_valid_owner_token(client: TestClient, shop: ShopFixture) -> None:
    assert (await client.get("/api/v1/channels")).status == 401
    bad = {"Authorization": "Bearer ccrm_nope"}
    resp = await client.get("/api/v1/channels", headers=bad)
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthorized"
    staff = await client.post("/api/v1/channels", json=BODY, headers=shop.auth("staff"))
    assert staff.status == 403


async def test_other_shop_does_not_see_channels(
    client: TestClient, shop: ShopFixture, other_shop: ShopFixture
) -> None:
    await client.post("/api/v1/channels", json=BODY, headers=shop.auth())
    listed = await (await client.get("/api/v1/channels", headers=other_shop.auth())).json()
    assert listed == {"items": []}


async def test_bad_channel_input_names_the_field(client: TestClient, shop: ShopFixture) -> None:
    resp = await client.post(
        "/api/v1/channels",
        json={"platform": "line", "secrets": {"channel_secret": "x"}},
        headers=shop.auth(),
    )
    assert resp.status == 422
    assert (await resp.json())["error"]["field"] == "access_token"
    resp = await client.post(
        "/api/v1/channels", json={"platform": "icq", "secrets": {}}, headers=shop.auth()
    )
    assert (await resp.json())["error"]["field"] == "platform"
    resp = await client.post("/api/v1/channels", data=b"{not json", headers=shop.auth())
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "malformed_json"


async def test_missing_or_malformed_secret_is_refused_and_nothing_stored(
    client: TestClient, shop: ShopFixture
) -> None:
    for secrets in ({"bot_token": "1:a"}, {"bot_token": "1:a", "secret_token": "has space"}):
        resp = await client.post(
            "/api/v1/channels",
            json={"platform": "telegram", "secrets": secrets},
            headers=shop.auth(),
        )
        assert resp.status == 422
        assert (await resp.json())["error"]["field"] == "secret_token"
    listed = await (await client.get("/api/v1/channels", headers=shop.auth())).json()
    assert listed == {"items": []}
