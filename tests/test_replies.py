"""Replies to a customer (POST /api/v1/customers/{id}/messages) through the real SDK clients
against the fake platforms: sent, stored as the shop's outgoing message, audited; refused in
the platform's words; nothing stored when the platform cannot be reached or is too slow."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chatcrm import auth
from chatcrm.app import create_app
from chatcrm.config import Settings
from chatcrm.store import Store
from tests.conftest import ShopFixture
from tests.fakes.signing import meta_signature
from tests.fakes.whatsapp import DEFAULT_PHONE_NUMBER_ID
from tests.ingest_support import (
    GRAPH_TOKEN,
    LINE_USER,
    META_APP_SECRET,
    META_VERIFY,
    PSID,
    TG_USER,
    Fakes,
    Ingest,
    add_channels,
    fixture,
    settings_for,
)

WA_PHONE = "66891234567"
"""The phone number of the WhatsApp fixture's customer: sends go to it."""

REPLY = "ขอบคุณค่ะ ส่งของพรุ่งนี้นะคะ 📦\nเลขพัสดุจะแจ้งอีกครั้ง"


async def with_whatsapp(ingest: Ingest) -> None:
    """A WhatsApp channel of the shop on the fake Cloud API, and its customer's text."""
    secrets = {
        "access_token": GRAPH_TOKEN,
        "app_secret": META_APP_SECRET,
        "verify_token": META_VERIFY,
        "phone_number_id": DEFAULT_PHONE_NUMBER_ID,
    }
    ingest.channels["whatsapp"] = await ingest.shop.channels.add("whatsapp", secrets)
    body = fixture("whatsapp", "text")
    body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = DEFAULT_PHONE_NUMBER_ID
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = {"X-Hub-Signature-256": meta_signature(META_APP_SECRET, raw)}
    assert (await ingest.post("whatsapp", raw, headers)).status == 200
    await ingest.drain()


async def customer_of(ingest: Ingest, platform: str) -> dict[str, Any]:
    """The customer who wrote to the shop on `platform` (after its webhook fixture)."""
    if platform == "whatsapp":
        await with_whatsapp(ingest)
    else:
        fixture_name = {"line": "text_user", "telegram": "private_text", "messenger": "text"}
        await ingest.send(platform, fixture_name[platform])
    [customer] = await ingest.customers(channel_id=ingest.channels[platform].id)
    return customer


async def reply(
    ingest: Ingest, customer_id: str, body: Any, role: str = "owner", **headers: str
) -> tuple[int, Any]:
    """POST a reply as a user of the shop with `role` (an API token)."""
    token = await ingest.store.tokens.create(ingest.shop_id, role, role)
    resp = await ingest.client.post(
        f"/api/v1/customers/{customer_id}/messages",
        json=body,
        headers={"Authorization": f"Bearer {token}", **headers},
    )
    return resp.status, await resp.json()


def sent_texts(fakes: Fakes, platform: str) -> list[str]:
    """The texts the fake platform accepted."""
    if platform == "line":
        return [m["text"] for push in fakes.line.pushed() for m in push["messages"]]
    if platform == "telegram":
        return [m["text"] for m in fakes.telegram.sent_messages]
    if platform == "messenger":
        return [s["message"]["text"] for s in fakes.graph.sent if "message" in s]
    return [s["text"]["body"] for s in fakes.graph.sent if s.get("messaging_product")]


@pytest.mark.parametrize("platform", ["line", "telegram", "messenger", "whatsapp"])
async def test_reply_goes_out_through_the_customers_channel_and_into_the_history(
    ingest: Ingest, fakes: Fakes, platform: str
) -> None:
    customer = await customer_of(ingest, platform)
    status, body = await reply(ingest, customer["_id"], {"text": f"  {REPLY}  "}, "staff")
    assert status == 201, body
    assert sent_texts(fakes, platform) == [REPLY]
    assert body["direction"] == "out" and body["text"] == REPLY and body["type"] == "text"
    history = await ingest.api("GET", f"/api/v1/customers/{customer['_id']}/messages")
    assert history["items"][-1] == body  # the newest message, at the bottom of the chat
    assert [m["direction"] for m in history["items"]] == ["in", "out"]
    [stored] = await ingest.messages(direction="out")
    assert stored["channel_id"] == ingest.channels[platform].id
    audit = await ingest.api("GET", f"/api/v1/customers/{customer['_id']}/audit")
    [entry] = [e for e in audit["items"] if e["action"] == "customer.reply"]
    assert entry["actor"].startswith("token:staff") and entry["after"] == {"text": REPLY}


async def test_reply_ids_follow_the_platforms_own(ingest: Ingest, fakes: Fakes) -> None:
    line = await customer_of(ingest, "line")
    telegram = await customer_of(ingest, "telegram")
    for customer in (line, telegram):
        assert (await reply(ingest, customer["_id"], {"text": "ok"}))[0] == 201
    ids = {m["channel"]: m["platform_message_id"] for m in await ingest.messages(direction="out")}
    [pushed] = fakes.line.pushed()
    assert ids["line"] == pushed["sentMessages"][0]["id"]
    # Telegram numbers messages per chat: stored as the incoming ones are, "<chat>:<id>"
    assert ids["telegram"] == f"{TG_USER}:{fakes.telegram.sent_messages[0]['message_id']}"


async def test_messengers_echo_of_a_reply_is_not_stored_twice(ingest: Ingest, fakes: Fakes) -> None:
    customer = await customer_of(ingest, "messenger")
    assert (await reply(ingest, customer["_id"], {"text": REPLY}))[0] == 201
    echo = fixture("messenger", "echo")
    echo["entry"][0]["messaging"][0]["message"].update(
        mid=fakes.graph.sent[-1]["message_id"], text=REPLY
    )
    await ingest.send("messenger", echo)
    assert [m["text"] for m in await ingest.messages(direction="out")] == [REPLY]


REFUSALS = [
    # platform, how the fake refuses, status, code
    ("messenger", "outside_window", 409, "reply_window_closed"),
    ("whatsapp", "outside_window", 409, "reply_window_closed"),
    ("messenger", "unreachable", 409, "customer_unreachable"),
    ("whatsapp", "not_on_whatsapp", 409, "customer_unreachable"),
    ("telegram", "blocked_chats", 409, "customer_blocked"),
    ("telegram", "missing_chats", 409, "customer_unreachable"),
    ("line", "unreachable", 409, "customer_unreachable"),
]


@pytest.mark.parametrize(("platform", "refusal", "status", "code"), REFUSALS)
async def test_platform_refusals_are_answered_in_its_words_and_nothing_is_stored(
    ingest: Ingest, fakes: Fakes, platform: str, refusal: str, status: int, code: str
) -> None:
    customer = await customer_of(ingest, platform)
    fake = {"line": fakes.line, "telegram": fakes.telegram}.get(platform, fakes.graph)
    user = {"line": LINE_USER, "messenger": PSID, "whatsapp": WA_PHONE}.get(platform)
    getattr(fake, refusal).add(int(TG_USER) if platform == "telegram" else user)
    got, body = await reply(ingest, customer["_id"], {"text": REPLY})
    assert (got, body["error"]["code"]) == (status, code), body
    assert body["error"]["platform_error"]  # the platform's own words
    assert await ingest.messages(direction="out") == []


async def test_the_platforms_own_words_name_the_window(ingest: Ingest, fakes: Fakes) -> None:
    customer = await customer_of(ingest, "messenger")
    fakes.graph.outside_window.add(PSID)
    _, body = await reply(ingest, customer["_id"], {"text": REPLY})
    assert "24 hours" in body["error"]["message"]
    assert "(#10) This message is sent outside of allowed window" in body["error"]["platform_error"]


async def test_a_message_the_platform_refuses_is_422_naming_text(
    ingest: Ingest, fakes: Fakes
) -> None:
    customer = await customer_of(ingest, "telegram")
    fakes.telegram.fail_next(status=400, description="Bad Request: message text is empty")
    status, body = await reply(ingest, customer["_id"], {"text": REPLY})
    assert status == 422 and body["error"]["code"] == "platform_rejected"
    assert body["error"]["field"] == "text"
    assert await ingest.messages(direction="out") == []


async def test_a_customer_who_blocked_the_line_account_gets_no_push(
    ingest: Ingest, fakes: Fakes
) -> None:
    # LINE accepts a push to a user who blocked the account and drops it: the unfollow says
    customer = await customer_of(ingest, "line")
    await ingest.send("line", "unfollow")
    status, body = await reply(ingest, customer["_id"], {"text": REPLY})
    assert status == 409 and body["error"]["code"] == "customer_blocked"
    assert "LINE" in body["error"]["message"]
    assert fakes.line.pushed() == []


async def test_no_channel_to_reply_through_is_409_with_the_reason(
    ingest: Ingest, store: Store, fakes: Fakes
) -> None:
    customer = await customer_of(ingest, "telegram")
    channels = ingest.shop.channels
    await channels.set_enabled(ingest.channels["telegram"].id, False)
    status, body = await reply(ingest, customer["_id"], {"text": REPLY})
    assert (status, body["error"]["code"]) == (409, "channel_disabled")
    await channels.remove(ingest.channels["telegram"].id)
    status, body = await reply(ingest, customer["_id"], {"text": REPLY})
    assert (status, body["error"]["code"]) == (409, "channel_removed")
    order = {"order_id": "A-1", "customer": {"channel": "line", "platform_user_id": "Uimported"}}
    await ingest.api("POST", "/api/v1/orders", json={**order, "amount": 100})
    [imported] = await ingest.customers(platform_user_id="Uimported")
    status, body = await reply(ingest, imported["_id"], {"text": REPLY})
    assert (status, body["error"]["code"]) == (409, "no_chat")
    assert fakes.telegram.sent_messages == [] and await ingest.messages(direction="out") == []


async def test_unreachable_platform_is_502_and_a_slow_one_504_nothing_stored(
    aiohttp_client: Any, settings: Settings, store: Store, shop: ShopFixture, fakes: Fakes
) -> None:
    channels = await add_channels(store, shop.id, fakes)
    quick = settings_for(settings, fakes, inbox_workers=0, send_timeout_seconds=0.2)
    ingest = Ingest(await aiohttp_client(create_app(quick)), store, shop.id, channels)
    customer = await customer_of(ingest, "messenger")
    fakes.graph.stall_next(seconds=1.0)
    status, body = await reply(ingest, customer["_id"], {"text": REPLY})
    assert (status, body["error"]["code"]) == (504, "platform_timeout"), body
    assert "may or may not have arrived" in body["error"]["message"]
    line = await customer_of(ingest, "line")
    await fakes.line.close()
    status, body = await reply(ingest, line["_id"], {"text": REPLY})
    assert (status, body["error"]["code"]) == (502, "platform_error"), body
    assert await ingest.messages(direction="out") == []
    assert await store.db.audit.count_documents({"action": "customer.reply"}) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"text": "   "},
        {"text": ""},
        {},
        {"text": 12},
        {"text": "a\x00b"},
        {"text": "bell\x07"},
        {"text": "x" * 5001},
        {"text": "\ud83d"},
    ],
)
async def test_bad_text_is_422_naming_text_and_nothing_is_sent(
    ingest: Ingest, fakes: Fakes, body: dict[str, Any]
) -> None:
    customer = await customer_of(ingest, "line")
    status, answer = await reply(ingest, customer["_id"], body)
    assert status == 422 and answer["error"]["field"] == "text", answer
    assert fakes.line.pushed() == [] and await ingest.messages(direction="out") == []


async def test_text_longer_than_the_platform_takes_is_422(ingest: Ingest, fakes: Fakes) -> None:
    customer = await customer_of(ingest, "messenger")
    status, body = await reply(ingest, customer["_id"], {"text": "ก" * 2001})
    assert status == 422 and body["error"]["field"] == "text"
    assert "2000" in body["error"]["message"] and fakes.graph.sent == []


async def test_other_shops_customer_is_404_and_unknown_fields_422(
    ingest: Ingest, fakes: Fakes, other_shop: ShopFixture
) -> None:
    customer = await customer_of(ingest, "line")
    resp = await ingest.client.post(
        f"/api/v1/customers/{customer['_id']}/messages",
        json={"text": REPLY},
        headers=other_shop.auth("owner"),
    )
    assert resp.status == 404
    status, body = await reply(ingest, customer["_id"], {"text": REPLY, "to": "U123"})
    assert status == 422 and body["error"]["field"] == "to"
    status, body = await reply(ingest, customer["_id"], [REPLY])
    assert status == 400 and body["error"]["code"] == "malformed_json"
    status, body = await reply(ingest, "cus_nobody", {"text": REPLY})
    assert status == 404
    assert fakes.line.pushed() == []


async def test_a_dashboard_session_needs_its_csrf_token(ingest: Ingest, fakes: Fakes) -> None:
    customer = await customer_of(ingest, "line")
    email = "staff@shop.example"
    hashed = await auth.hash_password("a long password 1")
    await ingest.store.users.create(ingest.shop_id, email, "staff", hashed)
    session = await ingest.client.post(
        "/api/v1/session", json={"email": email, "password": "a long password 1"}
    )
    csrf = (await session.json())["csrf_token"]
    path = f"/api/v1/customers/{customer['_id']}/messages"
    refused = await ingest.client.post(path, json={"text": REPLY})
    assert refused.status == 403 and (await refused.json())["error"]["code"] == "csrf_failed"
    sent = await ingest.client.post(path, json={"text": REPLY}, headers={"X-CSRF-Token": csrf})
    assert sent.status == 201
    assert sent_texts(fakes, "line") == [REPLY]
