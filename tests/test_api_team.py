"""The shop's team through the API: users (never a password hash), removing one, invitations."""

from __future__ import annotations

import aiohttp
from aiohttp.test_utils import TestClient

from chatcrm import auth
from chatcrm.store import Store
from tests.conftest import ShopFixture
from tests.test_auth import PASSWORD, add_user, sign_in


async def _signed_in_owner(client: TestClient, store: Store, shop: ShopFixture) -> str:
    """Sign the test client in as a new owner of `shop`; the session's CSRF token."""
    await add_user(store, shop.id, "boss@shop-a.example")
    return (await (await sign_in(client, "boss@shop-a.example")).json())["csrf_token"]


async def test_owner_lists_users_without_password_hashes(
    client: TestClient, store: Store, shop: ShopFixture, other_shop: ShopFixture
) -> None:
    await add_user(store, shop.id, "staff@shop-a.example", "staff")
    await add_user(store, other_shop.id, "someone@shop-b.example")
    assert (await client.get("/api/v1/users", headers=shop.auth("staff"))).status == 403
    await _signed_in_owner(client, store, shop)
    resp = await client.get("/api/v1/users")
    text = await resp.text()
    assert "argon2" not in text and '"password"' not in text
    items = (await resp.json())["items"]
    assert [(u["email"], u["role"], u["you"]) for u in items] == [
        ("boss@shop-a.example", "owner", True),
        ("staff@shop-a.example", "staff", False),
    ]
    assert all(u["has_password"] and u["id"].startswith("usr_") for u in items)


async def test_removing_a_user_ends_their_sessions(
    client: TestClient, store: Store, shop: ShopFixture
) -> None:
    csrf = await _signed_in_owner(client, store, shop)
    await add_user(store, shop.id, "staff@shop-a.example", "staff")
    async with aiohttp.ClientSession(  # the staff member's own browser
        base_url=str(client.make_url("/")), cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as staff_browser:
        await _remove_staff(client, staff_browser, csrf)
    entries = await store.for_shop(shop.id).audit.recent(action="user.remove")
    assert entries[0]["email"] == "staff@shop-a.example"
    assert entries[0]["actor"] == "user:boss@shop-a.example"


async def _remove_staff(
    client: TestClient, staff_browser: aiohttp.ClientSession, csrf: str
) -> None:
    staff_sign_in = {"email": "staff@shop-a.example", "password": PASSWORD}
    assert (await staff_browser.post("/api/v1/session", json=staff_sign_in)).status == 200
    assert (await staff_browser.get("/api/v1/shop")).status == 200
    users = (await (await client.get("/api/v1/users")).json())["items"]
    me, staff = users[0], users[1]
    headers = {"X-CSRF-Token": csrf}
    refused = await client.delete(f"/api/v1/users/{me['id']}", headers=headers)
    assert refused.status == 409 and (await refused.json())["error"]["code"] == "remove_self"
    removed = await client.delete(f"/api/v1/users/{staff['id']}", headers=headers)
    assert removed.status == 200
    assert (await removed.json()) == {
        "id": staff["id"],
        "email": "staff@shop-a.example",
        "role": "staff",
        "sessions": 1,
    }
    assert (await staff_browser.get("/api/v1/shop")).status == 401
    assert (await staff_browser.post("/api/v1/session", json=staff_sign_in)).status == 401
    again = await client.delete(f"/api/v1/users/{staff['id']}", headers=headers)
    assert again.status == 404
    left = (await (await client.get("/api/v1/users")).json())["items"]
    assert [u["email"] for u in left] == ["boss@shop-a.example"]


async def test_users_of_another_shop_and_the_last_owner_stay(
    client: TestClient, store: Store, shop: ShopFixture, other_shop: ShopFixture
) -> None:
    await add_user(store, other_shop.id, "someone@shop-b.example")
    await add_user(store, shop.id, "only-owner@shop-a.example")
    theirs = await store.users.by_email("someone@shop-b.example")
    mine = await store.users.by_email("only-owner@shop-a.example")
    assert theirs is not None and mine is not None
    other = await client.delete(f"/api/v1/users/{theirs.id}", headers=shop.auth())
    assert other.status == 404
    staff = await client.delete(f"/api/v1/users/{mine.id}", headers=shop.auth("staff"))
    assert staff.status == 403
    last = await client.delete(f"/api/v1/users/{mine.id}", headers=shop.auth())  # an API token
    assert last.status == 409 and (await last.json())["error"]["code"] == "last_owner"
    assert await store.users.by_email("someone@shop-b.example") is not None
    assert await store.users.by_email("only-owner@shop-a.example") is not None
    assert (await client.delete("/api/v1/users/" + "x" * 200, headers=shop.auth())).status == 404


async def test_pending_invitations_are_listed_until_used(
    client: TestClient, store: Store, shop: ShopFixture, other_shop: ShopFixture
) -> None:
    await client.post(
        "/api/v1/invitations", json={"email": "new@shop-a.example"}, headers=shop.auth()
    )
    resp = await client.post(
        "/api/v1/invitations",
        json={"email": "co-owner@shop-a.example", "role": "owner"},
        headers=shop.auth(),
    )
    token = (await resp.json())["link"].split("#invite=")[1]
    await auth.invite(store, other_shop.id, "theirs@shop-b.example", "staff", "test")
    assert (await client.get("/api/v1/invitations", headers=shop.auth("staff"))).status == 403
    listed = (await (await client.get("/api/v1/invitations", headers=shop.auth())).json())["items"]
    assert [(i["email"], i["role"]) for i in listed] == [
        ("new@shop-a.example", "staff"),
        ("co-owner@shop-a.example", "owner"),
    ]
    assert listed[0]["expires_at"] > listed[0]["created_at"]
    assert listed[0]["invited_by"].startswith("token:owner#")
    assert token not in str(listed) and "_id" not in listed[0]
    await client.post("/api/v1/invitations/accept", json={"token": token, "password": PASSWORD})
    listed = (await (await client.get("/api/v1/invitations", headers=shop.auth())).json())["items"]
    assert [i["email"] for i in listed] == ["new@shop-a.example"]
