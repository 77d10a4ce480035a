"""The columns of a customer export, shared by the CSV and XLSX writers (no I/O here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from chatcrm.domain import currency_exponent
from chatcrm.provinces import UNKNOWN_PROVINCE, find_province
from connectors.registry import channel_label
from reports.rows import identities

Doc = dict[str, Any]

MAX_CELL_CHARS = 32_000
"""Longest text written to a cell (Excel keeps at most 32,767 characters per cell)."""

FORMULA_TRIGGERS = frozenset("=+-@\t\r\n\0＝＋－＠")
"""Leading characters a spreadsheet may read as a formula (OWASP CSV Injection, ASVS: NUL;
the full-width forms are turned into ASCII ones by some spreadsheet imports)."""

CURRENCY_SYMBOLS: dict[str, str] = {
    "THB": "฿",
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "VND": "₫",
    "IDR": "Rp",
    "MYR": "RM",
    "PHP": "₱",
    "SGD": "S$",
    "KRW": "₩",
    "LAK": "₭",
    "KHR": "៛",
    "MMK": "K",
    "CNY": "¥",
}

STATUS_LABELS = {
    "en": {
        "following": "following",
        "unfollowed": "unfollowed",
        "blocked": "blocked",
        "unknown": "unknown",
    },
    "th": {
        "following": "ติดตาม",
        "unfollowed": "เลิกติดตาม",
        "blocked": "บล็อก",
        "unknown": "ไม่ทราบสถานะ",
    },
}
SHEET_NAMES = {"en": "Customers", "th": "ลูกค้า"}


def cell_text(value: Any) -> str | None:
    """User text for a cell, bounded to MAX_CELL_CHARS; None stays None (an empty cell).

    Each writer protects a `formula_like` text its own way: XLSX by the cell's quote-prefix
    style, CSV by a leading apostrophe (`neutralise`).
    """
    return None if value is None else str(value)[:MAX_CELL_CHARS]


def formula_like(text: str) -> bool:
    """Whether a spreadsheet may read `text` as a formula (it starts with a `FORMULA_TRIGGERS`)."""
    return text[:1] in FORMULA_TRIGGERS


def neutralise(value: Any) -> str | None:
    """User text made safe for a CSV file: a `formula_like` text gets a leading apostrophe.

    CSV has no cell styles; a spreadsheet opening it shows the apostrophe.
    """
    text = cell_text(value)
    return "'" + text if text is not None and formula_like(text) else text


def money_number_format(currency: str) -> str:
    """Excel number format of `currency`, e.g. ``#,##0.00 "฿"``."""
    exponent = currency_exponent(currency)
    digits = "#,##0" + ("." + "0" * exponent if exponent else "")
    symbol = CURRENCY_SYMBOLS.get(currency, currency).replace('"', "")
    return f'{digits} "{symbol}"'


def minor_to_text(minor: int, currency: str) -> str:
    """Minor units as an exact plain decimal number, e.g. 125050 THB -> ``1250.50``."""
    exponent = currency_exponent(currency)
    if exponent == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, part = divmod(abs(minor), 10**exponent)
    return f"{sign}{whole}.{part:0{exponent}d}"


@dataclass(frozen=True)
class ExportLayout:
    """What a shop's export looks like: header language, time zone, currency."""

    locale: str = "en"
    timezone: str = "UTC"
    currency: str = "THB"

    @cached_property
    def tz(self) -> ZoneInfo:
        """The shop's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def language(self) -> str:
        """``th`` or ``en`` (any other locale falls back to English)."""
        return "th" if self.locale.startswith("th") else "en"


@dataclass(frozen=True)
class Column:
    """One export column: labels, kind of cell, width, and how a customer fills it.

    Kinds: ``text`` (user text, `cell_text`), ``money`` (integer minor units), ``count``
    (integer), ``datetime`` (aware datetime, shown in the shop's time zone).
    """

    key: str
    en: str
    th: str
    kind: str
    width: float
    value: Callable[[Doc, ExportLayout], Any]

    def label(self, layout: ExportLayout) -> str:
        """Header label in the shop's language (money columns name the currency)."""
        text = self.th if layout.language == "th" else self.en
        return f"{text} ({layout.currency})" if self.kind == "money" else text


def _field(name: str) -> Callable[[Doc, ExportLayout], Any]:
    return lambda doc, _layout: doc.get(name)


def _text(name: str) -> Callable[[Doc, ExportLayout], Any]:
    return lambda doc, _layout: cell_text(doc.get(name))


@lru_cache(maxsize=512)
def _province_name(key: str, language: str) -> str | None:
    """The display name of a stored province key (a few dozen keys: looked up once each)."""
    province = find_province(key) if key != UNKNOWN_PROVINCE else None
    if province is None:
        return None
    return province.name_th if language == "th" else province.name_en


def _province(doc: Doc, layout: ExportLayout) -> str | None:
    key = doc.get("province_key")
    name = _province_name(key, layout.language) if isinstance(key, str) else None
    return name if name is not None else cell_text(doc.get("province"))


def _tags(doc: Doc, _layout: ExportLayout) -> str | None:
    tags = [str(t) for t in doc.get("tags") or []]
    return cell_text(", ".join(tags)) if tags else None


def _channel(doc: Doc, layout: ExportLayout) -> str | None:
    """Every channel of the person (its first identity's first), comma-separated."""
    channels = [str(c) for c in doc.get("channels") or [doc.get("channel")] if c]
    labels = [channel_label(c, layout.language) or c for c in channels]
    return cell_text(", ".join(labels)) if labels else None


def _user_ids(doc: Doc, _layout: ExportLayout) -> str | None:
    """Every platform user id of the person (its first identity's first), comma-separated."""
    ids = [str(i["platform_user_id"]) for i in identities(doc) if i["platform_user_id"]]
    return cell_text(", ".join(ids)) if ids else None


def _status(doc: Doc, layout: ExportLayout) -> str | None:
    status = doc.get("status")
    return STATUS_LABELS[layout.language].get(status, cell_text(status)) if status else None


def _average(doc: Doc, _layout: ExportLayout) -> int | None:
    count = doc.get("order_count") or 0
    return (doc.get("paid_total") or 0) // count if count > 0 else None


def _notes(doc: Doc, _layout: ExportLayout) -> str | None:
    return cell_text(doc.get("notes") or None)


COLUMNS: tuple[Column, ...] = (
    Column("id", "Customer ID", "รหัสลูกค้า", "text", 28, _text("_id")),
    Column("name", "Name", "ชื่อ", "text", 24, _text("name")),
    Column("channel", "Channel", "ช่องทาง", "text", 11, _channel),
    Column(
        "platform_user_id",
        "Platform user ID",
        "รหัสผู้ใช้บนแพลตฟอร์ม",
        "text",
        36,
        _user_ids,
    ),
    Column("phone", "Phone", "เบอร์โทรศัพท์", "text", 15, _text("phone")),
    Column("email", "Email", "อีเมล", "text", 28, _text("email")),
    Column("province", "Province", "จังหวัด", "text", 18, _province),
    Column("postal_code", "Postal code", "รหัสไปรษณีย์", "text", 11, _text("postal_code")),
    Column("tags", "Tags", "แท็ก", "text", 24, _tags),
    Column("status", "Status", "สถานะ", "text", 11, _status),
    Column("paid_total", "Paid total", "ยอดชำระแล้ว", "money", 16, _field("paid_total")),
    Column("order_count", "Orders", "จำนวนคำสั่งซื้อ", "count", 9, _field("order_count")),
    Column("average_order", "Average order value", "ยอดเฉลี่ยต่อคำสั่งซื้อ", "money", 16, _average),
    Column("unpaid_total", "Unpaid", "ยอดค้างชำระ", "money", 14, _field("unpaid_total")),
    Column("last_order_at", "Last order", "สั่งซื้อล่าสุด", "datetime", 17, _field("last_order_at")),
    Column("first_seen_at", "First seen", "ติดต่อครั้งแรก", "datetime", 17, _field("first_seen_at")),
    Column("updated_at", "Updated", "อัปเดตล่าสุด", "datetime", 17, _field("updated_at")),
    Column("notes", "Notes", "บันทึก", "text", 40, _notes),
)
"""The export's columns, in order; both writers use this one list."""


def local_time(value: datetime | str, layout: ExportLayout) -> datetime:
    """`value` (aware, naive UTC as a driver may return it, or the string form nx-27017 may
    store, see `chatcrm.domain.as_utc`) in the shop's time zone."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(layout.tz)


def cells(doc: Doc, layout: ExportLayout) -> list[Any]:
    """The raw cell values of one customer, column by column."""
    return [column.value(doc, layout) for column in COLUMNS]
