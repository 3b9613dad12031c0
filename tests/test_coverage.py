"""Every criterion of DECISIONS.md is in the kb with its words and citation, and the YAML cases drive each
one to each status the policy allows."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from conftest import CASES, ROOT, shared_decider

from lumakras_logic.cases import load_cases
from lumakras_logic.request import RequestError, load_request


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


def test_the_abstraction_allows_exactly_what_the_policy_text_allows() -> None:
    """`lumakras test --coverage` finds the allowed statuses on the abstraction of the request space; it
    must agree with the table above, written by hand from the policy texts."""
    from lumakras_logic.abstraction import build_space

    space = build_space(shared_decider())
    for payer, ids in CRITERIA.items():
        for criterion in ids:
            assert space.reachable(payer, criterion) == ALLOWED.get((payer, criterion), ALL), (payer, criterion)
