"""`lumakras compare`: the payers' answers side by side, aligned row by row per concept.

Every example request of queries/ is compared and checked for shape (each payer's focus pathways fill aligned
rows; a row that parts ways really has differing statuses). Then rows are asserted by hand from the two
policy texts (../shared/policies/), each assertion under the sentence of the policy it rests on. The CLI is
tested for --json, --format markdown, a payer that cannot read the request, an unreadable file, the third
payer of tests/fixtures/acme, and bad options.
"""

from __future__ import annotations

import glob
import json
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import ROOT, TODAY, shared_decider

from lumakras_logic.analysis.compare import (
    AGREES,
    DIFFERS,
    KINDS,
    ONE_SIDED,
    Comparer,
    Comparison,
    Row,
)
from lumakras_logic.cli.compare import compare_command
from lumakras_logic.core.policy import MET, NOT_DOCUMENTED, NOT_MET
from lumakras_logic.core.request import load_request

QUERIES = ROOT / "queries"
EXAMPLES = sorted([*QUERIES.rglob("*.yaml"), *QUERIES.rglob("*.json")])
ACME = ROOT / "tests" / "fixtures" / "acme"
WITH_ACME = ("--kb", str(ROOT / "kb"), "--kb", str(ACME / "kb"))

NO_LOB = """\
id: CMP-no-lob
date: 2026-03-01
member: {age: 64}
diagnosis: {condition: nsclc, disease_state: [metastatic], kras_g12c: positive, kras_test: fda_approved}
prescriber: {specialty: oncology}
medication: {product: lumakras, dose_mg_per_day: 960, with: []}
prior_therapies: [carboplatin]
"""


@pytest.fixture(scope="module")
def comparer() -> Comparer:
    return Comparer(shared_decider(), list(shared_decider().kb.payers()))


_cache: dict[str, Comparison] = {}


def compare(comparer: Comparer, name: str) -> Comparison:
    """The comparison of queries/NAME, computed once for the module."""
    if name not in _cache:
        _cache[name] = comparer.compare_file(QUERIES / name)
    return _cache[name]


def row(c: Comparison, concept: str) -> Row:
    found = [r for r in c.rows if r.concept == concept]
    assert len(found) == 1, (concept, [r.concept for r in c.rows])
    return found[0]


def cells(r: Row, payer: str) -> list[tuple[str, str]]:
    return [(cell.id, cell.status) for cell in r.cells[payer]]


def run(*args: str | Path) -> Result:
    """`lumakras compare ARGS` in-process; a crash is raised with its traceback, not passed as exit 1."""
    result = CliRunner().invoke(compare_command, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


# --------------------------------------------------------------------------------------------------------
# Every example request
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.relative_to(QUERIES).as_posix() for p in EXAMPLES])
def test_every_example_compares_with_aligned_rows(comparer: Comparer, path: Path):
    c = compare(comparer, path.relative_to(QUERIES).as_posix())
    assert list(c.payers) == ["centene", "cigna"]
    request = load_request(path, comparer.kb.payers(), comparer.decider.today, comparer.kb)
    derivations = comparer.decider.engine.decide_many(request, comparer.payers)
    for payer, answer in c.payers.items():
        assert answer.error is None, answer.error
        assert answer.focus, f"{payer} has no focus pathway"
        # every tagged criterion under the payer's focus pathways is on exactly one row
        d = derivations[payer]
        expected = {node for f in answer.focus
                    for node in comparer.concepts.tagged_under(payer, f.pathway, comparer.parts_of(d, f))}
        shown = [cell.id for r in c.rows for cell in r.cells[payer]]
        assert sorted(shown) == sorted(expected)
        for r in c.rows:
            for cell in r.cells[payer]:
                assert cell.status == d.status[cell.id]
                assert cell.text == comparer.kb.node(payer, cell.id).text
    # aligned: some concept is asked by both payers
    assert any(all(r.cells[p] for p in c.payers) for r in c.rows)
    # the groups come in order, by concept rank within each
    keys = [(KINDS.index(r.kind), r.rank) for r in c.rows]
    assert keys == sorted(keys)
    for r in c.rows:
        standings = {r.standing[p] or MET for p in c.payers}
        for p in c.payers:  # a payer whose criteria on the row all stand alike, none under a "not" (I.D's
            # "criterion 1 above does not apply"), stands so on the row
            if r.cells[p] and len({cell.status for cell in r.cells[p]}) == 1 and \
                    not negated(comparer, derivations[p], c.payers[p].focus, r.concept):
                assert r.standing[p] == r.cells[p][0].status, (r.concept, p, r.standing[p])
        if r.kind == DIFFERS:
            assert len(standings) > 1, r
            assert r.why and all(cell.id in r.why for p in c.payers for cell in r.cells[p]
                                 if cell.status == r.standing[p])
            assert all(comparer.kb.policies[p].id in r.why for p in c.payers)
        else:
            assert len(standings) == 1 and r.why is None, r
        if r.kind == AGREES:
            assert all(r.asks(p) for p in c.payers)
        if r.kind == ONE_SIDED:
            assert not all(r.asks(p) for p in c.payers)


def negated(comparer: Comparer, d, focus, concept: str) -> bool:
    """Whether a criterion on the concept lies under a "not" on the way down from a focus pathway (as the
    rows fold it: not into a criterion tagged with another concept)."""
    found = False

    def walk(node_id: str, odd: bool, parts) -> None:
        nonlocal found
        tag = comparer.concepts.of(d.payer, node_id)
        if tag is not None and tag != concept:
            return
        if tag == concept:
            found = found or odd
            return
        node = comparer.kb.node(d.payer, node_id)
        for part in parts(node_id):
            walk(part, odd != (node.how == "not"), parts)

    for f in focus:
        walk(f.pathway, False, comparer.parts_of(d, f))
    return found


def test_the_command_compares_a_folder_of_requests():
    result = run(QUERIES, "--today", TODAY.isoformat(), "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert sorted(Path(d["source"]).name for d in data) == sorted(p.name for p in EXAMPLES)


# --------------------------------------------------------------------------------------------------------
# Rows asserted by hand from the policy texts
# --------------------------------------------------------------------------------------------------------


def test_kras_test_other_cigna_asks_for_an_approved_test(comparer: Comparer):
    c = compare(comparer, "cigna-deny-nsclc-kras-test-other.yaml")
    # Centene I.A "Approval duration: Medicaid/HIM – 6 months / Commercial – 12 months or duration of request,
    # whichever is less": commercial, requested_months 6 -> 6. Cigna denies (1.B, below).
    assert (c.payers["centene"].decision, c.payers["centene"].pathway, c.payers["centene"].approval_months) == \
        ("approve", "I.A", 6)
    assert c.payers["cigna"].decision == "deny"
    assert [f.pathway for f in c.payers["cigna"].focus] == ["1"]
    # Cigna 1.B: "Patient has KRAS G12C-mutated locally advanced or metastatic NSCLC, as determined by an
    # approved test"; Centene I.A.4: "Disease is positive for KRAS G12C mutation" (no test named).
    r = row(c, "kras_test")
    assert r.kind == DIFFERS and c.rows[0] is r
    assert cells(r, "cigna") == [("1.B.test", NOT_MET)]
    assert cells(r, "centene") == []
    assert r.why is not None
    assert r.why.startswith('cigna (Lumakras PA) 1.B.test asks "As determined by an approved test" (not met: ')
    assert "centene (CP.PHAR.549) has no criterion on how the KRAS G12C mutation was determined" in r.why
    # ... while both find the result positive: Centene I.A.4 and Cigna 1.B ("KRAS G12C-mutated").
    kras = row(c, "kras_result")
    assert kras.kind == AGREES
    assert cells(kras, "centene") == [("I.A.4", MET)] and cells(kras, "cigna") == [("1.B.kras", MET)]
    assert [r.concept for r in c.rows if r.kind == DIFFERS] == ["kras_test"]


def test_pulmonologist_centene_asks_for_an_oncologist(comparer: Comparer):
    c = compare(comparer, "cigna-approve-nsclc-1-prescribed-by-pulmonologist.yaml")
    # Centene I.A.2: "Prescribed by or in consultation with an oncologist"; Cigna 1 (A, B and C) names no
    # prescriber. Pulmonology, not consulted: Centene denies, Cigna approves "for 1 year".
    assert (c.payers["centene"].decision, c.payers["cigna"].decision) == ("deny", "approve")
    assert c.payers["cigna"].approval_months == 12
    r = row(c, "prescriber")
    assert r.kind == DIFFERS
    assert cells(r, "centene") == [("I.A.2", NOT_MET)]
    assert cells(r, "cigna") == []
    assert r.why is not None and "I.A.2" in r.why and "pulmonology" in r.why
    assert [r.concept for r in c.rows if r.kind == DIFFERS] == ["prescriber"]


def test_crc_after_immunotherapy_only_prior_therapy_parts_ways(comparer: Comparer):
    c = compare(comparer, "cigna-deny-crc-immunotherapy-only.yaml")
    # Centene I.B.5: "Member has received prior therapy (see Appendix B)" (reading 2: any systemic therapy,
    # Keytruda included) -> approve under I.B, Medicaid: "Medicaid/HIM – 6 months".
    assert (c.payers["centene"].decision, c.payers["centene"].pathway, c.payers["centene"].approval_months) == \
        ("approve", "I.B", 6)
    # Cigna 2.E: "Patient has previously received a chemotherapy regimen for colon or rectal cancer": Keytruda
    # is immunotherapy, not chemotherapy. The CRC pathway 2 is the one compared, not NSCLC pathway 1.
    assert c.payers["cigna"].decision == "deny"
    assert [f.pathway for f in c.payers["cigna"].focus] == ["2"]
    r = row(c, "prior_therapy")
    assert r.kind == DIFFERS
    assert cells(r, "centene") == [("I.B.5", MET)]
    assert cells(r, "cigna") == [("2.E", NOT_MET)]
    assert r.why is not None and r.why.index("2.E") < r.why.index("I.B.5")  # the blocking criterion first
    # Both ask for the combination: Centene I.B.6.a "In combination with Vectibix", Cigna 2.D.i "... or
    # Vectibix (panitumumab intravenous infusion)".
    combination = row(c, "combination")
    assert combination.kind == AGREES
    assert cells(combination, "centene") == [("I.B.6.a", MET)]
    assert cells(combination, "cigna") == [("2.D.i", MET)]


def test_prior_krazati_only_centene_excludes_it(comparer: Comparer):
    c = compare(comparer, "centene-deny-prior-krazati.yaml")
    # Centene I.A.7: "Member has not received prior treatment with Krazati"; Cigna 1 has no such criterion.
    r = row(c, "krazati")
    assert r.kind == DIFFERS
    assert cells(r, "centene") == [("I.A.7", NOT_MET)]
    assert cells(r, "cigna") == []
    assert r.why is not None and "I.A.7" in r.why and "adagrasib" in r.why
    assert (c.payers["centene"].decision, c.payers["cigna"].decision) == ("deny", "approve")


def test_under_18_both_fail_age_yet_centene_refers_and_cigna_denies(comparer: Comparer):
    c = compare(comparer, "centene-refer-under-18-marketplace.yaml")
    # Centene I.A.3 "Age ≥ 18 years" and Cigna 1.A "Patient is ≥ 18 years of age": both not met at 16.
    r = row(c, "age")
    assert r.kind == AGREES
    assert cells(r, "centene") == [("I.A.3", NOT_MET)]
    assert cells(r, "cigna") == [("1.A", NOT_MET)]
    # ... but Centene I.D.2 refers a requested use ("e.g., diagnosis, age, dosing regimen") it does not cover
    # to "HIM.PA.154 for health insurance marketplace", while Cigna "is(are) considered not medically
    # necessary for ANY other use(s)": the answers part ways, the rows do not.
    centene, cigna = c.payers["centene"], c.payers["cigna"]
    assert (centene.decision, centene.pathway, centene.refer_to) == ("refer", "I.D", "HIM.PA.154")
    assert cigna.decision == "deny"
    assert set(c.differs) == {"decision", "refer_to"}
    assert [(f.pathway, f.role) for f in centene.focus] == [("I.D", "answer"), ("I.A", "nearest approving")]
    assert not [r for r in c.rows if r.kind == DIFFERS]
    # The criteria of the covered-use test (I.A.3, I.B.3, ...) belong to I.A's rows, not to I.D's.
    assert cells(row(c, "label_change"), "centene") == [("I.D.1.label", NOT_MET)]
    assert row(c, "label_change").kind == ONE_SIDED


def test_both_approve_differ_only_in_duration(comparer: Comparer):
    c = compare(comparer, "centene-approve-nsclc-I.A.yaml")
    # Centene I.A: "Approval duration: Medicaid/HIM – 6 months"; Cigna 1: "Approve for 1 year".
    assert (c.payers["centene"].decision, c.payers["centene"].approval_months) == ("approve", 6)
    assert (c.payers["cigna"].decision, c.payers["cigna"].approval_months) == ("approve", 12)
    assert c.differs == ["approval_months"]
    assert not [r for r in c.rows if r.kind == DIFFERS]
    # Centene asks more (I.A.2 oncologist, I.A.5 monotherapy, I.A.7 Krazati, I.A.8 generic, I.A.9 dose, and
    # I.review: Section I reviews an initial request or a continuation new to the plan, reading 12), all met
    # here; Cigna 1.B asks how the mutation was determined, met.
    one_sided = {r.concept for r in c.rows if r.kind == ONE_SIDED}
    assert one_sided == {"kras_test", "krazati", "monotherapy", "dose", "prescriber", "generic", "continuation"}
    assert cells(row(c, "continuation"), "centene") == [("I.review", MET)]
    assert cells(row(c, "continuation"), "cigna") == []
    assert {r.concept for r in c.rows if r.kind == AGREES} == {"diagnosis", "disease_state", "age", "kras_result",
                                                              "prior_therapy"}


def test_recurrent_nsclc_stage_parts_ways(comparer: Comparer):
    c = compare(comparer, "cigna-deny-nsclc-recurrent-only.yaml")
    # Centene I.A.1 "Diagnosis of recurrent, locally advanced, or metastatic NSCLC"; Cigna 1.B "locally
    # advanced or metastatic NSCLC" (recurrent is not named).
    r = row(c, "disease_state")
    assert r.kind == DIFFERS
    assert cells(r, "centene") == [("I.A.1.state", MET)]
    assert cells(r, "cigna") == [("1.B.state", NOT_MET)]


def test_pancreatic_recurrent_after_resection_needs_no_prior_therapy_at_cigna(comparer: Comparer):
    c = compare(comparer, "cigna-approve-pancreatic-4-recurrent-after-resection.yaml")
    # Centene I.C.5: "Member has received prior therapy" (none here) -> deny. Cigna 4.C: "ONE of the
    # following (i or ii)": 4.C.i.b "previously treated with at least one systemic regimen" or 4.C.ii
    # "Patient has recurrent disease after resection" -> approve by 4.C.ii.
    assert (c.payers["centene"].decision, c.payers["cigna"].decision) == ("deny", "approve")
    r = row(c, "prior_therapy")
    assert r.kind == DIFFERS
    assert cells(r, "centene") == [("I.C.5", NOT_MET)]
    assert cells(r, "cigna") == []
    assert [(u.id, u.status, u.within, u.met_by) for u in r.unneeded["cigna"]] == \
        [("4.C.i.b", NOT_MET, "4.C", ["4.C.ii"])]
    assert r.why is not None and "does not need 4.C.i.b" in r.why and "4.C is met by 4.C.ii" in r.why


def test_unable_to_tolerate_combination_cigna_takes_the_attestation(comparer: Comparer):
    c = compare(comparer, "cigna-approve-crc-2-unable-to-tolerate-combination.yaml")
    # Cigna 2.D.ii: "As per the prescriber, the patient is unable to tolerate combination therapy" -> approve.
    # Centene I.B.6.c: "As monotherapy if member is unable to tolerate epidermal growth factor receptor (EGFR)
    # inhibitor ... due to toxicity": no EGFR-inhibitor intolerance documented -> pend.
    assert (c.payers["centene"].decision, c.payers["cigna"].decision) == ("pend", "approve")
    r = row(c, "egfr_intolerance")
    assert r.kind == DIFFERS
    assert cells(r, "centene") == [("I.B.6.c.intolerant", NOT_DOCUMENTED)]
    assert cells(r, "cigna") == [("2.D.ii.unable", MET)]
    # Reading 4: 2.D.ii is sotorasib alone (monotherapy) with the attestation; both payers ask for monotherapy
    # on this way, and both find it.
    mono = row(c, "monotherapy")
    assert mono.kind == AGREES
    assert cells(mono, "centene") == [("I.B.6.c.monotherapy", MET)]
    assert cells(mono, "cigna") == [("2.D.ii.monotherapy", MET)]
    # Cigna 2.D.i (the combination) is an alternative it does not need here.
    combination = row(c, "combination")
    assert cells(combination, "cigna") == [] and [u.id for u in combination.unneeded["cigna"]] == ["2.D.i"]


def test_dose_over_960_only_centene_limits_it(comparer: Comparer):
    c = compare(comparer, "centene-refer-dose-over-960-without-evidence-medicaid.yaml")
    # Centene I.A.9: "a. Dose does not exceed 960 mg per day; b. Dose is supported by practice guidelines ...";
    # Cigna's criteria 1–5 set no dose limit (reading 8).
    r = row(c, "dose")
    assert r.kind == DIFFERS
    assert cells(r, "centene") == [("I.A.9", NOT_MET)]
    assert cells(r, "cigna") == []
    assert (c.payers["centene"].decision, c.payers["centene"].refer_to) == ("refer", "CP.PMN.53")


def compare_doc(comparer: Comparer, doc: dict) -> Comparison:
    return comparer.compare(comparer.decider.parse(doc, f"{doc['id']}.yaml"))


NEW_TO_PLAN = {
    "id": "CMP-new-to-plan", "date": "2026-03-02", "line_of_business": "medicaid", "request_type": "continuation",
    "member": {"age": 64}, "prescriber": {"specialty": "oncology"},
    "diagnosis": {"condition": "nsclc", "disease_state": ["metastatic"], "kras_g12c": "positive",
                  "kras_test": "fda_approved"},
    "medication": {"product": "lumakras", "dose_mg_per_day": 960, "with": []},
    "prior_therapies": ["carboplatin", "pemetrexed"],
    "continuation": {"via_plan_benefit": False, "days_on_therapy": 29, "responding": True},
}


def test_continuation_new_to_the_plan_is_compared_under_section_I(comparer: Comparer):
    c = compare_doc(comparer, NEW_TO_PLAN)
    # Reading 12: II.A.1 not met (neither the plan's benefit nor 30 days), so Section I reviews it: I.A approves
    # ("Medicaid/HIM – 6 months"); Cigna reviews a continuation on its criteria 1-5: "Approve for 1 year".
    assert (c.payers["centene"].decision, c.payers["centene"].pathway, c.payers["centene"].approval_months) == \
        ("approve", "I.A", 6)
    assert (c.payers["cigna"].decision, c.payers["cigna"].pathway) == ("approve", "1")
    assert c.differs == ["approval_months"]
    # Both find NSCLC: the diagnosis that I.review reads through II.A.1 (a covered indication) belongs to the
    # continuation row, not the diagnosis row.
    assert not [r for r in c.rows if r.kind == DIFFERS]
    diagnosis = row(c, "diagnosis")
    assert diagnosis.kind == AGREES and diagnosis.standing == {"centene": MET, "cigna": MET}
    cont = row(c, "continuation")
    assert cont.kind == ONE_SIDED and cells(cont, "centene") == [("I.review", MET)]
    [cell] = cont.cells["centene"]
    assert "receiving sotorasib through the plan benefit is false, not true" in cell.because
    assert "days on sotorasib is 29, less than 30" in cell.because


def test_not_documented_says_what_left_it_so(comparer: Comparer):
    doc = dict(NEW_TO_PLAN, id="CMP-dose", request_type="initial",
               medication={"product": "lumakras", "dose_mg_per_day": 961, "with": []})
    doc.pop("continuation")
    c = compare_doc(comparer, doc)
    # Centene I.A.9: "a. Dose does not exceed 960 mg per day; b. Dose is supported by ... (prescriber must
    # submit supporting evidence)": a not met, b not documented; the alternative not met is marked so.
    dose = row(c, "dose")
    assert dose.kind == DIFFERS and cells(dose, "centene") == [("I.A.9", NOT_DOCUMENTED)]
    assert dose.cells["centene"][0].because == ["supporting evidence for the dose submitted is not documented",
                                                "not met: dose (mg/day) is 961, more than 960"]
    assert dose.why == ('centene (CP.PHAR.549) I.A.9 asks "Request meets one of the following (a or b)" (not '
                        'documented: supporting evidence for the dose submitted is not documented; not met: dose '
                        '(mg/day) is 961, more than 960); cigna (Lumakras PA) has no criterion on dose.')


def test_a_class_name_in_the_regimen_is_not_documented_on_both_sides(comparer: Comparer):
    doc = dict(NEW_TO_PLAN, id="CMP-egfr", request_type="initial", prior_therapies=["FOLFOX"],
               diagnosis={"condition": "colorectal", "disease_state": ["metastatic"], "kras_g12c": "positive"},
               medication={"product": "lumakras", "dose_mg_per_day": 960, "with": ["EGFR inhibitor"]})
    doc.pop("continuation")
    c = compare_doc(comparer, doc)
    # Reading 16: 'EGFR inhibitor' in medication.with is one unnamed EGFR inhibitor: it may be Vectibix or
    # Erbitux (I.B.6.a/b, 2.D.i not documented) and it certainly is an anticancer drug (no monotherapy).
    assert (c.payers["centene"].decision, c.payers["cigna"].decision) == ("pend", "pend")
    combination = row(c, "combination")
    assert combination.kind == AGREES
    assert cells(combination, "centene") == [("I.B.6.a", NOT_DOCUMENTED), ("I.B.6.b", NOT_DOCUMENTED)]
    assert cells(combination, "cigna") == [("2.D.i", NOT_DOCUMENTED)]
    for payer in ("centene", "cigna"):
        for cell in combination.cells[payer]:
            assert cell.because and all("'EGFR inhibitor' names a class" in b for b in cell.because), cell
    mono = row(c, "monotherapy")
    assert mono.kind == AGREES and mono.standing == {"centene": NOT_MET, "cigna": NOT_MET}


def test_an_organ_level_diagnosis_parts_ways_where_a_payer_reads_it(comparer: Comparer):
    doc = dict(NEW_TO_PLAN, id="CMP-appendix", request_type="initial", prior_therapies=["FOLFOX"],
               diagnosis={"condition": "appendiceal cancer", "disease_state": ["metastatic"], "kras_g12c": "positive",
                          "kras_test": "fda_approved"},
               medication={"product": "lumakras", "dose_mg_per_day": 960, "with": ["Vectibix"]})
    doc.pop("continuation")
    c = compare_doc(comparer, doc)
    # Reading 17: appendiceal cancer without a histology may be appendiceal adenocarcinoma, which Centene reads
    # as CRC (revision 02.07.25): I.B.1 not documented, pend. Cigna's pathway 2 names colon or rectal cancer
    # only: whatever the histology, none of its pathways names it: deny.
    assert (c.payers["centene"].decision, c.payers["cigna"].decision) == ("pend", "deny")
    diagnosis = row(c, "diagnosis")
    assert diagnosis.kind == DIFFERS
    assert cells(diagnosis, "centene") == [("I.B.1.condition", NOT_DOCUMENTED)]
    assert diagnosis.standing["cigna"] == NOT_MET
    assert diagnosis.why is not None and "it may be colorectal cancer" in diagnosis.why
    assert "histology" in diagnosis.why


# --------------------------------------------------------------------------------------------------------
# The command: formats, errors, options
# --------------------------------------------------------------------------------------------------------


def test_text_output_side_by_side():
    result = run(QUERIES / "cigna-deny-nsclc-kras-test-other.yaml")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "centene CP.PHAR.549" in out and "cigna Lumakras PA" in out
    assert out.index("Where the payers part ways (1)") < out.index("Where the payers agree")
    assert "≠  How the KRAS G12C" in out
    assert "Why they part ways:" in out and "1.B.test" in out


def test_json_structure():
    result = run(QUERIES / "cigna-deny-crc-immunotherapy-only.yaml", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, list) and len(data) == 1
    c = data[0]
    assert c["request"] == "Q-cigna-deny-crc-immunotherapy-only"
    assert c["source"].endswith("cigna-deny-crc-immunotherapy-only.yaml")
    assert list(c["payers"]) == ["centene", "cigna"]
    for answer in c["payers"].values():
        assert {"decision", "pathway", "pathway_text", "approval_months", "refer_to", "error", "policy",
                "focus"} <= set(answer)
    assert c["payers"]["centene"]["pathway_text"] == "Colorectal Cancer (must meet all)"
    first = c["rows"][0]
    assert set(first) >= {"concept", "label", "differs", "kind", "why", "cells", "status"}
    assert (first["concept"], first["differs"], first["kind"]) == ("prior_therapy", True, "differs")
    assert first["status"] == {"centene": "met", "cigna": "not_met"}
    [cigna_cell] = first["cells"]["cigna"]
    assert set(cigna_cell) >= {"id", "text", "status", "because"}
    assert cigna_cell["id"] == "2.E"
    assert cigna_cell["because"] == ["prior therapies: none is chemotherapy, other than the drug under review"]
    assert all(r["why"] is None for r in c["rows"] if not r["differs"])
    assert result.stdout == run(QUERIES / "cigna-deny-crc-immunotherapy-only.yaml", "--format", "json").stdout


def test_markdown_report():
    result = run(QUERIES / "centene-deny-prior-krazati.yaml", QUERIES / "centene-approve-nsclc-I.A.yaml",
                 "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    md = result.stdout
    assert md.startswith("# ")
    assert "## Q-centene-deny-prior-krazati" in md and "## Q-centene-approve-nsclc-I.A" in md
    assert "| | centene (CP.PHAR.549) | cigna (Lumakras PA) |" in md
    assert "| | concept | centene | cigna |" in md
    krazati = next(line for line in md.splitlines() if line.startswith("| ≠ | Prior Krazati"))
    assert "`I.A.7`" in krazati and "— no criterion" in krazati
    assert "**Where the payers part ways**" in md
    assert any(line.startswith("- centene (CP.PHAR.549) I.A.7 asks") for line in md.splitlines())


def test_a_payer_that_cannot_read_the_request_shows_its_error(tmp_path: Path):
    path = tmp_path / "nolob.yaml"
    path.write_text(NO_LOB, encoding="utf-8")
    result = run(path, "--json")
    # The request was compared: Centene's answer is "cannot decide" (its policy needs line_of_business,
    # reading 13), Cigna's is an answer; neither is an unreadable request.
    assert result.exit_code == 0, result.stderr
    [c] = json.loads(result.stdout)
    centene, cigna = c["payers"]["centene"], c["payers"]["cigna"]
    assert "line_of_business" in centene["error"] and centene["decision"] is None
    assert (cigna["error"], cigna["decision"], cigna["pathway"]) == (None, "approve", "1")
    assert c["rows"] and all(list(r["cells"]) == ["cigna"] for r in c["rows"])
    text = run(path)
    assert "cannot decide: line_of_business" in text.stdout and "(cannot decide)" in text.stdout


def test_an_unreadable_request_is_named_and_the_others_are_compared(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: X\nmember: {age: -3}\n", encoding="utf-8")
    result = run(bad, QUERIES / "centene-deny-prior-krazati.yaml", tmp_path / "missing.yaml", "--json")
    assert result.exit_code == 2
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2
    assert str(bad) in errors[0] and "member.age" in errors[0]
    assert "missing.yaml" in errors[1]
    assert [c["request"] for c in json.loads(result.stdout)] == ["Q-centene-deny-prior-krazati"]


def test_acme_as_a_third_payer():
    result = run(ACME / "requests" / "acme-approve-crc-commercial.yaml", *WITH_ACME, "--json")
    assert result.exit_code == 0, result.stderr
    [c] = json.loads(result.stdout)
    assert list(c["payers"]) == ["acme", "centene", "cigna"]
    assert {p: (a["decision"], a["pathway"]) for p, a in c["payers"].items()} == \
        {"acme": ("approve", "2"), "centene": ("approve", "I.B"), "cigna": ("approve", "2")}
    # ACME-77 2.C "in combination with Vectibix (panitumumab) or Erbitux (cetuximab)", Centene I.B.6.a, Cigna
    # 2.D.i: all three ask for the combination and all find it.
    combination = next(r for r in c["rows"] if r["concept"] == "combination")
    assert combination["kind"] == "agrees"
    assert {p: [x["id"] for x in v] for p, v in combination["cells"].items()} == \
        {"acme": ["2.C"], "centene": ["I.B.6.a"], "cigna": ["2.D.i"]}
    # ACME-77 2.B "KRAS G12C mutation-positive colorectal cancer" names no stage; Centene I.B.1 and Cigna 2.B do.
    stage = next(r for r in c["rows"] if r["concept"] == "disease_state")
    assert stage["kind"] == "one_sided" and stage["cells"]["acme"] == []
    # --payer chooses the columns, in the order given
    chosen = run(ACME / "requests" / "acme-approve-crc-commercial.yaml", *WITH_ACME, "--payer", "cigna",
                 "--payer", "acme", "--json")
    assert list(json.loads(chosen.stdout)[0]["payers"]) == ["cigna", "acme"]


def test_today_decides_requests_without_a_date(tmp_path: Path):
    path = tmp_path / "nodate.yaml"
    path.write_text(NO_LOB.replace("date: 2026-03-01\n", "line_of_business: medicaid\n"), encoding="utf-8")
    result = run(path, "--today", "2026-06-01", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)[0]["date"] == "2026-06-01"


@pytest.mark.parametrize("args, message", [
    (("--payer", "aetna"), "aetna"),
    (("--payer", "cigna"), "two payers"),
    (("--json", "--format", "markdown"), "--json"),
])
def test_bad_options_exit_2(args: tuple[str, ...], message: str):
    result = run(QUERIES / "centene-deny-prior-krazati.yaml", *args)
    assert result.exit_code == 2
    assert message in result.stderr and result.stdout == ""


def test_help_examples_run(monkeypatch: pytest.MonkeyPatch):
    result = run("--help")
    assert result.exit_code == 0
    examples = [shlex.split(line.strip().split(" > ")[0])[2:] for line in result.stdout.splitlines()
                if line.strip().startswith("lumakras compare ")]  # up to a shell redirection: "> compare.html"
    assert len(examples) >= 3
    monkeypatch.chdir(ROOT)
    for args in examples:
        if not any(a.startswith("queries/") for a in args):
            continue
        ran = run(*[match for a in args for match in (sorted(glob.glob(a)) if a.startswith("queries/") else [a])])
        assert ran.exit_code == 0, (args, ran.stderr)
