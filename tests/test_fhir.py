"""FHIR in (docs/fhir.md): a bundle decides exactly like its request document, the three values survive the
trip, every fact cites its resource, a questionnaire answered fully decides like the case it answers, and
malformed FHIR is one line per problem naming the resource path (exit 2) with the rest of a batch answered."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from conftest import modules_imported_by

from lumakras_logic.cli import main
from lumakras_logic.core.api import Decider
from lumakras_logic.core.fhir.bundle import REQUEST_SYSTEM, convert
from lumakras_logic.core.fhir.codes import codebook
from lumakras_logic.core.fhir.questionnaire import questionnaire as build_questionnaire
from lumakras_logic.core.request import FIELDS, RequestError, load_request, name_key, parse_document

ROOT = Path(__file__).resolve().parent.parent
FHIR = ROOT / "queries" / "fhir"
TWINS = {  # each FHIR example and the request document it stands for
    "both-approve-nsclc-uscore-mcode.json": "both-approve-nsclc.yaml",
    "both-approve-nsclc-pas.json": "both-approve-nsclc.yaml",
    "both-deny-nsclc-kras-absent.json": "both-deny-nsclc-kras-absent.yaml",
    "both-pend-nsclc-stage-undocumented.json": "both-pend-nsclc-stage-undocumented.yaml",
}


@pytest.fixture(scope="module")
def decider() -> Decider:
    return Decider()


def _answers(decider: Decider, path: Path) -> list[dict[str, Any]]:
    """The answers under every payer, without what names the file or the resources."""
    out = []
    for answer in decider.answer(load_request(path, decider.kb.payers(), None, decider.kb), "all"):
        j = answer.to_json()
        j["provenance"].pop("request_source")
        out.append(json.loads(json.dumps(j).replace(', "sources": [', ', "_": [')) | {})
    return [_strip_sources(j) for j in out]


def _strip_sources(j: Any) -> Any:
    if isinstance(j, dict):
        return {k: _strip_sources(v) for k, v in j.items() if k not in ("sources", "_")}
    if isinstance(j, list):
        return [_strip_sources(v) for v in j]
    return j


def test_every_fhir_example_has_a_twin_and_every_payer_sees_each_decision() -> None:
    examples = sorted(p.name for p in FHIR.glob("*.json"))
    assert set(TWINS) <= set(examples)
    decisions = {name.split("-")[1] for name in examples}
    assert {"approve", "deny", "pend"} <= decisions


@pytest.mark.parametrize("bundle", sorted(TWINS))
def test_a_bundle_decides_exactly_like_its_request_document(decider: Decider, bundle: str) -> None:
    fhir, twin = _answers(decider, FHIR / bundle), _answers(decider, FHIR / TWINS[bundle])
    assert [a["decision"] for a in fhir] == [a["decision"] for a in twin]
    assert fhir == twin
    expected = bundle.split("-")[1]
    assert {a["decision"] for a in fhir} == {expected}


@pytest.mark.parametrize("bundle", sorted(TWINS))
def test_convert_writes_a_request_that_decides_like_the_bundle(decider: Decider, bundle: str,
                                                               tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["convert", str(FHIR / bundle)])
    assert result.exit_code == 0, result.output
    assert "# Condition/primary-cancer.code, SNOMED CT 254637007" in result.output
    out = tmp_path / "converted.yaml"
    out.write_text(result.output)
    assert _answers(decider, out) == _answers(decider, FHIR / bundle)


def test_why_cites_the_resources_and_codes(decider: Decider) -> None:
    result = CliRunner().invoke(main, ["why", str(FHIR / "both-approve-nsclc-pas.json"), "--payer", "cigna"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "from diagnosis.kras_g12c: Observation/kras-1, LOINC 69548-6 = Genetic variant assessment, " \
           "48018-6 = KRAS, 48005-3 = p.Gly12Cys, LA9633-4 Present" in text
    assert "from member.age: Patient/pt-1.birthDate 1954-07-19" in text
    assert "from diagnosis.condition: Condition/primary-cancer.code, SNOMED CT 254637007" in text
    # the questionnaire's answer and the Observation agree on the test: both are cited
    assert "QuestionnaireResponse/dtr-answers-1 item diagnosis.kras_test" in text
    answer = decider.answer(load_request(FHIR / "both-approve-nsclc-pas.json", decider.kb.payers(), None,
                                         decider.kb), "cigna")[0]
    leaves = [c for c in _leaves(answer.criteria)]
    assert all(c.sources for c in leaves), [c.id for c in leaves if not c.sources]


def _leaves(criteria: Any) -> list[Any]:
    return [leaf for c in criteria for leaf in (_leaves(c.parts) if c.parts else [c])]


def test_compare_reads_a_bundle() -> None:
    result = CliRunner().invoke(main, ["compare", str(FHIR / "both-deny-nsclc-kras-absent.json")])
    assert result.exit_code == 0, result.output
    assert "deny" in result.output.lower()


def test_the_sources_stay_out_of_a_request_documents_answer(decider: Decider) -> None:
    answer = decider.answer(load_request(FHIR / "both-approve-nsclc.yaml", decider.kb.payers(), None,
                                         decider.kb), "cigna")[0]
    assert "sources" not in json.dumps(answer.to_json())


# --- the three values ---------------------------------------------------------------------------------

def _bundle() -> dict[str, Any]:
    return json.loads((FHIR / "both-approve-nsclc-uscore-mcode.json").read_text())


def _resource(bundle: dict[str, Any], rid: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == rid)


def _doc(decider: Decider, bundle: dict[str, Any]) -> dict[str, Any]:
    return convert(bundle, "b.json", codebook(decider.kb)).doc


def test_a_missing_resource_is_not_documented_and_an_explicit_negative_is_documented_as_not(
        decider: Decider) -> None:
    b = _bundle()
    b["entry"] = [e for e in b["entry"] if e["resource"].get("id") != "kras-1"]
    assert "kras_g12c" not in _doc(decider, b)["diagnosis"]
    b = _bundle()
    _resource(b, "kras-1")["valueCodeableConcept"]["coding"][0].update(code="LA9634-2", display="Absent")
    assert _doc(decider, b)["diagnosis"]["kras_g12c"] == "negative"


def test_a_list_empty_for_nil_known_documents_none(decider: Decider) -> None:
    b = _bundle()
    b["entry"] = [e for e in b["entry"] if e["resource"]["resourceType"] != "MedicationStatement"]
    assert "prior_therapies" not in _doc(decider, b)
    empty = {"resourceType": "List", "id": "med-history", "status": "current", "mode": "snapshot",
             "code": {"coding": [{"system": "http://loinc.org", "code": "10160-0"}]},
             "subject": {"reference": "Patient/pt-1"},
             "emptyReason": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
                                         "code": "nilknown"}]}}
    b["entry"].append({"fullUrl": "urn:uuid:0a000000-0000-4000-8000-0000000000aa", "resource": empty})
    assert _doc(decider, b)["prior_therapies"] == []
    empty["emptyReason"]["coding"][0]["code"] = "notasked"
    assert "prior_therapies" not in _doc(decider, b)


def test_a_code_the_kb_does_not_know_is_read_by_its_words_or_is_unrecognized(decider: Decider) -> None:
    b = _bundle()
    stmt = _resource(b, "ms-carboplatin")
    stmt["medicationCodeableConcept"] = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                     "code": "999999999"}]}
    doc = _doc(decider, b)
    assert "RxNorm 999999999" in doc["prior_therapies"]
    request = parse_document(b, "b.json", decider.kb.payers(), None, decider.kb)
    answer = decider.answer(request, "centene")[0]
    assert any(u.name == "RxNorm 999999999" for u in answer.unclassified)
    stmt["medicationCodeableConcept"]["text"] = "Paraplatin"  # a brand the vocabulary knows
    assert "Paraplatin" in _doc(decider, b)["prior_therapies"]


def test_a_variant_about_another_change_says_nothing_of_g12c(decider: Decider) -> None:
    b = _bundle()
    comp = _resource(b, "kras-1")["component"][1]["valueCodeableConcept"]["coding"][0]
    comp.update(code="p.Gly12Asp", display="p.Gly12Asp")
    converted = convert(b, "b.json", codebook(decider.kb))
    assert "kras_g12c" not in converted.doc["diagnosis"]
    assert any("Observation/kras-1" in note and "not G12C" in note for note in converted.ignored)


def test_two_sources_that_disagree_are_an_error_naming_both(decider: Decider) -> None:
    b = _bundle()
    qr = {"resourceType": "QuestionnaireResponse", "id": "qr", "status": "completed",
          "item": [{"linkId": "diagnosis.kras_g12c", "answer": [{"valueCoding": {
              "system": REQUEST_SYSTEM + "diagnosis.kras_g12c", "code": "negative"}}]}]}
    b["entry"].append({"fullUrl": "urn:uuid:0a000000-0000-4000-8000-0000000000ab", "resource": qr})
    with pytest.raises(RequestError) as err:
        convert(b, "b.json", codebook(decider.kb))
    assert "QuestionnaireResponse/qr item diagnosis.kras_g12c" in str(err.value)
    assert "Observation/kras-1" in str(err.value)


def test_several_cancers_without_a_claim_ask_which(decider: Decider) -> None:
    b = _bundle()
    crc = copy.deepcopy(_resource(b, "primary-cancer"))
    crc.update(id="crc", code={"coding": [{"system": "http://snomed.info/sct", "code": "363406005"}]})
    crc.pop("stage")
    b["entry"].append({"fullUrl": "urn:uuid:0a000000-0000-4000-8000-0000000000ac", "resource": crc})
    with pytest.raises(RequestError, match="several cancers"):
        convert(b, "b.json", codebook(decider.kb))


# --- the questionnaire, answered --------------------------------------------------------------------

def _answer_items(questionnaire: dict[str, Any], values: dict[str, Any]) -> list[dict[str, Any]]:
    """A QuestionnaireResponse's items answering each question of `questionnaire` the case answers."""
    out = []
    for item in questionnaire.get("item", []):
        if item["type"] == "group":
            inner = _answer_items(item, values)
            if inner:
                out.append({"linkId": item["linkId"], "item": inner})
            continue
        if item["type"] == "display" or item["linkId"] not in values:
            continue
        value = values[item["linkId"]]
        many = value if isinstance(value, list) else [value]
        kind = FIELDS[item["linkId"]].kind
        if kind == "names" and not many:
            answers = [{"valueString": "none"}]
        elif kind == "choice_list" and not many:
            answers = [{"valueCoding": {"system": REQUEST_SYSTEM + item["linkId"], "code": "none"}}]
        elif item["type"] == "choice":
            answers = [{"valueCoding": {"system": REQUEST_SYSTEM + item["linkId"], "code": str(v)}} for v in many]
        else:
            key = {"boolean": "valueBoolean", "integer": "valueInteger", "decimal": "valueDecimal",
                   "date": "valueDate", "string": "valueString"}[item["type"]]
            answers = [{key: v} for v in many]
        out.append({"linkId": item["linkId"], "answer": answers})
    return out


def _flat(doc: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


CASES = sorted(p for p in (ROOT / "queries").glob("*.yaml"))


@pytest.mark.slow
@pytest.mark.parametrize("payer", ["centene", "cigna"])
def test_answering_the_questionnaire_fully_decides_like_the_case(decider: Decider, payer: str) -> None:
    """Every example request: its answers to the payer's questionnaire decide as the request does. The
    questionnaire asks what the payer's criteria read, so the decision and the criteria's statuses are the
    same; fields it does not ask are given by the response's own elements (id, date, payer)."""
    questionnaire = build_questionnaire(decider.kb, payer, dt.date(2026, 3, 1))
    checked = 0
    for path in CASES:
        doc = yaml.safe_load(path.read_text())
        request = load_request(path, decider.kb.payers(), None, decider.kb)
        try:
            expected = decider.answer(request, payer)[0]
        except RequestError:
            continue
        values = _flat({k: v for k, v in doc.items() if k not in ("id", "date", "payer")})
        if "member.birth_date" in values:
            values["member.age"] = request.scalars["member.age"]
        qr = {"resourceType": "QuestionnaireResponse", "id": "qr-1", "status": "completed",
              "identifier": {"value": str(doc["id"])}, "questionnaire": questionnaire["url"],
              "authored": str(doc.get("date", "2026-03-01")),
              "item": _answer_items(questionnaire, values)}
        answered = decider.answer(parse_document(qr, "qr.json", decider.kb.payers(), None, decider.kb), payer)[0]
        assert answered.decision == expected.decision, path.name
        assert _statuses(answered.criteria) == _statuses(expected.criteria), path.name
        checked += 1
    assert checked >= 10


def _statuses(criteria: Any) -> list[tuple[str, str]]:
    return [(c.id, c.status) for c in criteria]


def test_a_questionnaire_response_alone_is_an_input(decider: Decider) -> None:
    path = FHIR / "both-approve-crc-questionnaire-response.json"
    answers = decider.answer(load_request(path, decider.kb.payers(), None, decider.kb), "all")
    assert [a.decision for a in answers] == ["approve", "approve"]


def test_an_unknown_link_id_with_an_answer_is_an_error(decider: Decider) -> None:
    qr = {"resourceType": "QuestionnaireResponse", "id": "qr", "status": "completed",
          "item": [{"linkId": "diagnosis.kras", "answer": [{"valueString": "positive"}]}]}
    with pytest.raises(RequestError, match=r"QuestionnaireResponse.item\[0\].linkId: 'diagnosis.kras' is no field"):
        convert(qr, "qr.json", codebook(decider.kb))


# --- bad input ------------------------------------------------------------------------------------------

def _broken(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    b = _bundle()
    cases: dict[str, tuple[dict[str, Any], str]] = {}
    cases["not-a-bundle"] = ({"resourceType": "Patient", "id": "x"},
                             "resourceType: a FHIR input is a Bundle or a QuestionnaireResponse, got 'Patient'")
    x = copy.deepcopy(b)
    _resource(x, "kras-1")["code"]["coding"][0]["code"] = 69548
    cases["wrong-type"] = (x, "Bundle.entry[4](Observation/kras-1).code.coding[0].code: must be text, got a number")
    x = copy.deepcopy(b)
    _resource(x, "sotorasib-order")["requester"] = {"reference": "PractitionerRole/nobody"}
    cases["dangling"] = (x, "(MedicationRequest/sotorasib-order).requester.reference: reference "
                            "'PractitionerRole/nobody' names no resource of the bundle")
    x = copy.deepcopy(b)
    del _resource(x, "primary-cancer")["code"]["coding"][0]["system"]
    cases["no-system"] = (x, "Bundle.entry[1](Condition/primary-cancer).code.coding[0]: a coding with a code "
                             "must name its system")
    x = copy.deepcopy(b)
    _resource(x, "brain-metastasis")["resourceType"] = "Conditoin"
    cases["unknown-type"] = (x, "Bundle.entry[2].resourceType: not a FHIR R4 resource type: 'Conditoin'")
    x = copy.deepcopy(b)
    _resource(x, "pt-1")["birthDate"] = "2027-01-01"
    cases["born-late"] = (x, "member.birth_date: is after the request date 2026-03-01 (from "
                             "Patient/pt-1.birthDate 2027-01-01)")
    out = {}
    for name, (doc, message) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(doc))
        out[name] = (path, message)
    return out


def test_malformed_fhir_is_one_line_naming_the_resource_path_and_the_batch_goes_on(tmp_path: Path) -> None:
    broken = _broken(tmp_path)
    good = FHIR / "both-deny-nsclc-kras-absent.json"
    paths = [str(p) for p, _ in broken.values()]
    result = CliRunner().invoke(main, ["decide", *paths, str(good), "--payer", "cigna", "--jobs", "1"])
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("lumakras: ")]
    assert len(errors) == len(broken)
    for path, message in broken.values():
        assert any(line.startswith(f"lumakras: {path}: ") and message in line for line in errors), message
    assert "Traceback" not in result.output
    assert "F-both-deny-nsclc-kras-absent  cigna Lumakras PA: DENY" in result.stdout


def test_convert_refuses_what_decide_refuses(tmp_path: Path) -> None:
    path, message = _broken(tmp_path)["born-late"]
    result = CliRunner().invoke(main, ["convert", str(path), str(FHIR / "both-approve-nsclc-pas.json")])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "id: F-both-approve-nsclc" in result.stdout


def test_a_yaml_decision_does_not_import_fhirclient() -> None:
    loaded = modules_imported_by(["decide", "queries/both-deny-kras-negative.yaml", "--payer", "cigna"])
    assert "lumakras_logic.core.api" in loaded
    assert not [m for m in loaded if m.startswith(("fhirclient", "lumakras_logic.core.fhir"))]


# --- more of what the adapter reads ---------------------------------------------------------------------

def _add(bundle: dict[str, Any], resource: dict[str, Any], n: int) -> None:
    bundle["entry"].append({"fullUrl": f"urn:uuid:0a000000-0000-4000-8000-0000000001{n:02d}", "resource": resource})


def test_an_active_sotorasib_statement_is_a_continuation_with_its_days_and_the_latest_status(
        decider: Decider) -> None:
    b = _bundle()
    _add(b, {"resourceType": "MedicationStatement", "id": "on-sotorasib", "status": "active",
             "medicationCodeableConcept": {"text": "Lumakras"}, "subject": {"reference": "Patient/pt-1"},
             "effectivePeriod": {"start": "2026-01-15"}}, 1)
    for n, (day, code) in enumerate((("2026-01-30", "271299001"), ("2026-02-27", "268910001"))):
        _add(b, {"resourceType": "Observation", "id": f"status-{n}", "status": "final",
                 "code": {"coding": [{"system": "http://loinc.org", "code": "97509-4"}]},
                 "subject": {"reference": "Patient/pt-1"}, "effectiveDateTime": day,
                 "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": code}]}}, 2 + n)
    converted = convert(b, "b.json", codebook(decider.kb))
    doc = converted.doc
    assert doc["request_type"] == "continuation"
    assert doc["continuation"] == {"days_on_therapy": 45, "responding": True}  # 2026-01-15 to 2026-03-01
    assert "Observation/status-1" in converted.sources["continuation.responding"][""]
    assert "sotorasib" not in [name_key(p) for p in doc["prior_therapies"]]


def test_dose_by_timing_code_and_a_contained_medication(decider: Decider) -> None:
    b = _bundle()
    order = _resource(b, "sotorasib-order")
    order.pop("medicationCodeableConcept")
    order["contained"] = [{"resourceType": "Medication", "id": "med",
                           "code": {"text": "sotorasib 120 MG Oral Tablet"}}]
    order["medicationReference"] = {"reference": "#med"}
    order["dosageInstruction"] = [{"timing": {"code": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "code": "BID"}]}},
        "doseAndRate": [{"doseQuantity": {"value": 480, "unit": "mg", "system": "http://unitsofmeasure.org",
                                          "code": "mg"}}]}]
    doc = _doc(decider, b)
    assert doc["medication"]["dose_mg_per_day"] == 960
    assert doc["medication"]["product"] == "sotorasib"  # the order's words name the generic


def test_a_pas_claim_gives_the_principal_diagnosis_the_payer_and_the_months(decider: Decider) -> None:
    b = json.loads((FHIR / "both-approve-nsclc-pas.json").read_text())
    claim = _resource(b, "pa-request-1")
    claim["diagnosis"] = [{"sequence": 2, "diagnosisCodeableConcept": {"coding": [
                              {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"}]}},
                          {"sequence": 1, "diagnosisCodeableConcept": {"coding": [
                              {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C18.7"}]}}]
    claim["item"][0]["servicedPeriod"] = {"start": "2026-03-01", "end": "2026-08-31"}
    converted = convert(b, "b.json", codebook(decider.kb))
    assert converted.doc["diagnosis"]["condition"] == "C18.7"
    assert converted.doc["requested_months"] == 6
    assert converted.doc["payer"] == "centene"
    assert "Claim/pa-request-1.insurer" in converted.sources["payer"][""]


def test_what_is_not_a_drug_allergy_or_not_a_full_date_is_left_out_and_said(decider: Decider) -> None:
    b = _bundle()
    _add(b, {"resourceType": "AllergyIntolerance", "id": "peanut", "category": ["food"],
             "code": {"text": "Peanut"}, "patient": {"reference": "Patient/pt-1"}}, 10)
    _resource(b, "pt-1")["birthDate"] = "1954"
    converted = convert(b, "b.json", codebook(decider.kb))
    assert "intolerant_to" not in converted.doc and "member" not in converted.doc
    assert any(n.startswith("AllergyIntolerance/peanut: ") for n in converted.ignored)
    assert any(n.startswith("Patient/pt-1: birthDate '1954' is not a full date") for n in converted.ignored)


def test_a_list_of_none_beside_a_therapy_it_denies_is_an_error(decider: Decider) -> None:
    b = _bundle()
    _add(b, {"resourceType": "List", "id": "none", "status": "current", "mode": "snapshot",
             "code": {"coding": [{"system": "http://loinc.org", "code": "10160-0"}]},
             "emptyReason": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
                                         "code": "nilknown"}]}}, 11)
    with pytest.raises(RequestError, match="List/none, LOINC 10160-0.*documents none, but MedicationStatement"):
        convert(b, "b.json", codebook(decider.kb))


def test_a_pends_questionnaire_answered_and_sent_back_settles_it(tmp_path: Path) -> None:
    """why --questionnaire on a pend asks what is missing; the office's answers, added to the bundle as a
    QuestionnaireResponse, settle it."""
    pend = FHIR / "both-pend-nsclc-stage-undocumented.json"
    asked = CliRunner().invoke(main, ["why", str(pend), "--payer", "cigna", "--questionnaire"])
    assert asked.exit_code == 0, asked.output
    questionnaire = json.loads(asked.stdout)
    items = _answer_items(questionnaire, {"diagnosis.disease_state": ["metastatic"]})
    assert items == [{"linkId": "diagnosis", "item": [{"linkId": "diagnosis.disease_state", "answer": [
        {"valueCoding": {"system": REQUEST_SYSTEM + "diagnosis.disease_state", "code": "metastatic"}}]}]}]
    b = json.loads(pend.read_text())
    _add(b, {"resourceType": "QuestionnaireResponse", "id": "answers", "status": "completed",
             "questionnaire": questionnaire["url"], "item": items}, 20)
    path = tmp_path / "answered.json"
    path.write_text(json.dumps(b))
    decided = CliRunner().invoke(main, ["decide", str(path), "--payer", "all"])
    assert decided.exit_code == 0, decided.output
    assert "centene CP.PHAR.549: APPROVE via I.A" in decided.stdout
    assert "cigna Lumakras PA: APPROVE via 1" in decided.stdout


def test_a_clinical_drugs_name_is_read_as_its_drugs_and_nothing_is_dropped(decider: Decider) -> None:
    b = _bundle()
    stmt = _resource(b, "ms-pembrolizumab")
    said = {"pembrolizumab 25 MG/ML Injectable Solution": "pembrolizumab",
            "carboplatin 10 MG/ML / PACLitaxel 6 MG/ML Injectable Solution": "carboplatin + PACLitaxel",
            "pembrolizumab and adagrasib trial": "pembrolizumab and adagrasib trial",
            "XR-123 5 MG Oral Tablet": "XR-123 5 MG Oral Tablet"}
    for text, entry in said.items():
        stmt["medicationCodeableConcept"] = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                         "code": "999999999", "display": text}]}
        assert entry in _doc(decider, b)["prior_therapies"], text


def test_without_mcode_profiles_a_secondary_neoplasm_is_a_state_and_lung_cancer_yields_to_nsclc(
        decider: Decider) -> None:
    b = _bundle()
    for r in (e["resource"] for e in b["entry"]):
        r.pop("meta", None)
    b["entry"] = [e for e in b["entry"] if e["resource"].get("id") != "tnm-stage-group"]
    _resource(b, "primary-cancer").pop("stage")
    _resource(b, "brain-metastasis")["code"] = {"coding": [
        {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C79.31", "display": "Secondary malignant "
         "neoplasm of brain"}]}
    organ = copy.deepcopy(_resource(b, "primary-cancer"))
    organ.update(id="lung-cancer", code={"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C34.90"}]})
    _add(b, organ, 30)
    _resource(b, "primary-cancer")["code"]["coding"].pop(1)  # SNOMED NSCLC alone
    converted = convert(b, "b.json", codebook(decider.kb))
    assert converted.doc["diagnosis"]["condition"] == "nsclc"
    assert converted.doc["diagnosis"]["disease_state"] == ["metastatic"]
    assert "ICD-10-CM C79.31" in converted.sources["diagnosis.disease_state"]["metastatic"]


def test_odd_strings_stay_odd_strings_through_convert_and_why(decider: Decider, tmp_path: Path) -> None:
    b = _bundle()
    odd_condition = "x'), evil((' \u001b[31mRED\nnext line"
    odd_drug = "odd\u202edrug\r\n# injected: yes"
    _resource(b, "primary-cancer")["code"] = {"text": odd_condition}
    _resource(b, "ms-carboplatin")["medicationCodeableConcept"] = {"text": odd_drug}
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(b))
    converted = CliRunner().invoke(main, ["convert", str(path)])
    assert converted.exit_code == 0, converted.output
    doc = yaml.safe_load(converted.stdout)
    assert doc["diagnosis"]["condition"] == odd_condition and odd_drug in doc["prior_therapies"]
    why = CliRunner().invoke(main, ["why", str(path), "--payer", "cigna"])
    for out in (converted.stdout, why.stdout):
        assert not any(ch in out for ch in "\u001b\u202e\r"), "a control character reached the terminal"
    assert "is not a condition the vocabulary knows" in why.stdout


@pytest.mark.parametrize("bundle", sorted(TWINS))
def test_why_and_compare_say_of_a_bundle_what_they_say_of_its_twin(bundle: str) -> None:
    """The same text, line for line, apart from the file's name and the `from` lines citing resources."""
    def said(command: str, path: Path, *options: str) -> str:
        result = CliRunner().invoke(main, [command, str(path), *options])
        assert result.exit_code == 0, result.output
        text = result.stdout.replace(str(path), "FILE")
        lines, cited = [], None  # cited: the indent of the `from` line being skipped
        for line in text.splitlines():
            indent = len(line) - len(line.lstrip())
            if line.lstrip().startswith("from "):
                cited = indent
            elif cited is None or indent != cited + 2:  # not the wrapped rest of a `from` line
                cited = None
                lines.append(line)
        return "\n".join(lines)

    twin = FHIR / TWINS[bundle]
    for payer in ("centene", "cigna"):
        assert said("why", FHIR / bundle, "--payer", payer) == said("why", twin, "--payer", payer)
    assert said("compare", FHIR / bundle, "--json") == said("compare", twin, "--json")
    assert said("compare", FHIR / bundle) == said("compare", twin)
