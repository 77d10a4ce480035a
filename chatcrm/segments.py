"""Saved filters ("segments"): their rules, and how a report applies one (no HTTP here).

A segment keeps the report's query parameters as given (``{"province": "กรุงเทพ", "tag":
["VIP"]}``), validated by the report's own parser, and is parsed again each time it is used, so
its days are read in the shop's time zone of the day. `resolve_segment` turns the ``segment``
filter of a report into the saved filters the other filters narrow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from chatcrm.domain import CustomerFilters, DomainError, NotFoundError, Sort
from chatcrm.report_query import parse_filters, parse_sort

if TYPE_CHECKING:
    from chatcrm.store import ShopStore

MAX_SEGMENTS = 500
"""Most segments one shop keeps."""
MAX_NAME_CHARS = 100
BODY_FIELDS = ("name", "filters", "sort", "order")


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DomainError("name must be a non-empty text", field="name")
    name = " ".join(value.split())
    if len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise DomainError(f"name must be at most {MAX_NAME_CHARS} printable characters", "name")
    return name


def _filters(value: Any, timezone: str) -> dict[str, Any]:
    """The report filters as given, after checking them exactly as the report does."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DomainError("filters must be an object of report parameters", field="filters")
    try:
        parsed = parse_filters(value, timezone)
    except DomainError as err:
        raise DomainError(str(err), field=f"filters.{err.field}") from None
    if parsed.segment is not None:
        raise DomainError("a segment cannot name another segment", field="filters.segment")
    return dict(value)


def parse_segment(
    body: Mapping[str, Any], timezone: str, current: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A segment's validated fields from a request body; DomainError names the bad field.

    Without `current` (creation) ``name`` is required; with it (an edit) the fields not given
    keep their current values.
    """
    for key in body:
        if key not in BODY_FIELDS:
            raise DomainError(f"unknown field {str(key)[:50]}", field=str(key)[:50])
    if current is None and "name" not in body:
        raise DomainError("name is required", field="name")
    fields: dict[str, Any] = {}
    if "name" in body:
        fields["name"] = _name(body["name"])
    if "filters" in body or current is None:
        fields["filters"] = _filters(body.get("filters"), timezone)
    if "sort" in body or "order" in body or current is None:
        base = current or {}
        sort = parse_sort(
            {
                "sort": body.get("sort", base.get("sort")),
                "order": body.get("order", base.get("order")),
            }
        )
        fields["sort"] = sort.field
        fields["order"] = "asc" if sort.ascending else "desc"
    return fields


def segment_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A stored segment as the API shows it."""
    return {
        "id": doc["_id"],
        "name": doc["name"],
        "filters": doc.get("filters") or {},
        "sort": doc.get("sort", "paid_total"),
        "order": doc.get("order", "asc"),
        "created_at": doc.get("created_at"),
        "updated_at": doc.get("updated_at"),
    }


def segment_filters(doc: Mapping[str, Any], timezone: str) -> tuple[CustomerFilters, Sort]:
    """A stored segment's filters and sort, parsed for a shop in `timezone`."""
    filters = parse_filters(doc.get("filters") or {}, timezone)
    sort = parse_sort({"sort": doc.get("sort"), "order": doc.get("order")})
    return filters, sort


async def find_segment(shop: ShopStore, segment_id: str, field: str = "segment") -> dict[str, Any]:
    """The shop's segment; NotFoundError (a 404 naming `field`) when there is none."""
    doc = await shop.segments.get(segment_id) if len(segment_id) <= 100 else None
    if doc is None:
        raise NotFoundError(f"no segment with id {segment_id[:100]!r}", field=field)
    return doc


async def resolve_segment(
    shop: ShopStore, timezone: str, filters: CustomerFilters
) -> tuple[CustomerFilters, Sort | None]:
    """`filters` with their ``segment`` replaced by the saved filters they narrow.

    Returns the filters and the segment's sort (None without a segment). A segment that does
    not exist (deleted, or another shop's) is NotFoundError: never "every customer".
    """
    if filters.segment is None:
        return filters, None
    saved, sort = segment_filters(await find_segment(shop, filters.segment), timezone)
    return replace(filters, segment=None, within=saved), sort
