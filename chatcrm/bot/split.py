"""Splitting a long answer into chat messages of a platform's size (no I/O).

Lengths are counted in UTF-16 code units, the strictest count among the platforms (an emoji
outside the Basic Multilingual Plane counts twice), so every piece fits whatever the platform
counts. A piece ends at a line break where one fits, else at a space, else between two
characters that do not belong to one grapheme cluster: never inside a character, never
between a letter and its combining marks (Thai vowels and tone marks), an emoji and its
modifiers or variation selectors, the parts of a ZWJ sequence, or the two halves of a flag.
"""

from __future__ import annotations

import unicodedata

ZWJ = "\u200d"


def utf16_len(text: str) -> int:
    """Length of `text` in UTF-16 code units."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def _extends(char: str) -> bool:
    """True when `char` extends the grapheme cluster before it."""
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Mc", "Me")
        or char == ZWJ
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # emoji skin tone modifiers
        or 0xE0020 <= code <= 0xE007F  # emoji tag sequences
        or 0xE0100 <= code <= 0xE01EF
    )


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _breakable(text: str, index: int) -> bool:
    """True when `text` may be cut before position `index` (0 < index < len(text))."""
    before, after = text[index - 1], text[index]
    if _extends(after) or before == ZWJ:
        return False
    if before == "\r" and after == "\n":
        return False
    if _regional(before) and _regional(after):
        run = 0
        while index - 1 - run >= 0 and _regional(text[index - 1 - run]):
            run += 1
        return run % 2 == 0  # an even run before: `after` starts a new flag
    return True


def _cut(line: str, limit: int) -> int:
    """Where to cut a line longer than `limit`: the last space that leaves at least half the
    room used, else the last cluster boundary that fits; within a cluster longer than the whole
    limit (only a pathological text has one), the last character that fits."""
    fits = 0
    units = 0
    for i, char in enumerate(line):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            break
        fits = i + 1
    space = line.rfind(" ", 0, fits + 1)
    if space > fits // 2:
        return space
    for i in range(fits, 0, -1):
        if _breakable(line, i):
            return i
    return fits


def split_message(text: str, limit: int) -> list[str]:
    """`text` as pieces of at most `limit` UTF-16 code units, whole lines where they fit.

    Blank pieces are dropped (platforms refuse empty messages); an empty text gives none.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2")
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        joined = f"{current}\n{line}" if current else line
        if utf16_len(joined) <= limit:
            current = joined
            continue
        if current:
            pieces.append(current)
        while utf16_len(line) > limit:
            cut = _cut(line, limit)
            pieces.append(line[:cut].rstrip())
            line = line[cut:].lstrip()
        current = line
    pieces.append(current)
    return [piece for piece in pieces if piece.strip()]
