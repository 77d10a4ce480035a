"""What a customer report asks for: filters and sort order, as plain values (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

SORT_FIELDS = ("paid_total", "updated_at", "last_order_at", "order_count", "name")
"""Fields the customer report can be sorted by; ``paid_total`` ascending is the default."""


@dataclass(frozen=True)
class CustomerFilters:
    """A customer report's filters; empty means no restriction. Values are already validated."""

    channels: tuple[str, ...] = ()
    provinces: tuple[str, ...] = ()
    """Canonical English province names, or ``"unknown"`` for customers without one."""
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


@dataclass(frozen=True)
class Sort:
    """Sort order of a report: a field of SORT_FIELDS, ascending or not; ties by customer key."""

    field: str = "paid_total"
    ascending: bool = True
