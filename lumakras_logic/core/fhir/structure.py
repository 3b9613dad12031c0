"""The structure of a FHIR R4 input, checked before anything is read from it (docs/fhir.md, "Bad input").

fhirclient 4.4.0's models (FHIR 4.0.1, the version US Core and Da Vinci PAS use) check the structure:
types, required properties, unknown properties, date formats. They check no terminology and no
reference, so this module adds what a reader of the bundle needs: every reference names a resource of
the bundle, and every coding with a code names its system. Each problem is one line naming the resource
path (`Bundle.entry[2](Observation/kras-1).code.coding[0].code`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from ..escape import shown

INPUT_TYPES = ("Bundle", "QuestionnaireResponse")
Problem = tuple[str, str]  # (resource path, message)


def resource_label(resource: Mapping[str, Any], index: int | None = None) -> str:
    """How a resource is named in messages and sources: Type/id, or its place in the bundle."""
    kind = str(resource.get("resourceType", "resource"))
    rid = resource.get("id")
    if isinstance(rid, str) and rid:
        return f"{kind}/{rid}"
    return f"{kind} (entry[{index}])" if index is not None else kind


def entry_path(doc: Mapping[str, Any], index: int) -> str:
    """The path of a bundle entry's resource, with the resource's name: Bundle.entry[2](Observation/x)."""
    entries = doc.get("entry") if isinstance(doc.get("entry"), list) else []
    resource = entries[index].get("resource") if index < len(entries) and isinstance(entries[index], Mapping) \
        else None
    name = f"({resource_label(resource)})" if isinstance(resource, Mapping) else ""
    return f"Bundle.entry[{index}]{name}"


def check_structure(doc: Mapping[str, Any]) -> list[Problem]:
    """The structural problems of a Bundle or QuestionnaireResponse, by fhirclient's R4 models."""
    kind = doc.get("resourceType")
    if kind not in INPUT_TYPES:
        return [("resourceType", f"a FHIR input is a Bundle or a QuestionnaireResponse, got {shown(kind)}")]
    problems = _unknown_types(doc) if kind == "Bundle" else []
    if problems:
        return problems
    from fhirclient.models.bundle import Bundle
    from fhirclient.models.fhirabstractbase import FHIRValidationError
    from fhirclient.models.questionnaireresponse import QuestionnaireResponse

    model = Bundle if kind == "Bundle" else QuestionnaireResponse
    try:
        model(dict(doc), strict=True)
    except FHIRValidationError as exc:
        leaves = list(_leaves(exc, []))
        return _tidy([(_path(doc, kind, parts), _message(err)) for parts, err in leaves])
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # the models raise these on odd shapes
        return [(str(kind), f"not a FHIR R4 {kind}: {shown(str(exc), 80)}")]
    return []


def _unknown_types(doc: Mapping[str, Any]) -> list[Problem]:
    """Entries whose resourceType FHIR R4 does not define (fhirclient would say only 'wrong type')."""
    from fhirclient.models import fhirelementfactory

    out = []
    entries = doc.get("entry")
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping):
            continue
        kind = resource.get("resourceType")
        made = fhirelementfactory.FHIRElementFactory.instantiate(kind, None) if isinstance(kind, str) else None
        if made is None or type(made).__name__ != kind:
            out.append((f"Bundle.entry[{i}].resourceType", f"not a FHIR R4 resource type: {shown(kind)}"))
    return out


def _leaves(exc: Any, path: list[str]) -> Iterator[tuple[list[str], Exception]]:
    from fhirclient.models.fhirabstractbase import FHIRValidationError

    if isinstance(exc, FHIRValidationError):
        here = path + ([exc.path] if exc.path else [])
        for err in exc.errors:
            yield from _leaves(err, here)
    else:
        yield path, exc


def _path(doc: Mapping[str, Any], kind: str, parts: list[str]) -> str:
    """fhirclient's 'entry.0.resource.code.coding.0' as Bundle.entry[0](Observation/x).code.coding[0]."""
    steps = ".".join(parts).split(".") if parts else []
    out = kind
    i = 0
    while i < len(steps):
        step = steps[i]
        if not step:
            i += 1
            continue
        if step.isdigit():
            out += f"[{step}]"
        elif kind == "Bundle" and step == "entry" and i + 1 < len(steps) and steps[i + 1].isdigit():
            out = entry_path(doc, int(steps[i + 1]))
            i += 2
            if i < len(steps) and steps[i] == "resource":
                i += 1
            continue
        else:
            out += f".{step}"
        i += 1
    return out


_TYPES = {"str": "text", "int": "a number", "float": "a number", "bool": "true or false", "dict": "an object",
          "list": "a list", "FHIRDate": "a date"}


def _type_name(text: str) -> str:
    short = text.rsplit(".", 1)[-1]
    return _TYPES.get(short, f"a {short}")


def _message(err: Exception) -> str:
    text = str(err).strip("'\"")
    m = re.match(r"Wrong type <class '([\w.]+)'> for property \"(\w+)\".*expecting <class '([\w.]+)'>", text)
    if m:
        return f"must be {_type_name(m.group(3))}, got {_type_name(m.group(1))}"
    m = re.match(r"Non-optional property \"(\w+)\" on .* is missing", text)
    if m:
        return f"required property {m.group(1)} is missing"
    m = re.match(r"Superfluous entry \"(.+)\" in data for", text)
    if m:
        return f"unknown property {shown(m.group(1))} (not in FHIR R4)"
    if "does not match expected format" in text:
        return "is not a FHIR date or dateTime (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz)"
    m = re.match(r"`with_json\(\)` on <class '([\w.]+)'> only takes dict or list of dict", text)
    if m:
        return f"must be {_type_name(m.group(1))} (an object), got something else"
    return shown(text, 120)


def _tidy(problems: list[Problem]) -> list[Problem]:
    """Drop 'required property X is missing' where X itself was present but wrong (reported below it)."""
    out = []
    for path, message in problems:
        m = re.match(r"required property (\w+) is missing", message)
        if m and any(p.startswith(f"{path}.{m.group(1)}") for p, _ in problems):
            continue
        if (path, message) not in out:
            out.append((path, message))
    return out


def references(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, reference) of every Reference.reference under a resource (contained ones aside)."""
    if isinstance(value, Mapping):
        ref = value.get("reference")
        if isinstance(ref, str):
            yield f"{path}.reference", ref
        for key, item in value.items():
            if key != "contained":
                yield from references(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from references(item, f"{path}[{i}]")


def codings_without_system(value: Any, path: str) -> Iterator[str]:
    """Paths of codings that give a code and no system: a code means nothing without its system."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in ("coding", "valueCoding") or key.startswith("answerCoding"):
                items = item if isinstance(item, list) else [item]
                for i, coding in enumerate(items):
                    where = f"{path}.{key}[{i}]" if isinstance(item, list) else f"{path}.{key}"
                    if isinstance(coding, Mapping) and coding.get("code") is not None and not coding.get("system"):
                        yield where
            yield from codings_without_system(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from codings_without_system(item, f"{path}[{i}]")
