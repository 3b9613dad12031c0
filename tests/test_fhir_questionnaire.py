"""`lumakras questionnaire` and `why --questionnaire`: FHIR R4 Questionnaires made from the kb, held to
FHIR's structure by fhirclient (strict) and to the kb: every field a payer's criteria read is an item whose
linkId is the field's path, and the kb's asked_when facts become enableWhen."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ROOT, invoke

from lumakras_logic.core.fhir.questionnaire import ITEM_CONTROL, pend_questionnaire, questionnaire, read_fields
from lumakras_logic.core.request import FIELDS

Questionnaire = pytest.importorskip("fhirclient.models.questionnaire").Questionnaire
DAY = dt.date(2026, 6, 1)
PEND = ROOT / "queries" / "centene-pend-dose-1200-evidence-undocumented.yaml"


def leaves(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The question items (not groups, not help) at any depth."""
    for item in items:
        if item["type"] == "group":
            yield from leaves(item["item"])
        elif item["type"] != "display":
            yield item


def by_link(q: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["linkId"]: item for item in leaves(q["item"])}


def criteria_fields(decider, payer: str) -> set[str]:
    """The fields the payer's leaf tests read, straight from the kb's test facts (subject, and the param of
    a comparison with another field)."""
    out = set()
    for (p, _n), node in decider.kb.nodes.items():
        if p == payer and node.test:
            kind, subject, param = node.test
            out |= {f for f in (subject, param if kind == "at_most_field" else None) if f in FIELDS}
    return out


@pytest.mark.parametrize("payer", ["centene", "cigna"])
def test_the_questionnaire_is_valid_fhir_and_asks_every_field_the_criteria_read(decider, payer: str) -> None:
    q = questionnaire(decider.kb, payer, DAY)
    parsed = Questionnaire(q, strict=True)  # raises on a structural error
    assert parsed.as_json()["resourceType"] == "Questionnaire"
    items = by_link(q)
    assert criteria_fields(decider, payer) <= set(items)
    assert set(items) <= set(FIELDS)  # the contract: a leaf's linkId is a request field's path
    assert q["url"] == f"urn:lumakras-logic:questionnaire:{payer}"
    policy = decider.kb.policies[payer]
    assert q["version"] == f"{policy.revision}+kb.{decider.kb.payer_digest(payer)}"
    assert q["title"].startswith(policy.title) and q["status"] == "active" and q["subjectType"] == ["Patient"]


def test_sections_group_their_fields_and_top_level_fields_stand_alone(decider) -> None:
    q = questionnaire(decider.kb, "centene", DAY)
    roots = {item["linkId"]: item for item in q["item"]}
    assert roots["diagnosis"]["type"] == "group"
    assert "diagnosis.kras_g12c" in {i["linkId"] for i in roots["diagnosis"]["item"]}
    assert roots["prior_therapies"]["type"] == "string" and roots["prior_therapies"]["repeats"] is True
    # the request type is asked before the continuation questions it enables
    order = [item["linkId"] for item in q["item"]]
    assert order.index("request_type") < order.index("continuation")


def test_types_and_answer_options_follow_the_field_table(decider) -> None:
    items = by_link(questionnaire(decider.kb, "centene", DAY))
    assert items["member.age"]["type"] == "integer"
    assert items["medication.dose_mg_per_day"]["type"] == "decimal"
    assert items["medication.dose_evidence"]["type"] == "boolean"
    state = items["diagnosis.disease_state"]
    assert state["type"] == "choice" and state["repeats"] is True
    codes = [o["valueCoding"] for o in state["answerOption"]]
    # a list of choices may be answered 'none of these': documented as none, apart from no answer
    assert {c["code"] for c in codes} == {*FIELDS["diagnosis.disease_state"].choices, "none"}
    assert {c["system"] for c in codes} == {"urn:lumakras-logic:request:diagnosis.disease_state"}
    assert items["medication.with"]["repeats"] is True


def test_line_of_business_and_request_type_only_where_the_payer_reads_them(decider) -> None:
    centene = by_link(questionnaire(decider.kb, "centene", DAY))
    cigna = by_link(questionnaire(decider.kb, "cigna", DAY))
    assert {"line_of_business", "request_type", "requested_months"} <= set(centene)
    assert not {"line_of_business", "request_type", "requested_months"} & set(cigna)  # Cigna reads none
    assert "continuation.days_on_therapy" in centene and "continuation.days_on_therapy" not in cigna
    assert "diagnosis.kras_test" in cigna and "diagnosis.kras_test" not in centene  # reading 10


def test_help_carries_the_policy_words_and_citation(decider) -> None:
    items = by_link(questionnaire(decider.kb, "centene", DAY))
    help_item = items["member.age"]["item"][0]
    assert help_item["type"] == "display" and help_item["linkId"] == "member.age-help"
    control = help_item["extension"][0]
    assert control["url"] == ITEM_CONTROL
    assert control["valueCodeableConcept"]["coding"][0]["code"] == "help"
    assert "Age ≥ 18 years" in help_item["text"] and "CP.PHAR.549 I.A.3" in help_item["text"]
    assert "Approval duration" not in help_item["text"]
    lob = items["line_of_business"]["item"][0]["text"]
    assert "pathway I.A depends on it" in lob


def test_dose_evidence_is_asked_above_960_or_for_a_new_dose(decider) -> None:
    items = by_link(questionnaire(decider.kb, "centene", DAY))
    evidence = items["medication.dose_evidence"]
    assert {"question": "medication.dose_mg_per_day", "operator": ">", "answerDecimal": 960.0} \
        in evidence["enableWhen"]
    assert {"question": "continuation.new_dose_mg_per_day", "operator": "exists", "answerBoolean": True} \
        in evidence["enableWhen"]
    assert evidence["enableBehavior"] == "any"
    assert "CP.PHAR.549 I.A.9.b" in evidence["item"][0]["text"]


def test_every_continuation_field_is_asked_for_a_continuation_only(decider) -> None:
    items = by_link(questionnaire(decider.kb, "centene", DAY))
    continuation = [f for f in items if f.startswith("continuation.")]
    assert continuation
    for f in continuation:
        when = items[f]["enableWhen"]
        assert when == [{"question": "request_type", "operator": "=", "answerCoding": {
            "system": "urn:lumakras-logic:request:request_type", "code": "continuation", "display": "continuation"}}]
    assert "enableWhen" not in items["member.age"]


def test_read_fields_follow_the_kb_not_a_list(decider) -> None:
    # the histology is read through the kb's sends facts (an organ-level diagnosis), not by a test subject
    assert "diagnosis.histology" in read_fields(decider.kb, "cigna")
    assert "diagnosis.histology" not in criteria_fields(decider, "cigna")


def answer(decider, path, payer):
    return next(a for o in decider.answer_files([path], payer) for a in o.answers)


@pytest.mark.parametrize(("name", "payer"), [
    ("centene-pend-dose-1200-evidence-undocumented.yaml", "centene"),
    ("cigna-pend-kras-test-undocumented.yaml", "cigna"),
    ("both-pend-icd10-c34.90-histology-missing.yaml", "centene"),
    ("both-pend-nsclc-prior-therapies-undocumented.yaml", "cigna"),
])
def test_a_pend_questionnaire_asks_exactly_what_to_send(decider, name: str, payer: str) -> None:
    a = answer(decider, ROOT / "queries" / name, payer)
    assert a.decision == "pend"
    q = pend_questionnaire(decider.kb, a, DAY)
    Questionnaire(q, strict=True)
    assert set(by_link(q)) == {t.field for t in a.to_document}
    assert q["derivedFrom"] == [f"urn:lumakras-logic:questionnaire:{payer}|{q['version']}"]
    for item in by_link(q).values():  # every help names the criterion it serves
        assert any(t.node in item["item"][0]["text"] for t in a.to_document if t.field == item["linkId"])


def test_a_pend_questionnaire_drops_a_condition_the_request_already_meets(decider) -> None:
    a = answer(decider, PEND, "centene")
    evidence = by_link(pend_questionnaire(decider.kb, a, DAY))["medication.dose_evidence"]
    assert "enableWhen" not in evidence  # the request's dose, 1200, is why it is asked


def test_questionnaire_command(tmp_path) -> None:
    result = invoke("questionnaire", "--payer", "Centene", "--date", "2026-06-01")
    assert result.exit_code == 0, result.output
    q = json.loads(result.output)
    Questionnaire(q, strict=True)
    assert q["date"] == "2026-06-01"
    assert invoke("questionnaire", "--payer", "acme").exit_code == 2
    assert invoke("questionnaire").exit_code == 2


def test_why_questionnaire_on_pend_and_on_another_decision() -> None:
    result = invoke("why", PEND, "--payer", "centene", "--questionnaire")
    assert result.exit_code == 0
    assert set(by_link(json.loads(result.stdout))) == {"medication.dose_evidence"}
    other = invoke("why", PEND, "--payer", "cigna", "--questionnaire")  # Cigna approves it
    assert other.exit_code == 0 and other.stdout == ""
    assert "approve, not pend: nothing to send" in other.stderr
    both = invoke("why", PEND, "--payer", "all", "--questionnaire")
    assert json.loads(both.stdout)["resourceType"] == "Questionnaire"  # one pend: no Bundle
    assert invoke("why", PEND, "--questionnaire", "--json").exit_code == 2


def test_check_holds_asked_when_to_the_kb_fields(tmp_path) -> None:
    import shutil

    from lumakras_logic.authoring.check import check_kb

    kb = tmp_path / "kb"
    shutil.copytree(ROOT / "kb", kb)
    with (kb / "payers" / "centene" / "questionnaire.dl").open("a", encoding="utf-8") as f:
        f.write("# CP.PHAR.549 I.A.9: a misspelt source field\n"
                "+ asked_when('centene', 'medication.dose_evidence', 'medication.dose_mg', '>', 960, "
                "'CP.PHAR.549 I.A.9')\n")
    problems, _kb = check_kb([kb])
    assert any("asked_when argument 3: 'medication.dose_mg' is not a field" in p.message for p in problems)
