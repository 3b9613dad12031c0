"""Splitting a drug-list entry that joins several names ("adagrasib/cetuximab", "Krazati (adagrasib)").

Generic: no drug name is written here. Whether a piece is a name is asked of `known`, the kb's set of known
names (a name key, `request.name_key`, in; true or false out). An entry the kb knows as a whole is never
split ("capecitabine + oxaliplatin" when the kb names that regimen; "trifluridine/tipiracil").

The order of separators is the order of precedence: an entry is split at the first separator that occurs
outside parentheses, and each piece is resolved again from the start. "A (B)" or "A (B, C)" gives A and the
pieces inside. A piece that cannot be split is a part as it is, known or not: the kb decides what an
unknown part may be (DECISIONS.md, reading 16).

Bounded: the work is linear in the entry per level, the levels are capped (MAX_DEPTH), and an entry that
would give more than MAX_PARTS parts is not split at all. Both caps answer with the text unsplit, which is
sound: an unknown entry "may be anything", while dropping a piece would claim the entry lacks it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# The separators in order of precedence, each as a pattern (spaces around a word are any whitespace).
SEPARATORS: tuple[re.Pattern[str], ...] = tuple(re.compile(p, re.IGNORECASE) for p in (
    r";", r",", r"\s+\+\s+", r"\+", r"\s+and\s+", r"\s+&\s+", r"&", r"\s+with\s+", r"\s+plus\s+", r"/",
))

MAX_DEPTH = 24  # levels of splitting (separators and parentheses) before a piece is left as it is
MAX_PARTS = 64  # an entry with more parts than this is not split


class _TooMany(Exception):
    """More parts than MAX_PARTS: the entry is kept whole."""


def split_entry(text: str, known: Callable[[str], bool]) -> list[str]:
    """The parts of one drug-list entry, stripped and as written (not lower-cased), duplicates (by name key)
    dropped, order kept. An entry the kb knows, or one that cannot be split, is its own only part; a string
    of separators alone is returned as it is."""
    from .request import name_key

    parts: dict[str, str] = {}

    def add(piece: str) -> None:
        key = name_key(piece)
        if key not in parts:
            if len(parts) >= MAX_PARTS:
                raise _TooMany
            parts[key] = piece

    def resolve(piece: str, depth: int) -> None:
        piece = piece.strip()
        if not piece:
            return
        if depth >= MAX_DEPTH or known(name_key(piece)):
            add(piece)
            return
        outside = _outside_parentheses(piece)
        for separator in SEPARATORS:
            cuts = [m.span() for m in separator.finditer(piece) if outside[m.start()]]
            if cuts:
                start = 0
                for begin, end in cuts:
                    resolve(piece[start:begin], depth + 1)
                    start = end
                resolve(piece[start:], depth + 1)
                return
        group = _first_group(piece)
        if group is not None:
            open_at, close_at = group
            before, inside, after = piece[:open_at], piece[open_at + 1:close_at], piece[close_at + 1:]
            if before.strip() or after.strip() or inside.strip() != piece:
                resolve(before, depth + 1)
                resolve(inside, depth + 1)
                resolve(after, depth + 1)
                return
        add(piece)

    try:
        resolve(text, 0)
    except _TooMany:
        return [text.strip()]
    return list(parts.values()) or [text.strip() or text]


def _outside_parentheses(text: str) -> list[bool]:
    """For each position, whether it is outside every parenthesis (a stray ')' closes nothing)."""
    depth, out = 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        out.append(depth == 0)
        if ch == ")" and depth:
            depth -= 1
    return out


def _first_group(text: str) -> tuple[int, int] | None:
    """The first parenthesized group (index of '(' and of its ')'); an unclosed one runs to the end."""
    open_at = text.find("(")
    if open_at < 0:
        return None
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return open_at, i
    return open_at, len(text)
