"""Every criterion of DECISIONS.md is in the kb with its words and citation, and the YAML cases drive each
one to each status the policy allows."""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import CASES, ROOT, shared_decider

from lumakras_logic.authoring.abstraction import ABSENT
from lumakras_logic.authoring.cases import load_cases
from lumakras_logic.core.request import RequestError, load_request

pytestmark = pytest.mark.slow  # the abstraction of the request space, built from the kb


def _ids(prefix: str, first: int, last: int) -> list[str]:
    return [f"{prefix}.{i}" for i in range(first, last + 1)]


# The table of DECISIONS.md, "Identifiers".
CRITERIA = {
    "centene": [*_ids("I.A", 1, 9), "I.A.9.a", "I.A.9.b",
                *_ids("I.B", 1, 8), "I.B.6.a", "I.B.6.b", "I.B.6.c", "I.B.8.a", "I.B.8.b",
                *_ids("I.C", 1, 8), "I.C.1.a", "I.C.1.b", "I.C.1.c",
                "I.D.1", "I.D.2", *_ids("II.A", 1, 3), "II.B.1", "II.B.2"],
    "cigna": ["1.A", "1.B", "1.C", "2.A", "2.B", "2.C", "2.D", "2.E", "2.D.i", "2.D.ii",
              "3.A", "3.B", "3.C", "4.A", "4.B", "4.C", "4.C.i", "4.C.ii", "5.A", "5.B", "5.C", "5.D"],
}
ALL = {"met", "not_met", "not_documented"}
# Where the policy (with the shipped market facts) allows fewer statuses, and why.
ALLOWED = {
    # reading 7: no generic sotorasib is marketed (kb/market/), so "generic if available" is always met
    ("centene", "I.A.8"): {"met"}, ("centene", "I.B.7"): {"met"}, ("centene", "I.C.7"): {"met"},
    # reading 1: both recorded label changes are reflected; the label-change leaf is a kb fact, never
    # not documented, so I.D.1 / II.B.1 ("all" with it) are always not met
    ("centene", "I.D.1"): {"not_met"}, ("centene", "II.B.1"): {"not_met"},
}


def _case_statuses() -> dict[tuple[str, str], set[str]]:
    decider = shared_decider()
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for path in sorted(CASES.rglob("*.yaml")):
        for case in load_cases(path, ROOT):
            for payer in case.expect:
                try:
                    if isinstance(case.request, Path):
                        request = load_request(case.request, decider.kb.payers(), decider.today)
                    else:
                        request = decider.parse(case.request, str(path))
                    derivation = decider.engine.decide(request, payer)
                except RequestError:
                    continue
                for node, status in derivation.status.items():
                    seen[(payer, node)].add(status)
    return seen


@pytest.fixture(scope="module")
def statuses() -> dict[tuple[str, str], set[str]]:
    return _case_statuses()


@pytest.mark.parametrize("payer,criterion", [(p, c) for p, ids in CRITERIA.items() for c in ids])
def test_criterion_is_in_the_kb_with_words_and_citation(payer: str, criterion: str) -> None:
    node = shared_decider().kb.nodes.get((payer, criterion))
    assert node is not None, f"{payer} {criterion} is not a node of the kb"
    assert node.text.strip() and node.cite.strip()
    assert node.where, "the node fact's file:line is known"


@pytest.mark.parametrize("payer,criterion", [(p, c) for p, ids in CRITERIA.items() for c in ids])
def test_cases_drive_each_criterion_to_each_allowed_status(payer: str, criterion: str, statuses) -> None:
    allowed = ALLOWED.get((payer, criterion), ALL)
    missing = allowed - statuses[(payer, criterion)]
    assert not missing, f"no case drives {payer} {criterion} to {sorted(missing)}"
    impossible = statuses[(payer, criterion)] - allowed
    assert not impossible, f"{payer} {criterion} reached {sorted(impossible)}, which the policy does not allow"


def test_every_pathway_is_approved_or_referred_by_some_case(statuses) -> None:
    kb = shared_decider().kb
    for payer, pathways in kb.pathways.items():
        for pathway in pathways:
            assert "met" in statuses[(payer, pathway.id)], f"no case derives {payer} {pathway.id}"


# Every other node of the kb (the parts of the criteria above, and the nodes issue 10 added: I.review, the
# partner and regimen parts of the combinations, II.A.3's dose comparison) takes every status, but these:
ALLOWED_NODES = {
    **ALLOWED,
    # the request type is never missing (the loader reads an absent one as initial): met or not met
    ("centene", "I.review.initial"): {"met", "not_met"},
    # reading 7: the market facts, never not documented
    ("centene", "I.A.8.unavailable"): {"met"}, ("centene", "I.B.7.unavailable"): {"met"},
    ("centene", "I.C.7.unavailable"): {"met"},
    # reading 1: no unreflected label change is recorded
    ("centene", "I.D.1.label"): {"not_met"}, ("centene", "II.B.1.label"): {"not_met"},
    ("centene", "I.D.2.no_label_change"): {"met"}, ("centene", "II.B.2.no_label_change"): {"met"},
    # reading 12: "absent" is never not documented; a new dose without the current dose is a dose increase
    # (II.A.3.no_increase.not_above is not met), so "not a dose increase" is met or not met
    ("centene", "II.A.3.no_increase.no_new_dose"): {"met", "not_met"},
    ("centene", "II.A.3.no_increase.current_dose.absent"): {"met", "not_met"},
    ("centene", "II.A.3.no_increase.current_dose"): {"met", "not_met"},
    ("centene", "II.A.3.no_increase"): {"met", "not_met"},
}


@pytest.fixture(scope="module")
def space():
    from lumakras_logic.authoring.abstraction import build_space

    return build_space(shared_decider())


def test_the_abstraction_allows_exactly_what_the_policy_text_allows(space) -> None:
    """`lumakras test --coverage` finds the allowed statuses on the abstraction of the request space; it
    must agree with the table above, written by hand from the policy texts."""
    for payer, ids in CRITERIA.items():
        for criterion in ids:
            assert space.reachable(payer, criterion) == ALLOWED.get((payer, criterion), ALL), (payer, criterion)
    for payer, node in shared_decider().kb.nodes:
        assert space.reachable(payer, node) == ALLOWED_NODES.get((payer, node), ALL), (payer, node)
    assert not space.gaps


# ---------------------------------------------------------------------------------------------------------
# The abstraction covers the request forms of issue 10
# ---------------------------------------------------------------------------------------------------------
def _vector(space, key: str, value) -> tuple:
    """The engine's statuses of the leaves reading one field, for a request giving that field alone."""
    decider = shared_decider()
    doc = space.document({key: value}, request_id="probe")
    derivations = decider.derive(decider.parse(doc, "(probe)"), "all")
    leaves = sorted(leaf for leaf, f in space.leaf_field.items() if f == key)
    return tuple(derivations[payer].status[node] for payer, node in leaves)


def _vectors(space, key: str) -> set:
    leaves = sorted(leaf for leaf, f in space.leaf_field.items() if f == key)
    return {tuple(space.table[leaf][v] for leaf in leaves) for v in space.domains[key]}


def test_joint_fields_read_together() -> None:
    from lumakras_logic.authoring.abstraction import build_space

    space = build_space(shared_decider())
    # condition_is reads the histology through kb/engine/diagnoses.dl; at_most_field reads the field its Param
    # names: each pair is one joint field, read by every leaf on either field
    assert space.joints["diagnosis.condition+diagnosis.histology"] == ("diagnosis.condition", "diagnosis.histology")
    assert space.leaf_field[("cigna", "1.B.condition")] == "diagnosis.condition+diagnosis.histology"
    dose = "continuation.new_dose_mg_per_day+medication.dose_mg_per_day"
    assert space.leaf_field[("centene", "II.A.3.no_increase.compare")] == dose
    assert space.leaf_field[("centene", "I.A.9.a")] == dose
    # appendiceal adenocarcinoma is colorectal for Centene only (reads_as), an organ-level condition may be one
    key = "diagnosis.condition+diagnosis.histology"
    appendiceal = space.representative(key, ("appendiceal_adenocarcinoma", ABSENT))
    assert space.table[("centene", "I.B.1.condition")][appendiceal] == "met"
    assert space.table[("cigna", "2.diagnosis")][appendiceal] == "not_met"
    lung = space.representative(key, ("lung_cancer", ABSENT))
    assert space.table[("cigna", "1.B.condition")][lung] == "not_documented"
    assert space.representative(key, ("lung_cancer", "adenocarcinoma")) == space.representative(key, ("nsclc", ABSENT))


def test_drug_list_entries_of_every_form(space) -> None:
    from lumakras_logic.authoring.abstraction import UNKNOWN_DRUG, Kind

    entries = {e for alike in space.entries["medication.with"].values() for e in alike}
    decider = shared_decider()
    # a class name, a {name, kind} entry, an ambiguous name, a regimen, a name the vocabulary does not know
    assert {"egfr_inhibitor", Kind("x-unnamed-egfr_inhibitor", "egfr_inhibitor"), UNKNOWN_DRUG} <= entries
    assert set(decider.kb.ambiguous) <= entries | {""}
    assert {g for (g,) in decider.kb.ask("regimen", "?G") if g} <= entries
    # a partner with another anticancer drug (a regimen with an extra drug): the partner is there, the regimen
    # is not sotorasib + the partner alone
    partner, regimen = ("centene", "I.B.6.a.partner"), ("centene", "I.B.6.a.regimen")
    assert any(space.table[partner][v] == "met" and space.table[regimen][v] == "not_met"
               for v in space.domains["medication.with"])


def test_candidates_alike_get_the_same_statuses(space) -> None:
    # Of candidates the engine gives the same statuses only one is kept, and of constants no rule can tell
    # apart (the ICD-10-CM categories no condition names) only one is asked about: the others, asked here,
    # get the statuses of the one that stands for them.
    rng = random.Random(10)
    key = "diagnosis.condition+diagnosis.histology"
    for rep, alike in space.alike[key].items():
        for value in rng.sample(alike, min(4, len(alike))):
            assert _vector(space, key, value) == _vector(space, key, rep), (value, rep)
    for field_name in ("prior_therapies", "medication.with", "intolerant_to"):
        for rep, alike in space.entries[field_name].items():
            for entry in rng.sample(alike, min(3, len(alike))):
                assert _vector(space, field_name, (entry,)) == _vector(space, field_name, (rep,)), (entry, rep)


def test_lists_of_three_entries_show_no_new_statuses(space) -> None:
    # A list leaf's status combines its entries' (met decided by an entry that certainly is, not documented by
    # one that may be): the abstraction's lists (every vector the combination closes to) show every vector a
    # list of any length shows. Sampled triples of any entries, decided by the engine, show none other.
    rng = random.Random(3)
    for field_name in ("prior_therapies", "medication.with"):
        entries = [e for alike in space.entries[field_name].values() for e in alike]
        known = _vectors(space, field_name)
        for _ in range(25):
            triple = tuple(rng.sample(entries, 3))
            assert _vector(space, field_name, triple) in known, triple
