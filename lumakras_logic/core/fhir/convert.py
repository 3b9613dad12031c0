"""`lumakras convert`: a FHIR input written as the request document it stands for, each field with a
comment naming the resource (and code) it came from, and the resources read and left out at the end.

The output is a request document like any other: `lumakras decide` reads it and answers as it answers the
bundle (tests/test_fhir.py holds them to the same answers).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from ..escape import json_safe, one_line
from ..request import FIELDS, name_key
from .bundle import Converted


def _scalar(value: Any) -> str:
    """One value in YAML flow style, quoted where YAML needs it (an odd string stays a string). A value
    with a character a terminal would act on (a bidi control, C1) is written as a JSON string, which YAML
    reads as a double-quoted scalar, with those characters escaped."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1 << 30).strip()
    text = text[:-4].strip() if text.endswith("\n...") else text.removesuffix("...").strip()
    return json_safe(json.dumps(value, ensure_ascii=False)) if json_safe(text) != text else text


def _comment(text: str) -> str:
    return "  # " + one_line(text) if text else ""


def to_yaml(converted: Converted, source: str) -> str:
    """The request document with its sources as comments."""
    doc, sources = converted.doc, converted.sources
    lines = [f"# {one_line(source)}, converted by lumakras convert: each field names where it came from.",
             "# A field left out is not documented in the FHIR input (docs/fhir.md)."]

    def field_lines(path: str, key: str, value: Any, pad: str) -> list[str]:
        given: Mapping[str, str] = sources.get(path, {})
        if isinstance(value, list) and FIELDS[path].kind in ("names", "choice_list"):
            if not value:
                return [f"{pad}{key}: []{_comment(given.get('', ''))}"]
            out = [f"{pad}{key}:{_comment(given.get('', ''))}"]
            for item in value:
                out.append(f"{pad}  - {_scalar(item)}{_comment(given.get(name_key(str(item)), ''))}")
            return out
        return [f"{pad}{key}: {_scalar(value)}{_comment(given.get('', ''))}"]

    for key, value in doc.items():
        if isinstance(value, Mapping):
            lines.append(f"{key}:")
            for name, item in value.items():
                lines += field_lines(f"{key}.{name}", name, item, "  ")
        else:
            lines += field_lines(key, key, value, "")
    if converted.ignored:
        lines.append("# Read and left out:")
        lines += [f"#   {one_line(note)}" for note in converted.ignored]
    return "\n".join(lines) + "\n"
