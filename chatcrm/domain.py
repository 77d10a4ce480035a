"""Domain vocabulary and pure rules: shops, channels, roles, statuses, dates (no I/O here).

The platforms themselves (names, labels, secrets) are declared by their connectors and listed
by `connectors.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chatcrm.provinces import UNKNOWN_PROVINCE

ROLES = ("owner", "staff")
CUSTOMER_STATUSES = ("following", "unfollowed", "blocked", "unknown")
"""A customer's relation to the shop's chat account. ``unknown``: no follow, unfollow or
block seen (someone met in a group, a Messenger or Instagram contact, an imported customer)."""
UNKNOWN_STATUS = "unknown"
SELLER_FIELDS = ("name", "phone", "email")
"""Customer fields a seller may type and a platform may also tell; what the seller typed
wins (the customer's ``seller_fields`` lists them), the platform's name is ``profile_name``."""
ORDER_STATUSES = ("placed", "paid", "refunded", "cancelled")


@dataclass(frozen=True)
class RawEvent:
    """One platform event as received: its dedupe key and its JSON object.

    A connector splits a webhook request into these; the inbox stores them before the answer.
    """

    key: str
    data: dict[str, Any]


class DomainError(ValueError):
    """Input that breaks a domain rule; `field` names the offending input."""

    status = 422
    """The HTTP status the API answers this error with."""

    def __init__(self, message: str, field: str | None = None, code: str = "invalid") -> None:
        super().__init__(message)
        self.field = field
        self.code = code


class NotFoundError(DomainError):
    """The input names something the shop does not have (a deleted segment, say)."""

    status = 404

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message, field, "not_found")


class ConflictError(DomainError):
    """The input clashes with what is stored (a name already taken, a segment in use)."""

    status = 409

    def __init__(self, message: str, field: str | None = None, code: str = "conflict") -> None:
        super().__init__(message, field, code)


@dataclass(frozen=True)
class Shop:
    """A seller's shop: the tenant every other document belongs to."""

    id: str
    name: str
    timezone: str = "Asia/Bangkok"
    currency: str = "THB"
    locale: str = "th"
    auto_merge: bool = False
    """Merge a customer into the one other customer that has the phone number a platform
    itself gave (WhatsApp's ``wa_id``, a Telegram contact of the sender's own): see
    `chatcrm.merging.auto_merge`. Off unless the owner turns it on."""

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Shop:
        """Build from a ``shops`` document (nx-27017 keeps a ``$set`` boolean as 0 or 1)."""
        return cls(
            id=doc["_id"],
            name=doc["name"],
            timezone=doc.get("timezone", "Asia/Bangkok"),
            currency=doc.get("currency", "THB"),
            locale=doc.get("locale", "th"),
            auto_merge=bool(doc.get("auto_merge")),
        )


@dataclass(frozen=True)
class Channel:
    """A connected chat account (a LINE OA, a Telegram bot, a Facebook page) of a shop."""

    id: str
    shop_id: str
    platform: str
    name: str
    enabled: bool = True
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def webhook_path(self) -> str:
        """Path the platform posts to."""
        return f"/webhooks/{self.platform}/{self.id}"

    def public(self) -> dict[str, Any]:
        """The channel as API output: never any secret."""
        return {
            "id": self.id,
            "shop_id": self.shop_id,
            "platform": self.platform,
            "name": self.name,
            "enabled": self.enabled,
            "webhook_path": self.webhook_path,
            "secrets_set": sorted(self.secrets),
            "config": self.config,
        }


LOCALES = ("en", "th")


def validate_shop(name: str, timezone: str, currency: str, locale: str) -> None:
    """Raise DomainError unless the shop's settings are usable."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not name.strip() or len(name) > 200:
        raise DomainError("name must be 1-200 characters", field="name")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise DomainError(f"unknown time zone {timezone!r}", field="timezone") from None
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise DomainError("currency must be an ISO 4217 code like THB", field="currency")
    if locale not in LOCALES:
        raise DomainError(f"locale must be one of {', '.join(LOCALES)}", field="locale")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a shop user's API token or a signed-in user's session, resolved."""

    shop_id: str
    role: str
    token_id: str = ""
    label: str = ""
    user: str | None = None
    """The signed-in user's e-mail (a dashboard session); None for an API token."""

    @property
    def actor(self) -> str:
        """How the audit trail names this caller: ``user:<email>``, or for an API token its
        label and id, ``token:staff#1a2b``."""
        if self.user is not None:
            return f"user:{self.user}"
        return f"token:{self.label}#{self.token_id}"


DATE_KEYS = {"updated_at": "updated_ms", "last_order_at": "last_order_ms"}
"""Report date fields of a customer and their integer copies (epoch milliseconds, or null).

Filters, sorts and cursors compare the copies: nx-27017 evaluates a date comparison only by
loading every match and sorting in Python, while integers go to SQL with a ``LIMIT``."""


def as_utc(value: datetime | str | None) -> datetime | None:
    """Return `value` as an aware UTC datetime (the driver may hand back naive UTC).

    A string is parsed as ISO 8601 in UTC: nx-27017 turns a date written by ``$set`` on an
    existing document into a string like ``2026-01-01 00:00:00``.
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso_utc(value: datetime) -> str:
    """The one timestamp format of the API and the CLI: ``2026-11-02T03:00:00.000+00:00``.

    ISO 8601 in UTC with milliseconds, the precision BSON dates keep; a naive value is UTC.
    """
    utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return utc.isoformat(timespec="milliseconds")


def whole_ms(value: datetime) -> datetime:
    """`value` truncated to whole milliseconds, the precision BSON dates keep."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def epoch_ms(value: datetime | str | None) -> int | None:
    """`value` as integer milliseconds since the epoch (a naive or string date is UTC)."""
    when = as_utc(value)
    return None if when is None else _ms(when)


def _ms(value: datetime) -> int:
    """Exact milliseconds (floor), without float rounding."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def date_keys(doc: dict[str, Any]) -> dict[str, int | None]:
    """The ``DATE_KEYS`` copies of a customer document's dates."""
    return {key: epoch_ms(doc.get(field_name)) for field_name, key in DATE_KEYS.items()}


PHONE_KEY = "phone_rev"
"""A customer's phone digits reversed (``0812345678`` -> ``8765432180``): a search by the
number's last digits is then a prefix, a range an index serves (`customer_query.phone_match`)."""


def phone_key(phone: Any) -> str | None:
    """The `PHONE_KEY` of a stored phone number: its ASCII digits reversed; None without any."""
    digits = "".join(c for c in str(phone or "") if c.isascii() and c.isdigit())
    return digits[::-1] or None


LIVE_KEY = "live"
"""True on a customer the reports list: neither a tombstone (``merged_into`` a person) nor
linked as a chat admin (``chat_admin``). One scalar that page indexes carry right after
``shop_id``, so leaving both out is an index equality instead of two per-row array tests
(docs/search-design.md#the-live-key)."""


def is_live(doc: dict[str, Any]) -> bool:
    """The `LIVE_KEY` of a customer document."""
    return not doc.get("merged_into") and not doc.get("chat_admin")


def with_derived_keys(doc: dict[str, Any]) -> dict[str, Any]:
    """Set `doc`'s ``DATE_KEYS`` copies, its `PHONE_KEY` and `LIVE_KEY`, in place; returns `doc`.

    Every writer of a customer document calls this (or `date_keys`, `phone_key` and
    `is_live`), so the copies agree with the fields they copy.
    """
    doc.update(date_keys(doc))
    doc[PHONE_KEY] = phone_key(doc.get("phone"))
    doc[LIVE_KEY] = is_live(doc)
    return doc


def new_customer_fields(currency: str = "THB") -> dict[str, Any]:
    """Every field a customer document carries, at its empty value (null written explicitly)."""
    return {
        "name": None,
        "profile_name": None,
        "seller_fields": [],
        "picture_url": None,
        "phone": None,
        "phone_rev": None,
        "live": True,
        "email": None,
        "province": None,
        "province_key": UNKNOWN_PROVINCE,
        "postal_code": None,
        "tags": [],
        "notes": "",
        "status": UNKNOWN_STATUS,
        "currency": currency,
        "paid_total": 0,
        "order_count": 0,
        "unpaid_total": 0,
        "refunded_total": 0,
        "last_order_at": None,
        "last_order_ms": None,
        "profile_fetched_at": None,
        "version": 1,
    }


def seller_fields_after(doc: dict[str, Any], changes: dict[str, Any]) -> list[str]:
    """The customer's ``seller_fields`` once a seller's `changes` apply.

    A `SELLER_FIELDS` field given a value becomes the seller's; one cleared (None) goes back
    to the platforms.
    """
    fields = [f for f in doc.get("seller_fields") or [] if f in SELLER_FIELDS]
    for name in SELLER_FIELDS:
        if name not in changes:
            continue
        if changes[name] is None:
            fields = [f for f in fields if f != name]
        elif name not in fields:
            fields.append(name)
    return fields


SORT_FIELDS = ("paid_total", "updated_at", "last_order_at", "order_count", "name")
"""Fields the customer report can be sorted by; ``paid_total`` ascending is the default."""


@dataclass(frozen=True)
class CustomerFilters:
    """A customer report's filters; empty means no restriction. Values are already validated."""

    channels: tuple[str, ...] = ()
    provinces: tuple[str, ...] = ()
    """Canonical English province names, or ``provinces.UNKNOWN_PROVINCE`` (no province)."""
    postal_code: str | None = None
    """Five digits for an exact match, or 1-5 digits followed by ``*`` for a prefix."""
    updated_from: datetime | None = None
    """Inclusive lower bound of ``updated_at`` (UTC, from the shop-local day start)."""
    updated_before: datetime | None = None
    """Exclusive upper bound of ``updated_at`` (UTC, the shop-local day after `updated_to`)."""
    tags: tuple[str, ...] = ()
    tag_mode: str = "any"
    q: str | None = None
    """Case-insensitive text found in the name, phone or e-mail."""
    statuses: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    """Restrict to these customer ids (exports of selected rows)."""
    segment: str | None = None
    """A saved segment's id, as asked for; `chatcrm.segments.resolve_segment` turns it into
    `within` before the store sees these filters."""
    within: CustomerFilters | None = None
    """A saved segment's filters, which these filters narrow (both must match)."""


@dataclass(frozen=True)
class Sort:
    """Sort order of a report: a field of SORT_FIELDS, ascending or not; ties by customer key."""

    field: str = "paid_total"
    ascending: bool = True


CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI"), 0
    ),
    **dict.fromkeys(("VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}
"""ISO 4217 minor-unit exponents that are not 2."""


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point of `currency` (2 unless listed)."""
    return CURRENCY_EXPONENTS.get(currency, 2)
