"""JSON from outside (request bodies, page cursors) parsed within bounds (no I/O).

Python's parser accepts what no handler can use and the database cannot store: lone
surrogates (``"\\ud83d"``), integers of thousands of digits (which then raise on conversion),
``NaN``/``Infinity``, and nesting deep enough to exhaust the stack. `parse_json` refuses each
of them up front: a value that cannot be used raises `DomainError` naming its path
(``items[0].name``), text that is not usable JSON raises `MalformedJson`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from chatcrm.domain import DomainError

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted (no body of the API needs more than 4)."""
MAX_NUMBER_CHARS = 40
"""Longest number accepted, as written; 64-bit integers need 20 characters."""


class MalformedJson(ValueError):
    """Text that is not JSON, or JSON nested deeper than `MAX_DEPTH`."""


class _Unusable:
    """A number the parser read but no handler can use; reported with its path."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _int(text: str) -> int | _Unusable:
    if len(text) > MAX_NUMBER_CHARS:
        return _Unusable("is too large a number")
    return int(text)


def _float(text: str) -> float | _Unusable:
    value = float(text) if len(text) <= MAX_NUMBER_CHARS else math.inf
    return value if math.isfinite(value) else _Unusable("is too large a number")


def _constant(name: str) -> _Unusable:
    return _Unusable(f"is {name}, which is not a JSON number")


def parse_json(text: str | bytes) -> Any:
    """The JSON value of `text` (bytes are UTF-8), checked as the module doc says."""
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise MalformedJson(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        raise MalformedJson("the body is not valid JSON") from None
    _check(value, "", 0)
    return value


def field_path(path: str, key: str | int) -> str:
    """The path of `key` inside `path`: ``customer.phone``, ``items[0]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def printable_path(path: str) -> str:
    """`path` as text any response can carry: lone surrogates as ``\\udXXX`` escapes."""
    return path.encode("utf-8", "backslashreplace").decode("utf-8")


def _check(value: Any, path: str, depth: int) -> None:
    """Raise for the first unusable value inside `value` (depth-first, in document order).

    An unusable value at the top is the whole text: MalformedJson.
    """
    reason = None
    if isinstance(value, str) and not _is_unicode(value):
        reason = "is not valid Unicode text"
    elif isinstance(value, _Unusable):
        reason = value.reason
    if reason is not None:
        if not path:
            raise MalformedJson(f"the JSON value {reason}")
        raise DomainError(f"{printable_path(path)} {reason}", field=printable_path(path))
    if isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            raise MalformedJson(f"JSON nested deeper than {MAX_DEPTH} levels")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            inner = field_path(path, key)
            if isinstance(key, str) and not _is_unicode(key):
                field = printable_path(inner)
                raise DomainError(f"{field} is not a valid name", field=field)
            _check(item, inner, depth + 1)


def _is_unicode(text: str) -> bool:
    """Whether `text` is valid Unicode (no lone surrogates), so UTF-8 and BSON can hold it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
