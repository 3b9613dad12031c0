"""Output written as it is made, so that a command's memory stays flat with the size of its batch.

`JsonArray` and `JsonObject` write the very text json.dumps(value, indent=2) would, piece by piece;
`Spill` keeps records that are written only at the end (an impact's unchanged cases, a test run's
failures) in a temporary file instead of in memory. Every piece goes through `json_safe`, so a request's
control characters are escaped there as in every other JSON the tool prints.
"""

from __future__ import annotations

import json
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from typing import IO, Any

from .escape import json_safe

Write = Callable[[str], Any]


def dumps(value: Any) -> str:
    """One value as the tool prints JSON: indented by 2, non-ASCII kept, control characters escaped."""
    return json_safe(json.dumps(value, indent=2, ensure_ascii=False))


class JsonArray:
    """Values written as one JSON array as they are made. At the top level (depth 0) the text is that of
    json.dumps(values, indent=2), and nothing at all when there is no value unless `close` is given what
    to write; inside a JsonObject (depth 1) it is the array as that object's value."""

    def __init__(self, write: Write, depth: int = 0) -> None:
        self.write, self.count, self.depth = write, 0, depth

    def add(self, value: Any) -> None:
        piece = textwrap.indent(dumps(value), "  " * (self.depth + 1))
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
        self.write(textwrap.indent(dumps(value), "  ")[2:])  # the first line follows the key

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
