"""`lumakras rules`: the policies as the kb encodes them, as text for authors and as data (--json)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, invoke, shared_decider

from lumakras_logic.authoring.rules import RulesError, build_rules, describe_test, render_rules
from lumakras_logic.cli import main


def run(*args: str | Path):
    return invoke("rules", *args)


def rules(**kw) -> list[dict]:
    return build_rules(shared_decider().kb, **kw)


def ids(criteria: list[dict]) -> list[str]:
    return [c["id"] for c in criteria]


def find(criteria: list[dict], node_id: str) -> dict:
    stack = list(criteria)
    while stack:
        c = stack.pop(0)
        if c["id"] == node_id:
            return c
        stack += c["criteria"]
    raise KeyError(node_id)


# --------------------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------------------


def test_centene_I_A_lists_its_nine_criteria_in_order_with_words():
    r = run("--payer", "centene", "--pathway", "I.A")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "centene  CP.PHAR.549  Clinical Policy: Sotorasib (Lumakras)  (revision 02.07.25)"
    # Reading 12: Section I reviews an initial request, or a continuation of a member new to the plan.
    assert "  Pathway I.A: approve, reviews any request (initial or continuation)" in lines
    assert "    Non-Small Cell Lung Cancer (must meet all)  [CP.PHAR.549 I.A]" in lines
    assert "    criteria, all of:" in lines
    tree = lines[lines.index("    criteria, all of:") + 1:]
    top = [line.split()[0] for line in tree if re.match(r"^ {6}\S", line)]
    assert top == ["I.review"] + [f"I.A.{i}" for i in range(1, 10)]
    text = r.stdout
    assert "      I.A.3  Age ≥ 18 years  [CP.PHAR.549 I.A.3]\n          test: member.age ≥ 18\n" in text
    assert "I.A.7  Member has not received prior treatment with Krazati  [CP.PHAR.549 I.A.7]" in text
    assert "test: prior_therapies lacks adagrasib" in text
    assert "test: prior_therapies has a drug of class systemic_therapy" in text
    assert "test: medication.with has no drug of class systemic_therapy" in text
    assert "test: diagnosis.condition is nsclc (by name, synonym, ICD-10-CM code, or organ and histology)" in text
    assert "test: request_type = initial" in text
    assert "test: prescriber.oncologist_consulted = true" in text
    assert re.search(r"test: prescriber\.specialty is one of: oncology, medical_oncology, hematology_oncology, ", text)
    assert "I.A.2 (any of)  Prescribed by or in consultation with an oncologist  [CP.PHAR.549 I.A.2]" in text
    # where each node and its test are encoded
    assert re.search(r"I\.A\.3  Age.*\n +test: .*\n +encoded at \S*kb/payers/centene/initial\.dl:\d+; "
                     r"test at \S*kb/payers/centene/initial\.dl:\d+", text)
    assert re.search(r"encoded at \S*kb/payers/centene/initial\.dl:\d+; pathway fact at "
                     r"\S*kb/payers/centene/initial\.dl:\d+", text)


def test_the_encoded_line_is_the_node_fact():
    r = run("--payer", "centene", "--criterion", "I.A.3")
    m = re.search(r"encoded at (\S+):(\d+); test at (\S+):(\d+)", r.stdout)
    assert m, r.stdout
    lines = (ROOT / "kb/payers/centene/initial.dl").read_text(encoding="utf-8").splitlines()
    assert lines[int(m.group(2)) - 1].startswith("+ node('centene', 'I.A.3',")
    assert lines[int(m.group(4)) - 1] == "+ test('centene', 'I.A.3', 'at_least', 'member.age', 18)"


def test_centene_I_A_durations_per_line_of_business():
    r = run("--payer", "centene", "--pathway", "I.A")
    assert re.search(r"    approval duration:\n"
                     r"      medicaid: 6 months  \(\S+:\d+\)\n"
                     r"      marketplace: 6 months  \(\S+:\d+\)\n"
                     r"      commercial: 12 months or the requested months, whichever is less  \(\S+:\d+\)\n",
                     r.stdout), r.stdout
    durations = rules(payer="centene", pathway="I.A")[0]["pathways"][0]["durations"]
    assert [(d["line_of_business"], d["months"], d["capped_by_request"]) for d in durations] == [
        ("medicaid", 6, False), ("marketplace", 6, False), ("commercial", 12, True)]
    assert all(re.fullmatch(r"\S*kb/payers/centene/initial\.dl:\d+", d["where"]) for d in durations)


def test_criterion_names_every_node_and_pathway_it_is_part_of():
    r = run("--payer", "centene", "--criterion", "I.A.1")
    assert r.exit_code == 0, r.stderr
    assert "  Criterion I.A.1, part of: I.A, I.A.use, II.A.indication" in r.stdout
    # I.A.1 is a covered indication of II.A.1, which each Section I pathway asks about through I.review
    # (reading 12): so it lies within every pathway of Centene.
    assert "  within pathways: I.A, I.B, I.C, I.D, II.A, II.B" in r.stdout
    assert "I.A.1.condition  Diagnosis of NSCLC" in r.stdout
    assert "I.A.2" not in r.stdout  # only the subtree
    [entry] = json.loads(run("--payer", "centene", "--criterion", "I.A.1", "--json").stdout)
    c = entry["criterion"]
    assert c["parents"] == ["I.A", "I.A.use", "II.A.indication"]
    assert c["pathways"] == ["I.A", "I.B", "I.C", "I.D", "II.A", "II.B"]
    assert ids(c["criteria"]) == ["I.A.1.condition", "I.A.1.state"]
    assert set(entry) == {"payer", "policy", "criterion"}


def test_criterion_without_payer_finds_its_payer():
    r = run("--criterion", "2.D.ii")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("cigna  Lumakras PA  ")
    assert "centene" not in r.stdout
    assert "  Criterion 2.D.ii, part of: 2.D" in r.stdout
    assert "test: intolerant_to has a drug of class egfr_inhibitor" in r.stdout


def test_a_node_under_several_parents_is_shown_once_per_pathway():
    r = run("--payer", "centene", "--pathway", "I.D")
    assert r.exit_code == 0, r.stderr
    assert "  Pathway I.D: refer, reviews any request (initial or continuation)" in r.stdout
    assert r.stdout.count("I.D.outside (not)  The requested use") == 1
    assert "        I.D.outside  (shown above)" in r.stdout
    assert "also part of: I.D.2" in r.stdout
    assert "test: sotorasib had a label change not reflected in the policy within 6 months" in r.stdout


def test_refer_pathway_lists_its_targets():
    r = run("--payer", "centene", "--pathway", "II.B")
    assert "    refers to, by line of business:" in r.stdout
    assert "      when II.B.1 is met: medicaid → CP.PMN.255, marketplace → HIM.PA.33, commercial → CP.CPA.190" \
        in r.stdout
    assert "      when II.B.2 is met: medicaid → CP.PMN.53, marketplace → HIM.PA.154, commercial → CP.CPA.09" \
        in r.stdout
    assert "approval duration" not in r.stdout
    [w] = rules(payer="centene", pathway="I.D")[0]["pathways"]
    assert {(t["criterion"], t["line_of_business"], t["policy"]) for t in w["refer_targets"]} == {
        ("I.D.1", "commercial", "CP.CPA.190"), ("I.D.1", "marketplace", "HIM.PA.33"),
        ("I.D.1", "medicaid", "CP.PMN.255"), ("I.D.2", "commercial", "CP.CPA.09"),
        ("I.D.2", "marketplace", "HIM.PA.154"), ("I.D.2", "medicaid", "CP.PMN.53")}


def test_every_payer_and_pathway_by_default():
    r = run()
    assert r.exit_code == 0, r.stderr
    heads = [line for line in r.stdout.splitlines() if line and not line.startswith(" ")]
    assert [h.split()[0] for h in heads] == ["centene", "cigna"]
    pathways = re.findall(r"^  Pathway (\S+):", r.stdout, re.M)
    assert pathways == ["I.A", "I.B", "I.C", "I.D", "II.A", "II.B", "1", "2", "3", "4", "5"]
    assert "  requires: line_of_business" in r.stdout
    # Quoted exactly; Cigna's is the ground of a deny for another use (otherwise_when), Centene's Section III
    # of no answer.
    assert "  otherwise: Lumakras™ (sotorasib tablets - Amgen) is(are) considered not medically necessary for ANY " \
           "other use(s).  [Cigna Lumakras PA, Conditions Not Covered]\n" \
           "    the ground of a deny when other_use is met: Another use: the diagnosis is none that pathways 1–5 " \
           "name\n" in r.stdout
    assert "  [CP.PHAR.549 III.A]\n    never the ground of an answer (no otherwise_when)\n" in r.stdout
    [centene, cigna] = rules()
    assert [o["when"] for o in centene["policy"]["otherwise"]] == [[]]
    assert [o["when"] for o in cigna["policy"]["otherwise"]] == \
        [[{"id": "other_use", "text": "Another use: the diagnosis is none that pathways 1–5 name"}]]


def test_cigna_pathway_reviews_any_request_for_a_year():
    r = run("--payer", "cigna", "--pathway", "2")
    assert "  Pathway 2: approve, reviews any request (initial or continuation)" in r.stdout
    assert re.search(r"      any line of business: 12 months  \(\S+\)\n", r.stdout)
    assert "test: diagnosis.disease_state includes one of: advanced, metastatic (locally_advanced counts as " \
           "advanced)" in r.stdout


# --------------------------------------------------------------------------------------------------------
# Data (build_rules, --json)
# --------------------------------------------------------------------------------------------------------


def test_cigna_pathway_1_tree():
    [entry] = rules(payer="cigna", pathway="1")
    assert entry["policy"]["id"] == "Lumakras PA" and entry["policy"]["revision"] == "05/14/2025"
    [w] = entry["pathways"]
    assert (w["id"], w["outcome"], w["request_type"], w["combines"]) == ("1", "approve", "any", "all")
    assert w["text"] == "Non-Small Cell Lung Cancer (NSCLC): ALL of the following (A, B, and C)"
    assert w["cite"] == "Cigna Lumakras PA 1"
    assert ids(w["criteria"]) == ["1.A", "1.B", "1.C"]
    b = find(w["criteria"], "1.B")
    assert b["combines"] == "all" and b["test"] is None and b["parents"] == ["1"]
    assert set(ids(b["criteria"])) == {"1.B.condition", "1.B.state", "1.B.kras", "1.B.test"}
    state = find(w["criteria"], "1.B.state")
    assert state["test"] == {"kind": "any_value_in", "field": "diagnosis.disease_state",
                             "param": "locally advanced or metastatic", "members": ["locally_advanced", "metastatic"],
                             "field_label": "disease state",
                             "words": "diagnosis.disease_state includes one of: locally_advanced, metastatic"}
    assert find(w["criteria"], "1.B.test")["test"]["words"] == "diagnosis.kras_test = fda_approved"
    c = find(w["criteria"], "1.C")
    assert c["text"] == "Patient has been previously treated with at least one systemic regimen"
    assert c["test"]["words"] == "prior_therapies has a drug of class systemic_therapy"
    assert c["criteria"] == [] and c["combines"] is None


def test_json_shape():
    r = run("--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert [e["payer"] for e in data] == ["centene", "cigna"]
    for entry in data:
        assert set(entry) == {"payer", "policy", "pathways"}
        assert set(entry["policy"]) == {"id", "title", "revision", "where", "requires", "otherwise"}
        for w in entry["pathways"]:
            assert {"id", "outcome", "request_type", "text", "cite", "combines", "test", "where", "pathway_where",
                    "durations", "refer_targets", "criteria"} <= set(w)
            assert w["outcome"] in ("approve", "refer")
            stack = list(w["criteria"])
            while stack:
                c = stack.pop()
                assert {"id", "text", "cite", "combines", "test", "where", "test_where", "parents",
                        "criteria"} <= set(c)
                assert c["parents"], c["id"]
                assert (c["test"] is None) == bool(c["criteria"]), c["id"]
                if c["test"]:
                    assert {"kind", "field", "param", "words"} <= set(c["test"])
                    assert c["test_where"]
                else:
                    assert c["combines"] in ("all", "any", "not")
                stack += c["criteria"]
    assert data == rules()  # --json is build_rules


def test_set_members_follow_the_kb_order():
    spec = find(rules(payer="centene", pathway="I.A")[0]["pathways"][0]["criteria"], "I.A.2.specialty")["test"]
    assert spec["kind"] == "one_of" and spec["param"] == "oncologist"
    assert spec["members"][:3] == ["oncology", "medical_oncology", "hematology_oncology"]
    assert "pediatric_hematology_oncology" in spec["members"]


def test_render_is_text_of_the_same_data():
    data = rules(payer="cigna", pathway="3")
    text = render_rules(data)
    assert text.splitlines()[0].startswith("cigna  Lumakras PA  ")
    assert "3.B (all of)  Patient has KRAS G12C-mutated disease, as determined by an approved test" in text


@pytest.mark.parametrize("kind, field, param, words", [
    ("equals", "diagnosis.condition", "nsclc", "diagnosis.condition = nsclc"),
    ("equals", "medication.dose_evidence", True, "medication.dose_evidence = true"),
    ("at_least", "member.age", 18, "member.age ≥ 18"),
    ("at_most", "medication.dose_mg_per_day", 960, "medication.dose_mg_per_day ≤ 960"),
    ("absent", "continuation.new_dose_mg_per_day", "", "continuation.new_dose_mg_per_day is not given"),
    ("has_drug", "medication.with", "cetuximab", "medication.with has cetuximab"),
    ("lacks_drug", "prior_therapies", "adagrasib", "prior_therapies lacks adagrasib"),
    ("none_in_class", "medication.with", "systemic_therapy", "medication.with has no drug of class systemic_therapy"),
    ("no_generic_marketed", "sotorasib", "", "no generic sotorasib is marketed on the request date (market facts)"),
    ("at_most_field", "continuation.new_dose_mg_per_day", "medication.dose_mg_per_day",
     "continuation.new_dose_mg_per_day ≤ medication.dose_mg_per_day"),
    ("condition_is", "diagnosis.condition", "nsclc",
     "diagnosis.condition is nsclc (by name, synonym, ICD-10-CM code, or organ and histology)"),
    ("only_anticancer", "medication.with", "panitumumab",
     "medication.with has no anticancer drug (class systemic_therapy) besides panitumumab and the drug under review"),
    ("weekday", "request.date", "mon", "kind weekday: field request.date, param mon"),
])
def test_describe_test(kind, field, param, words):
    assert described(kind, field, param) == words


def described(kind, field, param, members=None):
    """A test in the words the shipped kb gives its kind (describes/2, kb/engine/tests.dl)."""
    kb_words = dict(shared_decider().kb.ask("describes", "?K", "?W"))
    return describe_test(kind, field, param, members, words=kb_words.get(kind))


def test_describe_test_takes_the_kb_words_first():
    assert describe_test("weekday", "request.date", "mon", words="{field} falls on a {param}") == \
        "request.date falls on a mon"
    assert describe_test("equals", "member.flag", "blue", words="{field} is flagged {param}") == \
        "member.flag is flagged blue"


def test_every_kind_of_the_kb_is_described():
    """Every kind with a test_signature has words of its own (a describes fact of the kb), never the
    fallback "kind K: field F, param X"."""
    kb = shared_decider().kb
    kinds = {k for k, _s, _x in kb.ask("test_signature", "?K", "?S", "?X")}
    assert {"condition_is", "condition_in", "only_anticancer", "at_most_field"} <= kinds
    for kind in kinds:
        assert not described(kind, "f", "p", []).startswith("kind "), kind


def test_new_kinds_in_the_shipped_policies():
    [centene] = rules(payer="centene")
    tree = [c for w in centene["pathways"] for c in w["criteria"]]
    assert find(tree, "I.B.6.a.regimen")["test"]["words"] == \
        "medication.with has no anticancer drug (class systemic_therapy) besides panitumumab and sotorasib"
    assert find(tree, "I.B.6.a.partner")["test"]["words"] == "medication.with has panitumumab"
    # Centene reads appendiceal adenocarcinoma as CRC (reads_as, reading 17); Cigna does not.
    crc = find(tree, "I.B.1.condition")["test"]
    assert crc["counts_as"] == [["appendiceal_adenocarcinoma", "colorectal"]]
    assert crc["words"] == "diagnosis.condition is colorectal (by name, synonym, ICD-10-CM code, or organ and " \
                           "histology; appendiceal_adenocarcinoma counts as colorectal)"
    dose = find(tree, "II.A.3.a.condition")["test"]
    assert dose["kind"] == "condition_in" and dose["members"] == ["nsclc", "colorectal"]
    assert dose["words"].startswith("diagnosis.condition is one of: nsclc, colorectal (by name, ")
    assert find(tree, "II.A.3.no_increase.compare")["test"]["words"] == \
        "continuation.new_dose_mg_per_day ≤ medication.dose_mg_per_day"
    [cigna] = rules(payer="cigna")
    crc = find([c for w in cigna["pathways"] for c in w["criteria"]], "2.diagnosis")["test"]
    assert "counts_as" not in crc and "counts as" not in crc["words"]


def test_describe_set_tests():
    assert described("one_of", "prescriber.specialty", "onc", ["oncology", "hematology_oncology"]) == \
        "prescriber.specialty is one of: oncology, hematology_oncology"
    assert described("one_of", "prescriber.specialty", "empty", []) == \
        "prescriber.specialty is one of: (the set 'empty' has no members in the kb)"


# --------------------------------------------------------------------------------------------------------
# Unknown ids: one line, exit 2
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, expected", [
    (["--payer", "aetna"], ["--payer: unknown payer 'aetna'", "centene, cigna"]),
    (["--pathway", "I.E"], ["--pathway: unknown pathway 'I.E'", "centene: I.A, I.B, I.C, I.D, II.A, II.B",
                            "cigna: 1, 2, 3, 4, 5"]),
    (["--payer", "cigna", "--pathway", "I.A"], ["--pathway: unknown pathway 'I.A'", "cigna: 1, 2, 3, 4, 5"]),
    (["--payer", "centene", "--criterion", "I.A.10"], ["--criterion: unknown criterion 'I.A.10' for centene",
                                                       "nearest: I.A.1, "]),
    (["--criterion", "i.a.1"], ["--criterion: unknown criterion 'i.a.1'", "nearest: I.A.1"]),
    (["--pathway", "I.A", "--criterion", "I.B.6"], ["--criterion: I.B.6 is not part of pathway I.A",
                                                     "it lies within I.B"]),
    (["--pathway", "1", "--criterion", "2.D.ii"], ["--criterion: 2.D.ii is not part of pathway 1",
                                                    "it lies within 2"]),
])
def test_unknown_ids_are_one_line_errors(args, expected):
    r = run(*args)
    assert r.exit_code == 2, (r.exit_code, r.stdout)
    assert r.stdout == ""
    errors = r.stderr.strip().splitlines()
    assert len(errors) == 1, r.stderr
    assert errors[0].startswith("lumakras: ")
    for part in expected:
        assert part in errors[0], errors[0]


def test_build_rules_raises_rules_error():
    with pytest.raises(RulesError) as info:
        rules(payer="centene", criterion="nope")
    assert info.value.option == "--criterion"


# --------------------------------------------------------------------------------------------------------
# Another kb (--kb)
# --------------------------------------------------------------------------------------------------------

ACME = """\
+ policy('acme', 'ACME-1', 'Acme Sotorasib Policy', '2026-01')
+ pathway('acme', 'A', 'approve', 'initial')
+ duration('acme', 'A', 'any', 3)
+ node('acme', 'A', 'Adults seen by a specialist', 'ACME-1 A')
+ combines('acme', 'A', 'all')
+ node('acme', 'A.1', 'Age at least 21', 'ACME-1 A.1')
+ part_of('acme', 'A.1', 'A')
+ test('acme', 'A.1', 'at_least', 'member.age', 21)
+ node('acme', 'A.2', 'Seen by a specialist', 'ACME-1 A.2')
+ part_of('acme', 'A.2', 'A')
+ test('acme', 'A.2', 'one_of', 'prescriber.specialty', 'acme specialists')
+ in_set('acme specialists', 'pulmonology')
+ in_set('acme specialists', 'oncology')
+ node('acme', 'A.3', 'A blue flag', 'ACME-1 A.3')
+ part_of('acme', 'A.3', 'A')
+ test('acme', 'A.3', 'acme_flag', 'member.flag', 'blue')
leaf(R, P, N, 'met', 'value', V, '', '') <= test(P, N, 'acme_flag', F, X) & value(R, F, V) & (V == X)
"""


def test_a_kb_given_with_kb_options(tmp_path):
    payer = tmp_path / "acme"
    payer.mkdir()
    (payer / "policy.dl").write_text(ACME, encoding="utf-8")
    kb = ROOT / "kb"
    args = ["--kb", kb / "engine", "--kb", kb / "vocab", "--kb", kb / "market", "--kb", payer]
    r = run(*args)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "acme  ACME-1  Acme Sotorasib Policy  (revision 2026-01)"
    assert "  Pathway A: approve, reviews initial requests" in lines
    assert re.search(r"      any line of business: 3 months  \(\S*policy\.dl:3\)", r.stdout)
    assert "test: member.age ≥ 21" in r.stdout
    assert "test: prescriber.specialty is one of: pulmonology, oncology" in r.stdout
    assert "test: kind acme_flag: field member.flag, param blue" in r.stdout
    assert re.search(r"A\.3  A blue flag  \[ACME-1 A\.3\]\n +test: .*\n +encoded at \S*policy\.dl:14; "
                     r"test at \S*policy\.dl:16", r.stdout)
    assert "centene" not in r.stdout
    err = run(*args, "--payer", "centene")
    assert err.exit_code == 2 and "one of acme" in err.stderr


def test_shipped_kb_given_with_kb_option():
    r = run("--kb", ROOT / "kb", "--payer", "cigna", "--pathway", "5", "--json")
    assert r.exit_code == 0, r.stderr
    [entry] = json.loads(r.stdout)
    assert ids(entry["pathways"][0]["criteria"]) == ["5.diagnosis", "5.A", "5.B", "5.C", "5.D"]


def test_a_kb_that_cannot_load_is_exit_3(tmp_path):
    r = run("--kb", tmp_path / "nope")
    assert r.exit_code == 3 and "nope" in r.stderr


# --------------------------------------------------------------------------------------------------------
# Help examples exist and run
# --------------------------------------------------------------------------------------------------------


def test_help_examples_exist_and_run(monkeypatch):
    r = run("--help")
    assert r.exit_code == 0
    examples = [shlex.split(line.strip())[1:] for line in r.stdout.splitlines()
                if line.strip().startswith("lumakras ")]
    assert len(examples) >= 3, r.stdout
    monkeypatch.chdir(ROOT)
    for ex in examples:
        assert ex[0] == "rules", ex
        result = CliRunner().invoke(main, ex)
        assert result.exit_code == 0, (ex, result.stderr)
        assert result.stdout.strip(), ex
        if "--json" in ex:
            json.loads(result.stdout)
