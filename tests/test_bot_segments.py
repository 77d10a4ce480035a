"""The bot's /top and /report of a segment (saved filter) named in the command, in English
and Thai, through the real SDKs against the fake platforms."""

from __future__ import annotations

from typing import Any

import pytest

from tests.bot_support import ChatBot, user_id
from tests.test_bot_commands import TODAY, seed


async def save_segment(bot: ChatBot, name: str, filters: dict[str, Any]) -> None:
    body = {"name": name, "filters": filters}
    resp = await bot.client.post("/api/v1/segments", json=body, headers=bot.shop.auth())
    assert resp.status == 201, await resp.text()


@pytest.mark.parametrize("platform", ["line", "telegram"])
async def test_top_and_report_of_a_segment(bot: ChatBot, platform: str) -> None:
    await seed(bot)  # Ploy (LINE, VIP, ฿1,250), Naree (Telegram, ฿500), Nok (Messenger, ฿99)
    admin = user_id(platform, 99)
    await bot.link(platform, admin)
    # no segments yet: a name is not taken for "every customer"
    assert await bot.ask(platform, admin, "/top VIP") == [
        "No segment is called “VIP”: this shop has no saved segments."
    ]
    assert await bot.ask(platform, admin, "/report yesterday") == [
        "Send /report today, /report 7d or /report 30d "
        "(a segment's name after it counts only its customers)."
    ]
    await save_segment(bot, "VIP เชียงใหม่", {"tag": "VIP", "province": "Chiang Mai"})
    await save_segment(bot, "Telegram fans", {"channel": "telegram"})
    await save_segment(bot, "WhatsApp only", {"channel": "whatsapp"})

    [help_text] = await bot.ask(platform, admin, "/help")
    assert "/top [n] [segment]: the n biggest spenders, of a saved segment if named" in help_text
    assert "/report [today|7d|30d] [segment]: new customers, who wrote, paid orders" in help_text

    assert await bot.ask(platform, admin, "/top vip  เชียงใหม่") == [
        "Top 1 customers of “VIP เชียงใหม่” by paid total:\n"
        "1. Ploy FAKE LINE: ฿1,250.00 (1 orders, LINE)"
    ]
    assert await bot.ask(platform, admin, "/top 5 TELEGRAM FANS") == [
        "Top 1 customers of “Telegram fans” by paid total:\n1. Naree: ฿500.00 (1 orders, Telegram)"
    ]
    assert await bot.ask(platform, admin, "/top 3 whatsapp only") == [
        "No customers in “WhatsApp only”."
    ]

    [report] = await bot.ask(platform, admin, "/report today telegram fans")
    assert report.splitlines() == [
        f"Today, {TODAY} to {TODAY} (Asia/Bangkok), segment “Telegram fans”:",
        "New customers: 1",
        "Customers who wrote: 1",
        "Paid orders: 1, ฿500.00",
        "By channel:",
        "Telegram: 1 new, 1 wrote, 1 paid orders, ฿500.00",
    ]
    [week] = await bot.ask(platform, admin, "/report 7 d VIP เชียงใหม่")
    assert week.splitlines()[0].endswith("segment “VIP เชียงใหม่”:")
    assert week.splitlines()[1:] == [
        "New customers: 1",
        "Customers who wrote: 1",
        "Paid orders: 1, ฿1,250.00",
        "By channel:",
        "LINE: 1 new, 1 wrote, 1 paid orders, ฿1,250.00",
    ]
    [bare] = await bot.ask(platform, admin, "/report whatsapp only")  # no period: today
    assert bare.splitlines()[0].startswith(f"Today, {TODAY}")
    assert bare.splitlines()[1:] == [
        "New customers: 0",
        "Customers who wrote: 0",
        "Paid orders: 0, ฿0.00",
    ]

    for name in ("A1", "A2", "A3"):
        await save_segment(bot, name, {"status": "following"})
    assert await bot.ask(platform, admin, "/top Nobody") == [
        "No segment is called “Nobody”. Segments: “A1”, “A2”, “A3”, “Telegram fans”, "
        "“VIP เชียงใหม่” and 1 more."
    ]
    assert await bot.ask(platform, admin, "/report 30d Nobody") == [
        "No segment is called “Nobody”. Segments: “A1”, “A2”, “A3”, “Telegram fans”, "
        "“VIP เชียงใหม่” and 1 more."
    ]
    [usage] = await bot.ask(platform, admin, "/report yesterday")
    assert usage.splitlines()[1].startswith("Send /report today, /report 7d or /report 30d")

    entries = await bot.ingest.store.for_shop(bot.shop.id).audit.recent(action="bot.command")
    tops = [e for e in entries if e["command"] == "top"]
    assert sorted(e["rows"] for e in tops) == [0, 0, 0, 1, 1]


async def test_thai_segment_commands(thai_bot: ChatBot) -> None:
    bot = thai_bot
    await seed(bot)
    admin = user_id("line", 99)
    await bot.link("line", admin)
    await save_segment(bot, "ลูกค้า VIP", {"tag": "VIP"})
    [help_text] = await bot.ask("line", admin, "ช่วย")
    assert "ท็อป [n] [กลุ่มลูกค้า] (/top)" in help_text
    assert "รายงาน [วันนี้|7วัน|30วัน] [กลุ่มลูกค้า] (/report)" in help_text
    assert await bot.ask("line", admin, "ท็อป ๓ ลูกค้า vip") == [
        "ลูกค้า 1 อันดับแรกของกลุ่ม “ลูกค้า VIP” ตามยอดชำระ:\n1. Ploy FAKE LINE: ฿1,250.00 (1 คำสั่งซื้อ, LINE)"
    ]
    [report] = await bot.ask("line", admin, "รายงานวันนี้ลูกค้า VIP")  # no spaces, as Thai
    assert report.splitlines() == [
        f"วันนี้ {TODAY} ถึง {TODAY} (Asia/Bangkok) กลุ่ม “ลูกค้า VIP”:",
        "ลูกค้าใหม่: 1",
        "ลูกค้าที่ทักมา: 1",
        "คำสั่งซื้อที่ชำระแล้ว: 1 รายการ ฿1,250.00",
        "แยกตามช่องทาง:",
        "LINE: ใหม่ 1 ทักมา 1 ชำระแล้ว 1 รายการ ฿1,250.00",
    ]
    [week] = await bot.ask("line", admin, "รายงาน 7 วัน ลูกค้า VIP")
    assert week.startswith("7 วันล่าสุด ") and "กลุ่ม “ลูกค้า VIP”:" in week
    assert await bot.ask("line", admin, "ท็อป ไม่มีกลุ่มนี้") == [
        "ไม่มีกลุ่มลูกค้าชื่อ “ไม่มีกลุ่มนี้” กลุ่มที่มี: “ลูกค้า VIP”"
    ]
