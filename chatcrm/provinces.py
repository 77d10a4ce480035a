"""Thai province reference data: name, alias and postal-code lookups."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = [
    "UNKNOWN_PROVINCE",
    "Province",
    "all_provinces",
    "find_province",
    "normalize_province",
    "province_for_postal_code",
    "province_key",
]

UNKNOWN_PROVINCE = "unknown"
"""The province key of a customer whose province is not known (a report filter value too)."""

_DATA_PACKAGE = "chatcrm"
_DATA_FILE = "data/provinces.json"
_EXPECTED_COUNT = 77

_THAI_PREFIXES = ("จังหวัด", "จ.")
_ENGLISH_WORDS = re.compile(r"\b(?:province|changwat)\b")
_IGNORED_CHARS = re.compile(r"[\s\-_.,'’\u200b\u200c\u200d\ufeff]+")
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
_POSTAL_PREFIX = re.compile(r"[0-9]{2,5}")


@dataclass(frozen=True)
class Province:
    """One Thai province (or Bangkok), as listed in ISO 3166-2:TH."""

    code: str
    name_en: str
    name_th: str
    postal_prefixes: tuple[str, ...]


@dataclass(frozen=True)
class _Registry:
    provinces: tuple[Province, ...]
    by_key: dict[str, Province]
    by_postal_prefix: dict[str, Province]


def _key(value: str) -> str:
    """Reduce a province name to the form used for matching."""
    text = unicodedata.normalize("NFKC", value).strip().casefold()
    for prefix in _THAI_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    text = _ENGLISH_WORDS.sub(" ", text)
    return _IGNORED_CHARS.sub("", text)


def _add_key(index: dict[str, Province], name: str, province: Province) -> None:
    key = _key(name)
    if not key:
        raise ValueError(f"province name {name!r} of {province.code} is empty once normalised")
    other = index.setdefault(key, province)
    if other is not province:
        raise ValueError(f"{name!r} matches both {other.code} and {province.code}")


@cache
def _registry() -> _Registry:
    raw = resources.files(_DATA_PACKAGE).joinpath(_DATA_FILE).read_text(encoding="utf-8")
    entries = json.loads(raw)["provinces"]
    by_key: dict[str, Province] = {}
    by_postal_prefix: dict[str, Province] = {}
    provinces = []
    for entry in entries:
        province = Province(
            code=entry["code"],
            name_en=entry["name_en"],
            name_th=entry["name_th"],
            postal_prefixes=tuple(entry["postal_prefixes"]),
        )
        provinces.append(province)
        for name in (province.code, province.name_en, province.name_th, *entry["aliases"]):
            _add_key(by_key, name, province)
        for prefix in province.postal_prefixes:
            if not _POSTAL_PREFIX.fullmatch(prefix):
                raise ValueError(f"bad postal prefix {prefix!r} for {province.code}")
            other = by_postal_prefix.setdefault(prefix, province)
            if other is not province:
                raise ValueError(f"postal prefix {prefix} used by {other.code} and {province.code}")
    if len(provinces) != _EXPECTED_COUNT:
        raise ValueError(f"expected {_EXPECTED_COUNT} provinces, found {len(provinces)}")
    provinces.sort(key=lambda p: p.name_en)
    return _Registry(tuple(provinces), by_key, by_postal_prefix)


def all_provinces() -> tuple[Province, ...]:
    """Return all 77 provinces (Bangkok included), sorted by English name."""
    return _registry().provinces


def find_province(value: str) -> Province | None:
    """Find a province by English or Thai name, ISO code or common alias.

    Matching ignores case, surrounding whitespace, a leading "จังหวัด" or "จ.",
    the English words "Province" and "Changwat", and differences in spaces,
    hyphens and dots, so "Chiang-Mai", "chiangmai" and "จ.เชียงใหม่" all match.
    Returns None when nothing matches.
    """
    if not isinstance(value, str):
        return None
    key = _key(value)
    if not key:
        return None
    return _registry().by_key.get(key)


def province_for_postal_code(postal_code: str) -> Province | None:
    """Return the province a five-digit Thai postal code belongs to, or None.

    Surrounding whitespace is ignored and Thai digits are accepted. The longest
    matching prefix wins, so Samut Prakan's codes in the 10xxx range (e.g. 10270)
    are not taken for Bangkok. Anything that is not exactly five digits gives None.
    """
    if not isinstance(postal_code, str):
        return None
    code = postal_code.strip().translate(_THAI_DIGITS)
    if len(code) != 5 or not (code.isascii() and code.isdigit()):
        return None
    by_prefix = _registry().by_postal_prefix
    for length in range(5, 1, -1):
        province = by_prefix.get(code[:length])
        if province is not None:
            return province
    return None


def normalize_province(value: str | None, postal_code: str | None = None) -> str | None:
    """Return the canonical English province name for a customer's address.

    A recognised province ``value`` wins; otherwise the province is derived from
    ``postal_code``. Returns None when neither identifies a province.
    """
    province = find_province(value) if value is not None else None
    if province is None and postal_code is not None:
        province = province_for_postal_code(postal_code)
    return province.name_en if province is not None else None


def province_key(province: str | None, postal_code: str | None) -> str:
    """The province a customer counts under: its own, else its postal code's, else unknown.

    Stored as the customer's ``province_key``, which the report's province filter matches.
    """
    return normalize_province(province, postal_code) or UNKNOWN_PROVINCE
