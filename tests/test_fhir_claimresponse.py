"""`decide --format fhir` and `why --format fhir`: one Da Vinci PAS-style ClaimResponse per answer, held to
FHIR's structure by fhirclient (strict), with the X12 306 review action, the approved period and the
criteria of the answer, on the example requests for both payers."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from conftest import ROOT, invoke

from lumakras_logic.core.fhir.claimresponse import (
    REVIEW_ACTION,
    REVIEW_ACTION_CODE,
    X12_306,
    add_months,
    claim_response,
    last_day,
)

fhir = pytest.importorskip("fhirclient.models.claimresponse")
ClaimResponse = fhir.ClaimResponse
Bundle = pytest.importorskip("fhirclient.models.bundle").Bundle
Q = ROOT / "queries"


def answer(decider, name: str, payer: str):
    return next(a for o in decider.answer_files([Q / name], payer) for a in o.answers)


def review_code(cr: dict[str, Any]) -> str:
    (adjudication,) = cr["item"][0]["adjudication"]
    (action,) = [e for e in adjudication["extension"] if e["url"] == REVIEW_ACTION]
    (code,) = [e for e in action["extension"] if e["url"] == REVIEW_ACTION_CODE]
    (coding,) = code["valueCodeableConcept"]["coding"]
    assert coding["system"] == X12_306
    return coding["code"]


def criteria_noted(cr: dict[str, Any]) -> list[str]:
    return [e["valueCoding"]["code"] for n in cr["processNote"] for e in n.get("extension", ())]


@pytest.mark.parametrize("payer", ["centene", "cigna"])
def test_approve_is_certified_in_total_for_the_approved_period(decider, payer: str) -> None:
    a = answer(decider, "both-approve-nsclc-icd10-c34.90-adenocarcinoma.yaml", payer)
    assert a.decision == "approve" and a.approval_months
    cr = claim_response(a)
    ClaimResponse(cr, strict=True)
    assert review_code(cr) == "A1" and cr["outcome"] == "complete" and cr["use"] == "preauthorization"
    start = a.provenance.request_date
    assert cr["preAuthPeriod"] == {"start": start.isoformat(),
                                   "end": (add_months(start, a.approval_months) - dt.timedelta(days=1)).isoformat()}
    assert criteria_noted(cr) == [c.id for c in a.criteria]
    assert cr["item"][0]["noteNumber"] == [n["number"] for n in cr["processNote"]]


@pytest.mark.parametrize("payer", ["centene", "cigna"])
def test_deny_is_not_certified_with_the_criteria_not_met(decider, payer: str) -> None:
    a = answer(decider, "both-deny-kras-negative.yaml", payer)
    assert a.decision == "deny"
    cr = claim_response(a)
    ClaimResponse(cr, strict=True)
    assert review_code(cr) == "A3" and "preAuthPeriod" not in cr
    failed = [c for c in a.nearest.criteria if c.status == "not_met"]
    noted = criteria_noted(cr)
    for c in failed:
        assert c.id in noted
        note = next(n for n in cr["processNote"]
                    if n.get("extension") and n["extension"][0]["valueCoding"]["code"] == c.id)
        assert c.text in note["text"] and c.cite in note["text"] and "not met" in note["text"]
    assert cr["disposition"].startswith("DENY")


@pytest.mark.parametrize("payer", ["centene", "cigna"])
def test_pend_is_pended_with_what_to_send(decider, payer: str) -> None:
    a = answer(decider, "both-pend-nsclc-prior-therapies-undocumented.yaml", payer)
    assert a.decision == "pend"
    cr = claim_response(a)
    ClaimResponse(cr, strict=True)
    assert review_code(cr) == "A4" and "preAuthPeriod" not in cr
    texts = " ".join(n["text"] for n in cr["processNote"])
    for t in a.to_document:
        assert t.field in texts and t.node in criteria_noted(cr)


def test_refer_is_pended_with_where_it_goes(decider) -> None:
    a = answer(decider, "centene-refer-gastric-I.D-commercial.yaml", "centene")
    assert a.decision == "refer" and a.refer_to
    cr = claim_response(a)
    ClaimResponse(cr, strict=True)
    assert review_code(cr) == "A4"
    assert cr["processNote"][0]["text"].startswith(f"Referred to {a.refer_to} by {a.refer_by}")
    assert a.refer_to in cr["disposition"]


def test_provenance_travels_in_the_last_note(decider) -> None:
    a = answer(decider, "centene-deny-prior-krazati.yaml", "centene")
    last = claim_response(a)["processNote"][-1]["text"]
    assert a.provenance.kb_digest in last and a.provenance.revision in last


def test_an_approval_period_ends_the_day_before_its_months_are_out() -> None:
    assert last_day(dt.date(2026, 3, 1), 12) == dt.date(2027, 2, 28)
    assert last_day(dt.date(2026, 3, 1), 6) == dt.date(2026, 8, 31)
    assert last_day(dt.date(2028, 3, 1), 12) == dt.date(2029, 2, 28)


def test_add_months_keeps_the_day_or_the_month_end() -> None:

    assert add_months(dt.date(2026, 3, 1), 6) == dt.date(2026, 9, 1)
    assert add_months(dt.date(2026, 8, 31), 6) == dt.date(2027, 2, 28)
    assert add_months(dt.date(2026, 1, 15), 12) == dt.date(2027, 1, 15)


def test_decide_format_fhir_one_and_a_batch() -> None:
    one = invoke("decide", Q / "centene-deny-prior-krazati.yaml", "--payer", "centene", "--format", "fhir")
    assert one.exit_code == 0
    cr = json.loads(one.stdout)
    ClaimResponse(cr, strict=True)
    assert review_code(cr) == "A3"
    batch = invoke("decide", Q / "centene-deny-prior-krazati.yaml", Q / "centene-approve-nsclc-I.A.yaml",
                   "--payer", "all", "--format", "fhir", "--jobs", "1")
    assert batch.exit_code == 0
    bundle = json.loads(batch.stdout)
    Bundle(bundle, strict=True)
    assert bundle["type"] == "collection"
    assert [review_code(e["resource"]) for e in bundle["entry"]] == ["A3", "A1", "A1", "A1"]
    assert invoke("decide", Q / "centene-deny-prior-krazati.yaml", "--json", "--format", "fhir").exit_code == 2


def test_why_format_fhir() -> None:
    result = invoke("why", Q / "cigna-pend-kras-test-undocumented.yaml", "--payer", "cigna", "--format", "fhir")
    assert result.exit_code == 0
    assert review_code(json.loads(result.stdout)) == "A4"
    both = invoke("why", Q / "cigna-pend-kras-test-undocumented.yaml", "--payer", "all", "--format", "fhir")
    assert json.loads(both.stdout)["resourceType"] == "Bundle"
