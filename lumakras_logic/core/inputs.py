"""The one boundary for what is read from outside: request files, case files, kb files and queries.

Everything the tool reads passes through here first, so that every way a file can be wrong ends as one
line naming the file, the field and what is wrong (InputError), never as a traceback, a hang or a
runaway of memory:

- only a regular file, or standard input: a FIFO, a device or a folder is refused without being opened;
- at most `max_bytes` per file, read with that bound (a link to /dev/zero is never read past it);
- YAML: safe tags only, no duplicate key, nesting at most `max_depth`, at most `max_nodes` nodes counted
  with every alias expanded (an alias bomb is refused before anything walks it); dates stay text (the
  request reader checks them and names the field);
- JSON: no duplicate key, no NaN or Infinity, nesting at most `max_depth`;
- then the document: lists of at most `max_items`, strings of at most `max_string` characters, numbers of
  at most `max_digits` digits, no NaN or infinity; each violation names its field path.

Every value shown in a message is shortened and has its control characters escaped (`shown`). The limits
are far above any real request; the CLI's `--max-*` options raise them.
"""

from __future__ import annotations

import json
import math
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .escape import one_line, shown

STDIN = "-"


@dataclass(frozen=True)
class Limits:
    """Bounds on one input; defaults a real request never reaches."""

    max_bytes: int = 2_000_000
    max_depth: int = 40
    max_nodes: int = 200_000
    max_items: int = 10_000
    max_string: int = 10_000
    max_digits: int = 30


DEFAULT = Limits()
_current = DEFAULT


def set_limits(limits: Limits) -> None:
    """The limits for this process (the CLI's --max-* options)."""
    global _current
    _current = limits


def limits() -> Limits:
    return _current


class InputError(Exception):
    """What is wrong with an input, as one line: 'SOURCE: FIELD: message'."""

    def __init__(self, source: str, field: str, message: str) -> None:
        self.source, self.field, self.message = source, field, message
        super().__init__(one_line(f"{source}: {field + ': ' if field else ''}{message}"))


# ---------------------------------------------------------------------------------------------------------
# Bytes
# ---------------------------------------------------------------------------------------------------------
def read_bytes(path: Path | str, bound: Limits | None = None) -> bytes:
    """The bytes of a regular file, or of standard input for '-', at most max_bytes."""
    bound = bound or _current
    source = str(path)
    if source == STDIN:
        data = sys.stdin.buffer.read(bound.max_bytes + 1)
    else:
        try:
            mode = os.stat(source).st_mode  # follows links: a link to a device is a device
        except FileNotFoundError:
            raise InputError(source, "", "no such file") from None
        except OSError as exc:
            raise InputError(source, "", f"cannot read: {exc.strerror or exc.__class__.__name__}") from None
        if stat.S_ISDIR(mode):
            raise InputError(source, "", "is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise InputError(source, "", "not a regular file (a pipe, socket or device is not read)")
        try:
            with open(source, "rb") as handle:
                data = handle.read(bound.max_bytes + 1)
        except OSError as exc:
            raise InputError(source, "", f"cannot read: {exc.strerror or exc.__class__.__name__}") from None
    if len(data) > bound.max_bytes:
        raise InputError(source, "", f"larger than {bound.max_bytes:,} bytes (--max-bytes)")
    return data


def read_text(path: Path | str, bound: Limits | None = None) -> str:
    """A file's text, UTF-8."""
    return decode(read_bytes(path, bound), str(path))


def decode(data: bytes, source: str) -> str:
    """Bytes read from outside (a file, a request body) as UTF-8 text."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(source, "", f"not UTF-8 text (byte {exc.start})") from None


# ---------------------------------------------------------------------------------------------------------
# YAML and JSON
# ---------------------------------------------------------------------------------------------------------
class _Checks:
    """What both loaders check while constructing: a tagged value its constructor refuses in any way is a
    YAML error, and no key is given twice."""


    def construct_object(self, node: Any, deep: bool = False) -> Any:  # type: ignore[override]
        try:
            return super().construct_object(node, deep=deep)  # type: ignore[misc]
        except (yaml.YAMLError, RecursionError):
            raise
        except Exception as exc:  # noqa: BLE001 - a tagged value its constructor refuses, in any way
            raise yaml.MarkedYAMLError(problem=f"{node.tag.rsplit(':', 1)[-1]} {shown(node.value)}: "
                                               f"{shown(str(exc), 80)}", problem_mark=node.start_mark) from None

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:  # type: ignore[override]
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _value in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:  # an unhashable key: SafeConstructor names it
                    break
                if duplicate:
                    raise yaml.MarkedYAMLError(problem=f"key {shown(key)} given twice",
                                               problem_mark=key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc]


class _Loader(_Checks, yaml.SafeLoader):
    """Safe YAML with the boundary's checks: dates stay text, no duplicate key, bounded depth."""

    depth_limit = DEFAULT.max_depth

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        self._depth += 1
        try:
            if self._depth > self.depth_limit:
                mark = self.peek_event().start_mark
                raise yaml.MarkedYAMLError(problem=f"nested deeper than {self.depth_limit} levels (--max-depth)",
                                           problem_mark=mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

# libyaml, when PyYAML was built with it: it scans, parses and composes in C (about 8 times faster than the
# pure-Python loader on requests); the document is then constructed by the same Python constructor, so
# values, dates, duplicate keys and refusals are the same. A document it refuses is read again by the
# pure-Python loader for the very message that loader gives.
try:
    from yaml._yaml import CParser as _CParser  # type: ignore[import-not-found]
except ImportError:  # PyYAML built without libyaml
    _CParser = None
if _CParser is not None:
    class _CLoader(_Checks, _CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):  # type: ignore[misc]
        """libyaml's parser with _Loader's checks and resolvers."""

        yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

# The characters PyYAML's reader refuses (its message names the first one)
_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE
_STARTS = {yaml.MappingStartEvent, yaml.SequenceStartEvent}
_ENDS = {yaml.MappingEndEvent, yaml.SequenceEndEvent}


def _c_node(text: str, bound: Limits) -> Any:
    """The composed node of a document read by libyaml, or None when the pure-Python loader must read it
    (no libyaml, a character that loader refuses, deeper than the limit, anything libyaml refuses). The
    depth is measured on libyaml's events first (its event parser keeps its own stack, while composing
    recurses in C with no limit of its own)."""
    if _CParser is None or _NON_PRINTABLE.search(text):
        return None
    try:
        parser = _CParser(text)
        try:
            depth = 0
            while (event := parser.get_event()) is not None:
                kind = type(event)
                if kind in _STARTS:
                    depth += 1
                    if depth >= bound.max_depth:  # its values may be past the limit: the pure loader
                        return None               # counts them and says so
                elif kind in _ENDS:
                    depth -= 1
        finally:
            parser.dispose()
        loader = _CLoader(text)
        try:
            return loader, loader.get_single_node()
        except BaseException:
            loader.dispose()
            raise
    except (yaml.YAMLError, ValueError, RecursionError):
        return None


def _expanded_size(root: Any, bound: int) -> int:
    """Nodes of a composed YAML document with every alias expanded, counted without expanding (a node
    reached twice counts twice); stops past `bound`."""
    sizes: dict[int, int] = {}

    def size(node: Any, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if depth > 1000:  # only reached through a cycle of aliases
            return bound + 1
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                total += size(child, depth + 1)
                if total > bound:
                    break
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k, depth + 1) + size(v, depth + 1)
                if total > bound:
                    break
        sizes[key] = total
        return total

    return size(root, 0)


def load_yaml(text: str, source: str, bound: Limits | None = None, libyaml: bool = True) -> Any:
    """A YAML document as data, within the limits; read by libyaml when it can (and `libyaml`), and by the
    pure-Python loader otherwise, or when libyaml's reading fails in any way, so that every refusal is
    worded as that loader words it."""
    bound = bound or _current
    fast = _c_node(text, bound) if libyaml else None
    if fast is not None:
        loader, node = fast
        try:
            return _document(loader, node, source, bound)
        except Exception:  # noqa: BLE001 - refused: read again below, for the pure-Python loader's message
            pass
        finally:
            loader.dispose()
    loader = None
    try:
        loader = type("_BoundLoader", (_Loader,), {"depth_limit": bound.max_depth})(text)  # the reader
        return _document(loader, loader.get_single_node(), source, bound)  # checks the characters already
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(source, "", f"not valid YAML{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        first = (str(exc).splitlines() or [exc.__class__.__name__])[0]
        raise InputError(source, "", f"not valid YAML: {one_line(first)[:160]}") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a tagged value its constructor refuses
        raise InputError(source, "", f"not valid YAML: {shown(str(exc), 120)}") from None
    except RecursionError:
        raise InputError(source, "", "nested too deeply (--max-depth)") from None
    finally:
        if loader is not None:
            loader.dispose()


def _document(loader: Any, node: Any, source: str, bound: Limits) -> Any:
    """The document of a composed node, once its size and scalars are within the limits."""
    if node is None:
        return None
    if _expanded_size(node, bound.max_nodes) > bound.max_nodes:
        raise InputError(source, "", f"more than {bound.max_nodes:,} values once its aliases are expanded "
                                     "(--max-nodes)")
    _check_scalars(node, source, bound)
    return loader.construct_document(node)


_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


def _check_scalars(root: Any, source: str, bound: Limits) -> None:
    """Numbers of bounded size (Python refuses an int of over 4,300 digits only after reading it) and no
    string past max_string, before anything is constructed."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            text = node.value
            if node.tag in _NUMBER_TAGS and sum(ch.isdigit() for ch in text) > bound.max_digits:
                raise InputError(source, "", f"line {node.start_mark.line + 1}: a number of more than "
                                             f"{bound.max_digits} digits (--max-digits)")
            if len(text) > bound.max_string:
                raise InputError(source, "", f"line {node.start_mark.line + 1}: a value of {len(text):,} "
                                             f"characters, more than {bound.max_string:,} (--max-string)")
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack += [k, v]


def load_json(text: str, source: str, bound: Limits | None = None) -> Any:
    bound = bound or _current

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise InputError(source, "", f"not valid JSON: key {shown(key)} given twice")
            out[key] = value
        return out

    def constant(name: str) -> Any:
        raise InputError(source, "", f"not valid JSON: {name} is not a number a request can give")

    def number(text: str) -> Any:
        if sum(ch.isdigit() for ch in text) > bound.max_digits:
            raise InputError(source, "", f"a number of more than {bound.max_digits} digits (--max-digits)")
        return float(text) if any(ch in text for ch in ".eE") else int(text)

    depth = _json_depth(text)
    if depth > bound.max_depth:
        raise InputError(source, "", f"nested deeper than {bound.max_depth} levels (--max-depth)")
    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=constant, parse_int=number,
                          parse_float=number)
    except json.JSONDecodeError as exc:
        raise InputError(source, "", f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise InputError(source, "", "nested too deeply (--max-depth)") from None


def _json_depth(text: str) -> int:
    """The deepest nesting of brackets outside strings (a bound check before json parses recursively)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def read_document(path: Path | str, bound: Limits | None = None) -> Any:
    """A YAML or JSON document, checked against the limits: JSON by the suffix .json (on standard input, a
    text that starts with '{' or '['), else YAML."""
    bound = bound or _current
    source = str(path)
    text = read_text(path, bound)
    is_json = source.lower().endswith(".json") or (source == STDIN and looks_like_json(text))
    return parse_document_text(text, source, is_json, bound)


def looks_like_json(text: str) -> bool:
    """A text with no name to tell its kind (standard input, a pasted request) is JSON when it starts as
    JSON does; YAML otherwise (a JSON object is also YAML, but read as JSON its duplicate keys and numbers
    are JSON's)."""
    return text.lstrip()[:1] in ("{", "[")


def read_bytes_document(data: bytes, source: str, is_json: bool | None = None, bound: Limits | None = None) -> Any:
    """A YAML or JSON document sent as bytes (a request body, an upload), checked as a file is: at most
    max_bytes, UTF-8, then the limits of its kind. `is_json` None: by the name's suffix, else by the text."""
    bound = bound or _current
    if len(data) > bound.max_bytes:
        raise InputError(source, "", f"larger than {bound.max_bytes:,} bytes (--max-bytes)")
    text = decode(data, source)
    if is_json is None:
        is_json = source.lower().endswith(".json") or (
            not source.lower().endswith((".yaml", ".yml")) and looks_like_json(text))
    return parse_document_text(text, source, is_json, bound)


def parse_document_text(text: str, source: str, is_json: bool, bound: Limits | None = None) -> Any:
    """A document's text parsed as JSON or YAML, then checked against the limits."""
    bound = bound or _current
    doc = load_json(text, source, bound) if is_json else load_yaml(text, source, bound)
    check_document(doc, source, bound)
    return doc


def check_document(doc: Any, source: str, bound: Limits | None = None) -> None:
    """Lists, strings and numbers within the limits, no NaN or infinity; errors name the field path."""
    bound = bound or _current
    stack: list[tuple[Any, str, int]] = [(doc, "", 0)]
    seen: set[int] = set()
    while stack:
        value, where, depth = stack.pop()
        if depth > bound.max_depth:
            raise InputError(source, where, f"nested deeper than {bound.max_depth} levels (--max-depth)")
        if isinstance(value, (dict, list)):
            if id(value) in seen:  # a YAML alias: its value was checked where it first stood
                continue
            seen.add(id(value))
        if isinstance(value, dict):
            for key, item in value.items():
                stack.append((item, f"{where}.{key}" if where else str(key), depth + 1))
        elif isinstance(value, list):
            if len(value) > bound.max_items:
                raise InputError(source, where, f"a list of {len(value):,} entries, more than {bound.max_items:,} "
                                                "(--max-items)")
            stack += [(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
        elif isinstance(value, str):
            if len(value) > bound.max_string:
                raise InputError(source, where, f"a text of {len(value):,} characters, more than "
                                                f"{bound.max_string:,} (--max-string): {shown(value)}")
        elif isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            raise InputError(source, where, f"{value!r} is not a number a request can give")
