"""A request to fill in: every field of the request document (request.FIELDS) with an example value and a
comment that says what it holds and which values it takes. It is itself a valid request (an approvable
NSCLC request under both payers), so a person edits it rather than writing one from nothing."""

from __future__ import annotations

import json
from typing import Any

from .request import FIELDS, SECTIONS, FieldSpec

WIDTH = 40  # the column where comments start


def _scalar(value: Any) -> str:
    """A YAML value on one line (JSON's spelling of it is YAML too)."""
    if isinstance(value, str) and value.replace("_", "").replace("-", "").isalnum() and not value[0].isdigit():
        return value
    return json.dumps(value, ensure_ascii=False)


def _comment(spec: FieldSpec) -> str:
    text = spec.doc
    if spec.choices:
        text += f"; one of: {', '.join(spec.choices)}" if spec.kind == "choice" else \
            f"; any of: {', '.join(spec.choices)}"
    return text


def _line(indent: str, name: str, spec: FieldSpec) -> str:
    value = spec.example if spec.kind == "date" else _scalar(spec.example)  # YAML reads a date as a date
    head = f"{indent}{name}: {value}"
    return f"{head:<{WIDTH}}# {_comment(spec)}" if len(head) < WIDTH else f"{head}  # {_comment(spec)}"


def request_template() -> str:
    """The commented request, in the order of docs/requests.md."""
    lines = ["# A prior-authorization request for sotorasib (Lumakras): docs/requests.md says what each field means.",
             "# A field left out is 'not documented'; false, negative or [] is 'documented as not'.",
             "# Fields of your own start with x_ and are never read by the rules.", ""]
    top = [p for p in FIELDS if "." not in p]
    lines += [_line("", path, FIELDS[path]) for path in top[:6]]  # id, date, payer, line of business, ...
    for section, names in SECTIONS.items():
        if section == "continuation":
            continue
        lines += ["", f"{section}:"]
        lines += [_line("  ", n, FIELDS[f"{section}.{n}"]) for n in names if f"{section}.{n}" != "member.birth_date"]
        if section == "member":
            lines.append(f"{'  # birth_date: 1961-05-02':<{WIDTH}}# {_comment(FIELDS['member.birth_date'])}")
    lines.append("")
    lines += [_line("", path, FIELDS[path]) for path in top[6:]]
    lines += ["", "# continuation:                         # read when request_type is continuation"]
    for n in SECTIONS["continuation"]:
        lines.append("# " + _line("  ", n, FIELDS[f"continuation.{n}"]))
    return "\n".join(lines) + "\n"
