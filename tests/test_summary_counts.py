"""The summary read from counters equals the summary grouped from the customers, after real
writes through the service (webhooks, edits, orders, refunds, imports, merges, chat admins),
on a database counted before, and while a recount runs beside writes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

from chatcrm.config import Settings
from chatcrm.domain import CustomerFilters, new_customer_fields
from chatcrm.store import counts
from tests.ingest_support import Ingest
from tests.test_merges import LINE_USER, TG_USER, call, edit, line_text, tg_text, two_people

PAID_AT = "2026-11-21T10:00:00+07:00"
IMPORTED = (
    "channel,platform_user_id,name,phone,email,province,postal_code,tags,notes\r\n"
    "line,U100,สมหญิง,081-234-5678,,จ.เชียงใหม่,50200,VIP;ลูกค้าประจำ,\r\n"
    "messenger,PSID-9,ปุ๊ก,,,,10270,COD|ส่งฟรี,\r\n"
    "line,U200,,,,,,,\r\n"
)


def normal(raw: dict[str, Any]) -> dict[str, Any]:
    """A store summary in a comparable form (the groups come in no particular order)."""
    return {**raw, "totals": sorted(raw["totals"], key=lambda t: str(t["currency"]))}


def covered(raw: dict[str, Any]) -> list[CustomerFilters]:
    """No filter, and each channel, province and tag of an unfiltered summary alone."""
    return [
        CustomerFilters(),
        *(CustomerFilters(channels=(c,)) for c in raw["channels"]),
        *(CustomerFilters(provinces=(p,)) for p in raw["provinces"]),
        *(CustomerFilters(tags=(t,)) for t in raw["tags"]),
    ]


async def assert_counted_right(ingest: Ingest) -> None:
    """Every summary the counters answer equals the grouped one, and comes from counters.

    A new repository each time: one remembers whether its shop has merges."""
    customers = ingest.store.for_shop(ingest.shop_id).customers
    db, shop_id = customers.coll.database, customers.shop_id
    for filters in covered(await customers.grouped_summary(CustomerFilters())):
        dimension = counts.dimension(filters)
        assert dimension is not None, filters
        from_counts = await counts.summary(db, shop_id, dimension)
        assert from_counts is not None, "the shop's counters are not in use"
        grouped = normal(await customers.grouped_summary(filters))
        assert normal(from_counts) == grouped, filters
        assert normal(await customers.summary(filters)) == grouped


async def upload(ingest: Ingest, text: str) -> None:
    await ingest.api(
        "POST",
        "/api/v1/imports?kind=customers",
        data=text.encode(),
        headers={"Content-Type": "text/csv"},
    )


async def order(ingest: Ingest, order_id: str, channel: str, user: str, **fields: Any) -> None:
    body = {
        "order_id": order_id,
        "customer": {"channel": channel, "platform_user_id": user},
        "amount": 25000,
        "currency": "THB",
        **fields,
    }
    await ingest.api("POST", "/api/v1/orders", json=body)


async def test_counters_follow_every_kind_of_customer_write(ingest: Ingest) -> None:
    customers = ingest.shop.customers
    await assert_counted_right(ingest)  # a new shop: counted, empty

    a, b = await two_people(ingest)  # webhooks, tag edits, paid orders
    await assert_counted_right(ingest)

    await edit(ingest, a["id"], province="กรุงเทพมหานคร", tags=["VIP", "ส่งฟรี"])
    await upload(ingest, IMPORTED)
    await order(ingest, "C-1", "line", "U100", status="paid", paid_at=PAID_AT)
    await assert_counted_right(ingest)

    await ingest.api("PATCH", "/api/v1/orders/C-1", json={"status": "refunded"})
    await ingest.send("line", line_text(LINE_USER, 2, "ขอบคุณค่ะ"))  # a message: nothing moves
    await assert_counted_right(ingest)

    status, _ = await call(
        ingest, "POST", f"/api/v1/customers/{a['id']}/merge", json={"others": [b["id"]]}
    )
    assert status == 200
    await assert_counted_right(ingest)
    summary = await ingest.api("GET", "/api/v1/report/summary", params={"channel": "telegram"})
    assert summary["customers"] == 1  # the person, through its Telegram identity

    await customers.set_chat_admin(("line", "U200"), True)
    await assert_counted_right(ingest)
    status, _ = await call(
        ingest,
        "POST",
        f"/api/v1/customers/{a['id']}/unmerge",
        json={"identity": {"channel": "telegram", "platform_user_id": TG_USER}},
    )
    assert status == 200
    await customers.set_chat_admin(("line", "U200"), False)
    await ingest.send("telegram", tg_text(2, "new customer?", user="5123400000"))
    await assert_counted_right(ingest)
    total = await ingest.api("GET", "/api/v1/report/summary")
    assert total["customers"] == 6 and total["paid_total"] == 15000


async def test_other_filters_group_the_customers(ingest: Ingest) -> None:
    customers = ingest.shop.customers
    await two_people(ingest)
    # counters made wrong on purpose (as a crash between a write and its counters would):
    # only the summaries they answer show it
    db = customers.coll.database
    await db[counts.COUNTS].update_many(
        {"shop_id": ingest.shop_id}, {"$inc": {"n": 5, "paid_total": 100}}
    )
    for params in ({"channel": "line,telegram"}, {"tag": "VIP", "channel": "line"}, {"q": "Som"}):
        summary = await ingest.api("GET", "/api/v1/report/summary", params=params)
        assert summary["customers"] == 1 or params["channel"] == "line,telegram"
    both = await ingest.api("GET", "/api/v1/report/summary", params={"channel": "line,telegram"})
    assert both["customers"] == 2 and both["paid_total"] == 15000
    assert (await ingest.api("GET", "/api/v1/report/summary"))["customers"] == 7
    assert counts.dimension(CustomerFilters(tags=("VIP", "COD"))) is None
    assert counts.dimension(CustomerFilters(tags=("VIP",), postal_code="10*")) is None


async def test_recount_repairs_counters_and_a_database_from_before_them(
    ingest: Ingest, settings: Settings
) -> None:
    customers = ingest.shop.customers
    db = customers.coll.database
    await two_people(ingest)
    await upload(ingest, IMPORTED)
    # a database from before the counters: customers, no counters and no state
    await db[counts.COUNTS].delete_many({})
    await db[counts.STATE].delete_many({})
    summary = await ingest.api("GET", "/api/v1/report/summary")
    assert summary["customers"] == 5 and summary["paid_total"] == 15000
    assert await counts.summary(db, ingest.shop_id, counts.ALL) is None
    await edit(ingest, (await ingest.rows())["U200"]["id"], tags=["ใหม่"])  # nothing counted
    assert await db[counts.COUNTS].count_documents({}) == 0

    assert await counts.recount_shops(db) == [ingest.shop_id]
    await assert_counted_right(ingest)
    assert await counts.recount_shops(db) == []  # done: nothing to recount at start-up

    await db[counts.COUNTS].update_many({}, {"$inc": {"n": 3}})  # off, as after a crash
    env = {
        **os.environ,
        "MONGODB_URI": settings.mongodb_uri or "",
        "MONGODB_DB": settings.mongodb_db,
        "CHATCRM_SECRET_KEY": settings.secret_key or "",
        "CHATCRM_DATA_DIR": str(settings.data_dir),
    }
    command = [sys.executable, "-m", "chatcrm.cli", "recount", "--shop", ingest.shop_id, "--json"]
    done = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["recounted"] == [ingest.shop_id]
    await assert_counted_right(ingest)


async def writes(ingest: Ingest, round: int) -> None:
    """Counted writes of every kind: a tag edit, a paid order, a new customer."""
    rows = await ingest.rows()
    for n in range(round * 10, round * 10 + 4):
        await edit(ingest, rows["U100"]["id"], tags=[f"T{n}", "VIP"])
        await order(ingest, f"R-{n}", "line", "U200", status="paid", paid_at=PAID_AT)
        await ingest.send("telegram", tg_text(10 + n, "hi", user=f"51234{n:05d}"))


async def test_writes_during_a_recount_are_logged_and_counted_once(ingest: Ingest) -> None:
    db = ingest.shop.customers.coll.database
    await upload(ingest, IMPORTED)
    run = await counts.open_recount(db, ingest.shop_id)
    assert run is not None
    assert await counts.open_recount(db, ingest.shop_id) is None  # one recount at a time
    await writes(ingest, 0)  # logged: the scan sees them too, and counts them once
    assert await counts.summary(db, ingest.shop_id, counts.ALL) is None  # grouped meanwhile
    summary = await ingest.api("GET", "/api/v1/report/summary")
    assert summary["customers"] == 7 and summary["paid_total"] == 100000
    assert await counts.finish_recount(db, ingest.shop_id, run)
    await assert_counted_right(ingest)


async def test_a_recount_beside_writes_counts_each_once(ingest: Ingest) -> None:
    db = ingest.shop.customers.coll.database
    await upload(ingest, IMPORTED)
    many = [
        {
            **new_customer_fields(),
            "_id": f"cus_{i:05d}",
            "_key": f"cus_{i:05d}",
            "shop_id": ingest.shop_id,
            "channel": "line",
            "platform_user_id": f"U9{i:05d}",
            "tags": ["VIP"] if i % 3 else [],
            "paid_total": i,
        }
        for i in range(3000)
    ]
    await ingest.shop.customers.insert_new(many)  # a scan long enough for writes to land in
    for round in range(2):
        await asyncio.gather(writes(ingest, round), counts.recount(db, ingest.shop_id, batch=50))
        await assert_counted_right(ingest)
