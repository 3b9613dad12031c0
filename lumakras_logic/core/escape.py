"""Strings from outside, shown safely: one line, and nothing a terminal or a log reader would act on.

A request's id, names and conditions reach the text output and the JSON output. Text output escapes
every control character (a newline, ESC sequences that clear the screen or set the title), DEL, the C1
controls and the bidirectional overrides (which reorder what a reviewer reads), so a request cannot forge a
line ("APPROVE") or hide one. JSON output escapes the same characters as \\uXXXX (json escapes only those
below U+0020). Our own sentences contain none of them, so only what came from outside changes.
"""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass, replace
from typing import Any

_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def _unsafe(ch: str) -> bool:
    return not ch.isprintable() or ch in _BIDI


def one_line(text: str) -> str:
    """Control characters, DEL, C1 controls and bidi overrides escaped (\\n, \\x1b, \\u202e)."""
    if text.isprintable() and not (_BIDI & set(text)):
        return text
    return "".join(ch if not _unsafe(ch) else repr(ch)[1:-1] if ch.isascii() else f"\\u{ord(ch):04x}"
                   for ch in text)


def shown(value: Any, width: int = 40) -> str:
    """A value for a message: its repr, one line, cut to `width` characters."""
    text = one_line(repr(value[: width + 1] if isinstance(value, str) else value))
    return text if len(text) <= width else text[: width - 3] + "..."


def plain(value: Any) -> Any:
    """A copy of an answer (its dataclasses, dicts, lists, strings) with every string one_line: for text
    output."""
    if isinstance(value, str):
        return one_line(value)
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: plain(getattr(value, f.name)) for f in fields(value) if f.init})
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    return value


_JSON_ESCAPES = {c: f"\\u{c:04x}" for c in [0x7F, *range(0x80, 0xA0), *map(ord, _BIDI), 0x2028, 0x2029]}
_JSON_UNSAFE = re.compile("[" + "".join(map(chr, _JSON_ESCAPES)) + "]")


def json_safe(text: str) -> str:
    """JSON text with DEL, C1 controls, bidi overrides and line separators escaped as \\uXXXX: they can only
    stand inside strings, so the JSON means the same. (Searched for first: translating every character
    of a large answer costs more than writing it.)"""
    return text.translate(_JSON_ESCAPES) if _JSON_UNSAFE.search(text) else text
