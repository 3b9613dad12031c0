"""The request's JSON Schema (lumakras_logic/core/schema.py, docs/request.schema.json) agrees with the loader:
every example request is valid, and on documents with one field changed to an odd value, the schema
accepts exactly what the loader reads (both made from request.FIELDS)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import ROOT, shared_decider
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumakras_logic.core.request import FIELDS, RequestError, parse_request
from lumakras_logic.core.schema import request_schema

SCHEMA = request_schema(shared_decider().kb.payers())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
EXAMPLES = sorted((ROOT / "queries").glob("*.yaml")) + sorted((ROOT / "queries").glob("*.json"))


def as_json(doc: Any) -> Any:
    """A document as a JSON client would send it (YAML's dates as their text)."""
    return json.loads(json.dumps(doc, default=str))


def loader_reads(doc: Any) -> bool:
    try:
        parse_request(doc, "x.json", ("centene", "cigna"))
        return True
    except RequestError:
        return False


def test_the_schema_is_valid_and_the_committed_copy_is_current() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    committed = json.loads((ROOT / "docs" / "request.schema.json").read_text(encoding="utf-8"))
    assert committed == SCHEMA, "docs/request.schema.json is stale: lumakras schema request > docs/request.schema.json"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_request_is_valid(path: Path) -> None:
    doc = as_json(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert loader_reads(doc), path
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in VALIDATOR.iter_errors(doc)]
    assert errors == []


ODD = [None, True, False, 0, -1, 1, 12, 1.0, 1.5, 960, "", "  ", "x", "nsclc", "Medicaid", " MEDICAID ", "medi caid",
       "Locally-Advanced", "locally  advanced", "locally_ advanced", "locally__advanced", "recurrent after resection",
       "FDA approved", "fda-approved", "Lumakras", "SOTORASIB", "centene", "Cigna", "aetna", "positive", "Negative",
       "squamous cell", "2026-03-01", "2026-02-30", "2026-3-1", "yesterday", [], [""], ["  "], ["x"],
       ["metastatic", "advanced"], ["metastatic", 3], [1, 2], [{"name": "XR-1", "kind": "investigational_agent"}],
       [{"name": "XR-1"}], [{"name": "XR-1", "kind": "a", "dose": 3}], [{"name": None, "kind": "a"}],
       {"name": "XR-1", "kind": "a"}, {}, {"age": 3}, {"x_note": 1}, "\u212a", "mar\u212aetplace", "ini\u0131tial"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EXAMPLES), st.sampled_from(sorted(FIELDS)), st.sampled_from(ODD),
       st.sampled_from(["replace", "section", "extra"]))
def test_the_schema_accepts_what_the_loader_reads(path: Path, field: str, value: Any, how: str) -> None:
    doc = copy.deepcopy(as_json(yaml.safe_load(path.read_text(encoding="utf-8"))))
    section, _, name = field.rpartition(".")
    if how == "section" and section:  # the whole section replaced by the odd value
        doc[section] = copy.deepcopy(value)
    elif how == "extra":  # a field of the user's own, or one the format does not have
        (doc.setdefault(section, {}) if section and isinstance(doc.get(section), dict) else doc)[
            "x_" + name if isinstance(value, str) else name + "_typo"] = copy.deepcopy(value)
    else:
        target = doc.setdefault(section, {}) if section else doc
        if not isinstance(target, dict):
            return
        target[name] = copy.deepcopy(value)
    if field in ("member.age", "member.birth_date", "date"):  # their agreement is the loader's own check
        doc.get("member", {}).pop("birth_date" if field != "member.birth_date" else "age", None) \
            if isinstance(doc.get("member"), dict) else None
    assert VALIDATOR.is_valid(doc) == loader_reads(doc), (field, value, how)


def test_every_field_with_every_odd_value_is_judged_alike() -> None:
    """Exhaustively, on one example: each field of the table set to each odd value."""
    base = as_json(yaml.safe_load((ROOT / "queries" / "centene-approve-nsclc-I.A.yaml").read_text(encoding="utf-8")))
    judged = {True: 0, False: 0}
    for field in FIELDS:
        for value in ODD:
            doc = copy.deepcopy(base)
            section, _, name = field.rpartition(".")
            (doc.setdefault(section, {}) if section else doc)[name] = copy.deepcopy(value)
            if field in ("member.age", "member.birth_date", "date"):
                doc["member"].pop("birth_date" if field != "member.birth_date" else "age", None)
            read = loader_reads(doc)
            assert VALIDATOR.is_valid(doc) == read, (field, value)
            judged[read] += 1
    assert judged[True] > 200 and judged[False] > 1000  # both sides of the line are tried


def test_the_template_is_a_request_both_payers_approve(decider) -> None:
    from lumakras_logic.core.template import request_template

    doc = yaml.safe_load(request_template())
    assert VALIDATOR.is_valid(as_json(doc))
    answers = decider.answer(decider.parse(doc, "template.yaml"), "all")
    assert [(a.payer, a.decision) for a in answers] == [("centene", "approve"), ("cigna", "approve")]
    commented = [line for line in request_template().splitlines()
                 if ":" in line and not line.startswith("#") and not line.endswith(":")]
    assert all("  # " in line for line in commented)  # every field says what it holds


# --------------------------------------------------------------------------------------------------------
# The answer
# --------------------------------------------------------------------------------------------------------

def test_the_answer_schema_is_valid_and_the_committed_copy_is_current() -> None:
    from lumakras_logic.core.schema import answer_schema

    jsonschema.Draft202012Validator.check_schema(answer_schema())
    committed = json.loads((ROOT / "docs" / "answer.schema.json").read_text(encoding="utf-8"))
    assert committed == answer_schema(), "stale: lumakras schema answer > docs/answer.schema.json"


def test_every_answer_to_the_examples_and_the_cases_is_valid(decider) -> None:
    """Every example request and every request of the policy cases, under every payer, answers within
    the schema (approve, refer, pend and deny all occur)."""
    from lumakras_logic.authoring.cases import load_cases
    from lumakras_logic.core.schema import answer_schema

    answers_valid = jsonschema.Draft202012Validator(
        answer_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    docs = [(p.name, yaml.safe_load(p.read_text(encoding="utf-8"))) for p in EXAMPLES]
    for path in sorted((ROOT / "tests" / "cases").glob("*.yaml")):
        docs += [(c.name, c.request if not isinstance(c.request, Path) else yaml.safe_load(c.request.read_text()))
                 for c in load_cases(path, ROOT)]
    decisions = set()
    for name, doc in docs:
        try:
            request = decider.parse(doc, name)
        except RequestError:
            continue  # a case that expects the request to be refused
        for payer in decider.kb.payers():
            try:
                answers = decider.answer(request, payer)
            except RequestError:
                continue  # a payer whose policy needs a field the request lacks
            for a in answers:
                errors = [f"{list(e.absolute_path)}: {e.message[:150]}"
                          for e in answers_valid.iter_errors(a.to_json())]
                assert errors == [], name
                decisions.add(a.decision)
    assert decisions == {"approve", "refer", "pend", "deny"}
