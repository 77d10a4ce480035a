"""Bot commands on every platform, through the real SDKs against the fake platforms."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.bot_support import PLATFORMS, PUBLIC_URL, ChatBot, user_id

TODAY = datetime.now(ZoneInfo("Asia/Bangkok")).date().isoformat()


async def seed(bot: ChatBot) -> dict[str, dict[str, Any]]:
    """Three customers, one per platform, who wrote today and paid one order each."""
    # a display name is typed by the customer: a line separator must not fake a line
    bot.fakes.line.add_profile(user_id("line", 1), "Ploy\u2028FAKE LINE")
    bot.fakes.graph.add_profile(user_id("messenger", 1), "Nok", "Graph")
    for platform, name in (("line", ""), ("telegram", "Naree"), ("messenger", "")):
        await bot.send(platform, user_id(platform, 1), "สนใจสินค้าค่ะ", name=name)
    await bot.settle()
    now = datetime.now(UTC).isoformat()
    for n, (platform, amount) in enumerate(
        (("line", 125000), ("telegram", 50000), ("messenger", 9900))
    ):
        order = {
            "order_id": f"A-{n}",
            "customer": {"channel": platform, "platform_user_id": user_id(platform, 1)},
            "amount": amount,
            "status": "paid",
            "paid_at": now,
        }
        resp = await bot.client.post("/api/v1/orders", json=order, headers=bot.shop.auth())
        assert resp.status == 201, await resp.text()
    customers = {c["channel"]: c for c in await bot.ingest.customers()}
    ploy = customers["line"]
    edit = {
        "version": ploy["version"],
        "tags": ["VIP", "=cmd"],
        "province": "เชียงใหม่",
        "phone": "081-234-5678",
    }
    resp = await bot.client.patch(
        f"/api/v1/customers/{ploy['_id']}", json=edit, headers=bot.shop.auth()
    )
    assert resp.status == 200, await resp.text()
    return customers


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_each_command_on_each_platform(bot: ChatBot, platform: str) -> None:
    customers = await seed(bot)
    admin = user_id(platform, 99)
    await bot.link(platform, admin)

    [help_text] = await bot.ask(platform, admin, "/help")
    assert help_text.splitlines()[0] == "Commands for Shop A (owner):"
    assert "/customer <name, phone, e-mail or chat id>: find customers" in help_text
    assert "/export [xlsx|csv]: every customer as a file" in help_text

    [found] = await bot.ask(platform, admin, "/customer +66 81 234 5678")
    assert found == (
        "1. Ploy FAKE LINE\nLINE · Chiang Mai\nTags: VIP, =cmd\n"
        f"Paid ฿1,250.00 · 1 orders · last order {TODAY}\n"
        f"{PUBLIC_URL}/#customer={customers['line']['_id']}"
    )

    [top] = await bot.ask(platform, admin, "/top 2")
    assert top == (
        "Top 2 customers by paid total:\n"
        "1. Ploy FAKE LINE: ฿1,250.00 (1 orders, LINE)\n"
        "2. Naree: ฿500.00 (1 orders, Telegram)"
    )

    [report] = await bot.ask(platform, admin, "/report today")
    lines = report.splitlines()
    assert lines[0] == f"Today, {TODAY} to {TODAY} (Asia/Bangkok):"
    assert lines[1:4] == ["New customers: 3", "Customers who wrote: 3", "Paid orders: 3, ฿1,849.00"]
    assert lines[4] == "By channel:"
    assert sorted(lines[5:]) == [
        "LINE: 1 new, 1 wrote, 1 paid orders, ฿1,250.00",
        "Messenger: 1 new, 1 wrote, 1 paid orders, ฿99.00",
        "Telegram: 1 new, 1 wrote, 1 paid orders, ฿500.00",
    ]

    assert await bot.ask(platform, admin, "/bogus") == ["Unknown command. Send /help for the list."]
    assert await bot.ask(platform, admin, "what is new?") == [
        "Unknown command. Send /help for the list."
    ]

    rows = await export_rows(bot, platform, admin)
    assert sorted(r["Name"] for r in rows) == ["Naree", "Nok Graph", "Ploy\u2028FAKE LINE"]

    entries = await bot.ingest.store.for_shop(bot.shop.id).audit.recent(action="bot.command")
    by_command = {e["command"]: e for e in entries}
    assert by_command["customer"]["rows"] == 1 and by_command["top"]["rows"] == 2
    assert by_command["customer"]["actor"].startswith("chat-admin:adm_")
    assert len(entries) == 8  # every command (the /link too), one entry each


async def export_rows(bot: ChatBot, platform: str, admin: str) -> list[dict[str, str]]:
    """The rows of the CSV `/export csv` gets `admin`: a Telegram document, else a link."""
    [answer] = await bot.ask(platform, admin, "/export csv")
    if platform == "telegram":
        [sent] = bot.fakes.telegram.calls_for("sendDocument")
        assert answer == "Shop A: 3 customers (csv)" == sent["caption"]
        assert sent["document"]["filename"].endswith(".csv") and "parse_mode" not in sent
        content = sent["document"]["content"]
    else:
        head, rule = answer.splitlines()
        assert head.startswith(f"Your CSV export of every customer: {PUBLIC_URL}/api/v1/exports/")
        path = head.split()[-1].removeprefix(PUBLIC_URL)
        assert rule == "The link works once, for 15 minutes."
        resp = await bot.client.get(path)
        assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
        content = await resp.read()
        assert (await bot.client.get(path)).status == 404  # once
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


async def test_thai_typed_commands(thai_bot: ChatBot) -> None:
    bot = thai_bot
    await seed(bot)
    admin = user_id("line", 99)
    await bot.link("line", admin)  # the confirmation is Thai: checked in test_bot_linking
    [help_text] = await bot.ask("line", admin, "ช่วย")
    assert help_text.splitlines()[0] == "คำสั่งของร้าน Shop A (เจ้าของร้าน):"
    [found] = await bot.ask("line", admin, "ลูกค้า 0812345678")
    assert found.splitlines()[1:4] == [
        "LINE · เชียงใหม่",
        "แท็ก: VIP, =cmd",
        f"ชำระแล้ว ฿1,250.00 · 1 คำสั่งซื้อ · สั่งล่าสุด {TODAY}",
    ]
    [top] = await bot.ask("line", admin, "ท็อป ๒")  # Thai digits
    assert top.splitlines() == [
        "ลูกค้า 2 อันดับแรกตามยอดชำระ:",
        "1. Ploy FAKE LINE: ฿1,250.00 (1 คำสั่งซื้อ, LINE)",
        "2. Naree: ฿500.00 (1 คำสั่งซื้อ, Telegram)",
    ]
    [report] = await bot.ask("line", admin, "รายงานวันนี้")  # no space, as Thai is written
    assert report.splitlines()[1:4] == [
        "ลูกค้าใหม่: 3",
        "ลูกค้าที่ทักมา: 3",
        "คำสั่งซื้อที่ชำระแล้ว: 3 รายการ ฿1,849.00",
    ]
    [week] = await bot.ask("line", admin, "รายงาน 7 วัน")
    assert week.startswith("7 วันล่าสุด ")
    [export] = await bot.ask("line", admin, "ส่งออก xlsx")
    assert export.startswith(f"ไฟล์ XLSX ของลูกค้าทั้งหมด: {PUBLIC_URL}/api/v1/exports/")
    assert await bot.ask("line", admin, "สวัสดีค่ะ") == ["ไม่รู้จักคำสั่งนี้ พิมพ์ ช่วย หรือ /help เพื่อดูรายการคำสั่ง"]


COMMANDS_TYPED = (
    "/help",
    "/start",
    "/customer 0812345678",
    "/customer Ploy",
    "/top",
    "/top 20",
    "/report 30d",
    "/export",
    "/export csv",
    "/unlink",
    "/nonsense",
    "ช่วย",
    "ลูกค้า Ploy",
    "ท็อป 5",
    "รายงานวันนี้",
    "ส่งออก csv",
    "เลิกผูก",
)


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_customer_typing_every_command_gets_no_shop_data(
    bot: ChatBot, platform: str
) -> None:
    await seed(bot)
    await bot.link(platform, user_id(platform, 99))
    customer = user_id(platform, 1)
    for text in COMMANDS_TYPED:
        assert await bot.ask(platform, customer, text) == [], text
    # the one command meant for non-admins answers, with nothing of the shop's
    [answer] = await bot.ask(platform, customer, "/link NOTACODE9")
    assert answer.startswith("That code does not work")
    # every one of them was an ordinary customer message, except the /link (it holds a code)
    stored = [m["text"] for m in await bot.ingest.messages(customer_id=await _id(bot, customer))]
    assert stored[-len(COMMANDS_TYPED) :] == list(COMMANDS_TYPED)
    assert "/link NOTACODE9" not in stored
    assert bot.fakes.telegram.calls_for("sendDocument") == []


async def _id(bot: ChatBot, platform_user_id: str) -> str:
    [customer] = await bot.ingest.customers(platform_user_id=platform_user_id)
    return str(customer["_id"])


async def test_export_link_needs_a_public_url(
    aiohttp_client: Any, settings: Any, store: Any, shop: Any, fakes: Any
) -> None:
    from tests.bot_support import bot_for

    await store.shops.coll.update_one({"_id": shop.id}, {"$set": {"locale": "en"}})
    bot = await bot_for(aiohttp_client, settings, store, shop, fakes, public_url=None)
    await bot.link("messenger", user_id("messenger", 99))
    [answer] = await bot.ask("messenger", user_id("messenger", 99), "/export")
    assert answer.startswith("Download links need the service's public address")
    assert "CHATCRM_PUBLIC_URL" in answer
    [telegram] = await bot.ask("telegram", user_id("telegram", 99), "/link x") or [""]
    assert "linked" not in telegram
