"""How values typed by people and sent by programs are read: text, digits, whole numbers, times,
phone numbers and e-mail addresses.

One rule per kind of value, shared by the API, CSV imports and cursors, so the same text means
the same everywhere (no I/O here). Each reader bounds its input before any arithmetic and
raises `DomainError` naming the field.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

from chatcrm.domain import DomainError, whole_ms

MIN_YEAR = 1900
MAX_YEAR = 9000
"""Years a date or time given as input may have: every time zone can show them, and the day
after exists (the calendar ends in 9999)."""
MAX_WHOLE_DIGITS = 18
"""Most digits of a whole number read from text (below 2**63)."""
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
"""Unicode's control characters (category Cc)."""
_CONTROL_IN_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Control characters but tab and newline."""
PHONE_DIGITS = (9, 15)
"""Fewest and most digits of a phone number (a Thai landline has 9, E.164 at most 15)."""
_PHONE_WRITTEN = re.compile(r"\+?[0-9 ().\-]*[0-9][0-9 ().\-]*")
"""A phone number as people write it (after `ascii_digits`): digits, an optional leading ``+``,
spaces, dashes, dots and parentheses."""
MAX_EMAIL = 254
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s.]{2,63}")


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
    if (_CONTROL_IN_LINES if multiline else _CONTROL).search(value):
        raise DomainError(f"{field} must not contain control characters", field=field)
    value = value.strip()
    if len(value) > max_length:
        raise DomainError(f"{field} is at most {max_length} characters", field=field)
    return value


def ascii_digits(text: str) -> str:
    """`text` with the decimal digits of every script (Thai ``๑``, full-width ``１``) as ASCII.

    Other digit-like characters (superscripts such as ``²``, circled ``①``) stay as they are,
    so readers refuse them.
    """
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in text)


def parse_whole(text: str, field: str, low: int, high: int, *, what: str | None = None) -> int:
    """`text` (decimal digits, any script; surrounding spaces ignored) as a whole number from
    `low` to `high`; DomainError naming `field` (`what` the value is, for the message)."""
    digits = ascii_digits(text.strip())
    value = None
    if digits.isascii() and digits.isdigit() and len(digits) <= MAX_WHOLE_DIGITS:
        value = int(digits)
    if value is None or not low <= value <= high:
        raise DomainError(
            f"{what or field} must be a whole number from {low} to {high}", field=field
        )
    return value


def parse_datetime(value: Any, field: str) -> datetime:
    """An ISO 8601 time *with* offset, as aware UTC truncated to milliseconds.

    Its UTC time must fall in the years `MIN_YEAR` to `MAX_YEAR`.
    """
    if not isinstance(value, str) or len(value) > 40:
        raise DomainError(f"{field} must be an ISO 8601 time with offset", field=field)
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise DomainError(f"{field} must be an ISO 8601 time with offset", field=field) from None
    if parsed.tzinfo is None:
        raise DomainError(f"{field} needs a UTC offset, e.g. +07:00", field=field)
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is past the calendar's end in UTC
        utc = None
    if utc is None or not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise DomainError(f"{field} must be in the years {MIN_YEAR} to {MAX_YEAR}", field=field)
    return whole_ms(utc)


def phone_digits(text: str) -> str | None:
    """The digits of `text` if it is written like a phone number (`_PHONE_WRITTEN`, digits of
    any script), else None: ``+66 81-234-5678`` -> ``66812345678``, ``Unewcontact123`` -> None."""
    text = ascii_digits(text.strip())
    if not _PHONE_WRITTEN.fullmatch(text):
        return None
    return "".join(c for c in text if c.isdigit())


def local_phone(digits: str) -> str:
    """A Thai number's digits in the local form: ``66812345678`` -> ``0812345678`` (``66`` and
    nine or eight digits: mobile or landline); other digits as they are."""
    if digits.startswith("66") and len(digits) in (10, 11):
        return "0" + digits[2:]
    return digits


def normalise_phone(value: Any, field: str = "phone") -> str:
    """A phone number as stored and compared: its digits, a Thai one in the local form
    (``+66 81-234-5678``, ``081 234 5678`` and ``๐๘๑๒๓๔๕๖๗๘`` all give ``0812345678``).

    The one rule of the API, imports, orders, chat profiles and search; DomainError naming
    `field` unless written like a phone number with `PHONE_DIGITS` digits.
    """
    digits = phone_digits(clean_text(value, field, 40))
    low, high = PHONE_DIGITS
    phone = local_phone(digits) if digits else ""
    if not low <= len(phone) <= high:
        raise DomainError(
            f"{field} must be a phone number of {low} to {high} digits "
            "(spaces, dashes, dots, parentheses and a leading + allowed)",
            field=field,
        )
    return phone


def normalise_email(value: Any, field: str = "email") -> str:
    """An e-mail address as stored and compared: trimmed, lower case; DomainError naming
    `field` when it is not one (at most 254 characters)."""
    email = clean_text(value, field, MAX_EMAIL).lower()
    if not _EMAIL.fullmatch(email):
        raise DomainError(f"{field} must be an e-mail address", field=field)
    return email


MIN_Q_CHARS = 2
"""Fewest characters of a search `q` once normalised (`q_term`): one character would find most
customers, and no term of one character is stored (chatcrm.store.terms)."""

_SPACES = re.compile(r"\s+")


def search_text(text: str) -> str:
    """Text as search compares it: Unicode NFC, case-folded, control characters removed,
    each run of whitespace one space, trimmed (``"  Ploy\\tSAETANG "`` -> ``ploy saetang``)."""
    text = unicodedata.normalize("NFC", text).casefold()
    text = "".join(" " if c.isspace() else c for c in text if c.isspace() or c.isprintable())
    return _SPACES.sub(" ", text).strip()


def q_term(text: str) -> str:
    """What a search `q` (and every exact search term stored: e-mail, platform ids) compares
    as: a text written like a phone number (`phone_digits`) its digits in the stored local
    form (``+66 81-234 5678``, ``66812345678``, ``081 234 5678`` -> ``0812345678``; a start
    written with ``+66`` too: ``+66 81`` -> ``081``), any other text `search_text`."""
    digits = phone_digits(text)
    if digits is None:
        return search_text(text)
    if digits.startswith("66") and len(digits) > 2 and text.strip().startswith("+"):
        return "0" + digits[2:]
    return local_phone(digits)
