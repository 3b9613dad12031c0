"""`lumakras diff`: the differences a reader of the two policies finds by hand are among its regions, and
every witness it writes, decided again by `lumakras decide`, shows exactly its region's difference.

The whole diff (both markets' scenarios included) runs once for the module, as `lumakras diff --json
--witnesses DIR`; each hand-found difference below cites the policy sentences it comes from.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, TODAY, invoke

from lumakras_logic.analysis.diff import Differ
from lumakras_logic.analysis.diff_points import analyse_part, block_statuses, decide_space, payer_space
from lumakras_logic.authoring.abstraction import ABSENT
from lumakras_logic.core.api import Decider

pytestmark = pytest.mark.slow  # lumakras diff over the whole request space, and its witnesses replayed

SCENARIOS = ROOT / "scenarios"


@pytest.fixture(scope="module")
def diff(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    folder = tmp_path_factory.mktemp("witnesses")
    result = invoke("diff", "--json", "--witnesses", folder, "--today", TODAY.isoformat())
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), folder


def alternatives(data: dict[str, Any], condition: str, request_type: str = "initial",
                 market: str = "recorded") -> list[tuple[dict, dict]]:
    """(region, alternative) pairs of one part."""
    out = []
    for part in data["parts"]:
        if (part["condition"], part["request_type"], part["market"]) == (condition, request_type, market):
            for region in part["regions"]:
                out += [(region, alt) for alt in region["alternatives"]]
    return out


def causes(alt: dict) -> set[tuple[str, str, str]]:
    """The constraints an alternative needs not met or not documented, as (payer, criterion, status)."""
    return {(c["payer"], c["criterion"], "/".join(c["statuses"])) for c in alt["constraints"]
            if "met" not in c["statuses"]}


def find(data: dict[str, Any], condition: str, decisions: dict[str, str], cause: tuple[str, str, str],
         request_type: str = "initial", market: str = "recorded") -> list[dict]:
    """The alternatives with these decisions whose causes include `cause`."""
    return [alt for region, alt in alternatives(data, condition, request_type, market)
            if all(region["outcomes"][p]["decision"] == d for p, d in decisions.items()) and cause in causes(alt)]


# ---------------------------------------------------------------------------------------------------------
# the differences a reader finds by hand
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("condition, criterion", [
    ("nsclc", "1.B.test"),
    ("ampullary_adenocarcinoma", "3.B.test"),
    ("pancreatic_adenocarcinoma", "4.B.test"),
])
def test_approved_test(diff, condition, criterion):
    # Cigna 1.B, 3.B, 4.B: "as determined by an approved test"; Centene I.A.4, I.C.4: "Disease is positive for
    # KRAS G12C mutation" (reading 10). A positive result by another test: Centene approves, Cigna denies.
    data, _ = diff
    found = find(data, condition, {"centene": "approve", "cigna": "deny"}, ("cigna", criterion, "not_met"))
    assert found, [causes(a) for _, a in alternatives(data, condition)]
    assert "has no criterion on how the KRAS G12C mutation was determined" in found[0]["why"]
    assert failing(found[0]["witness"], "cigna") == [criterion.split(".")[0] + ".B"]  # 1.B, 3.B, 4.B


def test_small_bowel_and_colorectal_ask_no_test(diff):
    # Cigna 2.C and 5.C ask only for "KRAS G12C mutation-positive disease": no region turns on a test there.
    data, _ = diff
    for condition in ("colorectal", "small_bowel_adenocarcinoma"):
        for _, alt in alternatives(data, condition):
            assert not any(c["concept"] == "kras_test" for c in alt["constraints"])


@pytest.mark.parametrize("condition, criterion, concept", [
    ("nsclc", "I.A.2", "prescriber"),            # "Prescribed by or in consultation with an oncologist"
    ("colorectal", "I.B.2", "prescriber"),
    ("pancreatic_adenocarcinoma", "I.C.2", "prescriber"),
    ("nsclc", "I.A.5", "monotherapy"),           # I.A.5 "Prescribed as monotherapy"
    ("ampullary_adenocarcinoma", "I.C.6", "monotherapy"),
    ("nsclc", "I.A.7", "krazati"),               # I.A.7 "Member has not received prior treatment with Krazati"
])
def test_centene_only_criteria_deny_what_cigna_approves(diff, condition, criterion, concept):
    # Cigna's pathways 1-5 ask nothing of the prescriber, of monotherapy or of Krazati.
    data, _ = diff
    found = find(data, condition, {"centene": "deny", "cigna": "approve"}, ("centene", criterion, "not_met"))
    assert found
    assert any(c["concept"] == concept for c in found[0]["constraints"])
    assert "cigna has no criterion" in found[0]["why"]
    # the witness shows exactly that difference: its nearest Centene pathway fails that criterion alone
    assert failing(found[0]["witness"], "centene") == [criterion]


def failing(witness: dict, payer: str, market: str | None = None) -> list[str]:
    """The criteria not met of the nearest pathway, as `lumakras decide --json` gives them."""
    kb = ["--kb", ROOT / "kb"] + (["--kb", SCENARIOS / market] if market else [])
    path = Path(tempfile.mkdtemp()) / "witness.yaml"
    path.write_text(yaml.safe_dump(witness), encoding="utf-8")
    result = invoke("decide", path, "--payer", payer, "--json", *kb)
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    return [c["id"] for c in answer["closest"][0]["criteria"] if c["status"] == "not_met"]


def test_dose_over_960_is_referred_by_centene_and_approved_by_cigna(diff):
    # Centene I.A.9 "Dose does not exceed 960 mg per day" or is supported; a use outside Section I is referred
    # (I.D.2, reading 1). Cigna sets no dose limit (reading 8).
    data, _ = diff
    found = find(data, "nsclc", {"centene": "refer", "cigna": "approve"}, ("centene", "I.A.9", "not_met"))
    assert found
    region = next(r for r, a in alternatives(data, "nsclc") if a is found[0])
    assert region["outcomes"]["centene"]["refer_to"] == {"commercial": "CP.CPA.09", "medicaid": "CP.PMN.53",
                                                         "marketplace": "HIM.PA.154"}


def test_chemotherapy_only_prior_regimen_for_colorectal(diff):
    # Cigna 2.E "previously received a chemotherapy regimen for colon or rectal cancer"; Centene I.B.5 "Member
    # has received prior therapy" (reading 2): an immunotherapy or targeted drug alone meets Centene only.
    data, _ = diff
    found = find(data, "colorectal", {"centene": "approve", "cigna": "deny"}, ("cigna", "2.E", "not_met"))
    assert found
    witness = found[0]["witness"]
    assert witness["prior_therapies"], witness  # a prior therapy, and no chemotherapy among it


def test_generic_redirection_under_a_generic_market(diff):
    # Centene I.A.8 "member must use generic sotorasib, if available": once a generic is marketed (the
    # scenario), a Lumakras request without reason against the generic is denied; Cigna has no such criterion.
    data, _ = diff
    found = find(data, "nsclc", {"centene": "deny", "cigna": "approve"}, ("centene", "I.A.8", "not_met"),
                 market="generic-sotorasib-marketed")
    assert found
    assert found[0]["witness"]["medication"]["product"] == "lumakras"
    assert failing(found[0]["witness"], "centene", "generic-sotorasib-marketed") == ["I.A.8"]
    # under the market as recorded, no generic is marketed: I.A.8 never parts the payers
    for part in data["parts"]:
        if part["market"] == "recorded":
            for region in part["regions"]:
                for alt in region["alternatives"]:
                    assert not any(c["concept"] == "generic" for c in alt["constraints"])


def test_durations(diff):
    # Centene I.A "Medicaid/HIM – 6 months; Commercial – 12 months or duration of request, whichever is less";
    # Cigna "Approve for 1 year" (reading 11).
    data, _ = diff
    durations = [(r, a) for r, a in alternatives(data, "nsclc") if r["kind"] == "duration"]
    assert len(durations) == 1
    rows = {(d["line_of_business"], d["requested_months"]): d["months"] for d in durations[0][1]["durations"]}
    assert rows[("medicaid", None)] == {"centene": 6, "cigna": 12}
    assert rows[("marketplace", None)] == {"centene": 6, "cigna": 12}
    assert rows[("commercial", 11)] == {"centene": 11, "cigna": 12}
    assert ("commercial", None) not in rows and ("commercial", 12) not in rows  # 12 and 12: no difference
    # continued therapy: Centene II.A "Medicaid/HIM – 12 months", so only a shorter commercial request differs;
    # a continuation new to the plan approved under I.A (reading 12) has Section I's durations
    cont = {r["outcomes"]["centene"]["pathway"]: a for r, a in alternatives(data, "nsclc", "continuation")
            if r["kind"] == "duration"}
    assert {(d["line_of_business"], d["requested_months"]) for d in cont["II.A"]["durations"]} == {("commercial", 11)}
    assert {(d["line_of_business"], d["requested_months"]): d["months"] for d in cont["I.A"]["durations"]}[
        ("medicaid", None)] == {"centene": 6, "cigna": 12}


def test_continuation(diff):
    # Centene II.A reviews a continuation on II.A.1-3 (on therapy, responding, dose increase); Cigna has no
    # continuation criteria and reviews it on criteria 1-5 (reading 12), prior therapy included.
    data, _ = diff
    assert find(data, "nsclc", {"centene": "approve", "cigna": "deny"}, ("cigna", "1.C", "not_met"),
                request_type="continuation")
    assert find(data, "nsclc", {"centene": "deny", "cigna": "approve"}, ("centene", "II.A.2", "not_met"),
                request_type="continuation")


def test_referral(diff):
    # CP.PHAR.549 I.D.2: a diagnosis Section I does not name is referred to the off-label use policy; Cigna:
    # "not medically necessary for ANY other use(s)" (deny).
    data, _ = diff
    [(region, _alt)] = alternatives(data, "other")
    assert region["outcomes"]["centene"]["decision"] == "refer"
    assert region["outcomes"]["cigna"]["decision"] == "deny"
    # I.D.1: after a label change the policy does not reflect (the scenario), the no-coverage criteria
    # policy for an on-formulary drug: CP.PMN.255 for Medicaid instead of CP.PMN.53.
    found = [(r, a) for r, a in alternatives(data, "other", market="label-change-not-reflected")
             if r["outcomes"]["centene"].get("refer_to", {}).get("medicaid") == "CP.PMN.255"]
    assert found
    assert ("centene", "I.D.1.label", "met") in {(c["payer"], c["criterion"], "/".join(c["statuses"]))
                                                for c in found[0][1]["constraints"]}


def test_appendiceal_adenocarcinoma_is_colorectal_for_centene_only(diff):
    # CP.PHAR.549 revision 02.07.25 moved appendiceal adenocarcinoma into the CRC section (reads_as, reading 17);
    # Cigna's pathway 2 names colon or rectal cancer only: Centene approves under I.B what Cigna denies.
    data, _ = diff
    found = [(r, a) for r, a in alternatives(data, "appendiceal_adenocarcinoma")
             if (r["outcomes"]["centene"]["decision"], r["outcomes"]["centene"]["pathway"]) == ("approve", "I.B")
             and r["outcomes"]["cigna"]["decision"] == "deny"]
    assert found
    assert found[0][1]["witness"]["diagnosis"]["condition"] == "appendiceal_adenocarcinoma"
    part = next(p for p in data["parts"] if p["condition"] == "appendiceal_adenocarcinoma")
    assert part["diagnosis"] == {"diagnosis.condition": "appendiceal_adenocarcinoma", "diagnosis.histology": None}


def test_an_organ_level_condition_pends_with_both():
    # 'lung cancer' may be NSCLC or small cell (condition_may_be): every criterion on the diagnosis is not
    # documented until diagnosis.histology settles it, so neither payer approves; both pend where the rest is met.
    differ = Differ(Decider(today=TODAY))
    parts = differ.parts(differ.chosen(["lung_cancer"]))
    assert {p.label for p in parts} == {"lung_cancer"}
    for part in parts:
        found = analyse_part(part)
        assert not any(o[0] == "approve" for outs in found.group_weights for o in outs)
        assert any(all(o[0] == "pend" for o in outs) for outs in found.group_weights)
    # with the histology given it is a part of its own kind: adenocarcinoma is NSCLC, small cell no policy's
    assert differ.label(differ.space.representative(differ.key, ("lung_cancer", "adenocarcinoma"))) == "nsclc"
    assert differ.label(differ.space.representative(differ.key, ("lung_cancer", "small_cell"))) == "other"


def test_continuation_new_to_the_plan_is_reviewed_under_section_i(diff):
    # Reading 12: a Centene continuation whose II.A.1 is not met is reviewed under Section I (I.review), so it
    # is approved under I.A where Cigna denies what 1.C asks.
    data, _ = diff
    found = [(r, a) for r, a in alternatives(data, "nsclc", "continuation")
             if r["outcomes"]["centene"]["pathway"] == "I.A" and r["outcomes"]["cigna"]["decision"] == "deny"]
    assert found
    witness = found[0][1]["witness"]
    assert witness["request_type"] == "continuation"
    assert witness.get("continuation", {}).get("via_plan_benefit") is not True


def test_counts_are_reported(diff):
    data, _ = diff
    totals = data["totals"]
    assert totals["regions"] == sum(len(p["regions"]) for p in data["parts"])
    assert totals["profiles"] > totals["status_vectors_decided"] > 0
    assert totals["not_replayed"] == 0
    assert {p["condition"] for p in data["parts"]} >= {"nsclc", "colorectal", "other", "not-documented"}


# ---------------------------------------------------------------------------------------------------------
# every witness replays
# ---------------------------------------------------------------------------------------------------------
def test_every_witness_replays_through_decide(diff):
    data, folder = diff
    by_market: dict[str, list[dict]] = defaultdict(list)
    for part in data["parts"]:
        for region in part["regions"]:
            for alt in region["alternatives"]:
                by_market[part["market"]].append({"region": region, "alt": alt})
    assert sum(len(v) for v in by_market.values()) == data["totals"]["alternatives"]
    for market, items in by_market.items():
        kb = ["--kb", ROOT / "kb"] + (["--kb", SCENARIOS / market] if market != "recorded" else [])
        files = [Path(i["alt"]["witness_file"]) for i in items]
        result = invoke("decide", *files, "--payer", "all", "--json", *kb)
        assert result.exit_code == 0, result.stderr
        answers: dict[str, dict[str, dict]] = defaultdict(dict)
        for answer in json.loads(result.stdout):
            answers[answer["request"]][answer["payer"]] = answer
        decider = Decider([ROOT / "kb"] + ([SCENARIOS / market] if market != "recorded" else []), TODAY)
        for item in items:
            region, alt = item["region"], item["alt"]
            doc = yaml.safe_load(Path(alt["witness_file"]).read_text())
            lob = doc.get("line_of_business", "not given")
            got = answers[doc["id"]]
            for payer, want in region["outcomes"].items():
                have = got[payer]
                assert have["decision"] == want["decision"], (alt["id"], payer, have["decision"], want)
                assert have["pathway"] == want["pathway"], alt["id"]
                if want["decision"] == "approve":
                    assert have["approval_months"] in want["approval_months"][lob], alt["id"]
                if want["decision"] == "refer":
                    assert have["refer_to"] == want["refer_to"][lob], alt["id"]
            for d in alt["durations"] or []:
                if d["line_of_business"] == lob and d["requested_months"] == doc.get("requested_months"):
                    assert {p: got[p]["approval_months"] for p in d["months"]} == d["months"], alt["id"]
            derivations = decider.derive(decider.parse(doc, alt["witness_file"]), "all")
            for c in alt["constraints"]:
                assert derivations[c["payer"]].status[c["criterion"]] in c["statuses"], (alt["id"], c)


# ---------------------------------------------------------------------------------------------------------
# the structure: fewer profiles decided than the space has, the same answers as the engine
# ---------------------------------------------------------------------------------------------------------
def test_fixed_criteria_do_not_multiply_a_part():
    differ = Differ(Decider(today=TODAY))
    [nsclc] = [p for p in differ.parts(differ.chosen(["nsclc"])) if p.request_type == "initial"]
    # Cigna 2-5 are not_met for an NSCLC request whatever else it says: the fields only they read (Cigna 2.D's
    # unable_to_tolerate_combination) are no dimension of the NSCLC part
    assert "unable_to_tolerate_combination" not in nsclc.classes
    assert nsclc.plans["cigna"].const["2"] == "not_met"
    # ages 18, 19 and 40 are one class: every age criterion treats them alike
    assert len(nsclc.classes["member.age"]) == 3  # under 18, 18 or over, not given
    found = analyse_part(nsclc)
    profiles = 1
    for f in nsclc.classes:
        profiles *= nsclc.domain_sizes[f]
    assert found.weight == profiles  # every abstract profile counted once
    # each payer is decided in its own space; the joint space is only summed over, for the sizes
    assert found.points < found.decided < profiles


def test_a_part_names_its_diagnosis():
    differ = Differ(Decider(today=TODAY))
    labels = {differ.label(c) for c in differ.conditions()}
    # one part per distinct vector of the criteria on the diagnosis: the five conditions the policies name,
    # appendiceal adenocarcinoma (colorectal for Centene only), the organ-level ones the histology settles,
    # a diagnosis no policy names, and not documented (an unrecognized text: the criteria treat it alike)
    assert labels >= {"nsclc", "colorectal", "ampullary_adenocarcinoma", "pancreatic_adenocarcinoma",
                      "small_bowel_adenocarcinoma", "appendiceal_adenocarcinoma", "lung_cancer", "pancreatic_cancer",
                      "other", "not-documented"}
    nsclc = next(c for c in differ.conditions() if differ.label(c) == "nsclc")
    assert "lung_cancer+adenocarcinoma" in differ.diagnoses[nsclc].alike  # lung cancer + adenocarcinoma is NSCLC
    other = next(c for c in differ.conditions() if differ.label(c) == "other")
    assert "lung_cancer+small_cell" in differ.diagnoses[other].alike
    absent = next(c for c in differ.conditions() if differ.label(c) == "not-documented")
    assert "unrecognized" in differ.diagnoses[absent].alike
    assert differ.chosen(["gastric_cancer"]) == [other]


def test_diff_options(tmp_path):
    r = invoke("diff", "--condition", "other", "--no-scenarios", "--format", "markdown", "--today", "2026-06-01")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("# lumakras diff")
    assert "## Where the payers part, by concept" in r.stdout
    assert "## other, initial requests" in r.stdout
    r = invoke("diff", "--condition", "lung")
    assert r.exit_code == 2 and "--condition" in r.stderr
    r = invoke("diff", "--payer", "centene", "--condition", "other")
    assert r.exit_code == 2 and "--payer" in r.stderr


def test_a_third_payer_joins(tmp_path):
    r = invoke("diff", "--kb", ROOT / "kb", "--kb", ROOT / "tests/fixtures/acme/kb", "--condition", "nsclc",
               "--no-scenarios", "--json", "--today", "2026-06-01", "--jobs", "1")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert set(data["payers"]) == {"acme", "centene", "cigna"}
    assert data["totals"]["not_replayed"] == 0 and data["totals"]["regions"] > 0


def test_the_fold_agrees_with_the_engine_on_sampled_points():
    # Not only the witnesses: any point of a part (one status vector per block), written as a request with any
    # value of each of its field classes, gets from the engine (Datalog) the decisions each payer's own space
    # gave it (its arrays folded with the Kleene table, its automaton built from Engine.conclude).
    decider = Decider(today=TODAY)
    differ = Differ(decider)
    rng = random.Random(5)
    for part in differ.parts(differ.chosen(["colorectal", "pancreatic_adenocarcinoma", "appendiceal_adenocarcinoma",
                                            "not-documented"])):
        subs = [block_statuses(part, b)[0] for b in part.blocks]
        readers = [{p for p, _v in b.variables} for b in part.blocks]
        spaces = {p: payer_space(part, p, subs, readers) for p in part.plans}
        for space in spaces.values():
            decide_space(part, space)
        for _ in range(40):
            pick = [rng.randrange(len(sub)) for sub in subs]
            chosen: dict[str, int] = {}
            for sub, k in zip(subs, pick, strict=True):
                chosen.update(sub[k][2])
            assignment = {f: part.classes[f][i].values[rng.randrange(len(part.classes[f][i].values))]
                          for f, i in chosen.items()}
            assignment[part.key] = part.condition
            lob = rng.choice([v for v in part.lobs if v is not ABSENT])
            assignment["line_of_business"] = lob
            doc = differ.space.document(assignment, request_id="sample", request_type=part.request_type)
            got = decider.derive(decider.parse(doc, "(sample)"), "all")
            for payer, space in spaces.items():
                index = sum(view.of[pick[view.block]] * stride
                            for view, stride in zip(space.views, space.strides, strict=True))
                decision, pathway, targets = space.outcomes[space.codes[index]]
                assert (got[payer].decision, got[payer].pathway) == (decision, pathway), (doc, payer)
                if decision == "refer":
                    assert got[payer].refer_to == dict(zip(part.lobs, targets, strict=True))[lob]
