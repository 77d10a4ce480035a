"""Telegram webhook: secret token header, updates parsed by python-telegram-bot."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.fakes.signing import load_fixture
from tests.ingest_support import Fakes, Ingest

USER = "5123456789"


async def test_private_messages_create_customer_and_messages(ingest: Ingest) -> None:
    for name in ("private_start", "private_text"):
        assert (await ingest.telegram(name)).status == 200
    assert await ingest.drain() == 2
    [customer] = await ingest.customers()
    assert customer["channel"] == "telegram" and customer["platform_user_id"] == USER
    assert customer["name"] == "สมชาย ใจดี"  # from the update's `from` user
    assert customer["status"] == "following" and customer["profile_fetched_at"] is not None
    assert customer["first_seen_at"] == datetime.fromtimestamp(1763608472, UTC)
    assert customer["last_contact_at"] == datetime.fromtimestamp(1763608512, UTC)
    texts = [m["text"] for m in await ingest.messages()]
    assert texts == [
        "/start",
        json.loads(load_fixture("telegram", "private_text"))["message"]["text"],
    ]
    assert {m["platform_message_id"] for m in await ingest.messages()} == {
        f"{USER}:509",
        f"{USER}:512",
    }


async def test_wrong_or_missing_secret_is_401_and_stores_nothing(ingest: Ingest) -> None:
    assert (await ingest.telegram("private_text", secret="wrong-secret")).status == 401
    assert (await ingest.post("telegram", "private_text", {})).status == 401
    assert await ingest.inbox() == []


async def test_redelivered_update_is_stored_once(ingest: Ingest) -> None:
    for _ in range(3):
        assert (await ingest.telegram("private_text")).status == 200
    assert len(await ingest.inbox()) == 1
    await ingest.drain()
    assert len(await ingest.messages()) == 1
    # an edit of an already stored message does not duplicate it
    await ingest.telegram("edited_message")
    await ingest.drain()
    assert len(await ingest.messages()) == 1


async def test_block_group_and_button(ingest: Ingest) -> None:
    for name in ("private_text", "my_chat_member_kicked", "group_text", "callback_query"):
        assert (await ingest.telegram(name)).status == 200
    await ingest.drain()
    customers = {c["platform_user_id"]: c for c in await ingest.customers()}
    assert customers[USER]["status"] == "blocked"
    assert customers["6234567890"]["name"] == "Naree"  # the speaking user of the group
    group = (await ingest.messages(customer_id=customers["6234567890"]["_id"]))[0]
    assert group["conversation_type"] == "group" and group["conversation_id"] == "-4087654321"
    [postback] = await ingest.messages(type="postback")
    assert postback["text"] == "order:confirm:1042"


async def test_malformed_updates_are_400(ingest: Ingest) -> None:
    assert (await ingest.telegram(b"[1, 2]")).status == 400
    assert (await ingest.telegram({"update_id": "12"})).status == 400
    assert await ingest.inbox() == []


async def test_send_text_through_the_sdk(ingest: Ingest, fakes: Fakes) -> None:
    await ingest.telegram("private_text")
    await ingest.drain()
    [customer] = await ingest.customers()
    connector = ingest.connector("telegram")
    message_id = await connector.send_text(customer, "ขอบคุณครับ")
    [sent] = fakes.telegram.calls_for("sendMessage")
    assert sent == {"chat_id": int(USER), "text": "ขอบคุณครับ"} and message_id
