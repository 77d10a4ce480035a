"""Validation of a seller's edit of a customer (name, tags, notes, contact, address); no I/O."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chatcrm.domain import DomainError, seller_fields_after
from chatcrm.input_rules import ascii_digits, clean_text, normalise_email, normalise_phone
from chatcrm.provinces import find_province

EDITABLE = ("name", "tags", "notes", "phone", "email", "province", "postal_code")
"""Fields a PATCH may change."""

MAX_NAME = 200
MAX_TAG = 100
MAX_TAGS = 50
MAX_NOTES = 5000


def _optional(value: Any, field: str, max_length: int) -> str | None:
    if value is None:
        return None
    return clean_text(value, field, max_length) or None


def _tags(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise DomainError("tags must be a list of text", field="tags")
    tags = [clean_text(tag, "tags", MAX_TAG) for tag in value]
    tags = list(dict.fromkeys(tag for tag in tags if tag))
    if len(tags) > MAX_TAGS:
        raise DomainError(f"at most {MAX_TAGS} tags", field="tags")
    return tags


def _contact(value: Any, field: str, normalise: Callable[[Any, str], str]) -> str | None:
    """A phone or e-mail normalised as imports, orders and chat profiles store it (so they
    find it); None (or blank text) clears it."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return normalise(value, field)


def _province(value: Any) -> str | None:
    text = _optional(value, "province", 100)
    if text is None:
        return None
    province = find_province(text)
    if province is None:
        raise DomainError(f"unknown province {text[:50]!r}", field="province")
    return province.name_en


def _postal_code(value: Any) -> str | None:
    text = _optional(value, "postal_code", 10)
    if text is None:
        return None
    code = ascii_digits(text)
    if not (len(code) == 5 and code.isascii() and code.isdigit()):
        raise DomainError("postal_code must be 5 digits", field="postal_code")
    return code


def parse_customer_edit(body: dict[str, Any]) -> dict[str, Any]:
    """The changes a PATCH body asks for, validated and normalised; DomainError names the field.

    Only the fields present are returned; ``version`` is not part of the changes. Names, phones,
    e-mails, provinces and postal codes may be cleared with null; tags are trimmed and
    deduplicated; null notes become empty.
    """
    for name in body:
        if name not in EDITABLE and name != "version":
            raise DomainError(f"{name} cannot be edited", field=name)
    parsers = {
        "name": lambda v: _optional(v, "name", MAX_NAME),
        "tags": _tags,
        "notes": lambda v: "" if v is None else clean_text(v, "notes", MAX_NOTES, multiline=True),
        "phone": lambda v: _contact(v, "phone", normalise_phone),
        "email": lambda v: _contact(v, "email", normalise_email),
        "province": _province,
        "postal_code": _postal_code,
    }
    changes = {name: parsers[name](body[name]) for name in EDITABLE if name in body}
    if not changes:
        raise DomainError(
            f"send at least one of {', '.join(EDITABLE)}", field="body", code="missing_field"
        )
    return changes


def etag(version: int) -> str:
    """The ETag of a customer's edit version (``"3"``): what ``If-Match`` sends back."""
    return f'"{version}"'


def parse_version(if_match: str | None, body_version: Any) -> int | None:
    """The version the client edits: from ``If-Match: "<version>"`` or the body's ``version``.

    None when neither is given; DomainError (field ``If-Match`` or ``version``) when malformed.
    """
    if if_match is not None:
        tag = if_match.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        tag = tag.strip('"')
        if not (tag.isascii() and tag.isdigit() and len(tag) <= 12):
            raise DomainError('If-Match must be an ETag like "3"', field="If-Match")
        return int(tag)
    if body_version is None:
        return None
    if isinstance(body_version, bool) or not isinstance(body_version, int):
        raise DomainError("version must be an integer", field="version")
    if not 1 <= body_version <= 2**53:
        raise DomainError("version is out of range", field="version")
    return body_version


def as_seller_changes(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A seller's `changes` of the customer `current`, with ``seller_fields`` kept up to date.

    A name, phone or e-mail the seller gives is theirs from then on: no platform profile
    overwrites it. One they clear goes back to the platforms; a cleared name shows the
    platform's name (``profile_name``) again at once.
    """
    result = dict(changes)
    if "name" in changes and changes["name"] is None:
        result["name"] = current.get("profile_name")
    seller_fields = seller_fields_after(current, changes)
    if seller_fields != (current.get("seller_fields") or []):
        result["seller_fields"] = seller_fields
    return result
