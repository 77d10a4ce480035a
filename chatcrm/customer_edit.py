"""Validation of a seller's edit of a customer (name, tags, notes, contact, address); no I/O."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from chatcrm.domain import DomainError, seller_fields_after
from chatcrm.provinces import find_province

EDITABLE = ("name", "tags", "notes", "phone", "email", "province", "postal_code")
"""Fields a PATCH may change."""

MAX_NAME = 200
MAX_TAG = 100
MAX_TAGS = 50
MAX_NOTES = 5000
MAX_EMAIL = 254
_PHONE = re.compile(r"^\+?[0-9]{6,15}$")
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")


def clean_text(value: Any, field: str, max_length: int, *, multiline: bool = False) -> str:
    """`value` as trimmed text of at most `max_length` characters, or DomainError naming `field`.

    Refuses non-text, control characters (newlines and tabs allowed when `multiline`) and text
    that is not valid Unicode (lone surrogates), which no database could store.
    """
    if not isinstance(value, str):
        raise DomainError(f"{field} must be text", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise DomainError(f"{field} is not valid Unicode text", field=field) from None
    allowed = "\n\t" if multiline else ""
    for char in value:
        if char not in allowed and unicodedata.category(char) == "Cc":
            raise DomainError(f"{field} must not contain control characters", field=field)
    value = value.strip()
    if len(value) > max_length:
        raise DomainError(f"{field} is at most {max_length} characters", field=field)
    return value


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


def _phone(value: Any) -> str | None:
    text = _optional(value, "phone", 40)
    if text is None:
        return None
    phone = _PHONE_SEPARATORS.sub("", text.translate(_THAI_DIGITS))
    if not _PHONE.match(phone):
        raise DomainError("phone must be 6-15 digits, optionally after +", field="phone")
    return phone


def _email(value: Any) -> str | None:
    email = _optional(value, "email", MAX_EMAIL)
    if email is not None and not _EMAIL.match(email):
        raise DomainError("email is not an e-mail address", field="email")
    return email


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
    code = text.translate(_THAI_DIGITS)
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
        "phone": _phone,
        "email": _email,
        "province": _province,
        "postal_code": _postal_code,
    }
    changes = {name: parsers[name](body[name]) for name in EDITABLE if name in body}
    if not changes:
        raise DomainError(f"send at least one of {', '.join(EDITABLE)}", field=None)
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
