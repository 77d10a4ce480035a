"""Linking a seller's chat account: codes, /link on every platform, lockout, list, unlink."""

from __future__ import annotations

import pytest

from chatcrm.store import Store
from tests.bot_support import PLATFORMS, ChatBot, user_id
from tests.conftest import ShopFixture


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_link_on_each_platform(bot: ChatBot, platform: str) -> None:
    seller = user_id(platform, 7)
    code = await bot.link_code("staff")
    assert len(code) >= 8 and not set(code) & set("0O1IL")
    [answer] = await bot.ask(platform, seller, f"/link {code.lower()}")
    assert answer.startswith("This chat is now linked to Shop A as staff")
    resp = await bot.client.get("/api/v1/chat-admins", headers=bot.shop.auth())
    [admin] = (await resp.json())["items"]
    assert (admin["platform_user_id"], admin["role"]) == (seller, "staff")
    assert admin["channel_id"] == bot.ingest.channels[platform].id
    # the seller is not a customer: neither the link nor later messages are stored as one
    await bot.ask(platform, seller, "hello")
    assert await bot.ingest.customers(platform_user_id=seller) == []
    assert await bot.ingest.messages() == []


async def test_a_used_code_links_nothing(bot: ChatBot) -> None:
    code = await bot.link_code()
    assert "linked" in (await bot.ask("telegram", user_id("telegram", 1), f"/link {code}"))[0]
    [answer] = await bot.ask("telegram", user_id("telegram", 2), f"/link {code}")
    assert answer.startswith("That code does not work")
    assert await bot.ask("telegram", user_id("telegram", 2), "/top") == []  # not an admin


async def test_an_expired_code_links_nothing(bot: ChatBot, store: Store) -> None:
    code = await bot.link_code()
    await store.db["link_codes"].update_many({}, {"$set": {"expires_ms": 1}})
    [answer] = await bot.ask("line", user_id("line", 1), f"/link {code}")
    assert answer.startswith("That code does not work")
    assert await bot.ask("line", user_id("line", 1), "/top") == []


async def test_a_code_of_another_shop_links_nothing(bot: ChatBot, other_shop: ShopFixture) -> None:
    resp = await bot.client.post(
        "/api/v1/chat-admins/link-codes", json={}, headers=other_shop.auth()
    )
    code = (await resp.json())["code"]
    [answer] = await bot.ask("messenger", user_id("messenger", 1), f"/link {code}")
    assert answer.startswith("That code does not work")


async def test_five_wrong_codes_lock_linking_for_an_hour(bot: ChatBot) -> None:
    someone = user_id("telegram", 3)
    for _ in range(5):
        [answer] = await bot.ask("telegram", someone, "/link WRONGCODE2")
        assert answer.startswith("That code does not work")
    good = await bot.link_code()
    [answer] = await bot.ask("telegram", someone, f"/link {good}")
    assert answer.startswith("Too many wrong codes")
    assert await bot.ask("telegram", someone, f"/link {good}") == []  # told once
    # another account is not locked, and the code was not used up by the refused tries
    assert "linked" in (await bot.ask("telegram", user_id("telegram", 4), f"/link {good}"))[0]


async def test_thai_link_keyword(thai_bot: ChatBot) -> None:
    bot = thai_bot
    code = await bot.link_code("owner")
    [answer] = await bot.ask("line", user_id("line", 5), f"ผูก {code[:5]}-{code[5:]}")
    assert answer.startswith("ผูกแชทนี้กับร้าน Shop A แล้ว ในฐานะเจ้าของร้าน")
    # "ผูก" is also an everyday word: without a code it is an ordinary customer message
    assert await bot.ask("line", user_id("line", 6), "ผูก 2 อันค่ะ") == []
    [message] = await bot.ingest.messages()
    assert message["text"] == "ผูก 2 อันค่ะ"


async def test_unlink_by_command_and_by_api(bot: ChatBot) -> None:
    seller, other = user_id("line", 8), user_id("telegram", 8)
    await bot.link("line", seller)
    await bot.link("telegram", other)
    [answer] = await bot.ask("line", seller, "/unlink")
    assert answer == "This chat is no longer linked to Shop A."
    assert await bot.ask("line", seller, "/top") == []
    resp = await bot.client.get("/api/v1/chat-admins", headers=bot.shop.auth())
    [admin] = (await resp.json())["items"]
    assert admin["platform_user_id"] == other
    staff = await bot.client.delete(
        f"/api/v1/chat-admins/{admin['id']}", headers=bot.shop.auth("staff")
    )
    assert staff.status == 403
    resp = await bot.client.delete(f"/api/v1/chat-admins/{admin['id']}", headers=bot.shop.auth())
    assert resp.status == 200
    assert await bot.ask("telegram", other, "/top") == []
    again = await bot.client.delete(f"/api/v1/chat-admins/{admin['id']}", headers=bot.shop.auth())
    assert again.status == 404


async def test_link_codes_are_for_owners(bot: ChatBot) -> None:
    staff = await bot.client.post(
        "/api/v1/chat-admins/link-codes", json={}, headers=bot.shop.auth("staff")
    )
    assert staff.status == 403
    bad = await bot.client.post(
        "/api/v1/chat-admins/link-codes", json={"role": "boss"}, headers=bot.shop.auth()
    )
    assert bad.status == 422 and (await bad.json())["error"]["field"] == "role"
    default = await bot.client.post("/api/v1/chat-admins/link-codes", headers=bot.shop.auth())
    assert default.status == 201 and (await default.json())["role"] == "staff"
