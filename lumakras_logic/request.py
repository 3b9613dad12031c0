"""Read a request document (../shared/spec/REQUESTS.md) into ground facts, as data.

The loader checks types and enumerations, keeps "absent" (no fact) apart from "documented as not"
(a fact with false, negative or an empty list), and normalizes names so that the kb can match them
case-insensitively. It never turns a value into program text: facts are tuples handed to
`pyDatalog.assert_fact`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Fact = tuple[Any, ...]

LINES_OF_BUSINESS = ("commercial", "medicaid", "marketplace")
REQUEST_TYPES = ("initial", "continuation")
DISEASE_STATES = ("locally_advanced", "advanced", "metastatic", "recurrent", "recurrent_after_resection")
KRAS_RESULTS = ("positive", "negative")
KRAS_TESTS = ("fda_approved", "other")
PRODUCTS = ("lumakras", "sotorasib")


class RequestError(Exception):
    """A request that cannot be read: names the file and the field (REQUESTS.md, "Bad input")."""

    def __init__(self, source: str, field_name: str, message: str) -> None:
        text = f"{source}: {field_name}: {message}" if field_name else f"{source}: {message}"
        super().__init__(_one_line(text))
        self.source, self.field, self.message = source, field_name, message


def _one_line(text: str) -> str:
    """An error is one line: control characters from a file name or a field name are shown escaped."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class _Loader(yaml.SafeLoader):
    """Safe YAML that keeps dates as text: the reader checks them and names the field when one is wrong
    (PyYAML's own timestamp constructor fails on 2026-02-30 with no word of where)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class Request:
    """A request as the engine sees it: its id, its facts and how its names were written."""

    id: str
    source: str
    date: dt.date
    payer: str | None
    scalars: dict[str, Any] = field(default_factory=dict)  # field path -> value (normalized)
    lists: dict[str, list[str]] = field(default_factory=dict)  # field path -> entries (normalized)
    written: dict[str, str] = field(default_factory=dict)  # normalized name -> as the request wrote it
    notes: dict[str, str] = field(default_factory=dict)  # field path -> how a value was derived

    def facts(self, rid: int, aliases: Mapping[tuple[str, Any], Any] | None = None) -> list[Fact]:
        """The ground facts of this request about the internal request number `rid`.

        `aliases` is the kb's value_alias table, (field, written) -> canonical value.
        """
        aliases = aliases or {}
        out: list[Fact] = [("request", rid), ("request_date", rid, date_number(self.date))]
        out += [("value", rid, name, aliases.get((name, value), value)) for name, value in self.scalars.items()]
        for name, entries in self.lists.items():
            out.append(("listed", rid, name))
            out += [("item", rid, name, entry) for entry in dict.fromkeys(entries)]
        return out

    def display(self, value: Any) -> str:
        """A value as the request wrote it (names are matched lower-case, shown as written)."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return self.written.get(value, value)
        return str(value)


def date_number(day: dt.date) -> int:
    """A date as the whole number YYYYMMDD, the form kb/ compares."""
    return day.year * 10000 + day.month * 100 + day.day


def name_key(text: str) -> str:
    """A drug or regimen name as the vocabulary matches it: lower-case, single spaces."""
    return re.sub(r"\s+", " ", text.strip().lower())


def token_key(text: str) -> str:
    """An enumeration-like value (condition, specialty): lower-case, spaces and hyphens as '_'."""
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


# --------------------------------------------------------------------------------------------------------
# Field specifications
# --------------------------------------------------------------------------------------------------------


class _Reader:
    """Reads one document, raising RequestError with the field's dotted path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, message: str) -> RequestError:
        return RequestError(self.source, path, message)

    def mapping(self, value: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(path, f"must be a mapping of fields, got {_kind(value)}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(path, f"field names must be text, got {key!r}")
        return value

    def text(self, value: Any, path: str) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.fail(path, f"must be text, got {_kind(value)}")
        text = str(value)
        if not text.strip():
            raise self.fail(path, "must not be empty")
        return text

    def choice(self, value: Any, path: str, choices: tuple[str, ...]) -> str:
        text = token_key(self.text(value, path))
        if text not in choices:
            raise self.fail(path, f"must be one of {', '.join(choices)}; got {value!r}")
        return text

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, f"must be true or false, got {value!r}")
        return value

    def number(self, value: Any, path: str, *, positive: bool = False, whole: bool = False) -> int | float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise self.fail(path, f"must be a number, got {value!r}")
        if value in (float("inf"), float("-inf")):
            raise self.fail(path, f"must be a finite number, got {value!r}")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if whole and not isinstance(value, int):
            raise self.fail(path, f"must be a whole number, got {value!r}")
        if value < 0 or (positive and value == 0):
            raise self.fail(path, f"must be {'greater than 0' if positive else '0 or more'}, got {value!r}")
        return value

    def date(self, value: Any, path: str) -> dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            for parse in (dt.date.fromisoformat, lambda text: dt.datetime.fromisoformat(text).date()):
                try:
                    return parse(value.strip())
                except ValueError:
                    pass
        raise self.fail(path, f"must be a date YYYY-MM-DD, got {value!r}")

    def names(self, value: Any, path: str) -> list[str]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.fail(path, f"must be a list of names, got {_kind(value)}")
        return [self.text(entry, f"{path}[{i}]") for i, entry in enumerate(value)]


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


# (section, field) -> how to read it and store it: kind is 'scalar' or 'list'
_Spec = tuple[str, Callable[[_Reader, Any, str], Any]]

_SECTION_FIELDS: dict[str, dict[str, _Spec]] = {
    "member": {
        "age": ("scalar", lambda r, v, p: r.number(v, p, whole=True)),
        "birth_date": ("special", lambda r, v, p: r.date(v, p)),
    },
    "diagnosis": {
        "condition": ("scalar", lambda r, v, p: token_key(r.text(v, p))),
        "disease_state": ("list", lambda r, v, p: [r.choice(x, f"{p}[{i}]", DISEASE_STATES)
                                                   for i, x in enumerate(v if isinstance(v, list) else [v])]),
        "kras_g12c": ("scalar", lambda r, v, p: r.choice(v, p, KRAS_RESULTS)),
        "kras_test": ("scalar", lambda r, v, p: r.choice(v, p, KRAS_TESTS)),
    },
    "prescriber": {
        "specialty": ("scalar", lambda r, v, p: token_key(r.text(v, p))),
        "oncologist_consulted": ("scalar", lambda r, v, p: r.boolean(v, p)),
    },
    "medication": {
        "product": ("scalar", lambda r, v, p: r.choice(v, p, PRODUCTS)),
        "dose_mg_per_day": ("scalar", lambda r, v, p: r.number(v, p, positive=True)),
        "with": ("names", None),
        "dose_evidence": ("scalar", lambda r, v, p: r.boolean(v, p)),
        "generic_unsuitable": ("scalar", lambda r, v, p: r.boolean(v, p)),
    },
    "continuation": {
        "via_plan_benefit": ("scalar", lambda r, v, p: r.boolean(v, p)),
        "days_on_therapy": ("scalar", lambda r, v, p: r.number(v, p, whole=True)),
        "responding": ("scalar", lambda r, v, p: r.boolean(v, p)),
        "new_dose_mg_per_day": ("scalar", lambda r, v, p: r.number(v, p, positive=True)),
    },
}

_TOP_FIELDS: dict[str, _Spec] = {
    "line_of_business": ("scalar", lambda r, v, p: r.choice(v, p, LINES_OF_BUSINESS)),
    "request_type": ("scalar", lambda r, v, p: r.choice(v, p, REQUEST_TYPES)),
    "requested_months": ("scalar", lambda r, v, p: r.number(v, p, positive=True, whole=True)),
    "prior_therapies": ("names", None),
    "intolerant_to": ("names", None),
    "unable_to_tolerate_combination": ("scalar", lambda r, v, p: r.boolean(v, p)),
}

# What each field holds, as the abstraction of the request space (abstraction.py) needs to know it:
# (kind, choices), kind one of whole | number (> 0) | text | bool | choice | choice_list | names.
FIELD_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "member.age": ("whole", ()),
    "diagnosis.condition": ("text", ()),
    "diagnosis.disease_state": ("choice_list", DISEASE_STATES),
    "diagnosis.kras_g12c": ("choice", KRAS_RESULTS),
    "diagnosis.kras_test": ("choice", KRAS_TESTS),
    "prescriber.specialty": ("text", ()),
    "prescriber.oncologist_consulted": ("bool", ()),
    "medication.product": ("choice", PRODUCTS),
    "medication.dose_mg_per_day": ("number", ()),
    "medication.with": ("names", ()),
    "medication.dose_evidence": ("bool", ()),
    "medication.generic_unsuitable": ("bool", ()),
    "continuation.via_plan_benefit": ("bool", ()),
    "continuation.days_on_therapy": ("whole", ()),
    "continuation.responding": ("bool", ()),
    "continuation.new_dose_mg_per_day": ("number", ()),
    "line_of_business": ("choice", LINES_OF_BUSINESS),
    "request_type": ("choice", REQUEST_TYPES),
    "requested_months": ("whole", ()),
    "prior_therapies": ("names", ()),
    "intolerant_to": ("names", ()),
    "unable_to_tolerate_combination": ("bool", ()),
}

_HANDLED_TOP = {"id", "date", "payer", *(_SECTION_FIELDS), *(_TOP_FIELDS)}


def _is_extension(key: str) -> bool:
    """Fields a user may add for their own use (x_..., x-...): carried, never read by the rules."""
    return key.startswith(("x_", "x-"))


def parse_request(doc: Any, source: str, payers: tuple[str, ...] = ("centene", "cigna"),
                  today: dt.date | None = None) -> Request:
    """Validate a parsed document and build the Request; raise RequestError naming the field."""
    r = _Reader(source)
    doc = r.mapping(doc, "(document)")
    for key in doc:
        if key not in _HANDLED_TOP and not _is_extension(key):
            raise r.fail(key, "unknown field (see REQUESTS.md; own fields may start with x_)")
    if doc.get("id") is None:
        raise r.fail("id", "required field is missing")
    rid = r.text(doc["id"], "id")
    day = r.date(doc["date"], "date") if doc.get("date") is not None else (today or dt.date.today())
    payer = None
    if doc.get("payer") is not None:
        written = token_key(r.text(doc["payer"], "payer"))
        if written not in payers:
            raise r.fail("payer", f"unknown payer {doc['payer']!r}; the kb has {', '.join(payers)} "
                                  "(a payer kept outside kb/ is loaded with --kb kb --kb ITS_FOLDER)")
        payer = written
    req = Request(id=rid, source=source, date=day, payer=payer)

    def store(path: str, kind: str, reader: Callable[[_Reader, Any, str], Any] | None, value: Any) -> None:
        if kind == "scalar":
            req.scalars[path] = reader(r, value, path)  # type: ignore[misc]
        elif kind == "list":
            req.lists[path] = reader(r, value, path)  # type: ignore[misc]
        elif kind == "names":
            entries = r.names(value, path)
            keys = [name_key(e) for e in entries]
            req.lists[path] = keys
            for key, entry in zip(keys, entries, strict=True):
                req.written.setdefault(key, entry.strip())

    for key, (kind, reader) in _TOP_FIELDS.items():
        if doc.get(key) is not None:
            store(key, kind, reader, doc[key])
    for section, fields in _SECTION_FIELDS.items():
        if doc.get(section) is None:
            continue
        body = r.mapping(doc[section], section)
        for key in body:
            if key not in fields and not _is_extension(key):
                raise r.fail(f"{section}.{key}", "unknown field (see REQUESTS.md; own fields may start with x_)")
        for key, (kind, reader) in fields.items():
            if body.get(key) is None or kind == "special":
                continue
            store(f"{section}.{key}", kind, reader, body[key])
        if section == "member" and body.get("birth_date") is not None:
            _age_from_birth_date(r, req, body["birth_date"])
        if section == "diagnosis" and "diagnosis.condition" in req.scalars:
            req.written.setdefault(req.scalars["diagnosis.condition"], r.text(body["condition"], "").strip())
        if section == "prescriber" and "prescriber.specialty" in req.scalars:
            req.written.setdefault(req.scalars["prescriber.specialty"], r.text(body["specialty"], "").strip())
    req.scalars.setdefault("request_type", "initial")
    return req


def _age_from_birth_date(r: _Reader, req: Request, value: Any) -> None:
    born = r.date(value, "member.birth_date")
    if born > req.date:
        raise r.fail("member.birth_date", f"is after the request date {req.date.isoformat()}")
    age = req.date.year - born.year - ((req.date.month, req.date.day) < (born.month, born.day))
    if "member.age" in req.scalars and req.scalars["member.age"] != age:
        raise r.fail("member.age", f"is {req.scalars['member.age']} but member.birth_date gives {age} "
                                   f"on {req.date.isoformat()}")
    req.scalars["member.age"] = age
    req.notes["member.age"] = f"born {born.isoformat()}, on {req.date.isoformat()}"


def read_document(path: Path) -> Any:
    """Parse a YAML or JSON file; raise RequestError for what cannot be read."""
    source = str(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise RequestError(source, "", "a request is a .yaml, .yml or .json file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RequestError(source, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RequestError(source, "", f"cannot read: {exc.__class__.__name__}") from None
    try:
        if suffix == ".json":
            return json.loads(text)
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except json.JSONDecodeError as exc:
        raise RequestError(source, "", f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise RequestError(source, "", f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None


def load_request(path: Path, payers: tuple[str, ...] = ("centene", "cigna"),
                 today: dt.date | None = None) -> Request:
    """Read and validate one request file."""
    return parse_request(read_document(path), str(path), payers, today)
