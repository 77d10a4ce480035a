"""The report e-mail as received by a real SMTP server: headers, both parts, the attachment."""

from __future__ import annotations

import email
import io
import zipfile
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from chatcrm.store import Store
from reports.columns import COLUMNS, ExportLayout
from tests.conftest import ShopFixture, make_shop
from tests.fakes.smtp import FakeSmtp
from tests.schedule_support import (
    MAIL_FROM,
    ShiftedClock,
    Start,
    create_schedule,
    mail_settings,
)
from tests.test_api_customers import seed_shop
from tests.test_customer_query import BASE, customer
from tests.test_exports import csv_rows, xlsx_rows

MONDAY_MORNING = datetime(2026, 11, 2, 2, tzinfo=UTC)  # 09:00 in Bangkok, after 08:00
HOSTILE = "<script>alert(1)</script>"


def parts(message: EmailMessage) -> tuple[str, str, list[EmailMessage]]:
    """The text part, the HTML part and the attachments."""
    text = message.get_body(("plain",))
    body = message.get_body(("html",))
    assert text is not None and body is not None
    return text.get_content(), body.get_content(), list(message.iter_attachments())


async def send_now(client: TestClient, shop: ShopFixture, schedule_id: str) -> dict[str, Any]:
    resp = await client.post(f"/api/v1/report-schedules/{schedule_id}/send", headers=shop.auth())
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_report_email_headers_parts_and_attachment(
    start_service: Start, settings: Any, store: Store, shop: ShopFixture, smtp: FakeSmtp
) -> None:
    await seed_shop(store, shop.id)
    await store.for_shop(shop.id).customers.insert_new(
        [customer(shop.id, 9, name=HOSTILE, paid_total=500, tags=["<VIP>"], channel="telegram")]
    )
    client = await start_service(mail_settings(settings, smtp), ShiftedClock(MONDAY_MORNING))
    schedule = await create_schedule(
        client,
        shop,
        recipients=["owner@shop.example", "Accountant@Shop.example"],
        period="all",
    )
    delivery = await send_now(client, shop, schedule["id"])
    assert delivery["state"] == "sent" and delivery["kind"] == "test"
    assert delivery["rows"] == 6 and delivery["attempts"] == 1 and delivery["last_error"] is None
    assert len(smtp.messages) == 1
    received = smtp.messages[0]
    assert received.recipients == ["owner@shop.example", "Accountant@Shop.example"]
    message = received.message
    assert message["Message-ID"] == delivery["message_id"]
    assert message["From"] == MAIL_FROM and message["To"].addresses[1].username == "Accountant"
    assert message["Subject"] == "Shop A: รายงาน ลูกค้า VIP รายสัปดาห์ — 2 พ.ย. 2569"
    text, html, attachments = parts(message)
    assert "จำนวนลูกค้า: 6" in text and "ยอดชำระแล้ว: 3,620.00 THB" in text
    assert "ลูกค้าทั้งหมดจนถึง 2 พ.ย. 2569" in text
    # per channel, most to fewest; the 10 biggest spenders, biggest first
    assert text.index("LINE: 3") < text.index("Telegram: 2") < text.index("Messenger: 1")
    assert text.index("1. ปุ๊ก 🌸 (LINE) 2,500.00 THB") < text.index("2. สมชาย ใจดี")
    assert "VIP: 2" in text and "<VIP>: 1" in text
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;VIP&gt;" in html and "สมชาย ใจดี" in html
    (attachment,) = attachments
    assert attachment.get_filename() == "ลูกค้า VIP รายสัปดาห์ 2026-11-02.xlsx"
    assert b"filename*0*=utf-8''" in received.data  # RFC 2231: what mail clients decode
    rows = xlsx_rows(attachment.get_content())
    assert rows[0] == [c.label(ExportLayout("th", "Asia/Bangkok", "THB")) for c in COLUMNS]
    assert [r[0] for r in rows[1:4]] == ["cus_0003", "cus_0001", "cus_0002"]  # biggest first
    assert HOSTILE in [r[1] for r in rows]
    (entry,) = await store.for_shop(shop.id).audit.recent(action="report.send")
    assert entry["schedule_id"] == schedule["id"] and entry["rows"] == 6
    assert entry["recipients"] == ["owner@shop.example", "Accountant@Shop.example"]


async def test_segment_period_csv_and_english(
    start_service: Start, settings: Any, store: Store, smtp: FakeSmtp
) -> None:
    await store.shops.create(
        "Bottega <Roma>", timezone="Asia/Bangkok", locale="en", shop_id="shop_en"
    )
    shop = await make_shop(store, "unused")
    shop.id = "shop_en"
    shop.owner = await store.tokens.create("shop_en", "owner", "owner")
    await seed_shop(store, shop.id)
    client = await start_service(mail_settings(settings, smtp), ShiftedClock(MONDAY_MORNING))
    resp = await client.post(
        "/api/v1/segments",
        json={"name": "VIP", "filters": {"tag": "VIP"}, "sort": "name", "order": "asc"},
        headers=shop.auth(),
    )
    segment = await resp.json()
    schedule = await create_schedule(
        client, shop, name="VIP weekly", segment_id=segment["id"], format="csv"
    )
    delivery = await send_now(client, shop, schedule["id"])
    # VIP customers updated in the 7 days before Monday 2 November: cus_0002 was not
    assert delivery["state"] == "sent" and delivery["rows"] == 1
    message = smtp.messages[0].message
    assert message["Subject"] == "Bottega <Roma>: Report VIP weekly — 2 Nov 2026"
    text, html, (attachment,) = parts(message)
    assert "Period: 26 Oct 2026 – 1 Nov 2026" in text and "Customers: 1" in text
    assert "Bottega &lt;Roma&gt;" in html
    assert attachment.get_filename() == "VIP weekly 2026-11-02.csv"
    rows = csv_rows(
        attachment.get_content().encode()
        if isinstance(attachment.get_content(), str)
        else attachment.get_content()
    )
    assert [r[0] for r in rows[1:]] == ["cus_0001"] and rows[0][0] == "Customer ID"
    assert BASE  # the seed's update time lies in the period


async def test_a_large_export_becomes_a_download_link(
    start_service: Start, settings: Any, store: Store, shop: ShopFixture, smtp: FakeSmtp
) -> None:
    await seed_shop(store, shop.id)
    public = settings.with_changes(public_url="http://127.0.0.1:9")  # the link's base only
    clock = ShiftedClock(MONDAY_MORNING)
    client = await start_service(mail_settings(public, smtp), clock, attach_bytes=1000)
    schedule = await create_schedule(client, shop, period="all")
    delivery = await send_now(client, shop, schedule["id"])
    assert delivery["state"] == "sent"
    text, html, attachments = parts(smtp.messages[0].message)
    assert attachments == []
    assert "ดาวน์โหลดได้ที่ลิงก์นี้ (ใช้ได้ถึง 9 พ.ย. 2569)" in text
    url = next(line for line in text.splitlines() if line.startswith("http://127.0.0.1:9/"))
    assert f'href="{url}"' in html
    resp = await client.get(url.removeprefix("http://127.0.0.1:9"))
    assert resp.status == 200
    assert "filename*=UTF-8''" in resp.headers["Content-Disposition"]
    rows = xlsx_rows(await resp.read())
    assert len(rows) == 6
    assert (await client.get("/downloads/dl_unknown")).status == 404
    clock.set(MONDAY_MORNING + timedelta(days=7, minutes=1))
    resp = await client.get(url.removeprefix("http://127.0.0.1:9"))
    assert resp.status == 410 and (await resp.json())["error"]["code"] == "gone"


async def test_without_smtp_the_email_is_an_eml_file_in_the_outbox(
    start_service: Start, settings: Any, store: Store, shop: ShopFixture
) -> None:
    await seed_shop(store, shop.id)
    client = await start_service(settings, ShiftedClock(MONDAY_MORNING))
    schedule = await create_schedule(client, shop, format="none", period="all")
    delivery = await send_now(client, shop, schedule["id"])
    assert delivery["state"] == "sent" and delivery["rows"] is None
    outbox = Path(settings.data_dir) / "outbox"
    (path,) = outbox.glob("*.eml")
    assert path.name == f"{delivery['id']}.eml"
    message = email.message_from_bytes(path.read_bytes(), policy=default)
    assert isinstance(message, EmailMessage)
    text, _, attachments = parts(message)
    assert "จำนวนลูกค้า: 5" in text and attachments == []


async def test_more_rows_than_a_file_holds_are_attached_as_the_split_zip(
    start_service: Start, settings: Any, store: Store, shop: ShopFixture, smtp: FakeSmtp
) -> None:
    await seed_shop(store, shop.id)
    client = await start_service(
        mail_settings(settings, smtp), ShiftedClock(MONDAY_MORNING), export_rows=2
    )
    schedule = await create_schedule(client, shop, name="ทุกคน", period="all")
    delivery = await send_now(client, shop, schedule["id"])
    assert delivery["state"] == "sent" and delivery["rows"] == 5
    _, _, (attachment,) = parts(smtp.messages[0].message)
    assert attachment.get_filename() == "ทุกคน 2026-11-02.zip"
    with zipfile.ZipFile(io.BytesIO(attachment.get_content())) as archive:
        names = sorted(archive.namelist())
        assert len(names) == 3 and all(n.endswith(".xlsx") for n in names)
        ids = [r[0] for n in names for r in xlsx_rows(archive.read(n))[1:]]
    assert len(ids) == len(set(ids)) == 5
