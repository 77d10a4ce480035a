"""CSV imports of customers and orders, through the API and the `chatcrm import` command."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from chatcrm.config import Settings
from chatcrm.store import Store
from tests.conftest import ShopFixture

CUSTOMERS = (
    "\ufeffchannel,platform_user_id,name,phone,email,province,postal_code,tags,notes\r\n"
    "line,U100,สมหญิง ใจดี,081-234-5678,Som@Example.com,จ.เชียงใหม่,50200,VIP;ลูกค้าประจำ,"
    '"ชอบสีชมพู, ส่งด่วน"\r\n'
    "telegram,5550001,Nok,,not-an-email,,,,\r\n"
    "messenger,PSID-9,ปุ๊ก,,,,10270,COD|ส่งฟรี,\r\n"
    "line,U200,,,,,,,\r\n"
)

ORDERS = (
    "order_id,customer_channel,customer_platform_user_id,customer_phone,amount,status,paid_at,"
    "items\n"
    'A-1,line,U100,,"1,250.00",paid,2026-11-20T10:15:00+07:00,เสื้อยืด:2:625\n'
    "A-2,,,0812345678,300,placed,,\n"
    "A-3,,,0800000000,99.50,placed,,\n"
    "A-4,line,U100,,100.00,paid,,\n"
    "A-5,telegram,tg-new,,10.5,placed,,\n"
)


async def upload(client: TestClient, shop: ShopFixture, kind: str, text: str) -> dict[str, Any]:
    resp = await client.post(
        f"/api/v1/imports?kind={kind}",
        data=text.encode(),
        headers={**shop.auth("staff"), "Content-Type": "text/csv"},
    )
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def snapshot(store: Store, shop_id: str) -> list[dict[str, Any]]:
    coll = store.db["customers"]
    return await coll.find({"shop_id": shop_id}).sort("_key", 1).to_list(None)


async def test_customers_csv_with_bom_thai_and_a_bad_row(
    client: TestClient, shop: ShopFixture, store: Store
) -> None:
    report = await upload(client, shop, "customers", CUSTOMERS)
    assert report["rows"] == 4 and report["created"] == 3 and report["rejected"] == 1
    assert report["errors"] == [
        {"row": 3, "field": "email", "reason": report["errors"][0]["reason"]}
    ]
    scoped = store.for_shop(shop.id).customers
    som = await scoped.find_identity("line", "U100")
    assert som is not None
    assert som["name"] == "สมหญิง ใจดี" and som["phone"] == "0812345678"
    assert som["email"] == "som@example.com" and som["province_key"] == "Chiang Mai"
    assert som["tags"] == ["VIP", "ลูกค้าประจำ"] and som["notes"] == "ชอบสีชมพู, ส่งด่วน"
    puk = await scoped.find_identity("messenger", "PSID-9")
    assert puk is not None and puk["province_key"] == "Samut Prakan"
    assert puk["tags"] == ["COD", "ส่งฟรี"]
    assert await scoped.find_identity("telegram", "5550001") is None  # the bad row: nothing

    before = await snapshot(store, shop.id)
    again = await upload(client, shop, "customers", CUSTOMERS)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert await snapshot(store, shop.id) == before

    fixed = CUSTOMERS.replace("not-an-email", "nok@example.com")
    third = await upload(client, shop, "customers", fixed)
    assert (third["created"], third["rejected"]) == (1, 0)
    audit = await store.for_shop(shop.id).audit.recent(action="import.customers")
    staff = await store.tokens.resolve(shop.staff)
    assert staff is not None
    assert len(audit) == 3 and audit[0]["actor"] == f"token:staff#{staff.token_id}"


async def test_orders_csv_records_once_and_reports_bad_rows(
    client: TestClient, shop: ShopFixture, store: Store
) -> None:
    await upload(client, shop, "customers", CUSTOMERS)
    report = await upload(client, shop, "orders", ORDERS)
    assert report["created"] == 3, report
    assert {(e["row"], e["field"]) for e in report["errors"]} == {(4, "customer"), (5, "paid_at")}
    scoped = store.for_shop(shop.id)
    assert await scoped.orders.get("A-3") is None and await scoped.orders.get("A-4") is None
    order = await scoped.orders.get("A-1")
    assert order is not None and order["amount"] == 125000
    assert order["items"] == [{"name": "เสื้อยืด", "quantity": 2, "unit_price": 62500}]
    som = await scoped.customers.find_identity("line", "U100")
    assert som is not None
    assert (som["paid_total"], som["order_count"], som["unpaid_total"]) == (125000, 1, 30000)
    new = await scoped.customers.find_identity("telegram", "tg-new")
    assert new is not None and new["unpaid_total"] == 1050 and new["phone"] is None

    before = await snapshot(store, shop.id)
    again = await upload(client, shop, "orders", ORDERS)
    assert (again["created"], again["unchanged"], again["rejected"]) == (0, 3, 2)
    assert await snapshot(store, shop.id) == before
    changed = ORDERS.replace("A-2,,,0812345678,300", "A-2,,,0812345678,301")
    conflict = await upload(client, shop, "orders", changed)
    assert {"row": 3, "field": "order_id"} in [
        {"row": e["row"], "field": e["field"]} for e in conflict["errors"]
    ]


async def test_import_rejects_bad_requests(
    client: TestClient, shop: ShopFixture, settings: Settings
) -> None:
    url = "/api/v1/imports?kind=customers"
    assert (await client.post(url, data=b"channel\n")).status == 401
    csv_headers = {**shop.auth(), "Content-Type": "text/csv"}
    bad_kind = await client.post("/api/v1/imports?kind=x", data=b"a\n", headers=csv_headers)
    assert bad_kind.status == 422 and (await bad_kind.json())["error"]["field"] == "kind"
    json_type = await client.post(url, json={"a": 1}, headers=shop.auth())
    assert json_type.status == 415
    missing = await client.post(url, data=b"channel,name\nline,x\n", headers=csv_headers)
    assert (await missing.json())["error"]["field"] == "platform_user_id"
    latin = await client.post(url, data="channel\n\xe9".encode("latin-1"), headers=csv_headers)
    assert latin.status == 422 and (await latin.json())["error"]["field"] == "file"
    big = b"channel,platform_user_id\n" + b"line,U1\n" * (settings.max_body_bytes // 8 + 1)
    assert (await client.post(url, data=big, headers=csv_headers)).status == 413


def test_cli_import(tmp_path: Path, settings: Settings, store: Store, shop: ShopFixture) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(CUSTOMERS, encoding="utf-8")
    assert settings.mongodb_uri and settings.secret_key
    env = {
        **os.environ,
        "MONGODB_URI": settings.mongodb_uri,
        "MONGODB_DB": settings.mongodb_db,
        "CHATCRM_SECRET_KEY": settings.secret_key,
        "CHATCRM_DATA_DIR": str(tmp_path / "var"),
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chatcrm.cli", "import", *args, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    first = run("customers", str(path), "--shop", shop.id)
    assert first.returncode == 1, first.stderr  # a row was rejected
    report = json.loads(first.stdout)
    assert report["created"] == 3 and report["errors"][0]["row"] == 3
    second = json.loads(run("customers", str(path), "--shop", shop.id).stdout)
    assert (second["created"], second["updated"], second["unchanged"]) == (0, 0, 3)
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,customer_channel,customer_platform_user_id,amount\nZ-1,line,U200,5\n"
    )
    ok = run("orders", str(orders), "--shop", shop.id)
    assert ok.returncode == 0 and json.loads(ok.stdout)["created"] == 1
    unknown = run("orders", str(orders), "--shop", "shop_nope")
    assert unknown.returncode == 2 and "shop_nope" in unknown.stderr


HOSTILE_ORDERS = {
    "amount": ["1e999990", "9" * 5000, "1_000", "12,50", "1e3", "NaN", "-5", "1.005", "²"],
    "items": ["x:²:10", "x:" + "9" * 5000 + ":10", "x:1:1e999990", "x:1:๑e๓"],
    "paid_at": ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"],
}
"""Values of an orders CSV that must each reject their row only, quickly."""


def orders_csv(rows: list[dict[str, str]]) -> str:
    """An orders CSV of `rows` (customer U1 on LINE, paid)."""
    out = io.StringIO()
    columns = ["order_id", "customer_channel", "customer_platform_user_id", "amount", "status"]
    writer = csv.DictWriter(out, [*columns, "paid_at", "items"])
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {"customer_channel": "line", "customer_platform_user_id": "U1", "status": "paid", **row}
        )
    return out.getvalue()


async def test_hostile_order_rows_reject_only_themselves(
    client: TestClient, shop: ShopFixture, store: Store
) -> None:
    paid_at = "2026-11-20T10:15:00+07:00"
    rows = [{"order_id": "G-1", "amount": "1250.00", "paid_at": paid_at, "items": "เสื้อ:๒:๖๒๕"}]
    expected = {}
    for column, values in HOSTILE_ORDERS.items():
        for value in values:
            expected[len(rows) + 2] = column  # the header is row 1
            rows.append(
                {"order_id": f"H-{len(rows)}", "amount": "10.00", "paid_at": paid_at, column: value}
            )
    rows.append({"order_id": "G-2", "amount": "1,000.50", "paid_at": paid_at})
    report = await upload(client, shop, "orders", orders_csv(rows))
    assert report["created"] == 2, report
    assert {e["row"]: e["field"] for e in report["errors"]} == expected
    scoped = store.for_shop(shop.id)
    first, last = await scoped.orders.get("G-1"), await scoped.orders.get("G-2")
    assert first is not None and first["items"][0]["quantity"] == 2 and first["amount"] == 125000
    assert last is not None and last["amount"] == 100050
    (entry,) = await scoped.audit.recent(action="import.orders")
    assert entry["created"] == 2 and entry["rejected"] == len(expected)


async def test_order_amounts_follow_the_currencys_decimals(
    client: TestClient, shop: ShopFixture, store: Store
) -> None:
    """A yen shop's ``1,250`` is 1,250 yen (no minor unit), and ``99.50`` is refused; a dinar
    shop keeps three decimals."""
    for currency, rows, amounts in (
        ("JPY", "Y-1,1,250\nY-2,99.50\n", {"Y-1": 1250}),
        ("KWD", "K-1,12.345\nK-2,1.5\n", {"K-1": 12345, "K-2": 1500}),
    ):
        await store.shops.coll.update_one({"_id": shop.id}, {"$set": {"currency": currency}})
        text = "order_id,customer_channel,customer_platform_user_id,amount\n"
        text += "".join(
            f'{r.split(",", 1)[0]},line,U1,"{r.split(",", 1)[1]}"\n' for r in rows.splitlines()
        )
        report = await upload(client, shop, "orders", text)
        scoped = store.for_shop(shop.id)
        for order_id, amount in amounts.items():
            order = await scoped.orders.get(order_id)
            assert order is not None and (order["amount"], order["currency"]) == (amount, currency)
        if currency == "JPY":
            assert [(e["row"], e["field"]) for e in report["errors"]] == [(3, "amount")]
            assert "at most 0 decimals" in report["errors"][0]["reason"]
