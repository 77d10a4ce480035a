"""The shop's option to merge automatically on a phone number the platform itself gave
(WhatsApp's number, a Telegram contact of the sender's own), through real webhooks, the
API and the database."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chatcrm.store import Store
from tests.bot_support import ChatBot, phone_of, user_id
from tests.conftest import ShopFixture
from tests.ingest_support import LINE_USER, TG_USER, Ingest, fixture
from tests.test_merges import edit, line_text, tg_text

NUMBER = "0812345678"
"""The number of the Telegram fixture ``contact_own``, normalised."""


async def opt_in(ingest: Ingest) -> None:
    """The owner turns the option on through the API."""
    shop = await ingest.api("PATCH", "/api/v1/shop", json={"auto_merge": True})
    assert shop["auto_merge"] is True


async def line_customer(bot: ChatBot, n: int, phone: str) -> dict[str, Any]:
    """A LINE user writes; the seller types `phone` (and a name) on the customer."""
    user = user_id("line", n)
    await bot.send("line", user, "hello", name="Ploy")
    await bot.settle()
    [found] = await bot.ingest.customers(platform_user_id=user)
    return await edit(bot.ingest, found["_id"], phone=phone, name=f"Ploy {n}")


def wa_number(n: int) -> str:
    """The number of WhatsApp user `n` (its ``wa_id``), normalised."""
    return "0" + phone_of(user_id("whatsapp", n))[2:]


async def whatsapp_writes(bot: ChatBot, n: int, text: str = "สนใจค่ะ") -> str:
    """WhatsApp user `n` writes (its number comes with the message); its number, normalised."""
    await bot.send("whatsapp", user_id("whatsapp", n), text, name="Ploy WA")
    await bot.settle()
    return wa_number(n)


async def people(ingest: Ingest) -> list[dict[str, Any]]:
    """The report's rows."""
    return (await ingest.api("GET", "/api/v1/customers", params={"limit": "200"}))["items"]


async def test_off_by_default_a_whatsapp_number_is_only_suggested(bot: ChatBot) -> None:
    number = wa_number(1)
    line = await line_customer(bot, 1, number)
    assert (await bot.ingest.api("GET", "/api/v1/shop"))["auto_merge"] is False
    await whatsapp_writes(bot, 1)
    assert len(await people(bot.ingest)) == 2
    [group] = (await bot.ingest.api("GET", "/api/v1/merge-suggestions"))["items"]
    assert group["reason"] == {"field": "phone", "value": number}
    assert line["id"] in {m["id"] for m in group["members"]}


async def test_a_whatsapp_number_merges_into_the_customer_the_seller_gave_it(
    bot: ChatBot,
) -> None:
    ingest = bot.ingest
    await opt_in(ingest)
    number = wa_number(2)
    line = await line_customer(bot, 2, number)
    await whatsapp_writes(bot, 2)
    [person] = await people(ingest)
    assert person["id"] == line["id"] and person["channels"] == ["line", "whatsapp"]
    detail = await ingest.api("GET", f"/api/v1/customers/{line['id']}")
    assert detail["name"] == "Ploy 2" and detail["phone"] == number  # the seller's kept
    history = await ingest.api("GET", f"/api/v1/customers/{line['id']}/messages")
    assert sorted(m["channel"] for m in history["items"]) == ["line", "whatsapp"]
    audit = await ingest.api("GET", f"/api/v1/customers/{line['id']}/audit")
    [entry] = [e for e in audit["items"] if e["action"] == "customer.merge"]
    assert entry["actor"] == "system:auto-merge"
    assert entry["reason"] == {"field": "phone", "value": number, "source": "whatsapp"}
    assert (await ingest.api("GET", "/api/v1/merge-suggestions"))["items"] == []
    # more messages land on the person; split apart by the seller, they stay apart
    await whatsapp_writes(bot, 2, "ยังอยู่ไหมคะ")
    assert [p["id"] for p in await people(ingest)] == [line["id"]]
    identity = {"channel": "whatsapp", "platform_user_id": user_id("whatsapp", 2)}
    path = f"/api/v1/customers/{line['id']}/unmerge"
    await ingest.api("POST", path, json={"identity": identity})
    await whatsapp_writes(bot, 2, "ขอบคุณค่ะ")
    assert len(await people(ingest)) == 2


async def test_numbers_a_seller_typed_or_several_customers_share_are_not_merged(
    bot: ChatBot,
) -> None:
    ingest = bot.ingest
    await opt_in(ingest)
    number = wa_number(3)
    await line_customer(bot, 3, number)
    await line_customer(bot, 4, number)  # a seller-typed number twice: a suggestion
    assert len(await people(ingest)) == 2
    await whatsapp_writes(bot, 3)  # the platform's number, but two customers have it
    assert len(await people(ingest)) == 3
    [group] = (await ingest.api("GET", "/api/v1/merge-suggestions"))["items"]
    assert len(group["members"]) == 3


async def test_a_telegram_contact_of_the_sender_merges_a_contact_of_someone_else_does_not(
    ingest: Ingest,
) -> None:
    await opt_in(ingest)
    await ingest.send("telegram", tg_text(1, "hi"))  # the Telegram customer is seen first
    await ingest.send("line", line_text(LINE_USER, 100, "hello"))
    line = (await ingest.rows())[LINE_USER]
    await edit(ingest, line["id"], phone="0861234567")
    await ingest.send("telegram", "contact_other")  # someone else's card: +66 86 123 4567
    assert len(await people(ingest)) == 2  # the card's number is not the sender's own
    await edit(ingest, line["id"], phone=NUMBER)
    await ingest.send("telegram", "contact_own")
    [person] = await people(ingest)  # the customer the seller edited stays the person
    assert person["id"] == line["id"] and person["channels"] == ["line", "telegram"]


async def test_two_platform_numbers_merge_into_the_customer_seen_first(bot: ChatBot) -> None:
    ingest = bot.ingest
    await opt_in(ingest)
    await ingest.send("telegram", tg_text(1, "hi", user=user_id("telegram", 5)))
    number = await whatsapp_writes(bot, 5)  # nobody else has the number yet
    assert len(await people(ingest)) == 2
    contact = fixture("telegram", "contact_own")
    contact["message"]["from"]["id"] = contact["message"]["chat"]["id"] = 5_100_000_005
    contact["message"]["contact"].update(user_id=5_100_000_005, phone_number=number)
    await ingest.send("telegram", contact)
    [person] = await people(ingest)
    assert person["platform_user_id"] == user_id("telegram", 5)
    assert person["channels"] == ["telegram", "whatsapp"]


async def test_a_merge_that_cannot_be_made_leaves_both_and_the_event_stored(
    ingest: Ingest, caplog: pytest.LogCaptureFixture
) -> None:
    await opt_in(ingest)
    await ingest.send("line", "text_user")
    [line] = await people(ingest)
    await edit(ingest, line["id"], phone=NUMBER)
    # a merge of that customer under way (as a crashed one leaves it until recovery)
    await ingest.store.db["customers"].update_one(
        {"_id": line["id"]}, {"$set": {"merge_id": "mrg_elsewhere"}}
    )
    with caplog.at_level(logging.WARNING, logger="chatcrm.ingest.worker"):
        await ingest.send("telegram", "contact_own")
    assert "automatic merge" in caplog.text and "being merged" in caplog.text
    assert len(await people(ingest)) == 2
    assert [e["state"] for e in await ingest.inbox(platform="telegram")] == ["done"]
    assert len(await ingest.history(TG_USER)) == 1


async def test_owner_sets_the_option_staff_cannot_bad_values_are_named(
    client: TestClient, store: Store, shop: ShopFixture
) -> None:
    got = await client.patch("/api/v1/shop", json={"auto_merge": True}, headers=shop.auth("staff"))
    assert got.status == 403
    for body, field in (({"auto_merge": "yes"}, "auto_merge"), ({}, "auto_merge")):
        got = await client.patch("/api/v1/shop", json=body, headers=shop.auth())
        assert got.status == 422 and (await got.json())["error"]["field"] == field
    got = await client.patch("/api/v1/shop", json={"colour": 1}, headers=shop.auth())
    assert got.status == 422 and (await got.json())["error"]["field"] == "colour"
    assert (await (await client.get("/api/v1/shop", headers=shop.auth())).json())[
        "auto_merge"
    ] is False
    got = await client.patch("/api/v1/shop", json={"auto_merge": True}, headers=shop.auth())
    assert got.status == 200 and (await got.json())["auto_merge"] is True
    seen = await (await client.get("/api/v1/shop", headers=shop.auth("staff"))).json()
    assert seen["auto_merge"] is True and seen["role"] == "staff"
    [entry] = await store.for_shop(shop.id).audit.recent(action="shop.update")
    assert entry["before"] == {"auto_merge": False} and entry["after"] == {"auto_merge": True}
    # a shop written before the option existed gets it explicitly off at start-up
    await store.shops.coll.insert_one({"_id": "shop_old", "shop_id": "shop_old", "name": "Old"})
    await store.ensure_indexes()
    raw = await store.shops.coll.find_one({"_id": "shop_old"})
    assert raw is not None and "auto_merge" in raw and not raw["auto_merge"]
    old = await store.shops.get("shop_old")
    assert old is not None and old.auto_merge is False
