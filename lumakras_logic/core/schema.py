"""The request document as a JSON Schema (draft 2020-12), made from the loader's own field table
(request.FIELDS), so that what the schema accepts is what the loader reads.

The schema says what each field may hold, as the loader reads it: an enumeration written in any case
with spaces or hyphens for '_' ("Locally advanced"), one choice where a list is expected, a single name
where a drug list is expected, null for "not given", `x_...` fields of the user's own. What it cannot
say, the loader still checks on its own: a birth date after the request date, an age that disagrees with
the birth date, duplicate keys and the size limits of the input boundary (docs/requests.md). A date is
YYYY-MM-DD in the schema (a validator must assert "format" to refuse 2026-02-30); the loader also reads
a date-time as its date and the other ISO 8601 forms Python reads, so the schema is the stricter there.
"""

from __future__ import annotations

import functools
import re
import sys
from typing import Any

from .request import FIELDS, SECTIONS, FieldSpec

SCHEMA_ID = "urn:lumakras-logic:schema:request"


@functools.cache
def _spaces() -> str:
    """Every character Python's str.strip() and the loader's [\\s-]+ treat as white space, as a class body."""
    return "".join(_escape(chr(c)) for c in range(sys.maxunicode + 1) if chr(c).isspace())


@functools.cache
def _cases() -> dict[str, str]:
    """For each lower-case letter or digit: every character whose lower() is that one character."""
    out: dict[str, list[str]] = {}
    for c in range(sys.maxunicode + 1):
        low = chr(c).lower()
        if len(low) == 1 and (low.isascii() and low.isalnum()):
            out.setdefault(low, []).append(chr(c))
    return {k: "".join(v) for k, v in out.items()}


def _escape(ch: str) -> str:
    return f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else ch


def token_pattern(choices: tuple[str, ...]) -> str:
    """A pattern for text whose token_key (request.token_key: stripped, lower case, runs of spaces and
    hyphens as '_') is one of `choices`: ECMA-262 syntax, as JSON Schema asks."""
    space = f"[{_spaces()}]"
    sep = f"(?:_|[{_spaces()}\\-]+)"
    cases = _cases()

    def word(w: str) -> str:
        return "".join(f"[{cases[ch]}]" if ch in cases and len(cases[ch]) > 1 else re.escape(ch) for ch in w)

    alternatives = [sep.join(word(w) for w in choice.split("_")) for choice in choices]
    return f"^{space}*(?:{'|'.join(alternatives)}){space}*$"


def _text() -> dict[str, Any]:
    """Text as the loader reads it: a string with something other than white space, or a number."""
    return {"type": ["string", "number"], "pattern": f"[^{_spaces()}]"}


def _value(spec: FieldSpec, payers: tuple[str, ...]) -> dict[str, Any]:
    """The schema of one field's value (without null)."""
    if spec.kind in ("whole", "number"):
        bound = {"exclusiveMinimum": 0} if spec.positive else {"minimum": 0}
        return {"type": "integer" if spec.kind == "whole" else "number", **bound}
    if spec.kind in ("text", "id"):
        return _text()
    if spec.kind == "bool":
        return {"type": "boolean"}
    if spec.kind == "choice":
        return {"type": "string", "pattern": token_pattern(spec.choices), "examples": list(spec.choices)}
    if spec.kind == "payer":
        return {"type": "string", "pattern": token_pattern(payers), "examples": list(payers)}
    if spec.kind == "choice_list":
        one = {"type": "string", "pattern": token_pattern(spec.choices)}
        return {"anyOf": [one, {"type": "array", "items": one}], "examples": [list(spec.choices)]}
    if spec.kind == "names":
        entry = {"anyOf": [_text(), {"type": "object", "required": ["name", "kind"], "additionalProperties": False,
                                     "properties": {"name": _text(), "kind": _text()}}]}
        single = {"type": "string", "pattern": f"[^{_spaces()}]"}
        return {"anyOf": [single, {"type": "array", "items": entry}]}
    if spec.kind == "date":
        return {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "format": "date"}
    raise AssertionError(spec.kind)


def _field(path: str, spec: FieldSpec, payers: tuple[str, ...]) -> dict[str, Any]:
    body = {"description": spec.doc, **_value(spec, payers)}
    if spec.example is not None:
        body.setdefault("examples", [spec.example])
    if spec.kind == "id":
        return body
    return {"anyOf": [body, {"type": "null", "description": "not given: the same as leaving the field out"}]}


EXTENSIONS = {"^x[_-]": {"description": "a field of your own: carried, never read by the rules"}}


def request_schema(payers: tuple[str, ...]) -> dict[str, Any]:
    """The JSON Schema of a request document, for a kb with these payers."""
    top: dict[str, Any] = {}
    for path, spec in FIELDS.items():
        if "." not in path:
            top[path] = _field(path, spec, payers)
    for section, names in SECTIONS.items():
        top[section] = {"anyOf": [
            {"type": "object", "description": f"the {section}", "additionalProperties": False,
             "patternProperties": EXTENSIONS,
             "properties": {n: _field(f"{section}.{n}", FIELDS[f"{section}.{n}"], payers) for n in names}},
            {"type": "null"}]}
    order = [p for p in FIELDS if "." not in p][:3] + [k for k in top if k not in ("id", "date", "payer")]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "A prior-authorization request for sotorasib (Lumakras)",
        "description": "The request document lumakras decides (docs/requests.md). A field left out, or null, is "
                       "not documented; a field given as false, negative or [] is documented as not.",
        "type": "object",
        "required": ["id"],
        "additionalProperties": False,
        "patternProperties": EXTENSIONS,
        "properties": {k: top[k] for k in order},
    }


ANSWER_ID = "urn:lumakras-logic:schema:answer"
STATUS = {"enum": ["met", "not_met", "not_documented"]}
_TEXT = {"type": "string"}
_TEXTS = {"type": "array", "items": _TEXT}


def answer_schema() -> dict[str, Any]:
    """The JSON Schema of one answer (`lumakras decide --json`; docs/answers.md)."""
    from .answer import ANSWER_SCHEMA

    criterion = {
        "type": "object", "required": ["id", "status", "text", "cite", "because", "rules"],
        "additionalProperties": False,
        "properties": {
            "id": {**_TEXT, "description": "the criterion's id, as the policy numbers it (I.A.3, 2.D.i, ...)"},
            "status": STATUS, "text": {**_TEXT, "description": "the policy's words"},
            "cite": {**_TEXT, "description": "where the policy says it"},
            "because": {**_TEXTS, "description": "why it has its status: the request's facts, as sentences"},
            "rules": {**_TEXTS, "description": "the kb file:line each reason rests on"},
            "sources": {**_TEXTS, "description": "a request read from FHIR: the resources (and codes) the facts "
                                                 "of this criterion came from, 'FIELD: RESOURCE, ...'"},
            "combines": {"enum": ["all", "any", "not"], "description": "how its parts combine"},
            "parts": {"type": "array", "items": {"$ref": "#/$defs/criterion"}},
        },
    }
    closest = {
        "type": "object", "additionalProperties": False,
        "required": ["pathway", "status", "other_diagnosis", "text", "cite", "not_met", "not_documented", "criteria"],
        "properties": {
            "pathway": _TEXT, "status": STATUS, "text": _TEXT, "cite": _TEXT,
            "other_diagnosis": {"type": "boolean", "description": "a pathway for another diagnosis than the request's"},
            "not_met": {"type": "integer", "minimum": 0}, "not_documented": {"type": "integer", "minimum": 0},
            "criteria": {"type": "array", "items": {"$ref": "#/$defs/criterion"}},
        },
    }
    to_document = {
        "type": "object", "additionalProperties": False,
        "required": ["pathway", "criterion", "node", "field", "text", "because"],
        "properties": {
            "pathway": _TEXT, "criterion": {**_TEXT, "description": "the criterion of the pathway it serves"},
            "node": {**_TEXT, "description": "the leaf that reads the field"},
            "field": {**_TEXT, "description": "the request field to send (a dotted path of docs/requests.md)"},
            "text": _TEXT, "because": _TEXT, "question": {**_TEXT, "description": "what to send, as a question"},
            "name": {**_TEXT, "description": "the drug-list entry that left it open"},
            "any_of": {**_TEXT, "description": "the values that would meet it"},
            "given": {"type": "array", "description": "what the request gave"},
        },
    }
    nullable_text = {"type": ["string", "null"]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": ANSWER_ID,
        "title": "The answer to a prior-authorization request for sotorasib (Lumakras) under one payer",
        "description": f"What `lumakras decide --json` prints for each request and payer ({ANSWER_SCHEMA}; "
                       "docs/answers.md).",
        "type": "object",
        "additionalProperties": False,
        "required": ["request", "payer", "policy", "decision", "pathway", "approval_months", "refer_to", "criteria",
                     "closest", "to_document", "provenance"],
        "properties": {
            "request": {**_TEXT, "description": "the request's id"},
            "payer": _TEXT, "policy": {**_TEXT, "description": "the policy's id"},
            "decision": {"enum": ["approve", "refer", "pend", "deny"]},
            "pathway": {**nullable_text, "description": "the pathway derived (approve, refer)"},
            "approval_months": {"type": ["integer", "null"], "minimum": 1},
            "refer_to": {**nullable_text, "description": "the policy a referral sends the request to"},
            "refer_by": {**_TEXT, "description": "on refer: the criterion that named the target"},
            "criteria": {"type": "array", "items": {"$ref": "#/$defs/criterion"},
                         "description": "the derived pathway's criteria that were met"},
            "closest": {"type": "array", "items": closest,
                        "description": "on deny and pend: the pathways that came nearest, nearest first"},
            "to_document": {"type": "array", "items": to_document, "description": "on pend: what to send"},
            "unclassified": {"type": "array", "description": "names of the request the vocabulary does not know",
                             "items": {"type": "object", "required": ["field", "name", "because"],
                                       "additionalProperties": False,
                                       "properties": {"field": _TEXT, "name": _TEXT, "because": _TEXT}}},
            "otherwise": {"type": "array", "description": "the policy's own ground of a deny (conditions not covered)",
                          "items": {"type": "object", "required": ["text", "cite", "because"],
                                    "additionalProperties": False,
                                    "properties": {"text": _TEXT, "cite": _TEXT, "because": _TEXTS}}},
            "provenance": {
                "type": "object", "additionalProperties": False,
                "required": ["schema", "policy", "revision", "title", "kb_digest", "kb_files", "engine",
                             "request_source", "request_date"],
                "properties": {
                    "schema": {"const": ANSWER_SCHEMA}, "policy": _TEXT, "revision": _TEXT, "title": _TEXT,
                    "kb_digest": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "kb_files": _TEXTS,
                    "engine": _TEXT, "request_source": _TEXT,
                    "request_date": {"type": "string", "format": "date"},
                },
            },
        },
        "$defs": {"criterion": criterion},
    }
