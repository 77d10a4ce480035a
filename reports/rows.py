"""Shaping of customer documents into report rows (API items, export rows); no I/O."""

from __future__ import annotations

from typing import Any

from chatcrm.provinces import UNKNOWN_PROVINCE, province_key

ROW_FIELDS = (
    "id",
    "name",
    "profile_name",
    "channel",
    "platform_user_id",
    "channels",
    "identities",
    "province",
    "postal_code",
    "tags",
    "status",
    "paid_total",
    "order_count",
    "average_order_value",
    "unpaid_total",
    "currency",
    "last_order_at",
    "updated_at",
    "version",
)
"""The fields of a report row, in column order."""


def effective_province(doc: dict[str, Any]) -> str | None:
    """The customer's province (own, else from the postal code) in English; None when unknown."""
    key = doc.get("province_key") or province_key(doc.get("province"), doc.get("postal_code"))
    return None if key == UNKNOWN_PROVINCE else key


def identities(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """A person's chat identities, its first one first: ``[{"channel", "platform_user_id"}]``
    (a customer never merged has one, its own)."""
    channels = doc.get("identity_channels") or [doc.get("channel")]
    user_ids = doc.get("platform_user_ids") or [doc.get("platform_user_id")]
    return [{"channel": c, "platform_user_id": u} for c, u in zip(channels, user_ids, strict=False)]


def customer_row(doc: dict[str, Any]) -> dict[str, Any]:
    """A customer document as a report row: exactly `ROW_FIELDS`, money in minor units.

    Datetimes stay datetime objects (the JSON layer writes ISO 8601); the average order value
    is the paid total over the paid orders, rounded to a minor unit, or None without orders.
    """
    paid_total = int(doc.get("paid_total") or 0)
    order_count = int(doc.get("order_count") or 0)
    return {
        "id": doc["_id"],
        "name": doc.get("name"),
        "profile_name": doc.get("profile_name"),
        "channel": doc.get("channel"),
        "platform_user_id": doc.get("platform_user_id"),
        "channels": list(doc.get("channels") or [doc.get("channel")]),
        "identities": identities(doc),
        "province": effective_province(doc),
        "postal_code": doc.get("postal_code"),
        "tags": list(doc.get("tags") or []),
        "status": doc.get("status"),
        "paid_total": paid_total,
        "order_count": order_count,
        "average_order_value": round(paid_total / order_count) if order_count else None,
        "unpaid_total": int(doc.get("unpaid_total") or 0),
        "currency": doc.get("currency"),
        "last_order_at": doc.get("last_order_at"),
        "updated_at": doc.get("updated_at"),
        "version": int(doc.get("version") or 1),
    }
