"""The customer report's vocabulary: its filters, sort and page, and their parsing (no I/O).

`REPORT_FILTERS` describes each filter once: the API's OpenAPI parameters, the export body's
filters and the options of ``chatcrm export`` are generated from it. Parsing turns a query
string or a JSON object into validated values; the store translates those to MongoDB
(`chatcrm.store.customer_query`). The parsed values, `CustomerFilters` and `Sort`, are domain
types (`chatcrm.domain`): the store takes them without depending on the platform registry that
this module validates channels against.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from chatcrm.domain import CUSTOMER_STATUSES, SORT_FIELDS, CustomerFilters, DomainError, Sort
from chatcrm.input_rules import MAX_YEAR, MIN_Q_CHARS, MIN_YEAR, parse_whole, q_term
from chatcrm.provinces import UNKNOWN_PROVINCE, find_province
from connectors.registry import CUSTOMER_CHANNELS

PAGE_NAMES = ("sort", "order", "limit", "cursor")
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
TAG_MODES = ("any", "all")
MAX_VALUES = 100
"""Most values one filter takes."""
MAX_TAG_CHARS = 100
MAX_Q_CHARS = 200
MAX_ID_CHARS = 100
_POSTAL = re.compile(r"^(\d{5}|\d{1,5}\*)$")

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Page:
    """Which page of a report: size and the cursor from the previous page."""

    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


@dataclass(frozen=True)
class ReportFilter:
    """One filter of the customer report, as a query parameter, an export filter, a CLI option."""

    name: str
    kind: Literal["one", "many"]
    """``many``: any number of values (the parameter repeated, or comma-separated values)."""
    description: str
    schema: dict[str, Any]
    """JSON schema of one value."""

    @property
    def repeated(self) -> bool:
        """Whether the filter takes several values."""
        return self.kind == "many"

    @property
    def parameter_schema(self) -> dict[str, Any]:
        """JSON schema of the query parameter: an array of values when `repeated`."""
        return {"type": "array", "items": self.schema} if self.repeated else self.schema


REPORT_FILTERS = (
    ReportFilter(
        "channel",
        "many",
        "Chat channels (any of them); repeat or comma-separate",
        {"enum": list(CUSTOMER_CHANNELS)},
    ),
    ReportFilter(
        "province",
        "many",
        f"Provinces by Thai or English name, or `{UNKNOWN_PROVINCE}`; any of them",
        {"type": "string", "maxLength": 100},
    ),
    ReportFilter(
        "postal_code",
        "one",
        "Exact five-digit postal code, or a prefix ending in `*` such as `10*`",
        {"type": "string", "pattern": _POSTAL.pattern},
    ),
    ReportFilter(
        "updated_from",
        "one",
        "Updated on or after this day (shop time zone)",
        {"type": "string", "format": "date"},
    ),
    ReportFilter(
        "updated_to",
        "one",
        "Updated on or before this day (shop time zone)",
        {"type": "string", "format": "date"},
    ),
    ReportFilter(
        "tag",
        "many",
        "Tags; customers with any of them (or all with tag_mode=all)",
        {"type": "string", "maxLength": MAX_TAG_CHARS},
    ),
    ReportFilter(
        "tag_mode", "one", "How tags combine", {"enum": list(TAG_MODES), "default": "any"}
    ),
    ReportFilter(
        "q",
        "one",
        "Search, at least 2 characters, case-insensitive, each customer listed once. Finds: "
        "the start of any word of the name or chat profile name, possibly continued across "
        "the following words (`สม`, `ใจดี`, `สมชาย ใจ` find `สมชาย ใจดี`; `ชาย`, inside a "
        "word, does not); a phone number written any way (`+66 81-234-5678`, `081 234`, "
        "Thai digits) finds phones starting with it (3+ digits) or ending with its last 4+ "
        "digits; an e-mail address whole or its part before `@`; any identity's chat "
        "platform user id, whole",
        {"type": "string", "maxLength": MAX_Q_CHARS},
    ),
    ReportFilter(
        "status",
        "many",
        "Follow statuses (any of them)",
        {"enum": list(CUSTOMER_STATUSES)},
    ),
    ReportFilter(
        "segment",
        "one",
        "A saved segment's id: its filters apply and the other filters narrow them "
        "(its sort too, unless sort or order is given); an unknown id is a 404",
        {"type": "string", "maxLength": MAX_ID_CHARS},
    ),
)
"""Every filter of the customer report (list, summary, exports), in the order documented."""

FILTER_NAMES = tuple(f.name for f in REPORT_FILTERS)


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
    if len(out) > MAX_VALUES:
        raise DomainError(f"too many values for {name}", field=name)
    return out


def _one(params: Params, name: str) -> str | None:
    """The parameter's single value (commas separate values, so one is refused), or None."""
    values = _values(params, name)
    if len(values) > 1:
        raise DomainError(f"{name} takes one value", field=name)
    return values[0] if values else None


def _text(params: Params, name: str) -> str | None:
    """The parameter's single value as typed (commas included), stripped; None when blank."""
    raw = params.get(name)
    if raw is None:
        return None
    if isinstance(raw, list | tuple):
        if len(raw) != 1:
            raise DomainError(f"{name} takes one value", field=name)
        raw = raw[0]
    if not isinstance(raw, str):
        raise DomainError(f"{name} must be text", field=name)
    return raw.strip() or None


def _one_of(params: Params, name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The parameter's values, each one of `allowed`, without repeats."""
    values = _values(params, name)
    if any(value not in allowed for value in values):
        raise DomainError(f"{name} must be one of {', '.join(allowed)}", field=name)
    return tuple(dict.fromkeys(values))


def _provinces(params: Params) -> tuple[str, ...]:
    """Province names (Thai or English, any spelling) as canonical English names."""
    provinces = []
    for value in _values(params, "province"):
        if value.lower() == UNKNOWN_PROVINCE:
            provinces.append(UNKNOWN_PROVINCE)
            continue
        province = find_province(value)
        if province is None:
            raise DomainError(f"unknown province {value[:50]!r}", field="province")
        provinces.append(province.name_en)
    return tuple(dict.fromkeys(provinces))


def _postal_code(params: Params) -> str | None:
    postal_code = _one(params, "postal_code")
    if postal_code is not None and not _POSTAL.match(postal_code):
        raise DomainError(
            "postal_code must be 5 digits, or a digit prefix ending in * like 10*",
            field="postal_code",
        )
    return postal_code


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise DomainError(f"{name} must be a date like 2026-11-23", field=name) from None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise DomainError(f"{name} must be a year from {MIN_YEAR} to {MAX_YEAR}", field=name)
    return day


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz)


def _updated_range(params: Params, timezone: str) -> tuple[datetime | None, datetime | None]:
    """``updated_from``/``updated_to`` (shop-local days, inclusive) as a UTC [start, end)."""
    tz = ZoneInfo(timezone)
    start = _date(_one(params, "updated_from"), "updated_from")
    end = _date(_one(params, "updated_to"), "updated_to")
    if start and end and end < start:
        raise DomainError("updated_to is before updated_from", field="updated_to")
    return (
        _local_midnight(start, tz) if start else None,
        _local_midnight(end + timedelta(days=1), tz) if end else None,
    )


def _tags(params: Params) -> tuple[str, ...]:
    tags = _values(params, "tag")
    if any(len(t) > MAX_TAG_CHARS for t in tags):
        raise DomainError(f"a tag is at most {MAX_TAG_CHARS} characters", field="tag")
    return tuple(dict.fromkeys(tags))


def _tag_mode(params: Params) -> str:
    tag_mode = _one(params, "tag_mode") or "any"
    if tag_mode not in TAG_MODES:
        raise DomainError("tag_mode must be any or all", field="tag_mode")
    return tag_mode


def _q(params: Params) -> str | None:
    q = _text(params, "q")
    if q is not None and len(q) > MAX_Q_CHARS:
        raise DomainError(f"q is at most {MAX_Q_CHARS} characters", field="q")
    if q is not None and len(q_term(q)) < MIN_Q_CHARS:
        raise DomainError(f"q must be at least {MIN_Q_CHARS} characters", field="q")
    return q


def _segment(params: Params) -> str | None:
    segment = _one(params, "segment")
    if segment is not None and (len(segment) > MAX_ID_CHARS or not segment.isprintable()):
        raise DomainError("segment is not a segment id", field="segment")
    return segment


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
    channels = _one_of(params, "channel", CUSTOMER_CHANNELS)
    provinces = _provinces(params)
    postal_code = _postal_code(params)
    updated_from, updated_before = _updated_range(params, timezone)
    tags = _tags(params)
    tag_mode = _tag_mode(params)
    q = _q(params)
    statuses = _one_of(params, "status", CUSTOMER_STATUSES)
    return CustomerFilters(
        channels=channels,
        provinces=provinces,
        postal_code=postal_code,
        updated_from=updated_from,
        updated_before=updated_before,
        tags=tags,
        tag_mode=tag_mode,
        q=q,
        statuses=statuses,
        segment=_segment(params),
    )


def parse_sort(params: Params, default: Sort | None = None) -> Sort:
    """Sort field (default paid_total) and order (default asc, as the reference product).

    With neither given, `default` (a saved segment's sort) when there is one.
    """
    if default is not None and _one(params, "sort") is None and _one(params, "order") is None:
        return default
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
    limit = DEFAULT_LIMIT if raw is None else parse_whole(raw, "limit", 1, MAX_LIMIT)
    cursor = _one(params, "cursor")
    if cursor is not None and len(cursor) > 1000:
        raise DomainError("cursor is not valid", field="cursor")
    return Page(limit=limit, cursor=cursor)
