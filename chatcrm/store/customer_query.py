"""Translation of report filters, sort orders and page cursors into MongoDB queries."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from chatcrm.domain import (
    DATE_KEYS,
    LIVE_KEY,
    PHONE_KEY,
    SORT_FIELDS,
    CustomerFilters,
    DomainError,
    Sort,
    as_utc,
    epoch_ms,
)
from chatcrm.input_rules import parse_datetime, phone_digits
from chatcrm.store.base import Doc, pack_cursor, unpack_cursor


def _one_of(values: tuple[str, ...] | list[str]) -> Doc:
    """Match a scalar field against `values`: ``$eq`` for one value, else ``$in``.

    ``{"$eq": v}`` rather than a bare ``v`` or a one-element ``$in``: the same match on MongoDB,
    and the only form nx-27017 turns into an indexable SQL comparison.
    """
    return {"$eq": values[0]} if len(values) == 1 else {"$in": list(values)}


def prefix_range(prefix: str) -> Doc:
    """The strings starting with `prefix`, as a range (``"10"`` -> ``>= "10"``, ``< "11"``).

    The same strings as ``{"$regex": "^10"}``; an index range on both servers, where nx-27017
    runs a regular expression in an aggregation in Python over the whole collection.
    """
    if not prefix:
        return {"$type": "string"}
    return {"$gte": prefix, "$lt": prefix[:-1] + chr(ord(prefix[-1]) + 1)}


def filters_query(filters: CustomerFilters, *, sorted_page: bool = False) -> Doc:
    """The MongoDB filter for `filters` (without the shop id; the repository adds it).

    A postal-code prefix is a string range (an index range for totals and summaries), or for
    a `sorted_page` the equivalent anchored ``$regex``: nx-27017's SQLite then walks the sort's
    index and stops at the page's end, instead of sorting every match of the postal range.

    One flat document, one key per field (no ``$and``): nx-27017 translates a flat filter of
    field conditions to SQL and evaluates anything under a top-level ``$and``/``$or`` in Python
    over the whole collection. Only `q` needs an ``$or``. A saved segment's filters
    (`CustomerFilters.within`) join with `combine`: still flat unless both name one field.
    """
    if filters.segment is not None:
        raise ValueError("resolve the segment first (chatcrm.segments.resolve_segment)")
    query = _own_query(filters, sorted_page)
    if filters.within is not None:
        return combine(filters_query(filters.within, sorted_page=sorted_page), query)
    return query


def _own_query(filters: CustomerFilters, sorted_page: bool) -> Doc:
    """`filters_query` of these filters alone (not the segment they narrow)."""
    query: Doc = {}
    if filters.ids:
        query["_id"] = {"$in": list(filters.ids)}
    if filters.channels:
        query["channel"] = _one_of(filters.channels)
    if filters.provinces:
        query["province_key"] = _one_of(filters.provinces)
    if filters.postal_code:
        code = filters.postal_code
        if code.endswith("*"):
            prefix = code[:-1]
            query["postal_code"] = (
                {"$regex": "^" + re.escape(prefix)} if sorted_page else prefix_range(prefix)
            )
        else:
            query["postal_code"] = {"$eq": code}
    updated: Doc = {}
    if filters.updated_from is not None:
        updated["$gte"] = epoch_ms(filters.updated_from)
    if filters.updated_before is not None:
        updated["$lt"] = epoch_ms(filters.updated_before)
    if updated:  # the integer copy: see DATE_KEYS
        query[DATE_KEYS["updated_at"]] = updated
    if filters.tags:
        # $in/$all, never $eq, on the array: nx-27017 compares a whole array with $eq
        query["tags"] = {("$all" if filters.tag_mode == "all" else "$in"): list(filters.tags)}
    if filters.statuses:
        query["status"] = _one_of(filters.statuses)
    if filters.q:
        query["$or"] = q_alternatives(filters.q)
    return query


def q_alternatives(q: str) -> list[Doc]:
    """What `q` finds: a name or e-mail containing it, a phone number (`phone_match`), or
    exactly the chat platform's id of any of the person's identities."""
    text = q.strip()
    pattern = re.escape(text)
    return [
        {"name": {"$regex": pattern, "$options": "i"}},
        {"email": {"$regex": pattern, "$options": "i"}},
        *phone_match(text),
        {"platform_user_id": {"$eq": text}},
        {"platform_user_ids": {"$in": [text]}},  # a merged person's other identities
    ]


MIN_PHONE_START = 3
"""Fewest digits of a `q` that finds phone numbers starting with them."""
MIN_PHONE_END = 4
"""Fewest digits of a `q` that finds phone numbers ending with them."""


def phone_match(q: str) -> list[Doc]:
    """The phones `q` finds when written like a phone number (`input_rules.phone_digits`; not
    ``Unewcontact123``): numbers starting with its digits in the stored form (``+66 81-234``
    and ``081 234`` both find ``0812345678``, so does the whole number written either way),
    and numbers ending with its last 4 or more digits (``5678``).

    Stored phones are normalised (`input_rules.normalise_phone`), so both are string ranges an
    index serves: the start on ``phone``, the end on its reversed copy (`PHONE_KEY`).
    """
    digits = phone_digits(q)
    if digits is None or len(digits) < MIN_PHONE_START:
        return []
    starts = [digits]
    if digits.startswith("66") and len(digits) > MIN_PHONE_START:  # +66 8… -> 08…
        starts.append("0" + digits[2:])
    match: list[Doc] = [{"phone": prefix_range(start)} for start in starts]
    if len(digits) >= MIN_PHONE_END:
        match.append({PHONE_KEY: prefix_range(digits[::-1])})
    return match


def sort_key(field: str) -> str:
    """The stored field that orders `field`: a date's integer copy (`DATE_KEYS`), else itself."""
    return DATE_KEYS.get(field, field)


def page_index_keys(field: str) -> tuple[str, ...]:
    """Keys of the index that serves report pages in `field` order (a ``SORT_FIELDS`` name):
    ``shop_id, live, <sort key>, _key``. Every page asks ``live: {"$eq": true}`` (`LIVE_KEY`),
    so the shop and the live customers are one equality prefix and the index gives the page in
    order on both servers."""
    return ("shop_id", LIVE_KEY, sort_key(field), "_key")


_RANGE_OPERATORS = frozenset({"$gt", "$gte", "$lt", "$lte"})


def split_ranges(query: Doc, field: str) -> tuple[Doc, Doc]:
    """`query` as (its conditions but ranges, its ranges on fields other than `field`).

    A page sorted on `field` with a range on another field (a closed date range sorted by
    paid total) is served either by the range's index then a sort of every match, or by the
    sort's index walked in order with the range tested per row: the caller chooses by the
    range's size. Only for a flat query (no ``$and``/``$or``: those stay as they are).
    """
    if any(key.startswith("$") for key in query):
        return query, {}
    ranges = {
        key: condition
        for key, condition in query.items()
        if key != field
        and isinstance(condition, dict)
        and bool(condition)
        and set(condition) <= _RANGE_OPERATORS
    }
    return {k: v for k, v in query.items() if k not in ranges}, ranges


def sort_spec(sort: Sort) -> list[tuple[str, int]]:
    """The MongoDB sort: the field, then the unique customer key in the same direction."""
    direction = 1 if sort.ascending else -1
    return [(sort_key(sort.field), direction), ("_key", direction)]


def range_sort_spec(sort: Sort, extra: Doc) -> list[tuple[str, int]]:
    """`sort_spec` for the rows of one `after_cursor` range `extra`: by ``_key`` alone where the
    range fixes the sort value (the rest of the cursor's value), the same order, which SQLite
    3.40 then reads from the index instead of sorting every row of that value in a temporary
    B-tree (63,000 customers without a paid order at 200,000: 11 ms against 0.03 ms)."""
    fixed = extra.get(sort_key(sort.field))
    if isinstance(fixed, dict) and set(fixed) == {"$eq"}:
        return [("_key", 1 if sort.ascending else -1)]
    return sort_spec(sort)


def encode_cursor(sort: Sort, doc: Doc) -> str:
    """An opaque cursor pointing just after `doc` in `sort` order (a date as epoch ms)."""
    value = doc.get(sort_key(sort.field))
    return pack_cursor({"f": sort.field, "a": sort.ascending, "v": value, "k": doc["_key"]})


def after_cursor(sort: Sort, cursor: str) -> list[Doc]:
    """The rows after `cursor` as consecutive ranges of `sort` order, each a flat filter.

    Keyset pagination on (sort field, customer key) stays stable under concurrent writes: rows
    that do not move are never repeated or skipped. Nulls sort before every value. The rows
    after (value v, key k) are, in order: the rest of v's rows (key beyond k), then the values
    beyond v, then (descending) the nulls. Each range is a flat filter that an index on
    (shop_id, field, _key) serves in order, rather than one ``$or`` of them, which nx-27017
    evaluates in Python over the whole collection. DomainError(field="cursor") when bad.
    """
    data = unpack_cursor(cursor)
    try:
        field, ascending, value, key = data["f"], data["a"], data["v"], data["k"]
        if isinstance(value, dict):  # a cursor of an earlier version: a date
            value = epoch_ms(parse_datetime(value["$date"], "cursor"))
        if not isinstance(key, str) or not _is_sort_value(value):
            raise ValueError("key")
    except (ValueError, KeyError, TypeError):  # DomainError is a ValueError
        raise DomainError("cursor is not valid", field="cursor") from None
    if field != sort.field or ascending != sort.ascending or field not in SORT_FIELDS:
        raise DomainError("cursor belongs to another sort order", field="cursor")
    field = sort_key(field)
    beyond = "$gt" if ascending else "$lt"
    same_value_later = {field: {"$eq": value}, "_key": {beyond: key}}
    if value is None:
        if ascending:  # after the nulls come every non-null value
            return [same_value_later, {field: {"$ne": None}}]
        return [same_value_later]  # descending: nulls are last
    later_values: Doc = {field: {beyond: value}}
    if ascending:
        return [same_value_later, later_values]
    return [same_value_later, later_values, {field: {"$eq": None}}]


def _is_sort_value(value: Any) -> bool:
    """Whether a cursor's `value` could be a sort key's: null, text, or a 64-bit integer."""
    if value is None or isinstance(value, str):
        return True
    return type(value) is int and -(2**63) <= value < 2**63


def combine(*queries: Doc) -> Doc:
    """AND of the non-empty queries: one flat document where their keys do not collide."""
    merged: Doc = {}
    for query in queries:
        for key, value in query.items():
            if key not in merged:
                merged[key] = value
                continue
            ours = merged[key]
            if not (_is_operators(ours) and _is_operators(value)) or set(ours) & set(value):
                return {"$and": [q for q in queries if q]}
            merged[key] = {**ours, **value}  # e.g. {"$gte": a} and {"$lt": b}: one range
    return merged


def _is_operators(value: Any) -> bool:
    """Whether `value` is a document of query operators (``{"$gte": ...}``)."""
    return isinstance(value, dict) and bool(value) and all(k.startswith("$") for k in value)


def report_fields() -> dict[str, Any]:
    """Projection of the fields a report row shows."""
    return {
        "_id": 1,
        "_key": 1,
        "name": 1,
        "profile_name": 1,
        "channel": 1,
        "channel_id": 1,
        "platform_user_id": 1,
        "channels": 1,
        "identity_channels": 1,
        "platform_user_ids": 1,
        "phone": 1,
        "email": 1,
        "province": 1,
        "province_key": 1,
        "postal_code": 1,
        "tags": 1,
        "notes": 1,
        "status": 1,
        "currency": 1,
        "paid_total": 1,
        "order_count": 1,
        "unpaid_total": 1,
        "last_order_at": 1,
        "first_seen_at": 1,
        "updated_at": 1,
        "updated_ms": 1,
        "last_order_ms": 1,
        "version": 1,
    }


def _order_value(value: Any) -> tuple[int, Any]:
    """A Python sort key agreeing with MongoDB's order of one field: null, numbers, text, dates."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (4, value)
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)  # code-point order = MongoDB's UTF-8 binary order (no collation)
    if isinstance(value, datetime):
        return (5, as_utc(value))
    return (3, str(value))


def snapshot_row(doc: Doc, field: str) -> tuple[Any, ...]:
    """A customer's place in `field` order, then its id: rows that sort with plain tuples.

    `field` is the stored field (`sort_key`), as read by the snapshot's projection.
    """
    return (*_order_value(doc.get(field)), doc.get("_key") or doc["_id"], doc["_id"])


def order_snapshot(rows: list[tuple[Any, ...]], sort: Sort) -> list[str]:
    """Ids of `snapshot_row` rows in the order `sort_spec` gives on the server."""
    rows.sort(reverse=not sort.ascending)
    return [row[-1] for row in rows]
