"""Customer exports through the real service: files opened with openpyxl and csv."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import random
import re
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import bson
import openpyxl
import pytest
from aiohttp.test_utils import TestClient

from chatcrm.app import create_app
from chatcrm.config import Settings
from chatcrm.customer_edit import MAX_NOTES
from chatcrm.domain import CustomerFilters
from chatcrm.keys import EXPORT_LIMITS
from chatcrm.report_query import Sort
from chatcrm.store import Store
from reports.columns import COLUMNS, FORMULA_TRIGGERS, ExportLayout, neutralise
from reports.exports import EXPORT_ROW_LIMIT, ExportLimits, read_ahead
from reports.writers import ProcessSheet, Sheet
from tests.conftest import ShopFixture
from tests.test_customer_query import customer

BOM = b"\xef\xbb\xbf"
SMALL = ExportLimits(rows=20, batch=7)
"""20 rows per file, read 7 at a time: the limit and the split tested with 41 customers."""
HEADERS_TH = [c.th for c in COLUMNS]
ID, NAME, PHONE, TAGS, PAID, ORDERS, AVERAGE, LAST_ORDER, UPDATED, NOTES = (
    [c.key for c in COLUMNS].index(k)
    for k in (
        "id",
        "name",
        "phone",
        "tags",
        "paid_total",
        "order_count",
        "average_order",
        "last_order_at",
        "updated_at",
        "notes",
    )
)


async def export(client: TestClient, shop: ShopFixture, body: dict[str, Any], role: str = "owner"):
    return await client.post("/api/v1/exports", json=body, headers=shop.auth(role))


def csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(BOM), "CSV must start with a UTF-8 byte-order mark"
    return list(csv.reader(io.StringIO(data[len(BOM) :].decode("utf-8"), newline="")))


def ooxml_text(value: Any) -> Any:
    """Decode OOXML's _xHHHH_ escapes of control characters (Excel does; openpyxl does not)."""
    if not isinstance(value, str):
        return value
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), value)


def xlsx_rows(data: bytes) -> list[list[Any]]:
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    return [[ooxml_text(v) for v in row] for row in book.worksheets[0].iter_rows(values_only=True)]


def ids_of(rows: list[list[Any]]) -> list[str]:
    return [r[ID] for r in rows[1:]]


async def body_of(resp: Any, fmt: str) -> list[list[Any]]:
    assert resp.status == 200, await resp.text()
    data = await resp.read()
    return csv_rows(data) if fmt == "csv" else xlsx_rows(data)


HOSTILE = [
    '=HYPERLINK("http://evil","x")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\tTAB",
    "\rCR",
    "\0NUL",
    "＝1+1",
]

LONG_NOTES = {"thai": "ก" * MAX_NOTES, "ascii": "n" * MAX_NOTES}
"""Notes at the edit limit: 15,000 and 5,000 bytes, documents PyMongo hands back as memoryviews."""


async def seed_samples(store: Store, shop_id: str) -> list[dict[str, Any]]:
    paid_at = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)  # 2026-03-02 00:30 in Bangkok
    docs = [
        customer(
            shop_id,
            1,
            name="สมชาย ใจดี 🌸🛍️",
            phone="0812345678",
            email="somchai@example.com",
            postal_code="50200",
            tags=["ลูกค้าประจำ", "VIP"],
            notes='ชอบสีชมพู 💗\nส่งด่วน, ห่อของขวัญ "พิเศษ"',
            paid_total=125050,
            order_count=3,
            unpaid_total=9900,
            last_order_at=paid_at,
            updated_at=paid_at,
        )
    ]
    for i, text in enumerate(HOSTILE, start=2):
        docs.append(
            customer(
                shop_id,
                i,
                name=text,
                phone="+66812345678",
                tags=[text, "VIP"],
                notes=text,
                paid_total=100 * i,
                order_count=0,
            )
        )
    await store.for_shop(shop_id).customers.insert_new(docs)
    return docs


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
async def test_thai_emoji_injection_numbers_and_dates(
    client: TestClient, store: Store, shop: ShopFixture, fmt: str
) -> None:
    await seed_samples(store, shop.id)
    resp = await export(client, shop, {"mode": "all", "format": fmt, "sort": "paid_total"})
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=")
    today = datetime.now(UTC).astimezone(ExportLayout(timezone="Asia/Bangkok").tz).date()
    assert f"customers-{shop.id}-{today.isoformat()}.{fmt}" in disposition
    rows = await body_of(resp, fmt)
    assert rows[0][: len(HEADERS_TH)][0] == "รหัสลูกค้า"  # the shop's locale is Thai
    assert rows[0][PAID] == "ยอดชำระแล้ว (THB)"
    by_id = {r[ID]: r for r in rows[1:]}
    assert len(by_id) == len(rows) - 1 == 1 + len(HOSTILE)
    # sorted by paid total ascending (the default order)
    assert ids_of(rows) == [f"cus_{i:04d}" for i in range(2, 2 + len(HOSTILE))] + ["cus_0001"]

    thai = by_id["cus_0001"]
    assert thai[NAME] == "สมชาย ใจดี 🌸🛍️"
    assert thai[NOTES] == 'ชอบสีชมพู 💗\nส่งด่วน, ห่อของขวัญ "พิเศษ"'
    assert thai[TAGS] == "ลูกค้าประจำ, VIP"
    assert thai[PHONE] == "0812345678"  # text: the leading zero stays
    assert thai[[c.key for c in COLUMNS].index("province")] == "เชียงใหม่"
    mark = "'" if fmt == "csv" else ""  # XLSX: the quote-prefix style (test_xlsx_quote_prefix)
    for i, text in enumerate(HOSTILE, start=2):
        row = by_id[f"cus_{i:04d}"]
        for col in (NAME, NOTES, TAGS):
            value = row[col]
            assert value.startswith(mark), (col, value)
            assert value[len(mark)] in FORMULA_TRIGGERS
        assert row[NAME] == mark + text
        assert row[PHONE] == mark + "+66812345678"
    if fmt == "xlsx":
        assert thai[PAID] == 1250.5 and isinstance(thai[PAID], float)
        assert thai[ORDERS] == 3 and thai[AVERAGE] == pytest.approx(416.83)
        # dates are real Excel dates in Asia/Bangkok
        assert thai[LAST_ORDER] == datetime(2026, 3, 2, 0, 30)
        assert by_id["cus_0002"][AVERAGE] is None
    else:
        assert thai[PAID] == "1250.50" and thai[ORDERS] == "3" and thai[AVERAGE] == "416.83"
        assert thai[LAST_ORDER] == "2026-03-02T00:30:00+07:00"
        assert thai[UPDATED] == "2026-03-02T00:30:00+07:00"
        assert by_id["cus_0002"][AVERAGE] == ""
        raw = (await resp.read()).decode("utf-8-sig")
        assert "\r\n" in raw and raw.count('"ชอบสีชมพู 💗\nส่งด่วน, ห่อของขวัญ ""พิเศษ"""') == 1


async def test_xlsx_layout_english_zero_decimal_currency(client: TestClient, store: Store) -> None:
    shop = await store.shops.create("Tokyo", timezone="Asia/Tokyo", currency="JPY", locale="en")
    token = await store.tokens.create(shop.id, "staff", "staff")
    at = datetime(2026, 1, 31, 20, 0, tzinfo=UTC)  # 2026-02-01 05:00 in Tokyo
    await store.for_shop(shop.id).customers.insert_new(
        [customer(shop.id, 1, currency="JPY", paid_total=12345, order_count=2, updated_at=at)]
    )
    resp = await client.post(
        "/api/v1/exports",
        json={"mode": "all", "format": "xlsx"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status == 200
    book = openpyxl.load_workbook(io.BytesIO(await resp.read()))
    sheet = book.active
    assert sheet.title == "Customers"
    assert sheet["A1"].value == "Customer ID" and sheet["A1"].font.b
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:R2"
    paid = sheet.cell(row=2, column=PAID + 1)
    assert paid.value == 12345 and paid.number_format == '#,##0 "¥"'
    assert sheet.cell(row=1, column=PAID + 1).value == "Paid total (JPY)"
    updated = sheet.cell(row=2, column=UPDATED + 1)
    assert updated.value == datetime(2026, 2, 1, 5, 0) and updated.is_date
    assert sheet.column_dimensions["B"].width > 10


@pytest.fixture
async def small_client(aiohttp_client: Any, settings: Settings, store: Store) -> TestClient:
    """The real service holding SMALL.rows rows per export file."""
    return await aiohttp_client(create_app(settings, export_limits=SMALL))


async def test_limit_split_and_every_row_once(
    small_client: TestClient, store: Store, shop: ShopFixture
) -> None:
    client, limit = small_client, SMALL.rows
    total = 2 * limit + 1
    line = set(range(0, 2 * limit, 2))  # exactly `limit`, between the others
    docs = [
        customer(
            shop.id,
            i,
            paid_total=(i * 7919) % 50_000,
            channel="line" if i in line else "telegram",
        )
        for i in range(total)
    ]
    docs[7]["notes"] = LONG_NOTES["thai"]  # fetched by id as a memoryview-backed document
    await store.db["customers"].insert_many(docs, ordered=False)
    every = {d["_id"] for d in docs}

    # exactly `limit` rows matching a filter: the file itself
    resp = await export(
        client, shop, {"mode": "filtered", "format": "csv", "filters": {"channel": "line"}}
    )
    rows = await body_of(resp, "csv")
    assert resp.headers["Content-Type"].startswith("text/csv")
    got = ids_of(rows)
    assert len(got) == limit and set(got) == {f"cus_{i:04d}" for i in line}

    # one more than the limit: 422 with the count and the limit
    resp = await export(
        client, shop, {"mode": "filtered", "format": "xlsx", "filters": {"channel": "telegram"}}
    )
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["code"] == "export_too_large"
    assert error["count"] == limit + 1 and error["limit"] == limit
    resp = await export(client, shop, {"mode": "all", "format": "xlsx"})
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["count"] == total and error["limit"] == limit

    # split: a ZIP of three parts, every customer exactly once, in one order across the parts
    resp = await export(
        client, shop, {"mode": "all", "format": "csv", "split": True, "order": "desc"}
    )
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/zip"
    assert resp.headers["Content-Disposition"].endswith('.zip"')
    assert resp.headers["X-Export-Rows"] == str(total) and resp.headers["X-Export-Parts"] == "3"
    archive = zipfile.ZipFile(io.BytesIO(await resp.read()))
    names = sorted(archive.namelist())
    assert [n.rsplit("-", 1)[1] for n in names] == ["part1.csv", "part2.csv", "part3.csv"]
    parts = [ids_of(csv_rows(archive.read(n))) for n in names]
    assert [len(p) for p in parts] == [limit, limit, 1]
    joined = parts[0] + parts[1] + parts[2]
    assert len(set(joined)) == total and set(joined) == every
    paid = {d["_id"]: d["paid_total"] for d in docs}
    expected = sorted(docs, key=lambda d: (d["paid_total"], d["_key"]), reverse=True)
    assert joined == [d["_id"] for d in expected]
    assert [paid[i] for i in joined] == sorted(paid.values(), reverse=True)
    notes = {r[ID]: r[NOTES] for n in names for r in csv_rows(archive.read(n))[1:]}
    assert notes["cus_0007"] == LONG_NOTES["thai"]


async def test_the_service_holds_20000_rows_per_file(client: TestClient, shop: ShopFixture) -> None:
    """The real limit, without writing 20,001 customers (the test above uses a small one)."""
    assert EXPORT_ROW_LIMIT == 20_000
    assert client.app[EXPORT_LIMITS] == ExportLimits(rows=EXPORT_ROW_LIMIT)
    ids = [f"cus_{i:05d}" for i in range(EXPORT_ROW_LIMIT + 1)]
    resp = await export(client, shop, {"mode": "selected", "format": "csv", "ids": ids})
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["field"] == "ids" and str(EXPORT_ROW_LIMIT) in error["message"]
    doc = await (await client.get("/api/openapi.json")).json()
    operation = doc["paths"]["/api/v1/exports"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["ids"]["maxItems"] == EXPORT_ROW_LIMIT
    assert f"of at most {EXPORT_ROW_LIMIT} rows each" in operation["description"]


async def test_customers_changing_during_export_appear_once(
    aiohttp_client: Any, settings: Settings, store: Store, shop: ShopFixture
) -> None:
    # one file read in ten batches, customers moving across the sort order in between
    limits = ExportLimits(batch=50)
    client = await aiohttp_client(create_app(settings, export_limits=limits))
    rng = random.Random(5)
    n = 10 * limits.batch
    docs = [customer(shop.id, i, paid_total=rng.randrange(100_000)) for i in range(n)]
    await store.db["customers"].insert_many(docs, ordered=False)
    coll = store.db["customers"]
    exporting = asyncio.ensure_future(
        export(client, shop, {"mode": "all", "format": "xlsx", "sort": "paid_total"})
    )
    updates = 0
    while not exporting.done():
        # move customers across the sort order, as new orders and messages would
        victim = f"cus_{rng.randrange(n):04d}"
        await coll.update_one(
            {"shop_id": shop.id, "_id": victim},
            {
                "$set": {
                    "paid_total": rng.choice([0, 10_000_000]),
                    "updated_at": datetime.now(UTC),
                },
                "$inc": {"order_count": 1},
            },
        )
        updates += 1
    rows = await body_of(await exporting, "xlsx")
    got = ids_of(rows)
    assert len(got) == len(set(got)) == n
    assert updates > 0


async def test_selected_never_reaches_another_shop(
    client: TestClient, store: Store, shop: ShopFixture, other_shop: ShopFixture
) -> None:
    await store.for_shop(shop.id).customers.insert_new(
        [customer(shop.id, 1, name="mine"), customer(shop.id, 2, name="also mine")]
    )
    await store.for_shop(other_shop.id).customers.insert_new(
        [customer(other_shop.id, 3, name="theirs"), customer(other_shop.id, 4, name="theirs")]
    )
    body = {"mode": "selected", "format": "csv", "ids": ["cus_0001", "cus_0003", "cus_0004"]}
    rows = await body_of(await export(client, shop, body), "csv")
    assert ids_of(rows) == ["cus_0001"]
    rows = await body_of(await export(client, other_shop, {**body, "format": "xlsx"}), "xlsx")
    assert sorted(ids_of(rows)) == ["cus_0003", "cus_0004"]
    assert "mine" not in str(rows)


async def test_export_is_audited(client: TestClient, store: Store, shop: ShopFixture) -> None:
    await seed_samples(store, shop.id)
    filters = {"tag": ["VIP"], "updated_from": "2026-01-01"}
    body = {"mode": "filtered", "format": "xlsx", "filters": filters, "order": "desc"}
    resp = await export(client, shop, body, role="staff")
    assert len(ids_of(await body_of(resp, "xlsx"))) == 1 + len(HOSTILE)
    (entry,) = await store.for_shop(shop.id).audit.recent(action="customers.export")
    staff = await store.tokens.resolve(shop.staff)
    assert staff is not None
    assert entry["actor"] == f"token:staff#{staff.token_id}" and entry["mode"] == "filtered"
    assert entry["filters"] == filters and entry["order"] == "desc"
    assert entry["rows"] == 1 + len(HOSTILE) and entry["format"] == "xlsx"
    assert entry["at"] > datetime.now(UTC) - timedelta(minutes=5)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "some", "format": "csv"}, "mode"),
        ({"mode": "all", "format": "pdf"}, "format"),
        ({"mode": "all", "format": "csv", "split": "yes"}, "split"),
        ({"mode": "filtered", "format": "csv", "filters": {"channel": "icq"}}, "filters.channel"),
        ({"mode": "filtered", "format": "csv", "filters": {"colour": "red"}}, "filters.colour"),
        ({"mode": "all", "format": "csv", "filters": {"channel": "line"}}, "filters"),
        ({"mode": "selected", "format": "csv"}, "ids"),
        ({"mode": "selected", "format": "csv", "ids": [1, 2]}, "ids"),
        ({"mode": "all", "format": "csv", "sort": "age"}, "sort"),
        ({"mode": "all", "format": "csv", "extra": 1}, "extra"),
    ],
)
async def test_bad_requests_name_the_field(
    client: TestClient, shop: ShopFixture, body: dict[str, Any], field: str
) -> None:
    resp = await export(client, shop, body)
    assert resp.status == 422
    assert (await resp.json())["error"]["field"] == field


async def test_xlsx_shows_formula_like_text_as_typed_with_the_quote_prefix_style(
    client: TestClient, store: Store, shop: ShopFixture
) -> None:
    typed = ["=cmd", "+66812345678", "-2", "@x"]
    await store.for_shop(shop.id).customers.insert_new(
        [customer(shop.id, i, name=text, paid_total=i) for i, text in enumerate(typed)]
        + [customer(shop.id, 9, name="Ploy", paid_total=9)]
    )
    resp = await export(client, shop, {"mode": "all", "format": "xlsx", "sort": "paid_total"})
    assert resp.status == 200
    sheet = openpyxl.load_workbook(io.BytesIO(await resp.read())).active
    names = [sheet.cell(row=row, column=NAME + 1) for row in range(2, 7)]
    assert [cell.value for cell in names] == [*typed, "Ploy"]  # as typed: no apostrophe
    assert [cell.data_type for cell in names] == ["s"] * 5  # text, never a formula or number
    assert [cell.quotePrefix for cell in names] == [True] * 4 + [False]

    resp = await export(client, shop, {"mode": "all", "format": "csv", "sort": "paid_total"})
    rows = await body_of(resp, "csv")
    assert [row[NAME] for row in rows[1:]] == ["'" + text for text in typed] + ["Ploy"]


async def test_needs_a_token(client: TestClient) -> None:
    resp = await client.post("/api/v1/exports", json={"mode": "all", "format": "csv"})
    assert resp.status == 401


def test_neutralise_leaves_numbers_and_plain_text() -> None:
    assert neutralise("สมชาย") == "สมชาย" and neutralise(None) is None
    assert neutralise("=1") == "'=1" and neutralise("a=1") == "a=1"
    assert neutralise(42) == "42"
    assert len(neutralise("x" * 40_000) or "") == 32_000


def test_writer_process_failure_is_raised(tmp_path: Any) -> None:
    sheet = ProcessSheet("xlsx", tmp_path / "missing-dir" / "x.xlsx", ExportLayout())
    with pytest.raises(RuntimeError, match="export writer"):
        sheet.write_raw([], [])
    sheet.close()


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_sheet_orders_rows_drops_repeats_and_keeps_odd_text(tmp_path: Any, fmt: str) -> None:
    odd = [" lead", "trail ", "a_x0041_b", "x\ufffey", "<b>&amp;</b>", "ok"]
    docs = [
        customer("shp_t", i, name=text, paid_total=(i * 37) % 5, order_count=i)
        for i, text in enumerate(odd)
    ]
    path = tmp_path / f"odd.{fmt}"
    sheet = Sheet(fmt, path, ExportLayout(), Sort("paid_total", ascending=False))
    assert sheet.add(reversed(docs)) == len(docs)
    assert sheet.add(docs[:2]) == len(docs)  # read twice: written once
    assert sheet.close() == len(docs)
    rows = xlsx_rows(path.read_bytes()) if fmt == "xlsx" else csv_rows(path.read_bytes())
    expected = sorted(docs, key=lambda d: (d["paid_total"], d["_key"]), reverse=True)
    assert ids_of(rows) == [d["_id"] for d in expected]
    assert [r[NAME] for r in rows[1:]] == [d["name"] for d in expected]
    counts = [d["order_count"] if fmt == "xlsx" else str(d["order_count"]) for d in expected]
    assert [r[ORDERS] for r in rows[1:]] == counts


@pytest.mark.parametrize("batch", [1, 2, 3, 50])
async def test_scan_returns_every_customer_once_across_channels_and_pages(
    store: Store, shop: ShopFixture, batch: int
) -> None:
    """The identity walk's keyset pages: channels of 0 to 4 customers, pages ending at, inside
    and past a channel's end; another shop's customers never included; `limit` stops it."""
    per_channel = {"line": 4, "messenger": 1, "telegram": 3, "whatsapp": 2}
    docs, i = [], 0
    for channel, count in per_channel.items():
        for _ in range(count):
            i += 1
            tags = ["VIP"] if i % 2 else []
            docs.append(
                customer(shop.id, i, channel=channel, platform_user_id=f"u{i % 3}{i}", tags=tags)
            )
    customers = store.for_shop(shop.id).customers
    await customers.insert_new(docs)
    other = await store.shops.create("Other", timezone="Asia/Bangkok")
    await store.for_shop(other.id).customers.insert_new([customer(other.id, 99, channel="line")])

    async def scanned(filters: CustomerFilters, limit: int | None = None) -> list[str]:
        found = []
        async for raws in customers.scan_raw(filters, limit, batch):
            assert 0 < len(raws) <= batch
            found += [bson.decode(raw)["_id"] for raw in raws]
        return found

    every = await scanned(CustomerFilters())
    assert sorted(every) == sorted(d["_id"] for d in docs)
    assert len(await scanned(CustomerFilters(), limit=5)) == 5
    vip = await scanned(CustomerFilters(tags=("VIP",)))  # pages, filtered
    assert sorted(vip) == sorted(d["_id"] for d in docs if d["tags"])
    two = ("telegram", "whatsapp")
    chats = await scanned(CustomerFilters(channels=two))  # names the channel: one cursor
    assert sorted(chats) == sorted(d["_id"] for d in docs if d["channel"] in two)


async def test_read_ahead_passes_items_and_errors_and_stops_when_left() -> None:
    started: list[int] = []

    async def source(fail: bool):
        for i in range(10):
            started.append(i)
            yield i
        if fail:
            raise ValueError("scan failed")

    assert [i async for i in read_ahead(source(False), 2)] == list(range(10))
    with pytest.raises(ValueError, match="scan failed"):
        [i async for i in read_ahead(source(True), 2)]
    started.clear()
    async with contextlib.aclosing(read_ahead(source(False), 2)) as items:
        async for _ in items:
            break
    await asyncio.sleep(0.05)
    assert len(started) <= 4  # the one taken, two queued, one waiting to be queued


async def seed_long_notes(client: TestClient, store: Store, shop: ShopFixture) -> list[str]:
    """Two customers, their notes set through the API to the 5,000-character limit."""
    await store.for_shop(shop.id).customers.insert_new(
        [customer(shop.id, i, tags=["long"]) for i in (1, 2)]
    )
    for i, notes in enumerate(LONG_NOTES.values(), start=1):
        resp = await client.patch(
            f"/api/v1/customers/cus_{i:04d}",
            json={"notes": notes, "version": 1},
            headers=shop.auth(),
        )
        assert resp.status == 200, await resp.text()
    return ["cus_0001", "cus_0002"]


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
@pytest.mark.parametrize(
    "mode",
    [
        {"mode": "selected", "ids": ["cus_0001", "cus_0002"]},
        {"mode": "filtered", "filters": {"tag": "long"}},
        {"mode": "all"},
        {"mode": "all", "split": True},
    ],
    ids=["selected", "filtered", "all", "split-fits-one-file"],
)
async def test_customers_with_long_notes_export_in_every_mode(
    client: TestClient, store: Store, shop: ShopFixture, fmt: str, mode: dict[str, Any]
) -> None:
    ids = await seed_long_notes(client, store, shop)
    rows = await body_of(await export(client, shop, {**mode, "format": fmt, "sort": "name"}), fmt)
    assert ids_of(rows) == ids
    assert [r[NOTES] for r in rows[1:]] == list(LONG_NOTES.values())
