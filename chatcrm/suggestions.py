"""Merge suggestions: customers sharing a normalised phone number or e-mail address.

Nothing is stored per suggestion: a page is read from the ``shop_id, phone`` and ``shop_id,
email`` indexes (a ``$group`` of the live customers with a value, keeping values several
share), so suggestions are always current. A suggestion's id names its reason (field and
value); a dismissal keeps the member ids it was dismissed with, and hides the suggestion only
while its members are exactly those.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from chatcrm.domain import DomainError, NotFoundError
from chatcrm.store.base import Doc, pack_cursor, unpack_cursor
from chatcrm.store.merges import CONTACT_FIELDS

if TYPE_CHECKING:
    from chatcrm.store import ShopStore


def suggestion_id(field: str, value: str) -> str:
    """The id of the suggestion of customers sharing `value` in `field`."""
    raw = f"{field}:{value}".encode()
    return "sug_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_suggestion_id(sid: str) -> tuple[str, str]:
    """(field, value) of a suggestion id; NotFoundError when it is not one."""
    try:
        if not sid.startswith("sug_") or len(sid) > 400:
            raise ValueError(sid)
        data = sid[4:]
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise NotFoundError("no such suggestion", "id") from None
    field, _, value = raw.partition(":")
    if field not in CONTACT_FIELDS or not value:
        raise NotFoundError("no such suggestion", "id")
    return field, value


def _member(doc: Doc) -> dict[str, Any]:
    return {
        "id": doc["_id"],
        "name": doc.get("name"),
        "channel": doc.get("channel"),
        "channels": list(doc.get("channels") or [doc.get("channel")]),
        "platform_user_id": doc.get("platform_user_id"),
        "phone": doc.get("phone"),
        "email": doc.get("email"),
        "paid_total": int(doc.get("paid_total") or 0),
        "order_count": int(doc.get("order_count") or 0),
        "version": doc.get("version"),
    }


async def _suggestion(shop: ShopStore, field: str, value: str) -> dict[str, Any]:
    members = await shop.merges.members(field, value)
    return {
        "id": suggestion_id(field, value),
        "reason": {"field": field, "value": value},
        "members": [_member(m) for m in members],
    }


def _start(cursor: str | None) -> tuple[int, str | None]:
    """Where a page starts: the index of its field in `CONTACT_FIELDS`, and the value after."""
    if cursor is None:
        return 0, None
    data = unpack_cursor(cursor)
    field, value = data.get("f"), data.get("v")
    if field not in CONTACT_FIELDS or not isinstance(value, str):
        raise DomainError("cursor is not valid", field="cursor")
    return CONTACT_FIELDS.index(field), value


async def suggestions_page(
    shop: ShopStore, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of suggestions (phone groups, then e-mail groups, each in value order) and
    the next page's cursor; dismissed groups whose members did not change are left out."""
    start, after = _start(cursor)
    items: list[dict[str, Any]] = []
    for field in CONTACT_FIELDS[start:]:
        exhausted = False
        while len(items) <= limit and not exhausted:
            wanted = limit + 1 - len(items)
            groups = await shop.merges.contact_groups(field, after, wanted)
            exhausted = len(groups) < wanted
            if not groups:
                break
            found = [await _suggestion(shop, field, g["_id"]) for g in groups]
            dismissed = await shop.merges.dismissed([s["id"] for s in found])
            for item in found:
                ids = sorted(m["id"] for m in item["members"])
                if len(ids) > 1 and dismissed.get(item["id"]) != ids:
                    items.append(item)
            after = groups[-1]["_id"]
        after = None
    if len(items) <= limit:
        return items, None
    last = items[limit - 1]["reason"]
    return items[:limit], pack_cursor({"f": last["field"], "v": last["value"]})


async def dismiss(shop: ShopStore, sid: str, actor: str) -> dict[str, Any]:
    """Dismiss a suggestion with its current members; the suggestion as dismissed."""
    field, value = parse_suggestion_id(sid)
    suggestion = await _suggestion(shop, field, value)
    if len(suggestion["members"]) < 2:
        raise NotFoundError("no such suggestion", "id")
    await shop.merges.dismiss(sid, [m["id"] for m in suggestion["members"]], actor)
    return suggestion
