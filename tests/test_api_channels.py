"""Channel administration through the API: owner only, secrets never returned."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from chatcrm.app import create_app
from chatcrm.config import Settings
from chatcrm.store import Store
from connectors.registry import PLATFORMS
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


TELEGRAM = {"platform": "telegram", "secrets": {"bot_token": "1:abc", "secret_token": "s3cret"}}


async def _webhook(client: TestClient, channel: dict[str, Any]) -> int:
    """What a platform posting to the channel's webhook is answered (an update with nothing in
    it: accepted, nothing stored)."""
    resp = await client.post(
        channel["webhook_path"],
        json={"update_id": 1},
        headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"},
    )
    return resp.status


async def test_owner_disables_and_enables_a_channel(
    client: TestClient, store: Store, shop: ShopFixture, other_shop: ShopFixture
) -> None:
    created = await (
        await client.post("/api/v1/channels", json=TELEGRAM, headers=shop.auth())
    ).json()
    assert created["enabled"] is True and created["webhook_url"] is None
    assert await _webhook(client, created) == 200
    path = f"/api/v1/channels/{created['id']}"
    staff = await client.patch(path, json={"enabled": False}, headers=shop.auth("staff"))
    assert staff.status == 403
    other = await client.patch(path, json={"enabled": False}, headers=other_shop.auth())
    assert other.status == 404
    assert await _webhook(client, created) == 200  # neither changed it
    off = await client.patch(path, json={"enabled": False}, headers=shop.auth())
    assert off.status == 200 and (await off.json())["enabled"] is False
    assert await _webhook(client, created) == 404
    listed = await (await client.get("/api/v1/channels", headers=shop.auth())).json()
    assert listed["items"][0]["enabled"] is False
    on = await client.patch(path, json={"enabled": True}, headers=shop.auth())
    assert (await on.json())["enabled"] is True
    assert await _webhook(client, created) == 200
    entries = await store.for_shop(shop.id).audit.recent()
    actions = [e["action"] for e in entries if e.get("channel_id") == created["id"]]
    assert sorted(actions) == ["channel.add", "channel.disable", "channel.enable"]


async def test_bad_channel_edit_names_the_field_and_changes_nothing(
    client: TestClient, shop: ShopFixture
) -> None:
    created = await (
        await client.post("/api/v1/channels", json=TELEGRAM, headers=shop.auth())
    ).json()
    path = f"/api/v1/channels/{created['id']}"
    for body, field in (({"enabled": "no"}, "enabled"), ({}, "enabled"), ({"name": "x"}, "name")):
        resp = await client.patch(path, json=body, headers=shop.auth())
        assert resp.status == 422, body
        assert (await resp.json())["error"]["field"] == field
    missing = await client.patch(
        "/api/v1/channels/ch_nope", json={"enabled": False}, headers=shop.auth()
    )
    assert missing.status == 404
    assert await _webhook(client, created) == 200


async def test_webhook_url_is_absolute_with_the_public_url(
    aiohttp_client: Any, settings: Settings, shop: ShopFixture
) -> None:
    public = await aiohttp_client(
        create_app(settings.with_changes(public_url="https://crm.example.com"))
    )
    created = await (
        await public.post("/api/v1/channels", json=TELEGRAM, headers=shop.auth())
    ).json()
    assert created["webhook_url"] == f"https://crm.example.com/webhooks/telegram/{created['id']}"


async def test_platforms_describe_the_secrets_each_needs(
    client: TestClient, shop: ShopFixture
) -> None:
    assert (await client.get("/api/v1/platforms", headers=shop.auth("staff"))).status == 403
    got = await (await client.get("/api/v1/platforms", headers=shop.auth())).json()
    by_platform = {p["platform"]: p for p in got["items"]}
    assert list(by_platform) == list(PLATFORMS)
    line = by_platform["line"]
    assert line["labels"]["en"] == "LINE"
    assert [s["name"] for s in line["secrets"]] == ["channel_secret", "access_token"]
    assert "Channel secret" in line["secrets"][0]["help"]
    telegram = {s["name"]: s for s in by_platform["telegram"]["secrets"]}
    assert telegram["secret_token"]["pattern"] == r"[A-Za-z0-9_-]{1,256}"
