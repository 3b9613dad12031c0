"""Output written as it is made, so that a command's memory stays flat with the size of its batch.

`JsonArray` and `JsonObject` write the very text json.dumps(value, indent=2) would, piece by piece;
`Spill` keeps records that are written only at the end (an impact's unchanged cases, a test run's
failures) in a temporary file instead of in memory. Every piece goes through `json_safe`, so a request's
control characters are escaped there as in every other JSON the tool prints.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Any

from .escape import json_safe

try:
    import orjson
except ImportError:  # not installed: the standard library's encoder writes the same text, more slowly
    orjson = None  # type: ignore[assignment]

Write = Callable[[str], Any]


def dumps(value: Any) -> str:
    """One value as the tool prints JSON: indented by 2, non-ASCII kept, control characters escaped: the
    text of json.dumps(value, indent=2, ensure_ascii=False), through json_safe."""
    text = _orjson(value) if orjson is not None else None
    return json_safe(text if text is not None else json.dumps(value, indent=2, ensure_ascii=False))


# A number with a fraction or an exponent where a value stands: the whole text, first on a line (an array's
# item: a string's newlines are escaped), or after a key (a quote after an even run of backslashes: within
# a string a quote is escaped, after an odd run). So a float is always found, and nothing else is.
_FLOAT = re.compile(r'\A-?\d+[.eE]|\n +-?\d+[.eE]|(?<!\\)(?:\\\\)*": -?\d+[.eE]')


def _orjson(value: Any) -> str | None:
    """The same text by orjson, about ten times faster than json's encoder with an indent (which only has
    a pure-Python implementation): None where the two could differ, so that json writes it. They differ
    on floats (orjson writes 1e-05 as 0.00001), integers past 64 bits, keys that are not strings (json
    turns them into strings), dataclasses and dates (json refuses them), and text that is not valid
    Unicode; on everything else they agree (tests/test_stream.py)."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_PASSTHROUGH_DATACLASS
                            | orjson.OPT_PASSTHROUGH_DATETIME).decode("utf-8")
    except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
        return None
    return None if _FLOAT.search(text) else text


def _indented(text: str, pad: str) -> str:
    """`text` with every line after the first indented by `pad` (no line of indented JSON is blank)."""
    return text.replace("\n", "\n" + pad)


class JsonArray:
    """Values written as one JSON array as they are made. At the top level (depth 0) the text is that of
    json.dumps(values, indent=2), and nothing at all when there is no value unless `close` is given what
    to write; inside a JsonObject (depth 1) it is the array as that object's value."""

    def __init__(self, write: Write, depth: int = 0) -> None:
        self.write, self.count, self.depth = write, 0, depth

    def add(self, value: Any) -> None:
        pad = "  " * (self.depth + 1)
        piece = pad + _indented(dumps(value), pad)
        self.write(("[\n" if self.count == 0 else ",\n") + piece)
        self.count += 1

    def close(self, empty: str | None = None) -> None:
        """End the array; at the top level with no value, write `empty` (e.g. '[]') or nothing."""
        if self.depth:
            self.write("\n" + "  " * self.depth + "]" if self.count else "[]")
        elif self.count:
            self.write("\n]\n")
        elif empty is not None:
            self.write(empty + "\n")


class JsonObject:
    """One JSON object written key by key, a value at a time or as a streamed array; the text is that of
    json.dumps(obj, indent=2) followed by a newline."""

    def __init__(self, write: Write) -> None:
        self.write, self.count = write, 0

    def _key(self, key: str) -> None:
        self.write(("{\n" if self.count == 0 else ",\n") + f"  {json.dumps(key)}: ")
        self.count += 1

    def field(self, key: str, value: Any) -> None:
        self._key(key)
        self.write(_indented(dumps(value), "  "))  # the first line follows the key

    def array(self, key: str) -> JsonArray:
        """A streamed array as this key's value: add to it, close it, then go on with the next key."""
        self._key(key)
        return JsonArray(self.write, depth=1)

    def close(self) -> None:
        self.write("\n}\n" if self.count else "{}\n")


class Spill:
    """Records kept on disk until the end of a run, then read back in the order they were added."""

    def __init__(self) -> None:
        self._file: IO[str] | None = None
        self.count = 0

    def add(self, record: Any) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 (closed by close())
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count += 1

    def __iter__(self) -> Iterator[Any]:
        if self._file is None:
            return
        self._file.seek(0)
        for line in self._file:
            yield json.loads(line)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
