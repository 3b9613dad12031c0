"""Read a request document (docs/requests.md, docs/request.schema.json) into ground facts, as data.

The loader checks types and enumerations, keeps "absent" (no fact) apart from "documented as not"
(a fact with false, negative or an empty list), and normalizes names so that the kb can match them
case-insensitively. It never turns a value into program text: facts are tuples handed to
`pyDatalog.assert_fact`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import inputs
from .escape import one_line, shown
from .inputs import STDIN, InputError
from .names import split_entry

Fact = tuple[Any, ...]

LINES_OF_BUSINESS = ("commercial", "medicaid", "marketplace")
REQUEST_TYPES = ("initial", "continuation")
DISEASE_STATES = ("locally_advanced", "advanced", "metastatic", "recurrent", "recurrent_after_resection")
KRAS_RESULTS = ("positive", "negative")
KRAS_TESTS = ("fda_approved", "other")
PRODUCTS = ("lumakras", "sotorasib")
HISTOLOGIES = ("adenocarcinoma", "squamous_cell", "small_cell", "neuroendocrine", "other")


class RequestError(Exception):
    """A request that cannot be read: names the file and the field (REQUESTS.md, "Bad input").

    `field` and `message` are those of the first problem; `problems` holds every problem found in the file
    (the first one included), each a RequestError whose str() is one line "FILE: FIELD: message".
    """

    def __init__(self, source: str, field_name: str, message: str) -> None:
        text = f"{source}: {field_name}: {message}" if field_name else f"{source}: {message}"
        super().__init__(one_line(text))
        self.source, self.field, self.message = source, field_name, message
        self.problems: list[RequestError] = [self]

    def __reduce__(self) -> tuple[type[RequestError], tuple[str, str, str], dict[str, Any]]:
        """Pickled by its three parts and every problem (answers made in another process: decide --jobs,
        impact's old kb)."""
        return (RequestError, (self.source, self.field, self.message), {"problems": self.problems})




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
    # drug lists: field path -> {entry (name key): the string as written}, for the entries to split
    texts: dict[str, dict[str, str]] = field(default_factory=dict)
    # drug lists: field path -> {entry (name key): kind (name key)}, for entries written {name, kind}
    kinds: dict[str, dict[str, str]] = field(default_factory=dict)
    # a request read from FHIR (core/fhir/): field path -> {entry name key, or "" for the field: the resource
    # and code it came from}, and the resources read and left out, with why
    sources: dict[str, dict[str, str]] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)

    def facts(self, rid: int, aliases: Mapping[tuple[str, Any], Any] | None = None,
              known: Callable[[str], bool] | None = None) -> list[Fact]:
        """The ground facts of this request about the internal request number `rid`.

        `aliases` is the kb's value_alias table, (field, written) -> canonical value. `known` tells whether a
        name key is a name the kb knows (KnowledgeBase.known_names); with it, each string entry of a drug list
        is split into its parts (names.split_entry), without it each entry is its own only part.
        """
        aliases = aliases or {}
        out: list[Fact] = [("request", rid), ("request_date", rid, date_number(self.date))]
        out += [("value", rid, name, aliases.get((name, value), value)) for name, value in self.scalars.items()]
        for name, entries in self.lists.items():
            out.append(("listed", rid, name))
            drugs = FIELD_TYPES.get(name, ("",))[0] == "names"
            kinds = self.kinds.get(name, {})
            for entry in dict.fromkeys(entries):
                out.append(("item", rid, name, entry))
                if entry in kinds:
                    out.append(("item_kind", rid, name, entry, kinds[entry]))
                elif drugs:
                    out += [("item_part", rid, name, entry, part) for part in self.parts(name, entry, known)]
        # what the request does not give, as facts: rules read "not documented" without a negation, which
        # costs pyDatalog a subquery per criterion (a quarter of the leaf query when it was ~documented)
        out += [("omitted", rid, name) for name in FIELD_TYPES if name not in self.scalars and name not in self.lists]
        return out

    def parts(self, field_name: str, entry: str, known: Callable[[str], bool] | None = None) -> list[str]:
        """The parts (name keys) of one drug-list entry. An entry the request did not write as a string (a
        list built by other code), or any entry when `known` is None, is its own only part. The parts'
        spellings are kept in `written`, so that explanations show them as the request wrote them."""
        text = self.texts.get(field_name, {}).get(entry)
        if text is None or known is None:
            return [entry]
        keys = []
        for piece in split_entry(text, known):
            key = name_key(piece)
            self.written.setdefault(key, piece)
            keys.append(key)
        return keys

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


def nearest(word: str, choices: Iterable[str], limit: int = 2) -> list[str]:
    """The choices closest to a misspelt word (a field name, an enumeration value), best first; none when
    nothing is close. A suggestion only: the request is still rejected."""
    from rapidfuzz import fuzz, process, utils  # lazily: a clean request never needs it

    found = process.extract(word, list(dict.fromkeys(choices)), scorer=fuzz.WRatio, processor=utils.default_process,
                            limit=limit + 1, score_cutoff=75)
    if not found:
        return []
    best = found[0][1]
    return [choice for choice, score, _ in found if score >= best - 5][:limit]


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = nearest(word, choices)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


# --------------------------------------------------------------------------------------------------------
# Field specifications
# --------------------------------------------------------------------------------------------------------

_UNKNOWN = "unknown field{hint} (see docs/requests.md; own fields may start with x_)"


class _Reader:
    """Reads one document. Each reading method raises RequestError with the field's dotted path; `attempt`
    records that problem and goes on, so that one pass finds every problem of the file."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[RequestError] = []

    def fail(self, path: str, message: str) -> RequestError:
        return RequestError(self.source, path, message)

    def note(self, path: str, message: str) -> None:
        self.problems.append(self.fail(path, message))

    def attempt(self, read: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """read(*args, **kwargs), or _BAD with its problem recorded."""
        try:
            return read(*args, **kwargs)
        except RequestError as exc:
            self.problems.extend(exc.problems)
            return _BAD

    def mapping(self, value: Any, path: str) -> dict[str, Any]:
        """A mapping's text-named fields; a field name that is not text is a problem (and is skipped)."""
        if not isinstance(value, Mapping):
            raise self.fail(path, f"must be a mapping of fields, got {_kind(value)}")
        fields = {}
        for key, item in value.items():
            if isinstance(key, str):
                fields[key] = item
            else:
                self.note(path, f"field names must be text, got {shown(key)}")
        return fields

    def unknown(self, path: str, key: str, known: Iterable[str]) -> None:
        self.note(path, _UNKNOWN.format(hint=_did_you_mean(key, known)))

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
            raise self.fail(path, f"must be one of {', '.join(choices)}; got {shown(value)}"
                                  f"{_did_you_mean(text, choices)}")
        return text

    def choices(self, value: Any, path: str, choices: tuple[str, ...]) -> list[str]:
        """One choice or a list of them; each bad entry is its own problem."""
        entries = value if isinstance(value, list) else [value]
        read = [self.attempt(self.choice, x, f"{path}[{i}]", choices) for i, x in enumerate(entries)]
        return [x for x in read if x is not _BAD]

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, f"must be true or false, got {shown(value)}")
        return value

    def number(self, value: Any, path: str, *, positive: bool = False, whole: bool = False) -> int | float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise self.fail(path, f"must be a number, got {shown(value)}")
        if value in (float("inf"), float("-inf")):
            raise self.fail(path, f"must be a finite number, got {shown(value)}")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if whole and not isinstance(value, int):
            raise self.fail(path, f"must be a whole number, got {shown(value)}")
        if value < 0 or (positive and value == 0):
            raise self.fail(path, f"must be {'greater than 0' if positive else '0 or more'}, got {shown(value)}")
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
        raise self.fail(path, f"must be a date YYYY-MM-DD, got {shown(value)}")

    def names(self, value: Any, path: str) -> list[tuple[str, str | None]]:
        """A drug list: (name, kind) per entry, kind None for a string entry. Each bad entry is its own
        problem."""
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            hint = " (a drug written {name: ..., kind: ...} is an entry of a list)" if isinstance(value, Mapping) \
                else ""
            raise self.fail(path, f"must be a list of names, got {_kind(value)}{hint}")
        read = [self.attempt(self.entry, x, f"{path}[{i}]") for i, x in enumerate(value)]
        return [x for x in read if x is not _BAD]

    def entry(self, value: Any, path: str) -> Any:
        """A string, or a mapping with exactly the keys name and kind (REQUESTS.md); _BAD for a mapping with
        problems (recorded)."""
        if not isinstance(value, Mapping):
            return self.text(value, path), None
        before = len(self.problems)
        body = self.mapping(value, path)
        for key in body:
            if key not in _ENTRY_FIELDS:
                self.note(f"{path}.{key}", "unknown field (an entry written as a mapping has exactly name and kind)"
                          + _did_you_mean(key, _ENTRY_FIELDS))
        name, kind = (self.attempt(self._entry_field, body, path, key) for key in _ENTRY_FIELDS)
        return _BAD if len(self.problems) > before else (name, kind)

    def _entry_field(self, body: Mapping[str, Any], path: str, key: str) -> str:
        if body.get(key) is None:
            raise self.fail(f"{path}.{key}", "required (an entry written as a mapping has name and kind)")
        return self.text(body[key], f"{path}.{key}")


_BAD: Any = object()
_ENTRY_FIELDS = ("name", "kind")


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class FieldSpec:
    """One field of the request document: what it holds and how the loader reads it. The loader, FIELD_TYPES
    (what the abstraction of the request space reads), the JSON Schema (schema.py) and the template a
    person fills in are all made from this one table, so they cannot disagree.

    kind: id | date | payer (read on their own), whole | number (0 or more; `positive`: more than 0),
    text (matched as a token: lower case, spaces and hyphens as '_'), bool, choice (one of `choices`, written
    in any case, spaces or hyphens for '_'), choice_list (one choice or a list of them), names (a drug list:
    a string or a list of strings and {name, kind} entries)."""

    kind: str
    doc: str
    choices: tuple[str, ...] = ()
    positive: bool = False
    example: Any = None


FIELDS: dict[str, FieldSpec] = {
    "id": FieldSpec("id", "names the request in all output (required)", example="REQ-0001"),
    "date": FieldSpec("date", "the date of the request, YYYY-MM-DD (default: today)", example="2026-03-01"),
    "payer": FieldSpec("payer", "a payer of the kb (centene, cigna); the CLI's --payer overrides it",
                       example="centene"),
    "member.age": FieldSpec("whole", "age in years (or give member.birth_date)", example=64),
    "member.birth_date": FieldSpec("date", "birth date, YYYY-MM-DD: the age is computed on `date`",
                                   example="1961-05-02"),
    "diagnosis.condition": FieldSpec(
        "text", "the cancer: a condition, a synonym or an ICD-10-CM code (nsclc, colorectal, C34.90, ...)",
        example="nsclc"),
    "diagnosis.histology": FieldSpec("choice", "with an organ-level condition (lung cancer, C34.90): which cancer",
                                     HISTOLOGIES, example="adenocarcinoma"),
    "diagnosis.disease_state": FieldSpec("choice_list", "zero or more disease states", DISEASE_STATES,
                                         example=["metastatic"]),
    "diagnosis.kras_g12c": FieldSpec("choice", "the KRAS G12C mutation", KRAS_RESULTS, example="positive"),
    "diagnosis.kras_test": FieldSpec("choice", "how the mutation was determined", KRAS_TESTS,
                                     example="fda_approved"),
    "prescriber.specialty": FieldSpec("text", "free text: oncology, medical oncology, pulmonology, ...",
                                      example="oncology"),
    "prescriber.oncologist_consulted": FieldSpec("bool", "prescribed in consultation with an oncologist",
                                                 example=True),
    "medication.product": FieldSpec("choice", "the brand or the generic", PRODUCTS, example="lumakras"),
    "medication.dose_mg_per_day": FieldSpec("number", "the dose asked for, mg per day", positive=True,
                                            example=960),
    "medication.with": FieldSpec("names", "anticancer drugs prescribed together with sotorasib ([] = documented "
                                          "monotherapy)", example=[]),
    "medication.dose_evidence": FieldSpec("bool", "guideline or peer-reviewed support for the dose was submitted",
                                          example=False),
    "medication.generic_unsuitable": FieldSpec("bool", "generic sotorasib is contraindicated or caused clinically "
                                                       "significant adverse effects", example=False),
    "continuation.via_plan_benefit": FieldSpec("bool", "currently receiving sotorasib through this payer's "
                                                       "benefit", example=True),
    "continuation.days_on_therapy": FieldSpec("whole", "how long the member has received sotorasib, in days",
                                              example=45),
    "continuation.responding": FieldSpec("bool", "the member is responding positively to therapy", example=True),
    "continuation.new_dose_mg_per_day": FieldSpec("number", "present only when the request is a dose increase",
                                                  positive=True, example=1200),
    "line_of_business": FieldSpec("choice", "the member's line of business (marketplace: Centene's HIM)",
                                  LINES_OF_BUSINESS, example="medicaid"),
    "request_type": FieldSpec("choice", "initial or continuation (default: initial)", REQUEST_TYPES,
                              example="initial"),
    "requested_months": FieldSpec("whole", "the duration asked for, in months", positive=True, example=12),
    "prior_therapies": FieldSpec("names", "systemic anticancer drugs or regimens received before",
                                 example=["carboplatin", "pemetrexed", "pembrolizumab"]),
    "intolerant_to": FieldSpec("names", "drugs or classes the member cannot tolerate (a class covers its members)",
                               example=[]),
    "unable_to_tolerate_combination": FieldSpec("bool", "the prescriber attests the member cannot tolerate "
                                                        "combination therapy", example=False),
}

_OWN_READING = ("id", "date", "payer")  # kinds read by parse_request itself, not by store()
# The sections (member, diagnosis, ...) and the fields of each, in the table's order.
SECTIONS: dict[str, list[str]] = {}
for _path in FIELDS:
    if "." in _path:
        _section, _name = _path.split(".", 1)
        SECTIONS.setdefault(_section, []).append(_name)

# What each field holds, as the abstraction of the request space (abstraction.py) needs to know it:
# (kind, choices), kind one of whole | number (> 0) | text | bool | choice | choice_list | names.
FIELD_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    path: (spec.kind, spec.choices) for path, spec in FIELDS.items() if spec.kind not in (*_OWN_READING, "date")}

TOP_FIELDS = {path for path in FIELDS if "." not in path} | set(SECTIONS)  # what a request's top level may hold


def _read(r: _Reader, spec: FieldSpec, value: Any, path: str) -> Any:
    """A field's value as its spec reads it (RequestError naming `path` when it cannot)."""
    if spec.kind in ("whole", "number"):
        return r.number(value, path, positive=spec.positive, whole=spec.kind == "whole")
    if spec.kind == "text":
        return token_key(r.text(value, path))
    if spec.kind == "bool":
        return r.boolean(value, path)
    if spec.kind == "choice":
        return r.choice(value, path, spec.choices)
    if spec.kind == "choice_list":
        return r.choices(value, path, spec.choices)
    if spec.kind == "date":
        return r.date(value, path)
    raise AssertionError(f"{path}: a field of kind {spec.kind} is read by parse_request")


def _is_extension(key: str) -> bool:
    """Fields a user may add for their own use (x_..., x-...): carried, never read by the rules."""
    return key.startswith(("x_", "x-"))


def parse_request(doc: Any, source: str, payers: tuple[str, ...] = ("centene", "cigna"),
                  today: dt.date | None = None) -> Request:
    """Validate a parsed document and build the Request.

    Every problem the file has is found in one pass (unknown fields at any level, wrong types, unknown
    values, bad dates, age and birth date disagreeing, bad list entries); if there is any, one RequestError
    is raised: its field and message are the first problem's, its `problems` all of them, in the order of
    the document (a missing id first).
    """
    r = _Reader(source)
    doc = r.mapping(doc, "(document)")
    if doc.get("id") is None:
        r.note("id", "required field is missing")
    req = Request(id="", source=source, date=today or dt.date.today(), payer=None)
    date_ok = doc.get("date") is None
    born: Any = _BAD

    def store(path: str, value: Any) -> None:
        spec = FIELDS[path]
        if spec.kind not in ("names", "choice_list"):
            read = r.attempt(_read, r, spec, value, path)
            if read is not _BAD:
                req.scalars[path] = read
        elif spec.kind == "choice_list":
            read = r.attempt(_read, r, spec, value, path)
            if read is not _BAD:
                req.lists[path] = read
        else:
            entries = r.attempt(r.names, value, path)
            if entries is _BAD:
                return
            keys = []
            for written, kind_written in entries:
                key = name_key(written)
                keys.append(key)
                req.written.setdefault(key, written.strip())
                if kind_written is None:
                    req.texts.setdefault(path, {}).setdefault(key, written.strip())
                else:
                    req.kinds.setdefault(path, {})[key] = name_key(kind_written)
                    req.written.setdefault(name_key(kind_written), kind_written.strip())
            req.lists[path] = keys

    for key, value in doc.items():
        if value is None and key in TOP_FIELDS:
            continue
        if key == "id":
            req.id = r.attempt(r.text, value, "id")
        elif key == "date":
            day = r.attempt(r.date, value, "date")
            if day is not _BAD:
                req.date, date_ok = day, True
        elif key == "payer":
            req.payer = r.attempt(_payer, r, value, payers)
        elif key in FIELDS and "." not in key:
            store(key, value)
        elif key in SECTIONS:
            body = r.attempt(r.mapping, value, key)
            if body is _BAD:
                continue
            fields = SECTIONS[key]
            for name, item in body.items():
                path = f"{key}.{name}"
                if name not in fields:
                    if not _is_extension(name):
                        r.unknown(path, name, fields)
                elif item is None:
                    continue
                elif name == "birth_date":
                    born = r.attempt(r.date, item, path)
                else:
                    store(path, item)
            if key == "diagnosis" and "diagnosis.condition" in req.scalars:
                req.written.setdefault(req.scalars["diagnosis.condition"], str(body["condition"]).strip())
            if key == "prescriber" and "prescriber.specialty" in req.scalars:
                req.written.setdefault(req.scalars["prescriber.specialty"], str(body["specialty"]).strip())
        elif not _is_extension(key):
            r.unknown(key, key, sorted(TOP_FIELDS))
    if born is not _BAD and date_ok:
        r.attempt(_age_from_birth_date, r, req, born)
    if r.problems:
        first = r.problems[0]
        first.problems = list(r.problems)
        raise first
    req.scalars.setdefault("request_type", "initial")
    return req


def _payer(r: _Reader, value: Any, payers: tuple[str, ...]) -> str:
    written = token_key(r.text(value, "payer"))
    if written not in payers:
        raise r.fail("payer", f"unknown payer {shown(value)}{_did_you_mean(written, payers)}; the kb has "
                              f"{', '.join(payers)} (a payer kept outside kb/ is loaded with --kb kb --kb ITS_FOLDER)")
    return written


def _age_from_birth_date(r: _Reader, req: Request, born: dt.date) -> None:
    if born > req.date:
        raise r.fail("member.birth_date", f"is after the request date {req.date.isoformat()}")
    age = req.date.year - born.year - ((req.date.month, req.date.day) < (born.month, born.day))
    if "member.age" in req.scalars and req.scalars["member.age"] != age:
        raise r.fail("member.age", f"is {req.scalars['member.age']} but member.birth_date gives {age} "
                                   f"on {req.date.isoformat()}")
    req.scalars["member.age"] = age
    req.notes["member.age"] = f"born {born.isoformat()}, on {req.date.isoformat()}"


REQUEST_SUFFIXES = (".yaml", ".yml", ".json")


def request_files(paths: Iterable[Path]) -> list[Path]:
    """The request files named, with a folder standing for the .yaml, .yml and .json files under it (in
    order) and - for standard input. Every path named is kept, so that each is answered or reported (one
    that does not exist, or a folder with no request file, too); a file a folder holds is taken once, even
    when another folder named holds it too."""
    out: list[Path] = []
    found: set[Path] = set()
    for p in paths:
        if p.is_dir():
            inside = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in REQUEST_SUFFIXES)
            out += [q for q in inside if q.resolve() not in found] if inside else [p]  # none: reported
            found |= {q.resolve() for q in inside}
        else:
            out.append(p)
    return out


def read_document(path: Path) -> Any:
    """Parse a YAML or JSON request file through the input boundary (lumakras_logic/core/inputs.py); raise
    RequestError for what cannot be read."""
    source = str(path)
    if source != STDIN and path.is_dir():
        raise RequestError(source, "", "a folder with no request file (.yaml, .yml or .json) in it")
    if source != STDIN and path.suffix.lower() not in REQUEST_SUFFIXES:
        raise RequestError(source, "", "a request is a .yaml, .yml or .json file")
    try:
        return inputs.read_document(path)
    except InputError as exc:
        raise RequestError(exc.source, exc.field, exc.message) from None


def read_body(data: bytes, source: str, is_json: bool | None = None, bound: inputs.Limits | None = None) -> Any:
    """A request document sent as bytes (the local service's request body or upload), through the same
    boundary as a file (lumakras_logic/core/inputs.py), within `bound` (default: the process's limits);
    RequestError for what cannot be read."""
    try:
        return inputs.read_bytes_document(data, source, is_json, bound)
    except InputError as exc:
        raise RequestError(exc.source, exc.field, exc.message) from None


def parse_document(doc: Any, source: str, payers: tuple[str, ...] = ("centene", "cigna"),
                   today: dt.date | None = None, kb: Any = None) -> Request:
    """A parsed request document, or a FHIR R4 Bundle or QuestionnaireResponse (docs/fhir.md) read with the
    code tables of `kb` (a KnowledgeBase; the FHIR reader is imported only for FHIR input)."""
    if isinstance(doc, Mapping) and "resourceType" in doc:
        from .fhir.bundle import request_from_fhir

        return request_from_fhir(doc, source, payers, today, kb)
    return parse_request(doc, source, payers, today)


def load_request(path: Path, payers: tuple[str, ...] = ("centene", "cigna"),
                 today: dt.date | None = None, kb: Any = None) -> Request:
    """Read and validate one request file: a request document, or FHIR (with `kb`'s code tables)."""
    return parse_document(read_document(path), str(path), payers, today, kb)
