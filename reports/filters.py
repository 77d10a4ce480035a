"""Parsing of report parameters (query string or JSON) into validated filters and sort."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chatcrm.domain import CUSTOMER_STATUSES, DomainError
from chatcrm.filters import SORT_FIELDS, CustomerFilters, Sort
from chatcrm.provinces import find_province
from chatcrm.store.customer_query import UNKNOWN_PROVINCE
from connectors.registry import CUSTOMER_CHANNELS

FILTER_NAMES = (
    "channel",
    "province",
    "postal_code",
    "updated_from",
    "updated_to",
    "tag",
    "tag_mode",
    "q",
    "status",
)
PAGE_NAMES = ("sort", "order", "limit", "cursor")
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
_POSTAL = re.compile(r"^(\d{5}|\d{1,5}\*)$")

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Page:
    """Which page of a report: size and the cursor from the previous page."""

    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


def _values(params: Params, name: str) -> list[str]:
    """All values of a parameter: repeated, a JSON list, or comma-separated."""
    raw = params.get(name)
    if raw is None:
        return []
    items: Iterable[Any] = raw if isinstance(raw, list | tuple) else [raw]
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise DomainError(f"{name} must be text", field=name)
        out.extend(part.strip() for part in item.split(",") if part.strip())
    if len(out) > 100:
        raise DomainError(f"too many values for {name}", field=name)
    return out


def _one(params: Params, name: str) -> str | None:
    values = _values(params, name) if name != "q" else _raw_one(params, name)
    if len(values) > 1:
        raise DomainError(f"{name} takes one value", field=name)
    return values[0] if values else None


def _raw_one(params: Params, name: str) -> list[str]:
    raw = params.get(name)
    if raw is None:
        return []
    if isinstance(raw, list | tuple):
        if len(raw) != 1:
            raise DomainError(f"{name} takes one value", field=name)
        raw = raw[0]
    if not isinstance(raw, str):
        raise DomainError(f"{name} must be text", field=name)
    return [raw.strip()] if raw.strip() else []


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise DomainError(f"{name} must be a date like 2026-11-23", field=name) from None
    if not 1900 <= day.year <= 9000:  # the day after must exist in every time zone
        raise DomainError(f"{name} must be a year from 1900 to 9000", field=name)
    return day


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz)


def parse_filters(
    params: Params, timezone: str, *, allowed_extra: Iterable[str] = ()
) -> CustomerFilters:
    """Validate report filters; DomainError names the field of the first bad value.

    Dates are days in the shop's `timezone`, both ends inclusive.
    """
    known = set(FILTER_NAMES) | set(allowed_extra)
    for name in params:
        if name not in known:
            raise DomainError(f"unknown parameter {name}", field=name)
    channels = _values(params, "channel")
    for channel in channels:
        if channel not in CUSTOMER_CHANNELS:
            raise DomainError(
                f"channel must be one of {', '.join(CUSTOMER_CHANNELS)}", field="channel"
            )
    provinces = []
    for value in _values(params, "province"):
        if value.lower() == UNKNOWN_PROVINCE:
            provinces.append(UNKNOWN_PROVINCE)
            continue
        province = find_province(value)
        if province is None:
            raise DomainError(f"unknown province {value[:50]!r}", field="province")
        provinces.append(province.name_en)
    postal_code = _one(params, "postal_code")
    if postal_code is not None and not _POSTAL.match(postal_code):
        raise DomainError(
            "postal_code must be 5 digits, or a digit prefix ending in * like 10*",
            field="postal_code",
        )
    tz = ZoneInfo(timezone)
    start = _date(_one(params, "updated_from"), "updated_from")
    end = _date(_one(params, "updated_to"), "updated_to")
    if start and end and end < start:
        raise DomainError("updated_to is before updated_from", field="updated_to")
    tags = _values(params, "tag")
    if any(len(t) > 100 for t in tags):
        raise DomainError("a tag is at most 100 characters", field="tag")
    tag_mode = _one(params, "tag_mode") or "any"
    if tag_mode not in ("any", "all"):
        raise DomainError("tag_mode must be any or all", field="tag_mode")
    q = _one(params, "q")
    if q is not None and len(q) > 200:
        raise DomainError("q is at most 200 characters", field="q")
    statuses = _values(params, "status")
    for status in statuses:
        if status not in CUSTOMER_STATUSES:
            raise DomainError(
                f"status must be one of {', '.join(CUSTOMER_STATUSES)}", field="status"
            )
    return CustomerFilters(
        channels=tuple(dict.fromkeys(channels)),
        provinces=tuple(dict.fromkeys(provinces)),
        postal_code=postal_code,
        updated_from=_local_midnight(start, tz) if start else None,
        updated_before=_local_midnight(end + timedelta(days=1), tz) if end else None,
        tags=tuple(dict.fromkeys(tags)),
        tag_mode=tag_mode,
        q=q,
        statuses=tuple(dict.fromkeys(statuses)),
    )


def parse_sort(params: Params) -> Sort:
    """Sort field (default paid_total) and order (default asc, as the reference product)."""
    field = _one(params, "sort") or "paid_total"
    if field not in SORT_FIELDS:
        raise DomainError(f"sort must be one of {', '.join(SORT_FIELDS)}", field="sort")
    order = _one(params, "order") or "asc"
    if order not in ("asc", "desc"):
        raise DomainError("order must be asc or desc", field="order")
    return Sort(field=field, ascending=order == "asc")


def parse_page(params: Params) -> Page:
    """Page size (1-200, default 50) and cursor."""
    raw = _one(params, "limit")
    limit = DEFAULT_LIMIT
    if raw is not None:
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            raise DomainError(f"limit must be an integer from 1 to {MAX_LIMIT}", field="limit")
        limit = int(raw)
    cursor = _one(params, "cursor")
    if cursor is not None and len(cursor) > 1000:
        raise DomainError("cursor is not valid", field="cursor")
    return Page(limit=limit, cursor=cursor)
