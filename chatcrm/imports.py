"""CSV imports of customers and orders, shared by `chatcrm import` and POST /api/v1/imports.

Good rows are applied and bad rows are reported (row, field, reason); a bad row changes
nothing. Rows are numbered as a spreadsheet shows them: the header is row 1. Importing the
same file again changes nothing (no new documents, no new version or update time).
"""

from __future__ import annotations

import asyncio
import csv
import heapq
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chatcrm.domain import (
    DomainError,
    currency_exponent,
    new_customer_fields,
    seller_fields_after,
)
from chatcrm.input_rules import (
    ascii_digits,
    clean_text,
    normalise_email,
    normalise_phone,
    parse_whole,
)
from chatcrm.orders import (
    MAX_QUANTITY,
    Conflict,
    NotFound,
    OrderInput,
    parse_order,
    record_order,
    refresh_aggregates,
)
from chatcrm.provinces import find_province, province_key
from chatcrm.store.base import DATABASE_ERRORS, Doc, new_id, utcnow
from connectors.registry import CUSTOMER_CHANNELS

if TYPE_CHECKING:
    from chatcrm.store import ShopStore

log = logging.getLogger(__name__)

KINDS = ("customers", "orders")
MAX_ROWS = 50_000
MAX_ERRORS = 1000
BATCH = 500
YIELD_EVERY = 100
"""Rows checked between two returns to the event loop (a check takes some tens of µs)."""
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
_MONEY = re.compile(r"([0-9]{1,15}|[0-9]{1,3}(?:,[0-9]{3}){1,4})(?:\.([0-9]{1,3}))?")
MAX_MONEY_CHARS = 24


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
    _rejections: list[tuple[int, str | None, str]] = field(default_factory=list, repr=False)
    """(row, field, reason): plain tuples of text, which the garbage collector stops tracking
    (see `CsvRows`)."""

    def reject(self, row: int, field: str | None, reason: str) -> None:
        """Report row `row` as not applied."""
        self._rejections.append((row, field, reason))

    @property
    def errors(self) -> list[RowError]:
        """The first MAX_ERRORS rejected rows, in row order."""
        first = heapq.nsmallest(MAX_ERRORS, self._rejections, key=lambda e: e[0])
        return [RowError(*e) for e in first]

    @property
    def rejected(self) -> int:
        """How many rows were refused."""
        return len({row for row, _, _ in self._rejections})

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the error list is capped at MAX_ERRORS)."""
        return {
            "kind": self.kind,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "errors": [{"row": e.row, "field": e.field, "reason": e.reason} for e in self.errors],
        }


class CsvRows:
    """A parsed CSV file: its columns, and each row's number and cells.

    The rows are kept as plain tuples of text, which the garbage collector stops tracking once
    it has seen them, so 50,000 rows add nothing to the full collections that stall the event
    loop (a dict per row would keep every row tracked). Rows are read as dicts one at a time.
    """

    def __init__(self, columns: list[str], records: list[tuple[int, tuple[str, ...]]]) -> None:
        self.columns = tuple(columns)
        self.records = records
        """(row number, stripped cells) of each non-blank row."""

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        """(row number, {column: cell}) of each row, in file order."""
        return (self.row(index) for index in range(len(self.records)))

    def column(self, name: str) -> list[str]:
        """The cells of column `name`, row by row ("" where a row is short)."""
        at = self.columns.index(name)
        return [cells[at] if at < len(cells) else "" for _, cells in self.records]

    def row(self, index: int) -> tuple[int, dict[str, str]]:
        """The number and the cells by column of the `index`-th row."""
        number, cells = self.records[index]
        return number, dict(zip(self.columns, cells, strict=False))


def parse_csv(data: bytes, kind: str) -> CsvRows:
    """The rows of a UTF-8 CSV (BOM or not), numbered as a spreadsheet shows them.

    DomainError(field="file" or the missing column) when the file itself is unusable. The
    file is decoded as it is read, a few KiB at a time: decoding a large file in one call
    would hold the GIL, and so stall the event loop, for as long as that takes.
    """
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    try:
        return _csv_rows(csv.reader(stream), kind)
    except UnicodeDecodeError:
        raise DomainError("the file is not UTF-8 text", field="file") from None
    except csv.Error as err:
        raise DomainError(f"the file is not CSV: {err}", field="file") from None


def _csv_rows(reader: Iterator[list[str]], kind: str) -> CsvRows:
    """The rows of `reader` after its header, which must name the `kind`'s required columns."""
    header = next(reader, None)
    if header is None:
        raise DomainError("the file is empty", field="file")
    records: list[tuple[int, tuple[str, ...]]] = []
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(records) >= MAX_ROWS:
            raise DomainError(f"at most {MAX_ROWS} rows per file", field="file")
        records.append((number, tuple(c.strip() for c in cells)))
    columns = [h.strip().lower().lstrip("\ufeff") for h in header]
    for required in REQUIRED_COLUMNS[kind]:  # after reading: a file that is not UTF-8 says so
        if required not in columns:
            raise DomainError(f"column {required} is missing", field=required)
    return CsvRows(columns, records)


async def read_rows(data: bytes, kind: str) -> CsvRows:
    """parse_csv, in a worker thread for large files."""
    if len(data) > THREAD_ABOVE_BYTES:
        return await asyncio.to_thread(parse_csv, data, kind)
    return parse_csv(data, kind)


def _limited(row: dict[str, str], name: str, high: int, *, multiline: bool = False) -> str | None:
    """The cell `name` as text of at most `high` characters without control characters (tabs
    and newlines allowed when `multiline`); None when empty."""
    return clean_text(row.get(name) or "", name, high, multiline=multiline) or None


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
        fields["phone"] = normalise_phone(row["phone"])
    if row.get("email"):
        fields["email"] = normalise_email(row["email"])
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
        tags = [clean_text(t, "tags", 50) for t in _TAG_SPLIT.split(row["tags"]) if t.strip()]
        if len(tags) > 20 or any(len(t) > 50 for t in tags):
            raise DomainError("at most 20 tags of 50 characters", field="tags")
        fields["tags"] = list(dict.fromkeys(tags))
    notes = _limited(row, "notes", 2000, multiline=True)
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


def _reject(report: ImportReport, number: int, err: Exception) -> None:
    """Report row `number`, which raised `err`; an unexpected error is logged."""
    if isinstance(err, DomainError | NotFound | Conflict):
        report.reject(number, _column(err.field), str(err))
        return
    log.error("import row %d failed unexpectedly", number, exc_info=err)
    report.reject(number, None, "the row could not be imported (an unexpected error, logged)")


async def import_customers(
    shop: ShopStore, rows: CsvRows, currency: str, report: ImportReport
) -> None:
    """Create or update customers from parsed rows, in batches, counting them in `report`."""
    valid: list[tuple[int, tuple[str, str], dict[str, Any]]] = []
    first_row: dict[tuple[str, str], int] = {}
    for index, (number, row) in enumerate(rows):
        if index % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # let webhooks and requests in between the checks
        try:
            identity, fields = customer_fields(row)
        except Exception as err:
            _reject(report, number, err)
            continue
        if identity in first_row:
            report.reject(number, "platform_user_id", f"same customer as row {first_row[identity]}")
            continue
        first_row[identity] = number
        valid.append((number, identity, fields))
    for start in range(0, len(valid), BATCH):
        batch = valid[start : start + BATCH]
        try:
            await _apply_customer_batch(shop, [(i, f) for _, i, f in batch], currency, report)
        except DATABASE_ERRORS:
            raise
        except Exception:
            await _apply_singly(shop, batch, currency, report)


async def _apply_singly(
    shop: ShopStore,
    batch: list[tuple[int, tuple[str, str], dict[str, Any]]],
    currency: str,
    report: ImportReport,
) -> None:
    """A batch that failed as a whole, again row by row: a row that fails is rejected alone."""
    for number, identity, fields in batch:
        try:
            await _apply_customer_batch(shop, [(identity, fields)], currency, report)
        except DATABASE_ERRORS:
            raise
        except Exception as err:
            _reject(report, number, err)


async def _apply_customer_batch(
    shop: ShopStore,
    batch: list[tuple[tuple[str, str], dict[str, Any]]],
    currency: str,
    report: ImportReport,
) -> None:
    for attempt in range(5):
        existing = await shop.customers.persons_of(
            await shop.customers.by_identities([i for i, _ in batch])
        )
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


def parse_money(value: str, name: str, exponent: int = 2) -> int:
    """Decimal major units (``1250``, ``1,250.50``, Thai digits too) as integer minor units of a
    currency with `exponent` decimals (2 for baht, 0 for yen, 3 for dinar).

    Only plain amounts are read (no exponent, sign or ``_``; commas only between groups of
    three digits), at most 15 digits before the point and `exponent` after: text is checked
    before any arithmetic, so no amount costs more than a few microseconds.
    """
    text = ascii_digits(value.strip())
    match = _MONEY.fullmatch(text) if len(text) <= MAX_MONEY_CHARS else None
    decimals = match.group(2) or "" if match else ""
    if match is None or len(decimals) > exponent:
        example = "1,250" + ("." + "5" * exponent if exponent else "")
        raise DomainError(
            f"must be an amount like {example} (at most {exponent} decimals)", field=name
        )
    whole = match.group(1).replace(",", "")
    return int(whole) * 10**exponent + int(decimals.ljust(exponent, "0") or 0)


def order_body(row: dict[str, str], currency: str) -> dict[str, Any]:
    """An orders-CSV row as the API's order body (amounts in minor units of `currency`)."""
    exponent = currency_exponent(currency)
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
        "amount": parse_money(row.get("amount", ""), "amount", exponent),
        "status": row.get("status") or "placed",
    }
    for key in ("currency", "paid_at", "created_at"):
        if row.get(key):
            body[key] = row[key]
    if row.get("items"):
        items = _TAG_SPLIT.split(row["items"])
        body["items"] = [_item(line, exponent) for line in items if line.strip()]
    return body


def _item(line: str, exponent: int) -> dict[str, Any]:
    """``name:quantity:unit_price`` (unit price in major units, like amount)."""
    parts = line.rsplit(":", 2)
    if len(parts) != 3:
        raise DomainError("items are name:quantity:unit_price separated by ;", field="items")
    return {
        "name": parts[0].strip(),
        "quantity": parse_whole(parts[1], "items", 1, MAX_QUANTITY, what="an item's quantity"),
        "unit_price": parse_money(parts[2], "items", exponent),
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


def _order_batches(rows: CsvRows) -> list[list[int]]:
    """Row indexes in the batches they are recorded in: the first row of each order id, BATCH
    at a time, then each repeat alone (so the earlier row of an order id always wins)."""
    seen: set[str] = set()
    first, repeats = [], []
    for index, order_id in enumerate(rows.column("order_id")):
        (repeats if order_id in seen else first).append(index)
        if order_id:
            seen.add(order_id)
    return [first[i : i + BATCH] for i in range(0, len(first), BATCH)] + [[r] for r in repeats]


async def _checked_orders(
    rows: CsvRows, indexes: list[int], currency: str, report: ImportReport
) -> list[tuple[int, OrderInput]]:
    """The valid orders of rows `indexes`, with their row numbers; the others are rejected."""
    orders = []
    for count, index in enumerate(indexes):
        if count % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # let webhooks and requests in between the checks
        number, row = rows.row(index)
        try:
            orders.append((number, parse_order(order_body(row, currency), currency)))
        except Exception as err:
            _reject(report, number, err)
    return orders


async def import_orders(
    shop: ShopStore, rows: CsvRows, currency: str, report: ImportReport
) -> None:
    """Record orders from parsed rows (idempotent on order id), refreshing each customer once
    per batch; counted in `report`."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(number: int, order: OrderInput, touched: set[str]) -> None:
        async with gate:
            try:
                doc, created = await record_order(
                    shop, order, currency, source="import", refresh=False
                )
            except DATABASE_ERRORS:
                raise
            except Exception as err:
                _reject(report, number, err)
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

    for part in _order_batches(rows):
        orders = await _checked_orders(rows, part, currency, report)
        touched: set[str] = set()
        await asyncio.gather(*(one(number, order, touched) for number, order in orders))
        await asyncio.gather(*(refresh(c) for c in sorted(touched)))


async def run_import(
    shop: ShopStore, kind: str, data: bytes, currency: str, actor: str, source: str
) -> ImportReport:
    """Parse and apply a CSV file of `kind`, and record it in the audit trail."""
    if kind not in KINDS:
        raise DomainError(f"kind must be one of {', '.join(KINDS)}", field="kind")
    rows = await read_rows(data, kind)
    report = ImportReport(kind, rows=len(rows))
    apply = import_customers if kind == "customers" else import_orders
    complete = False
    try:
        await apply(shop, rows, currency, report)
        complete = True
    finally:  # what was applied is audited even when the import stops (the database went away)
        await shop.audit.record(
            actor,
            f"import.{kind}",
            source=source,
            rows=report.rows,
            created=report.created,
            updated=report.updated,
            unchanged=report.unchanged,
            rejected=report.rejected,
            complete=complete,
        )
    return report
