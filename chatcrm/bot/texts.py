"""What the bot says, in English and Thai, and how it writes values into chat text (no I/O).

Answers are plain text on every platform. Anything a customer or a seller typed (names, tags,
the searched text) goes through `plain`: control characters and bidirectional overrides become
spaces (a name cannot fake a line of the answer) and it is cut to a bounded length.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from chatcrm.domain import as_utc, currency_exponent
from reports.columns import CURRENCY_SYMBOLS

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f]+")

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "help.title": "Commands for {shop} ({role}):",
        "help.help": "/help: this list",
        "help.customer": "/customer <name, phone, e-mail or chat id>: find customers",
        "help.top": "/top [n] [segment]: the n biggest spenders, of a saved segment if named "
        "(at most 20, default 10)",
        "help.report": "/report [today|7d|30d] [segment]: new customers, who wrote, paid orders",
        "help.export": "/export [xlsx|csv]: every customer as a file",
        "help.unlink": "/unlink: stop being this shop's chat admin",
        "unknown": "Unknown command. Send /help for the list.",
        "slow_down": "Slow down: at most {limit} commands a minute. Try again in a minute.",
        "role.owner": "owner",
        "role.staff": "staff",
        "linked": "This chat is now linked to {shop} as {role}. Send /help for the commands.",
        "link.invalid": "That code does not work: it is wrong, used or expired. "
        "Ask the shop owner for a new one.",
        "link.locked": "Too many wrong codes: linking from this chat is blocked for an hour.",
        "unlinked": "This chat is no longer linked to {shop}.",
        "customer.usage": "Send /customer and a name, phone number, e-mail or chat id.",
        "customer.none": "No customer matches “{q}”.",
        "customer.more": "{shown} of {total} customers shown. "
        "Add more of the name, or the whole phone number, to narrow it down.",
        "customer.line": "{channel} · {province}\nTags: {tags}\n"
        "Paid {paid} · {orders} orders · last order {last}",
        "top.title": "Top {n} customers by paid total:",
        "top.line": "{i}. {name}: {paid} ({orders} orders, {channel})",
        "top.none": "No customers yet.",
        "top.title_of": "Top {n} customers of “{segment}” by paid total:",
        "top.none_of": "No customers in “{segment}”.",
        "segment.unknown": "No segment is called “{name}”. Segments: {names}.",
        "segment.more": " and {n} more",
        "segment.no_segments": "No segment is called “{name}”: this shop has no saved segments.",
        "report.title": "{period}, {start} to {end} ({tz}):",
        "report.today": "Today",
        "report.7d": "Last 7 days",
        "report.30d": "Last 30 days",
        "report.totals": "New customers: {new}\nCustomers who wrote: {wrote}\n"
        "Paid orders: {orders}, {paid}",
        "report.by_channel": "By channel:",
        "report.channel": "{channel}: {new} new, {wrote} wrote, {orders} paid orders, {paid}",
        "report.title_of": "{title}, segment “{segment}”:",
        "report.usage": "Send /report today, /report 7d or /report 30d "
        "(a segment's name after it counts only its customers).",
        "export.link": "Your {fmt} export of every customer: {url}\n"
        "The link works once, for 15 minutes.",
        "export.no_url": "Download links need the service's public address "
        "(CHATCRM_PUBLIC_URL), which is not set. Export from the dashboard instead.",
        "export.too_large": "{count} customers: more than one file holds ({limit}). "
        "Export from the dashboard or the API in parts.",
        "export.caption": "{shop}: {rows} customers ({fmt})",
        "export.usage": "Send /export xlsx or /export csv.",
        "none": "none",
        "no_name": "(no name)",
        "no_province": "province unknown",
        "never": "never",
    },
    "th": {
        "help.title": "คำสั่งของร้าน {shop} ({role}):",
        "help.help": "ช่วย (/help): รายการคำสั่งนี้",
        "help.customer": "ลูกค้า <ชื่อ เบอร์โทร อีเมล หรือไอดีแชท> (/customer): ค้นหาลูกค้า",
        "help.top": "ท็อป [n] [กลุ่มลูกค้า] (/top): ลูกค้าที่ซื้อมากที่สุด n คน "
        "ทั้งร้านหรือในกลุ่มที่บันทึกไว้ (ไม่เกิน 20 ปกติ 10)",
        "help.report": "รายงาน [วันนี้|7วัน|30วัน] [กลุ่มลูกค้า] (/report): "
        "ลูกค้าใหม่ ลูกค้าที่ทักมา คำสั่งซื้อที่ชำระแล้ว",
        "help.export": "ส่งออก [xlsx|csv] (/export): ลูกค้าทั้งหมดเป็นไฟล์",
        "help.unlink": "เลิกผูก (/unlink): เลิกเป็นผู้ดูแลร้านทางแชทนี้",
        "unknown": "ไม่รู้จักคำสั่งนี้ พิมพ์ ช่วย หรือ /help เพื่อดูรายการคำสั่ง",
        "slow_down": "ส่งคำสั่งถี่เกินไป (ไม่เกิน {limit} คำสั่งต่อนาที) กรุณารอสักครู่",
        "role.owner": "เจ้าของร้าน",
        "role.staff": "พนักงาน",
        "linked": "ผูกแชทนี้กับร้าน {shop} แล้ว ในฐานะ{role} พิมพ์ ช่วย หรือ /help เพื่อดูคำสั่ง",
        "link.invalid": "รหัสนี้ใช้ไม่ได้ (ผิด ใช้ไปแล้ว หรือหมดอายุ) ขอรหัสใหม่จากเจ้าของร้าน",
        "link.locked": "ใส่รหัสผิดหลายครั้งเกินไป แชทนี้ผูกได้อีกครั้งในหนึ่งชั่วโมง",
        "unlinked": "เลิกผูกแชทนี้กับร้าน {shop} แล้ว",
        "customer.usage": "พิมพ์ ลูกค้า ตามด้วยชื่อ เบอร์โทร อีเมล หรือไอดีแชท",
        "customer.none": "ไม่พบลูกค้าที่ตรงกับ “{q}”",
        "customer.more": "แสดง {shown} จาก {total} คน พิมพ์ชื่อให้ยาวขึ้นหรือใส่เบอร์โทรเต็มเพื่อให้แคบลง",
        "customer.line": "{channel} · {province}\nแท็ก: {tags}\n"
        "ชำระแล้ว {paid} · {orders} คำสั่งซื้อ · สั่งล่าสุด {last}",
        "top.title": "ลูกค้า {n} อันดับแรกตามยอดชำระ:",
        "top.line": "{i}. {name}: {paid} ({orders} คำสั่งซื้อ, {channel})",
        "top.none": "ยังไม่มีลูกค้า",
        "top.title_of": "ลูกค้า {n} อันดับแรกของกลุ่ม “{segment}” ตามยอดชำระ:",
        "top.none_of": "ไม่มีลูกค้าในกลุ่ม “{segment}”",
        "segment.unknown": "ไม่มีกลุ่มลูกค้าชื่อ “{name}” กลุ่มที่มี: {names}",
        "segment.more": " และอีก {n} กลุ่ม",
        "segment.no_segments": "ไม่มีกลุ่มลูกค้าชื่อ “{name}” ร้านนี้ยังไม่ได้บันทึกกลุ่มลูกค้า",
        "report.title": "{period} {start} ถึง {end} ({tz}):",
        "report.today": "วันนี้",
        "report.7d": "7 วันล่าสุด",
        "report.30d": "30 วันล่าสุด",
        "report.totals": "ลูกค้าใหม่: {new}\nลูกค้าที่ทักมา: {wrote}\n"
        "คำสั่งซื้อที่ชำระแล้ว: {orders} รายการ {paid}",
        "report.by_channel": "แยกตามช่องทาง:",
        "report.channel": "{channel}: ใหม่ {new} ทักมา {wrote} ชำระแล้ว {orders} รายการ {paid}",
        "report.title_of": "{title} กลุ่ม “{segment}”:",
        "report.usage": "พิมพ์ รายงาน วันนี้, รายงาน 7วัน หรือ รายงาน 30วัน "
        "(ตามด้วยชื่อกลุ่มลูกค้าเพื่อนับเฉพาะกลุ่มนั้น)",
        "export.link": "ไฟล์ {fmt} ของลูกค้าทั้งหมด: {url}\nลิงก์ใช้ได้ครั้งเดียว ภายใน 15 นาที",
        "export.no_url": "ยังไม่ได้ตั้งที่อยู่สาธารณะของระบบ (CHATCRM_PUBLIC_URL) "
        "จึงสร้างลิงก์ดาวน์โหลดไม่ได้ กรุณาส่งออกจากแดชบอร์ด",
        "export.too_large": "ลูกค้า {count} คน เกินที่หนึ่งไฟล์รับได้ ({limit}) "
        "กรุณาส่งออกเป็นหลายไฟล์จากแดชบอร์ดหรือ API",
        "export.caption": "{shop}: ลูกค้า {rows} คน ({fmt})",
        "export.usage": "พิมพ์ ส่งออก xlsx หรือ ส่งออก csv",
        "none": "ไม่มี",
        "no_name": "(ไม่มีชื่อ)",
        "no_province": "ไม่ทราบจังหวัด",
        "never": "ยังไม่เคย",
    },
}


def language(locale: str) -> str:
    """``th`` or ``en`` (any other locale answers in English)."""
    return "th" if locale.startswith("th") else "en"


def say(locale: str, key: str, **values: Any) -> str:
    """The text `key` in the shop's language, with `values` filled in."""
    return TEXTS[language(locale)][key].format(**values)


def plain(value: Any, limit: int = 100) -> str:
    """Untrusted text made safe for one line of an answer, at most `limit` characters."""
    text = _UNSAFE.sub(" ", str(value)).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def money(minor: int, currency: str) -> str:
    """Minor units as the shop's money, e.g. 125050 THB -> ``฿1,250.50``."""
    exponent = currency_exponent(currency)
    whole, part = divmod(abs(minor), 10**exponent)
    amount = f"{whole:,}" + (f".{part:0{exponent}d}" if exponent else "")
    symbol = CURRENCY_SYMBOLS.get(currency)
    sign = "-" if minor < 0 else ""
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency}"


def local_day(value: datetime | str | None, timezone: str) -> str | None:
    """A date as the day it was in the shop's time zone (``2026-11-23``), None when missing."""
    when = as_utc(value)
    return when.astimezone(ZoneInfo(timezone)).date().isoformat() if when else None
