"""Dashboard sign-in over the API: sessions, CSRF, attempt limits, invitations, resets, demo."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chatcrm import auth
from chatcrm.app import create_app
from chatcrm.cli import _read_password, _user_invite, _user_reset_link, build_parser
from chatcrm.config import Settings
from chatcrm.database import Database
from chatcrm.demo import DEMO_OWNER_EMAIL, seed_demo
from chatcrm.domain import DomainError
from chatcrm.keys import LINK_SENDER
from chatcrm.store import Store
from tests.conftest import ShopFixture
from tests.test_api_customers import seed_shop
from tests.test_embedded import CLI

PASSWORD = "correct horse battery"


async def add_user(store: Store, shop_id: str, email: str, role: str = "owner") -> None:
    """A user with `PASSWORD`, as `chatcrm user create` makes one."""
    await store.users.create(shop_id, email, role, await auth.hash_password(PASSWORD))


async def sign_in(client: TestClient, email: str, password: str = PASSWORD, **headers: str) -> Any:
    """POST /api/v1/session; the response."""
    return await client.post(
        "/api/v1/session", json={"email": email, "password": password}, headers=headers
    )


async def test_sign_in_uses_a_cookie_and_sign_out_ends_the_session(
    client: TestClient, store: Store, shop: ShopFixture
) -> None:
    await add_user(store, shop.id, "owner@shop-a.example")
    assert (await client.get("/api/v1/shop")).status == 401
    assert await (await client.get("/api/v1/session")).json() == {"signed_in": False}
    resp = await sign_in(client, "  Owner@Shop-A.example ")
    assert resp.status == 200
    body = await resp.json()
    assert body["email"] == "owner@shop-a.example" and body["role"] == "owner"
    cookie = resp.headers["Set-Cookie"]
    assert "chatcrm_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/" in cookie and "Secure" not in cookie  # plain http here
    shop_info = await (await client.get("/api/v1/shop")).json()
    assert shop_info["name"] == "Shop A" and shop_info["role"] == "owner"
    again = await (await client.get("/api/v1/session")).json()
    assert again["csrf_token"] == body["csrf_token"]

    refused = await client.delete("/api/v1/session")
    assert refused.status == 403 and (await refused.json())["error"]["code"] == "csrf_failed"
    out = await client.delete("/api/v1/session", headers={"X-CSRF-Token": body["csrf_token"]})
    assert out.status == 204 and "chatcrm_session=" in out.headers["Set-Cookie"]
    assert (await client.get("/api/v1/shop")).status == 401
    assert await (await client.get("/api/v1/session")).json() == {"signed_in": False}
    assert len(await store.db["sessions"].find({}).to_list()) == 0


async def test_cookie_is_secure_behind_https(
    client: TestClient, store: Store, shop: ShopFixture, settings: Settings, aiohttp_client: Any
) -> None:
    await add_user(store, shop.id, "owner@shop-a.example")
    resp = await sign_in(client, "owner@shop-a.example", **{"X-Forwarded-Proto": "https"})
    assert "Secure" in resp.headers["Set-Cookie"]
    public = await aiohttp_client(
        create_app(settings.with_changes(public_url="https://crm.example.com"))
    )
    assert "Secure" in (await sign_in(public, "owner@shop-a.example")).headers["Set-Cookie"]


async def test_unsafe_requests_with_the_cookie_need_the_csrf_token(
    client: TestClient, store: Store, shop: ShopFixture
) -> None:
    await add_user(store, shop.id, "staff@shop-a.example", "staff")
    csrf = (await (await sign_in(client, "staff@shop-a.example")).json())["csrf_token"]
    order = {
        "order_id": "W-1",
        "customer": {"channel": "line", "platform_user_id": "Ucsrf"},
        "amount": 1000,
        "status": "placed",
    }
    for headers in ({}, {"X-CSRF-Token": "guess"}, {"X-CSRF-Token": "ก"}):
        resp = await client.post("/api/v1/orders", json=order, headers=headers)
        assert resp.status == 403, headers
        assert (await resp.json())["error"]["code"] == "csrf_failed"
    assert (await client.get("/api/v1/customers")).status == 200  # reads need no token
    made = await client.post("/api/v1/orders", json=order, headers={"X-CSRF-Token": csrf})
    assert made.status == 201
    audit = await store.for_shop(shop.id).audit.recent(action="order.create")
    assert audit[0]["actor"] == "user:staff@shop-a.example"
    # a bearer token needs no CSRF token (the browser never adds one by itself)
    bearer = await client.post(
        "/api/v1/orders", json={**order, "order_id": "W-2"}, headers=shop.auth("staff")
    )
    assert bearer.status == 201
    # the role still counts: staff may not list channels
    assert (await client.get("/api/v1/channels")).status == 403


async def test_session_routes_take_json_only(client: TestClient, store: Store) -> None:
    form = await client.post("/api/v1/session", data={"email": "a@b.example", "password": "x"})
    assert form.status == 415


async def test_wrong_password_then_lockout_shared_by_every_process(
    client: TestClient,
    store: Store,
    shop: ShopFixture,
    settings: Settings,
    aiohttp_client: Any,
) -> None:
    await add_user(store, shop.id, "owner@shop-a.example")
    await add_user(store, shop.id, "other@shop-a.example")
    second_process = await aiohttp_client(create_app(settings))
    for n in range(auth.ACCOUNT_LIMIT - 1):
        resp = await sign_in(client if n % 2 else second_process, "owner@shop-a.example", "nope")
        assert resp.status == 401
        assert (await resp.json())["error"]["message"] == "wrong e-mail or password"
    unknown = await sign_in(client, "nobody@shop-a.example", "nope")
    assert (await unknown.json())["error"]["message"] == "wrong e-mail or password"
    locked = await sign_in(second_process, "owner@shop-a.example", "nope")
    # fixed windows: the wait is what is left of the current one (any time up to its length)
    window = auth.ATTEMPT_WINDOW.total_seconds()
    assert locked.status == 429 and 1 <= int(locked.headers["Retry-After"]) <= window
    assert re.fullmatch(
        r"too many failed sign-ins: try again in \d+ minutes?",
        (await locked.json())["error"]["message"],
    )
    assert (await sign_in(client, "owner@shop-a.example")).status == 429  # even the right one
    assert (await sign_in(client, "other@shop-a.example")).status == 200


async def test_too_many_failures_from_one_address(
    client: TestClient, store: Store, shop: ShopFixture, settings: Settings, aiohttp_client: Any
) -> None:
    await add_user(store, shop.id, "owner@shop-a.example")
    for n in range(auth.ADDRESS_LIMIT):
        await sign_in(client, f"guess{n}@shop-a.example", "nope")
    assert (await sign_in(client, "owner@shop-a.example")).status == 429
    forwarded = {"X-Forwarded-For": "127.0.0.1, 203.0.113.9"}
    elsewhere = await sign_in(client, "owner@shop-a.example", **forwarded)
    assert elsewhere.status == 429  # X-Forwarded-For is ignored without trusted proxies
    behind_proxy = await aiohttp_client(create_app(settings.with_changes(trusted_proxies=1)))
    assert (await sign_in(behind_proxy, "owner@shop-a.example", **forwarded)).status == 200


async def test_owner_invites_staff_with_a_one_time_link(
    client: TestClient, store: Store, shop: ShopFixture
) -> None:
    staff_try = await client.post(
        "/api/v1/invitations", json={"email": "new@shop-a.example"}, headers=shop.auth("staff")
    )
    assert staff_try.status == 403
    resp = await client.post(
        "/api/v1/invitations", json={"email": "New@Shop-A.example"}, headers=shop.auth()
    )
    assert resp.status == 201
    invitation = await resp.json()
    assert invitation["role"] == "staff" and invitation["sent"] is False
    link = invitation["link"]
    assert link.startswith(str(client.make_url("/")) + "#invite=")
    token = link.split("#invite=")[1]
    short = await client.post(
        "/api/v1/invitations/accept", json={"token": token, "password": "short"}
    )
    assert short.status == 422 and (await short.json())["error"]["field"] == "password"
    accepted = await client.post(
        "/api/v1/invitations/accept", json={"token": token, "password": PASSWORD}
    )
    assert accepted.status == 201
    assert (await accepted.json())["email"] == "new@shop-a.example"
    assert (await (await client.get("/api/v1/shop")).json())["role"] == "staff"
    again = await client.post(
        "/api/v1/invitations/accept", json={"token": token, "password": PASSWORD}
    )
    assert again.status == 410
    taken = await client.post(
        "/api/v1/invitations", json={"email": "new@shop-a.example"}, headers=shop.auth()
    )
    assert taken.status == 409
    entries = await store.for_shop(shop.id).audit.recent(action="user.invite")
    assert entries[0]["email"] == "new@shop-a.example"


async def test_expired_invitation_is_refused(
    client: TestClient, store: Store, shop: ShopFixture
) -> None:
    token, expires = await auth.invite(store, shop.id, "late@shop-a.example", "staff", "test")
    assert (expires - auth.INVITE_TTL).date() <= expires.date()
    await store.db["auth_links"].update_many({}, {"$set": {"expires_ms": 0}})
    resp = await client.post(
        "/api/v1/invitations/accept", json={"token": token, "password": PASSWORD}
    )
    assert resp.status == 410
    assert (await resp.json())["error"]["message"] == "this link has expired or was already used"


async def test_reset_link_sets_a_new_password_and_ends_other_sessions(
    client: TestClient, store: Store, shop: ShopFixture, settings: Settings, aiohttp_client: Any
) -> None:
    await add_user(store, shop.id, "owner@shop-a.example")
    other_browser = await aiohttp_client(create_app(settings))
    assert (await sign_in(other_browser, "owner@shop-a.example")).status == 200
    user = await store.users.by_email("owner@shop-a.example")
    assert user is not None
    token, _ = await auth.reset_link(store, user)
    body = {"token": token, "password": "a new password!"}
    done = await client.post("/api/v1/password-resets/complete", json=body)
    assert done.status == 200 and (await client.get("/api/v1/shop")).status == 200
    assert (await other_browser.get("/api/v1/shop")).status == 401
    assert (await client.post("/api/v1/password-resets/complete", json=body)).status == 410
    assert (await sign_in(other_browser, "owner@shop-a.example")).status == 401
    assert (await sign_in(other_browser, "owner@shop-a.example", "a new password!")).status == 200


async def test_forgotten_password_mails_a_link_where_mail_is_set_up(
    settings: Settings, store: Store, shop: ShopFixture, aiohttp_client: Any
) -> None:
    without_mail = await aiohttp_client(create_app(settings))
    resp = await without_mail.post("/api/v1/password-resets", json={"email": "a@shop-a.example"})
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "mail_unavailable"

    sent: list[dict[str, Any]] = []

    async def outbox(**message: Any) -> None:
        sent.append(message)

    app = create_app(settings)
    app[LINK_SENDER] = outbox
    client = await aiohttp_client(app)
    await add_user(store, shop.id, "owner@shop-a.example")
    for email in ("owner@shop-a.example", "nobody@shop-a.example"):
        resp = await client.post("/api/v1/password-resets", json={"email": email})
        assert resp.status == 202  # the same answer: no way to learn who has an account
    assert [(m["to"], m["kind"], m["shop"].name) for m in sent] == [
        ("owner@shop-a.example", "reset", "Shop A")
    ]
    token = sent[0]["url"].split("#reset=")[1]
    resp = await client.post(
        "/api/v1/password-resets/complete", json={"token": token, "password": "mailed password"}
    )
    assert resp.status == 200


async def test_session_expires(client: TestClient, store: Store, shop: ShopFixture) -> None:
    await add_user(store, shop.id, "owner@shop-a.example")
    await sign_in(client, "owner@shop-a.example")
    await store.db["sessions"].update_many({}, {"$set": {"expires_ms": 0}})
    resp = await client.get("/api/v1/shop")
    assert resp.status == 401
    assert (await resp.json())["error"]["message"] == "the session has ended: sign in again"


async def test_demo_link_survives_a_restart_and_only_opens_the_demo(
    store: Store, settings: Settings, aiohttp_client: Any, shop: ShopFixture
) -> None:
    first = await seed_demo(store, customers=20)
    second = await seed_demo(store, customers=20)  # what the next `serve --demo` does
    assert first["sign_in_token"] == second["sign_in_token"]
    client = await aiohttp_client(create_app(settings))
    resp = await client.post("/api/v1/session", json={"demo": first["sign_in_token"]})
    assert resp.status == 200
    assert (await resp.json())["email"] == DEMO_OWNER_EMAIL
    assert (await (await client.get("/api/v1/shop")).json())["id"] == "shop_demo"
    # a demo-kind link of any other shop opens nothing
    await add_user(store, shop.id, "owner@shop-a.example")
    user = await store.users.by_email("owner@shop-a.example")
    assert user is not None
    other = await auth.demo_link(store, user)
    assert (await client.post("/api/v1/session", json={"demo": other})).status == 410
    assert (await client.post("/api/v1/session", json={"demo": "made-up"})).status == 410


async def test_users_of_two_shops_see_their_own_shop(
    client: TestClient, store: Store, shop: ShopFixture, other_shop: ShopFixture
) -> None:
    await seed_shop(store, shop.id)
    shop_b = {doc["_id"] for doc in await seed_shop(store, other_shop.id, start=100)}
    await add_user(store, other_shop.id, "b@shop-b.example")
    await sign_in(client, "b@shop-b.example")
    page = await (await client.get("/api/v1/customers")).json()
    assert {row["id"] for row in page["items"]} == shop_b


def _cli(settings: Settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The chatcrm command on the test's database."""
    assert settings.mongodb_uri is not None and settings.secret_key is not None
    env = {
        **os.environ,
        "MONGODB_URI": settings.mongodb_uri,
        "MONGODB_DB": settings.mongodb_db,
        "CHATCRM_SECRET_KEY": settings.secret_key,
    }
    return subprocess.run(
        [*CLI, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow  # a chatcrm process
async def test_cli_bootstraps_an_owner_and_prints_links(
    settings: Settings, store: Store, shop: ShopFixture, aiohttp_client: Any
) -> None:
    with pytest.raises(SystemExit):  # never a password on the command line
        build_parser().parse_args(["user", "create", "--shop", shop.id, "--password", "x"])
    with pytest.raises(DomainError, match="use --password-stdin"):  # no terminal to ask on
        _read_password(argparse.Namespace(password_stdin=False))
    args = ["user", "create", "--shop", shop.id, "--email", "O@X.example", "--role", "owner"]
    made = await asyncio.to_thread(
        _cli, settings, *args, "--password-stdin", "--json", stdin=PASSWORD + "\n"
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["email"] == "o@x.example"
    assert PASSWORD not in made.stdout + made.stderr
    client = await aiohttp_client(create_app(settings))
    assert (await sign_in(client, "o@x.example")).status == 200
    database = Database(store, "mongodb", settings)
    reset = await _user_reset_link(database, argparse.Namespace(email="o@x.example"))
    assert reset["link"].startswith("http://127.0.0.1:8080/#reset=")
    token = reset["link"].split("#reset=")[1]
    assert await store.links.peek(token, "reset") is not None
    invite = await _user_invite(
        database, argparse.Namespace(shop=shop.id, email="s@x.example", role="staff")
    )
    assert invite["link"].startswith("http://127.0.0.1:8080/#invite=")
