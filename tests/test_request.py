"""The request loader (REQUESTS.md): bad input is a RequestError naming file and field; facts are data."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from lumakras_logic.request import RequestError, load_request, parse_request

TODAY = dt.date(2026, 6, 1)


def write(tmp_path: Path, text: str, name: str = "req.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def rejected(path: Path, field: str) -> RequestError:
    with pytest.raises(RequestError) as info:
        load_request(path, today=TODAY)
    err = info.value
    message = str(err)
    assert err.source == str(path)
    assert err.field == field
    assert message.startswith(f"{path}: ")
    if field:
        assert f": {field}: " in message
    assert "\n" not in message, message
    return err


def facts_of(doc, rid: int = 7):
    return parse_request(doc, "r.yaml", today=TODAY).facts(rid)


# --------------------------------------------------------------------------------------------------------
# Documents that cannot be read
# --------------------------------------------------------------------------------------------------------


def test_not_yaml(tmp_path):
    err = rejected(write(tmp_path, "id: [unclosed\nmember: {age: 3\n"), "")
    assert "YAML" in err.message


def test_not_json(tmp_path):
    err = rejected(write(tmp_path, "{id: 'no quotes'", "req.json"), "")
    assert "JSON" in err.message


def test_json_request_is_read(tmp_path):
    path = write(tmp_path, json.dumps({"id": "J-1", "member": {"age": 40}}), "req.json")
    req = load_request(path, today=TODAY)
    assert req.id == "J-1"
    assert req.scalars["member.age"] == 40


def test_other_suffix_is_rejected(tmp_path):
    rejected(write(tmp_path, "id: X\n", "req.txt"), "")


def test_missing_file(tmp_path):
    rejected(tmp_path / "nope.yaml", "")


@pytest.mark.parametrize("text", ["- id: X\n- id: Y\n", "just text\n", "", "42\n"])
def test_document_must_be_a_mapping(tmp_path, text):
    rejected(write(tmp_path, text), "(document)")


def test_list_instead_of_mapping_in_json(tmp_path):
    rejected(write(tmp_path, json.dumps([{"id": "X"}]), "req.json"), "(document)")


@pytest.mark.parametrize("text", ["member: {age: 60}\n", "id:\nmember: {age: 60}\n", "id: null\n"])
def test_missing_id(tmp_path, text):
    rejected(write(tmp_path, text), "id")


# --------------------------------------------------------------------------------------------------------
# Wrong types and values, each naming its field
# --------------------------------------------------------------------------------------------------------

BAD_FIELDS = [
    ("member:\n  age: sixty\n", "member.age"),
    ("member:\n  age: -3\n", "member.age"),
    ("member:\n  age: 1.5\n", "member.age"),
    ("member:\n  age: '64'\n", "member.age"),
    ("member:\n  age: true\n", "member.age"),
    ("member:\n  age: .nan\n", "member.age"),
    ("member:\n  birth_date: yesterday\n", "member.birth_date"),
    ("member: 64\n", "member"),
    ("medication:\n  dose_mg_per_day: 960mg\n", "medication.dose_mg_per_day"),
    ("medication:\n  dose_mg_per_day: 0\n", "medication.dose_mg_per_day"),
    ("medication:\n  dose_mg_per_day: -960\n", "medication.dose_mg_per_day"),
    ("medication:\n  dose_mg_per_day: .inf\n", "medication.dose_mg_per_day"),
    ("medication:\n  dose_evidence: 'yes'\n", "medication.dose_evidence"),
    ("medication:\n  dose_evidence: 'true'\n", "medication.dose_evidence"),
    ("medication:\n  generic_unsuitable: 1\n", "medication.generic_unsuitable"),
    ("medication:\n  product: krazati\n", "medication.product"),
    ("medication:\n  with: {drug: x}\n", "medication.with"),
    ("medication:\n  with: [panitumumab, [nested]]\n", "medication.with[1]"),
    ("medication:\n  with: [panitumumab, '  ']\n", "medication.with[1]"),
    ("prescriber:\n  oncologist_consulted: 'yes'\n", "prescriber.oncologist_consulted"),
    ("prescriber:\n  specialty: [oncology]\n", "prescriber.specialty"),
    ("continuation:\n  responding: 'true'\n", "continuation.responding"),
    ("continuation:\n  via_plan_benefit: 'no'\n", "continuation.via_plan_benefit"),
    ("continuation:\n  days_on_therapy: 30.5\n", "continuation.days_on_therapy"),
    ("continuation:\n  new_dose_mg_per_day: 0\n", "continuation.new_dose_mg_per_day"),
    ("unable_to_tolerate_combination: 'yes'\n", "unable_to_tolerate_combination"),
    ("diagnosis:\n  disease_state: stage4\n", "diagnosis.disease_state[0]"),
    ("diagnosis:\n  disease_state: [metastatic, stage4]\n", "diagnosis.disease_state[1]"),
    ("diagnosis:\n  kras_g12c: maybe\n", "diagnosis.kras_g12c"),
    ("diagnosis:\n  kras_g12c: true\n", "diagnosis.kras_g12c"),
    ("diagnosis:\n  kras_test: pcr\n", "diagnosis.kras_test"),
    ("diagnosis:\n  condition: ''\n", "diagnosis.condition"),
    ("line_of_business: medicare\n", "line_of_business"),
    ("line_of_business: [medicaid]\n", "line_of_business"),
    ("request_type: renewal\n", "request_type"),
    ("requested_months: 0\n", "requested_months"),
    ("requested_months: 6.5\n", "requested_months"),
    ("payer: aetna\n", "payer"),
    ("date: soon\n", "date"),
    ("prior_therapies: 12\n", "prior_therapies"),
    ("prior_therapies: {a: b}\n", "prior_therapies"),
    ("intolerant_to: [true]\n", "intolerant_to[0]"),
    ("prior_therapy: [carboplatin]\n", "prior_therapy"),
    ("member:\n  age: 60\n  weight: 70\n", "member.weight"),
    ("diagnosis:\n  condition: nsclc\n  kras: positive\n", "diagnosis.kras"),
    ("medication:\n  dose: 960\n", "medication.dose"),
]


@pytest.mark.parametrize("body, field", BAD_FIELDS, ids=[f for _, f in BAD_FIELDS])
def test_bad_field(tmp_path, body, field):
    rejected(write(tmp_path, "id: BAD-1\ndate: 2026-03-01\n" + body), field)


@pytest.mark.parametrize("body, field", [
    ("date: 2026-13-01\n", "date"),
    ("member:\n  birth_date: 1961-02-30\n", "member.birth_date"),
], ids=["date", "member.birth_date"])
def test_impossible_calendar_date_in_yaml_is_a_request_error(tmp_path, body, field):
    """YAML reads 2026-13-01 as a timestamp and PyYAML raises ValueError while constructing it: the loader
    must still answer with a RequestError naming the file and the field, not a traceback."""
    rejected(write(tmp_path, "id: BAD-D\n" + body), field)


def test_impossible_calendar_date_in_json_is_a_request_error(tmp_path):
    rejected(write(tmp_path, json.dumps({"id": "BAD-D", "date": "2026-13-01"}), "req.json"), "date")


@pytest.mark.parametrize("name, text", [
    ("t.yaml", "id: T\ndate: 2026-03-01T10:30:00\nmember:\n  birth_date: 1961-05-02 00:00:00\n"),
    ("t.json", json.dumps({"id": "T", "date": "2026-03-01T10:30:00", "member": {"birth_date": "1961-05-02"}})),
], ids=["yaml", "json"])
def test_iso_datetime_is_read_as_its_date(tmp_path, name, text):
    """REQUESTS.md: `date` is ISO 8601; the reader turns a datetime into its date (Reader.date)."""
    req = load_request(write(tmp_path, text, name), today=TODAY)
    assert req.date == dt.date(2026, 3, 1)
    assert req.scalars["member.age"] == 64


def test_birth_date_after_the_request_date(tmp_path):
    err = rejected(write(tmp_path, "id: B\ndate: 2026-03-01\nmember:\n  birth_date: 2026-03-02\n"),
                   "member.birth_date")
    assert "2026-03-01" in err.message


def test_age_and_birth_date_disagree(tmp_path):
    err = rejected(write(tmp_path, "id: B\ndate: 2026-03-01\nmember:\n  age: 50\n  birth_date: 1961-05-02\n"),
                   "member.age")
    assert "64" in err.message


def test_age_and_birth_date_agree(tmp_path):
    req = load_request(write(tmp_path, "id: B\ndate: 2026-03-01\nmember:\n  age: 64\n  birth_date: 1961-05-02\n"),
                       today=TODAY)
    assert req.scalars["member.age"] == 64


def test_unknown_field_name_with_a_newline_gives_a_one_line_error(tmp_path):
    with pytest.raises(RequestError) as info:
        load_request(write(tmp_path, 'id: N\n"prior\\ntherapies": [x]\n'), today=TODAY)
    assert "\n" not in str(info.value), str(info.value)


def test_unknown_section_field_name_with_a_newline_gives_a_one_line_error(tmp_path):
    with pytest.raises(RequestError) as info:
        load_request(write(tmp_path, 'id: N\nmember:\n  "a\\nb": 1\n'), today=TODAY)
    assert "\n" not in str(info.value), str(info.value)


def test_error_for_a_bad_value_repeats_the_value(tmp_path):
    err = rejected(write(tmp_path, "id: X\nline_of_business: medicare\n"), "line_of_business")
    assert "medicare" in err.message
    assert "commercial" in err.message


# --------------------------------------------------------------------------------------------------------
# Accepted input
# --------------------------------------------------------------------------------------------------------


def test_extension_fields_are_accepted_and_carried_nowhere():
    doc = {"id": "E", "x_note": "mine", "x-source": {"a": 1},
           "member": {"age": 40, "x_weight": 70}, "diagnosis": {"condition": "nsclc", "x_stage": "IV"}}
    facts = facts_of(doc)
    assert ("value", 7, "member.age", 40) in facts
    assert not [f for f in facts if any("x_" in str(part) or "x-" in str(part) for part in f)]


def test_absent_and_documented_as_not_are_different_facts():
    empty = facts_of({"id": "A", "medication": {"with": []}, "prior_therapies": []})
    absent = facts_of({"id": "A", "medication": {}})
    assert ("listed", 7, "medication.with") in empty
    assert ("listed", 7, "prior_therapies") in empty
    assert not [f for f in empty if f[0] == "item"]
    assert not [f for f in absent if f[0] in ("listed", "item")]


def test_false_is_a_fact_absent_is_none():
    false = facts_of({"id": "F", "medication": {"dose_evidence": False}})
    absent = facts_of({"id": "F"})
    assert ("value", 7, "medication.dose_evidence", False) in false
    assert not [f for f in absent if f[0] == "value" and f[2] == "medication.dose_evidence"]


def test_only_the_request_facts_when_nothing_is_documented():
    facts = facts_of({"id": "Z", "date": "2026-03-01"})
    assert sorted(facts, key=str) == sorted([
        ("request", 7), ("request_date", 7, 20260301), ("value", 7, "request_type", "initial"),
    ], key=str)


def test_names_are_normalized():
    doc = {"id": "N", "prior_therapies": ["  KEYTRUDA ", "Keytruda   Qlex", "carboplatin\t"],
           "medication": {"with": ["VectiBix"]}, "intolerant_to": ["EGFR_Inhibitor"],
           "diagnosis": {"condition": " Non-Small Cell  Lung-Cancer "},
           "prescriber": {"specialty": "Medical  Oncology"}}
    req = parse_request(doc, "r.yaml", today=TODAY)
    assert req.lists["prior_therapies"] == ["keytruda", "keytruda qlex", "carboplatin"]
    assert req.lists["medication.with"] == ["vectibix"]
    assert req.lists["intolerant_to"] == ["egfr_inhibitor"]
    assert req.scalars["diagnosis.condition"] == "non_small_cell_lung_cancer"
    assert req.scalars["prescriber.specialty"] == "medical_oncology"
    assert req.display("vectibix") == "VectiBix"


def test_enumerations_are_case_insensitive():
    req = parse_request({"id": "C", "line_of_business": " Medicaid ", "request_type": "Continuation",
                         "diagnosis": {"kras_g12c": "POSITIVE", "disease_state": ["Locally Advanced"]}},
                        "r.yaml", today=TODAY)
    assert req.scalars["line_of_business"] == "medicaid"
    assert req.scalars["request_type"] == "continuation"
    assert req.scalars["diagnosis.kras_g12c"] == "positive"
    assert req.lists["diagnosis.disease_state"] == ["locally_advanced"]


def test_condition_alias_becomes_the_canonical_value(decider):
    req = decider.parse({"id": "C", "diagnosis": {"condition": "Colon"}}, "r.yaml")
    assert ("value", 3, "diagnosis.condition", "colorectal") in req.facts(3, decider.kb.value_aliases)
    assert req.display("colon") == "Colon"


def test_duplicate_list_entries_give_one_item_fact():
    facts = facts_of({"id": "D", "prior_therapies": ["Keytruda", "keytruda", "KEYTRUDA "]})
    assert [f for f in facts if f[0] == "item"] == [("item", 7, "prior_therapies", "keytruda")]


def test_single_name_is_a_list_of_one():
    facts = facts_of({"id": "S", "prior_therapies": "carboplatin"})
    assert ("item", 7, "prior_therapies", "carboplatin") in facts


@pytest.mark.parametrize("born, age", [
    ("1961-05-02", 64),  # birthday later in the year
    ("1961-03-01", 65),  # birthday on the request date
    ("1961-03-02", 64),  # birthday the day after
    ("1960-02-29", 66),  # leap-day birthday
    ("2026-03-01", 0),   # born on the request date
])
def test_birth_date_gives_age_on_the_request_date(born, age):
    req = parse_request({"id": "B", "date": "2026-03-01", "member": {"birth_date": born}}, "r.yaml", today=TODAY)
    assert req.scalars["member.age"] == age
    assert ("value", 7, "member.age", age) in req.facts(7)


def test_birth_date_without_a_date_uses_today():
    req = parse_request({"id": "B", "member": {"birth_date": "1961-06-02"}}, "r.yaml", today=TODAY)
    assert req.date == TODAY
    assert req.scalars["member.age"] == 64


def test_yaml_dates_and_string_dates_agree(tmp_path):
    a = load_request(write(tmp_path, "id: D\ndate: 2026-03-01\n", "a.yaml"), today=TODAY)
    b = load_request(write(tmp_path, json.dumps({"id": "D", "date": "2026-03-01"}), "b.json"), today=TODAY)
    assert a.date == b.date == dt.date(2026, 3, 1)


def test_request_type_defaults_to_initial():
    assert ("value", 7, "request_type", "initial") in facts_of({"id": "T"})


def test_numeric_id_is_text():
    assert parse_request({"id": 123}, "r.yaml", today=TODAY).id == "123"


# --------------------------------------------------------------------------------------------------------
# No string is ever evaluated: an odd value is carried verbatim as data
# --------------------------------------------------------------------------------------------------------

EVIL = "x'), evil(('"


def test_odd_string_is_carried_verbatim(decider, tmp_path):
    text = (f'id: "{EVIL}"\ndate: 2026-03-01\nline_of_business: medicaid\n'
            f'diagnosis:\n  condition: nsclc\n  disease_state: [metastatic]\n  kras_g12c: positive\n'
            f'prior_therapies: ["{EVIL}"]\nmedication:\n  with: ["{EVIL}"]\n'
            f'prescriber:\n  specialty: "{EVIL}"\n')
    path = write(tmp_path, text)
    req = load_request(path, decider.kb.payers(), TODAY)
    assert req.id == EVIL
    facts = req.facts(11, decider.kb.value_aliases)
    assert ("item", 11, "prior_therapies", EVIL) in facts
    assert ("item", 11, "medication.with", EVIL) in facts
    assert ("value", 11, "prescriber.specialty", "x'),_evil(('") in facts

    answers = decider.answer(req, "all")
    assert [a["request"] for a in answers] == [EVIL, EVIL]
    centene, cigna = answers
    assert centene["decision"] == "pend"
    near = {p["pathway"]: p for p in centene["closest"]}["I.A"]
    statuses = {c["id"]: c for c in near["criteria"]}
    assert statuses["I.A.6"]["status"] == "not_documented"
    assert statuses["I.A.6"]["because"] == [f"unknown drug '{EVIL}': not classified"]
    assert statuses["I.A.5"]["status"] == "not_documented"
    status = decider.engine.decide(req, "centene").status
    assert status["I.A.2.specialty"] == "not_met"  # an odd specialty is just not an oncologist
    assert cigna["decision"] == "pend"
    assert any(t.get("name") == EVIL for t in cigna["to_document"])


def test_odd_string_does_not_create_a_predicate(decider):
    from lumakras_logic.kb import KbError, query

    req = decider.parse({"id": "E", "line_of_business": "commercial", "prior_therapies": [EVIL]}, "e.yaml")
    decider.answer(req, "all")
    with pytest.raises(KbError):
        query("evil", "?X")


def test_field_types_name_every_field_the_reader_reads() -> None:
    from lumakras_logic.request import _SECTION_FIELDS, _TOP_FIELDS, FIELD_TYPES

    read = {f"{section}.{key}" for section, fields in _SECTION_FIELDS.items() for key, (kind, _r) in fields.items()
            if kind != "special"} | set(_TOP_FIELDS)
    assert read == set(FIELD_TYPES)
