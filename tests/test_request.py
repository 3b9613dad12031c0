"""The request loader (REQUESTS.md): bad input is a RequestError naming file and field; facts are data."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lumakras_logic.core.names import split_entry
from lumakras_logic.core.request import FIELD_TYPES, RequestError, load_request, parse_request

TODAY = dt.date(2026, 6, 1)
ROOT = Path(__file__).resolve().parent.parent


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
    head = "id: BAD-1\n" + ("" if body.startswith("date:") else "date: 2026-03-01\n")
    rejected(write(tmp_path, head + body), field)


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
    # every field the format defines but request_type (its default) is omitted: absent, not false
    omitted = {f[2] for f in facts if f[0] == "omitted"}
    assert omitted == set(FIELD_TYPES) - {"request_type"}
    assert sorted((f for f in facts if f[0] != "omitted"), key=str) == sorted([
        ("request", 7), ("request_date", 7, 20260301), ("value", 7, "request_type", "initial"),
    ], key=str)


def test_omitted_is_exactly_not_documented():
    doc = {"id": "O", "medication": {"dose_evidence": False, "with": []}, "member": {"age": 40}}
    facts = facts_of(doc)
    omitted = {f[2] for f in facts if f[0] == "omitted"}
    documented = {f[2] for f in facts if f[0] in ("value", "listed")}
    assert not omitted & documented
    assert omitted | documented == set(FIELD_TYPES)
    assert {"medication.dose_evidence", "medication.with", "member.age"} <= documented  # false and [] are given


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
    assert [a.request for a in answers] == [EVIL, EVIL]
    centene, cigna = answers
    assert centene.decision == "pend"
    near = {p.pathway: p for p in centene.closest}["I.A"]
    statuses = {c.id: c for c in near.criteria}
    assert statuses["I.A.6"].status == "not_documented"
    # the entry is split like any other (x'), evil and '), each part unknown and carried as data
    assert statuses["I.A.6"].because and all("may be any drug" in b or "not classified" in b
                                             for b in statuses["I.A.6"].because)
    assert statuses["I.A.5"].status == "not_documented"
    status = decider.engine.decide(req, "centene").status
    assert status["I.A.2.specialty"] == "not_met"  # an odd specialty is just not an oncologist
    assert cigna.decision == "pend"
    pieces = {EVIL, *split_entry(EVIL, lambda key: False)}  # x'), evil and ', as written
    assert any(t.name in pieces for t in cigna.to_document)


def test_odd_string_does_not_create_a_predicate(decider):
    from lumakras_logic.core.kb import KbError, query

    req = decider.parse({"id": "E", "line_of_business": "commercial", "prior_therapies": [EVIL]}, "e.yaml")
    decider.answer(req, "all")
    with pytest.raises(KbError):
        query("evil", "?X")


def test_every_field_of_the_table_is_read_from_its_example() -> None:
    """The field table (request.FIELDS) is what the loader reads: a request made of every field's example
    is read whole, each field into the fact it names, and FIELD_TYPES is the table less what is read apart."""
    from lumakras_logic.core.request import FIELD_TYPES, FIELDS

    doc: dict = {}
    for path, spec in FIELDS.items():
        section, _, name = path.rpartition(".")
        (doc.setdefault(section, {}) if section else doc)[name] = spec.example
    doc["member"].pop("age")  # the birth date gives it (64 on the example's date)
    req = parse_request(doc, "every-field.yaml", ("centene", "cigna"))
    assert set(req.scalars) | set(req.lists) == set(FIELD_TYPES)
    assert req.scalars["member.age"] == 64 and req.id == "REQ-0001" and req.payer == "centene"
    assert set(FIELD_TYPES) == {p for p, s in FIELDS.items() if s.kind not in ("id", "date", "payer")}


# --------------------------------------------------------------------------------------------------------
# Every problem of a file, one line each (issue 10)
# --------------------------------------------------------------------------------------------------------

THREE_PROBLEMS = ("id: P-3\ndate: 2026-03-01\nline_of_business: medicare\n"
                  "diagnosis:\n  condition: nsclc\n  kras_g12C: positive\n"
                  "member:\n  age: sixty\n")


def problems_of(doc) -> RequestError:
    with pytest.raises(RequestError) as info:
        parse_request(doc, "r.yaml", today=TODAY)
    err = info.value
    assert err.problems[0] is err
    for problem in err.problems:
        assert "\n" not in str(problem)
        assert str(problem).startswith("r.yaml: ")
    return err


def test_every_problem_is_collected_in_document_order(tmp_path):
    path = write(tmp_path, THREE_PROBLEMS)
    err = rejected(path, "line_of_business")
    assert [p.field for p in err.problems] == ["line_of_business", "diagnosis.kras_g12C", "member.age"]
    assert str(err) == str(err.problems[0])
    assert all(str(p).startswith(f"{path}: {p.field}: ") for p in err.problems)


def test_a_single_problem_is_its_own_only_problem(tmp_path):
    err = rejected(write(tmp_path, "id: X\nrequest_type: renewal\n"), "request_type")
    assert err.problems == [err]


def test_problems_at_every_level_and_in_list_entries():
    err = problems_of({"id": "M", "prior_therapy": ["x"], "x_mine": 1,
                       "diagnosis": {"disease_state": ["metastatic", "stage4", "metastasis"], "kras": "positive"},
                       "member": {"age": -1, "weight": 70},
                       "medication": {"with": ["panitumumab", "", ["nested"]], "dose_mg_per_day": "960mg"},
                       "prescriber": "oncology",
                       "intolerant_to": [True]})
    assert [p.field for p in err.problems] == [
        "prior_therapy", "diagnosis.disease_state[1]", "diagnosis.disease_state[2]", "diagnosis.kras",
        "member.age", "member.weight", "medication.with[1]", "medication.with[2]", "medication.dose_mg_per_day",
        "prescriber", "intolerant_to[0]"]


def test_a_missing_id_comes_first():
    err = problems_of({"request_type": "renewal", "member": {"age": "x"}})
    assert [p.field for p in err.problems] == ["id", "request_type", "member.age"]


def test_age_and_birth_date_disagreeing_is_one_problem_among_others():
    err = problems_of({"id": "B", "member": {"age": 50, "birth_date": "1961-05-02"}, "date": "2026-03-01",
                       "request_type": "renewal"})
    assert [p.field for p in err.problems] == ["request_type", "member.age"]
    assert "64" in err.problems[1].message


def test_birth_date_after_a_bad_request_date_is_not_judged():
    """With the request date unreadable, the birth date cannot be compared with it: one problem, not two."""
    err = problems_of({"id": "B", "date": "soon", "member": {"birth_date": "2030-01-01"}})
    assert [p.field for p in err.problems] == ["date"]


def test_a_document_that_is_not_a_mapping_is_one_problem():
    err = problems_of(["id", "X"])
    assert [p.field for p in err.problems] == ["(document)"]


def test_several_problems_print_one_line_each_through_the_cli(tmp_path):
    script = Path(sys.executable).parent / "lumakras"
    path = write(tmp_path, THREE_PROBLEMS)
    proc = subprocess.run([str(script), "decide", str(path), "--payer", "cigna"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 3, proc.stderr
    for line, field in zip(lines, ["line_of_business", "diagnosis.kras_g12C", "member.age"], strict=True):
        assert line.startswith(f"lumakras: {path}: {field}: "), line
    assert proc.stdout == ""


def test_a_bad_file_among_good_ones_prints_its_problems_and_the_others_go_on(decider, tmp_path):
    bad = write(tmp_path, THREE_PROBLEMS, "bad.yaml")
    good = write(tmp_path, "id: G\nline_of_business: commercial\n", "good.yaml")
    outcomes = list(decider.answer_files([bad, good], "cigna"))
    assert [o.source for o in outcomes] == [str(bad), str(good)]
    assert len(outcomes[0].error.problems) == 3 and outcomes[0].answers == []
    assert outcomes[1].error is None and [a.request for a in outcomes[1].answers] == ["G"]


# --------------------------------------------------------------------------------------------------------
# Suggestions: never a silent correction
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("doc, field, hint", [
    ({"diagnosis": {"kras_g12C": "positive"}}, "diagnosis.kras_g12C", "(did you mean kras_g12c?)"),
    ({"prior_therapy": ["carboplatin"]}, "prior_therapy", "(did you mean prior_therapies?)"),
    ({"diagnosis": {"kras": "positive"}}, "diagnosis.kras", "(did you mean kras_g12c or kras_test?)"),
    ({"medication": {"withh": []}}, "medication.withh", "(did you mean with?)"),
    ({"prior_therapies": [{"name": "XR-1", "knid": "investigational_agent"}]}, "prior_therapies[0].knid",
     "(did you mean kind?)"),
], ids=lambda v: v if isinstance(v, str) and "(" not in v else None)
def test_unknown_field_names_the_nearest_known_field(doc, field, hint):
    err = problems_of({"id": "S", **doc})
    assert err.field == field
    assert hint in err.message
    assert "unknown field" in err.message


def test_unknown_field_with_nothing_close_has_no_suggestion():
    err = problems_of({"id": "S", "member": {"weight": 70}})
    assert err.field == "member.weight"
    assert "did you mean" not in err.message


@pytest.mark.parametrize("doc, field, hint", [
    ({"line_of_business": "medicare"}, "line_of_business", "(did you mean medicaid?)"),
    ({"diagnosis": {"kras_test": "fda-approved-test"}}, "diagnosis.kras_test", "(did you mean fda_approved?)"),
    ({"diagnosis": {"disease_state": "metastasis"}}, "diagnosis.disease_state[0]", "(did you mean metastatic?)"),
    ({"diagnosis": {"histology": "adenocarcinom"}}, "diagnosis.histology", "(did you mean adenocarcinoma?)"),
    ({"payer": "centine"}, "payer", "(did you mean centene?)"),
])
def test_unknown_value_names_the_nearest_choice(doc, field, hint):
    err = problems_of({"id": "S", **doc})
    assert err.field == field
    assert hint in err.message


@pytest.mark.parametrize("doc", [{"request_type": "renewal"}, {"diagnosis": {"kras_test": "pcr"}},
                                 {"diagnosis": {"disease_state": "stage4"}}, {"payer": "aetna"}])
def test_unknown_value_with_nothing_close_has_no_suggestion(doc):
    assert "did you mean" not in problems_of({"id": "S", **doc}).message


def test_a_clean_request_does_not_import_rapidfuzz():
    code = ("import sys, lumakras_logic.core.request as r\n"
            "r.parse_request({'id': 'C', 'line_of_business': 'medicaid', 'prior_therapies': ['x']}, 'c.yaml')\n"
            "print('rapidfuzz' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr


# --------------------------------------------------------------------------------------------------------
# Drug-list entries: parts (item_part) and {name, kind} (item_kind)
# --------------------------------------------------------------------------------------------------------


def knows(*names: str):
    keys = set(names)
    return lambda key: key in keys


def facts_known(doc, known, rid: int = 7):
    req = parse_request(doc, "r.yaml", today=TODAY)
    return req, req.facts(rid, known=known)


def of(facts, kind: str):
    return [f for f in facts if f[0] == kind]


def test_without_known_each_entry_is_its_own_only_part():
    facts = facts_of({"id": "P", "prior_therapies": ["Krazati (adagrasib)", "carboplatin"]})
    assert of(facts, "item_part") == [("item_part", 7, "prior_therapies", "krazati (adagrasib)", "krazati (adagrasib)"),
                                      ("item_part", 7, "prior_therapies", "carboplatin", "carboplatin")]


def test_entries_are_split_into_name_keyed_parts_on_every_drug_list():
    req, facts = facts_known({"id": "P", "prior_therapies": ["Krazati (Adagrasib)", "FOLFOX + trifluridine/tipiracil"],
                              "medication": {"with": ["adagrasib/Cetuximab"]},
                              "intolerant_to": ["EGFR inhibitor"]},
                             knows("trifluridine/tipiracil", "egfr inhibitor"))
    assert of(facts, "item_part") == [
        ("item_part", 7, "prior_therapies", "krazati (adagrasib)", "krazati"),
        ("item_part", 7, "prior_therapies", "krazati (adagrasib)", "adagrasib"),
        ("item_part", 7, "prior_therapies", "folfox + trifluridine/tipiracil", "folfox"),
        ("item_part", 7, "prior_therapies", "folfox + trifluridine/tipiracil", "trifluridine/tipiracil"),
        ("item_part", 7, "medication.with", "adagrasib/cetuximab", "adagrasib"),
        ("item_part", 7, "medication.with", "adagrasib/cetuximab", "cetuximab"),
        ("item_part", 7, "intolerant_to", "egfr inhibitor", "egfr inhibitor"),
    ]
    assert ("item", 7, "prior_therapies", "krazati (adagrasib)") in facts
    assert of(facts, "item_kind") == []
    # parts are shown as the request wrote them
    assert [req.display(k) for k in ("krazati", "adagrasib", "folfox", "cetuximab")] == \
        ["Krazati", "Adagrasib", "FOLFOX", "Cetuximab"]


def test_a_known_entry_is_not_split():
    _, facts = facts_known({"id": "P", "prior_therapies": ["Capecitabine + Oxaliplatin"]},
                           knows("capecitabine + oxaliplatin"))
    assert of(facts, "item_part") == [("item_part", 7, "prior_therapies", "capecitabine + oxaliplatin",
                                       "capecitabine + oxaliplatin")]


def test_duplicate_entries_give_one_set_of_parts():
    _, facts = facts_known({"id": "P", "prior_therapies": ["a/b", "A/B"]}, knows())
    assert of(facts, "item_part") == [("item_part", 7, "prior_therapies", "a/b", "a"),
                                      ("item_part", 7, "prior_therapies", "a/b", "b")]


def test_other_lists_have_no_parts():
    _, facts = facts_known({"id": "P", "diagnosis": {"disease_state": ["metastatic"]}}, knows())
    assert of(facts, "item") == [("item", 7, "diagnosis.disease_state", "metastatic")]
    assert of(facts, "item_part") == []


def test_a_list_built_by_other_code_keeps_working():
    """abstraction.py and the diff fill request.lists directly: each entry is its own only part."""
    from lumakras_logic.core.request import Request

    req = Request(id="A", source="(abstraction)", date=TODAY, payer=None)
    req.lists["prior_therapies"] = ["krazati", "a/b"]
    req.lists["diagnosis.disease_state"] = ["metastatic"]
    facts = req.facts(7, known=knows())
    assert of(facts, "item_part") == [("item_part", 7, "prior_therapies", "krazati", "krazati"),
                                      ("item_part", 7, "prior_therapies", "a/b", "a/b")]
    assert req.parts("prior_therapies", "a/b", knows()) == ["a/b"]


def test_name_and_kind_entry_gives_item_and_item_kind_and_no_part():
    req, facts = facts_known({"id": "K", "prior_therapies": [{"name": "XR-123", "kind": "investigational_agent"},
                                                             "carboplatin"],
                              "medication": {"with": [{"name": " ABC  99 ", "kind": "EGFR Inhibitor"}]}},
                             knows("carboplatin"))
    assert ("item", 7, "prior_therapies", "xr-123") in facts
    assert ("item", 7, "medication.with", "abc 99") in facts
    assert of(facts, "item_kind") == [("item_kind", 7, "prior_therapies", "xr-123", "investigational_agent"),
                                      ("item_kind", 7, "medication.with", "abc 99", "egfr inhibitor")]
    assert of(facts, "item_part") == [("item_part", 7, "prior_therapies", "carboplatin", "carboplatin")]
    assert req.lists["prior_therapies"] == ["xr-123", "carboplatin"]
    assert req.kinds == {"prior_therapies": {"xr-123": "investigational_agent"},
                         "medication.with": {"abc 99": "egfr inhibitor"}}
    assert req.display("xr-123") == "XR-123"
    # without `known` too: a {name, kind} entry never has parts
    assert of(req.facts(7), "item_part") == [("item_part", 7, "prior_therapies", "carboplatin", "carboplatin")]


def test_name_and_kind_json(tmp_path):
    doc = {"id": "K", "intolerant_to": [{"name": "XR-1", "kind": "investigational_agent"}]}
    path = write(tmp_path, json.dumps(doc), "k.json")
    facts = load_request(path, today=TODAY).facts(7)
    assert ("item_kind", 7, "intolerant_to", "xr-1", "investigational_agent") in facts


@pytest.mark.parametrize("entry, field", [
    ({"name": "XR-1"}, "prior_therapies[1].kind"),
    ({"kind": "investigational_agent"}, "prior_therapies[1].name"),
    ({"name": "XR-1", "kind": "investigational_agent", "dose": 3}, "prior_therapies[1].dose"),
    ({"name": ["XR-1"], "kind": "investigational_agent"}, "prior_therapies[1].name"),
    ({"name": "XR-1", "kind": "  "}, "prior_therapies[1].kind"),
    ({"name": "XR-1", "kind": None}, "prior_therapies[1].kind"),
    ({}, "prior_therapies[1].name"),
    ({1: "x", "name": "XR-1", "kind": "k"}, "prior_therapies[1]"),
], ids=["no kind", "no name", "extra key", "name not text", "empty kind", "null kind", "empty", "key not text"])
def test_bad_name_and_kind_entry_names_its_field(entry, field):
    err = problems_of({"id": "K", "prior_therapies": ["carboplatin", entry]})
    assert err.field == field


def test_bad_name_and_kind_messages():
    err = problems_of({"id": "K", "prior_therapies": ["carboplatin", {"name": "XR-1"}, {"name": "Y", "kind": "k",
                                                                                      "note": "n"}]})
    assert [str(p) for p in err.problems] == [
        "r.yaml: prior_therapies[1].kind: required (an entry written as a mapping has name and kind)",
        "r.yaml: prior_therapies[2].note: unknown field (an entry written as a mapping has exactly name and kind)",
    ]


def test_a_mapping_in_place_of_the_list_says_where_it_goes():
    err = problems_of({"id": "K", "prior_therapies": {"name": "XR-1", "kind": "investigational_agent"}})
    assert err.field == "prior_therapies"
    assert "entry of a list" in err.message


# --------------------------------------------------------------------------------------------------------
# diagnosis.histology
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("written, value", [("adenocarcinoma", "adenocarcinoma"), ("Squamous Cell", "squamous_cell"),
                                            ("small-cell", "small_cell"), ("NEUROENDOCRINE", "neuroendocrine"),
                                            ("other", "other")])
def test_histology_is_a_choice(written, value):
    facts = facts_of({"id": "H", "diagnosis": {"condition": "C34.90", "histology": written}})
    assert ("value", 7, "diagnosis.histology", value) in facts
    assert ("value", 7, "diagnosis.condition", "c34.90") in facts


def test_bad_histology_is_rejected():
    err = problems_of({"id": "H", "diagnosis": {"histology": "large cell"}})
    assert err.field == "diagnosis.histology"
    assert "adenocarcinoma, squamous_cell, small_cell, neuroendocrine, other" in err.message


def test_histology_absent_is_no_fact():
    assert not [f for f in facts_of({"id": "H", "diagnosis": {"condition": "nsclc"}})
                if f[0] == "value" and f[2] == "diagnosis.histology"]


def test_histology_field_type():
    from lumakras_logic.core.request import FIELD_TYPES, HISTOLOGIES

    assert FIELD_TYPES["diagnosis.histology"] == ("choice", HISTOLOGIES)
    assert HISTOLOGIES == ("adenocarcinoma", "squamous_cell", "small_cell", "neuroendocrine", "other")
