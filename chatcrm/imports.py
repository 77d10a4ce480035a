"""CSV imports of customers and orders, shared by `chatcrm import` and POST /api/v1/imports.

Good rows are applied and bad rows are reported (row, field, reason); a bad row changes
nothing. Rows are numbered as a spreadsheet shows them: the header is row 1. Importing the
same file again changes nothing (no new documents, no new version or update time).
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from chatcrm.domain import DomainError, new_customer_fields, seller_fields_after
from chatcrm.orders import (
    Conflict,
    NotFound,
    normalize_email,
    normalize_phone,
    parse_order,
    record_order,
    refresh_aggregates,
)
from chatcrm.provinces import find_province, province_key
from chatcrm.store.base import Doc, new_id, utcnow
from connectors.registry import CUSTOMER_CHANNELS

if TYPE_CHECKING:
    from chatcrm.store import ShopStore

KINDS = ("customers", "orders")
MAX_ROWS = 50_000
MAX_ERRORS = 1000
BATCH = 500
CONCURRENCY = 16
"""Order rows recorded at once (each is idempotent, so their order does not matter)."""
THREAD_ABOVE_BYTES = 64 * 1024
"""Files larger than this are parsed in a worker thread so the event loop stays free."""

REQUIRED_COLUMNS = {
    "customers": ("channel", "platform_user_id"),
    "orders": ("order_id", "amount"),
}
_TAG_SPLIT = re.compile(r"[;|]")
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")


@dataclass(frozen=True)
class RowError:
    """Why one row was not applied."""

    row: int
    field: str | None
    reason: str


@dataclass
class ImportReport:
    """What an import did, row by row for the rejected ones."""

    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        """How many rows were refused."""
        return len({e.row for e in self.errors})

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the error list is capped at MAX_ERRORS)."""
        return {
            "kind": self.kind,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "errors": [
                {"row": e.row, "field": e.field, "reason": e.reason}
                for e in self.errors[:MAX_ERRORS]
            ],
        }


def parse_csv(data: bytes, kind: str) -> list[tuple[int, dict[str, str]]]:
    """Rows of a UTF-8 CSV (BOM or not) as (row number, {column: stripped cell}).

    DomainError(field="file" or the missing column) when the file itself is unusable.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DomainError("the file is not UTF-8 text", field="file") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise DomainError("the file is empty", field="file") from None
    except csv.Error as err:
        raise DomainError(f"the file is not CSV: {err}", field="file") from None
    columns = [h.strip().lower().lstrip("\ufeff") for h in header]
    for required in REQUIRED_COLUMNS[kind]:
        if required not in columns:
            raise DomainError(f"column {required} is missing", field=required)
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(rows) >= MAX_ROWS:
                raise DomainError(f"at most {MAX_ROWS} rows per file", field="file")
            rows.append((number, {c: v.strip() for c, v in zip(columns, cells, strict=False)}))
    except csv.Error as err:
        raise DomainError(f"the file is not CSV: {err}", field="file") from None
    return rows


async def read_rows(data: bytes, kind: str) -> list[tuple[int, dict[str, str]]]:
    """parse_csv, in a worker thread for large files."""
    if len(data) > THREAD_ABOVE_BYTES:
        return await asyncio.to_thread(parse_csv, data, kind)
    return parse_csv(data, kind)


def _limited(row: dict[str, str], name: str, high: int) -> str | None:
    value = row.get(name) or None
    if value is not None and len(value) > high:
        raise DomainError(f"at most {high} characters", field=name)
    return value


def customer_fields(row: dict[str, str]) -> tuple[tuple[str, str], dict[str, Any]]:
    """The identity and the fields a customers-CSV row sets (empty cells set nothing)."""
    channel = row.get("channel", "").lower()
    if channel not in CUSTOMER_CHANNELS:
        raise DomainError(f"must be one of {', '.join(CUSTOMER_CHANNELS)}", field="channel")
    user_id = _limited(row, "platform_user_id", 128)
    if not user_id:
        raise DomainError("is required", field="platform_user_id")
    fields: dict[str, Any] = {}
    name = _limited(row, "name", 200)
    if name:
        fields["name"] = name
    if row.get("phone"):
        fields["phone"] = normalize_phone(row["phone"])
    if row.get("email"):
        fields["email"] = normalize_email(row["email"])
    if row.get("postal_code"):
        code = row["postal_code"].translate(_THAI_DIGITS)
        if not (len(code) == 5 and code.isascii() and code.isdigit()):
            raise DomainError("must be five digits", field="postal_code")
        fields["postal_code"] = code
    if row.get("province"):
        found = find_province(row["province"])
        if found is None:
            raise DomainError("unknown province", field="province")
        fields["province"] = found.name_en
    if row.get("tags"):
        tags = [t.strip() for t in _TAG_SPLIT.split(row["tags"]) if t.strip()]
        if len(tags) > 20 or any(len(t) > 50 for t in tags):
            raise DomainError("at most 20 tags of 50 characters", field="tags")
        fields["tags"] = list(dict.fromkeys(tags))
    notes = _limited(row, "notes", 2000)
    if notes:
        fields["notes"] = notes
    return (channel, user_id), fields


def customer_changes(doc: Doc, fields: dict[str, Any]) -> dict[str, Any]:
    """What setting `fields` would change on `doc` (tags are added to the existing ones).

    A name, phone or e-mail the file gives becomes the seller's (``seller_fields``): no
    platform profile overwrites it.
    """
    changes: dict[str, Any] = {}
    seller_fields = seller_fields_after(doc, fields)
    if seller_fields != (doc.get("seller_fields") or []):
        changes["seller_fields"] = seller_fields
    for key, value in fields.items():
        if key == "tags":
            merged = list(doc.get("tags") or [])
            merged += [t for t in value if t not in merged]
            if merged != (doc.get("tags") or []):
                changes["tags"] = merged
        elif doc.get(key) != value:
            changes[key] = value
    if "province" in changes or "postal_code" in changes:
        merged_doc = {**doc, **changes}
        key = province_key(merged_doc.get("province"), merged_doc.get("postal_code"))
        if key != doc.get("province_key"):
            changes["province_key"] = key
    return changes


def _new_customer(
    shop_id: str, identity: tuple[str, str], fields: dict[str, Any], currency: str
) -> Doc:
    cid = new_id("cus")
    now = utcnow()
    doc = {
        **new_customer_fields(currency),
        **fields,
        "seller_fields": seller_fields_after({}, fields),
        "_id": cid,
        "_key": cid,
        "shop_id": shop_id,
        "channel": identity[0],
        "channel_id": None,
        "platform_user_id": identity[1],
        "first_seen_at": now,
        "last_contact_at": None,
        "updated_at": now,
    }
    doc["province_key"] = province_key(doc["province"], doc["postal_code"])
    return doc


async def import_customers(
    shop: ShopStore, rows: list[tuple[int, dict[str, str]]], currency: str
) -> ImportReport:
    """Create or update customers from parsed rows, in batches."""
    report = ImportReport("customers", rows=len(rows))
    valid: list[tuple[tuple[str, str], dict[str, Any]]] = []
    first_row: dict[tuple[str, str], int] = {}
    for number, row in rows:
        try:
            identity, fields = customer_fields(row)
        except DomainError as err:
            report.errors.append(RowError(number, err.field, str(err)))
            continue
        if identity in first_row:
            report.errors.append(
                RowError(number, "platform_user_id", f"same customer as row {first_row[identity]}")
            )
            continue
        first_row[identity] = number
        valid.append((identity, fields))
    for start in range(0, len(valid), BATCH):
        batch = valid[start : start + BATCH]
        await _apply_customer_batch(shop, batch, currency, report)
    return report


async def _apply_customer_batch(
    shop: ShopStore,
    batch: list[tuple[tuple[str, str], dict[str, Any]]],
    currency: str,
    report: ImportReport,
) -> None:
    for attempt in range(5):
        existing = await shop.customers.by_identities([i for i, _ in batch])
        new_docs = [
            _new_customer(shop.shop_id, i, f, currency) for i, f in batch if i not in existing
        ]
        changes = []
        for identity, fields in batch:
            doc = existing.get(identity)
            if doc is None:
                continue
            diff = customer_changes(doc, fields)
            if diff:
                changes.append((doc, diff))
            elif attempt == 0:
                report.unchanged += 1
        inserted = await shop.customers.insert_new(new_docs)
        applied = await shop.customers.apply_changes(changes)
        report.created += inserted
        report.updated += applied
        if inserted == len(new_docs) and applied == len(changes):
            return
        # a concurrent writer got there first: compare the batch with what is stored again
    raise RuntimeError("customer import did not settle under concurrent writes")


def parse_money(value: str, name: str) -> int:
    """Decimal major units (``1250``, ``1,250.50``) as integer minor units (satang)."""
    text = value.replace(",", "").strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise DomainError("must be an amount like 1250.00", field=name) from None
    if not amount.is_finite() or amount < 0 or amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise DomainError("must be a non-negative amount with at most 2 decimals", field=name)
    return int(amount * 100)


def order_body(row: dict[str, str]) -> dict[str, Any]:
    """An orders-CSV row as the API's order body (amounts converted to minor units)."""
    customer: dict[str, Any] = {}
    if row.get("customer_id"):
        customer["id"] = row["customer_id"]
    elif row.get("customer_channel") or row.get("customer_platform_user_id"):
        customer["channel"] = row.get("customer_channel", "").lower()
        customer["platform_user_id"] = row.get("customer_platform_user_id")
    elif row.get("customer_phone"):
        customer["phone"] = row["customer_phone"]
    elif row.get("customer_email"):
        customer["email"] = row["customer_email"]
    body: dict[str, Any] = {
        "order_id": row.get("order_id"),
        "customer": customer,
        "amount": parse_money(row.get("amount", ""), "amount"),
        "status": row.get("status") or "placed",
    }
    for key in ("currency", "paid_at", "created_at"):
        if row.get(key):
            body[key] = row[key]
    if row.get("items"):
        body["items"] = [_item(line) for line in _TAG_SPLIT.split(row["items"]) if line.strip()]
    return body


def _item(line: str) -> dict[str, Any]:
    """``name:quantity:unit_price`` (unit price in major units, like amount)."""
    parts = line.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].strip().isdigit():
        raise DomainError("items are name:quantity:unit_price separated by ;", field="items")
    return {
        "name": parts[0].strip(),
        "quantity": int(parts[1]),
        "unit_price": parse_money(parts[2], "items"),
    }


def _column(field_name: str | None) -> str | None:
    """The CSV column an order-body field comes from."""
    if field_name is None:
        return None
    if field_name.startswith("items"):
        return "items"
    if field_name == "customer":
        return "customer"
    return field_name.replace("customer.", "customer_")


async def import_orders(
    shop: ShopStore, rows: list[tuple[int, dict[str, str]]], currency: str
) -> ImportReport:
    """Record orders from parsed rows (idempotent on order id), refreshing each customer once
    per batch."""
    report = ImportReport("orders", rows=len(rows))
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(number: int, row: dict[str, str], touched: set[str]) -> None:
        async with gate:
            try:
                order = parse_order(order_body(row), currency)
                doc, created = await record_order(
                    shop, order, currency, source="import", refresh=False
                )
            except (DomainError, NotFound, Conflict) as err:
                report.errors.append(RowError(number, _column(err.field), str(err)))
                return
            if created:
                report.created += 1
            else:
                report.unchanged += 1
            if created or doc.get("dirty"):
                touched.add(doc["customer_id"])

    async def refresh(customer_id: str) -> None:
        async with gate:
            await refresh_aggregates(shop, customer_id)

    # a repeated order id waits for its first row, so the earlier row always wins
    seen: set[str] = set()
    first, repeats = [], []
    for number, row in rows:
        (repeats if row.get("order_id") in seen else first).append((number, row))
        seen.add(row.get("order_id", ""))
    for part in [first[i : i + BATCH] for i in range(0, len(first), BATCH)] + [
        [r] for r in repeats
    ]:
        touched: set[str] = set()
        await asyncio.gather(*(one(n, r, touched) for n, r in part))
        await asyncio.gather(*(refresh(c) for c in sorted(touched)))
    report.errors.sort(key=lambda e: e.row)
    return report


async def run_import(
    shop: ShopStore, kind: str, data: bytes, currency: str, actor: str, source: str
) -> ImportReport:
    """Parse and apply a CSV file of `kind`, and record it in the audit trail."""
    if kind not in KINDS:
        raise DomainError(f"kind must be one of {', '.join(KINDS)}", field="kind")
    rows = await read_rows(data, kind)
    if kind == "customers":
        report = await import_customers(shop, rows, currency)
    else:
        report = await import_orders(shop, rows, currency)
    await shop.audit.record(
        actor,
        f"import.{kind}",
        source=source,
        rows=report.rows,
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        rejected=report.rejected,
    )
    return report
