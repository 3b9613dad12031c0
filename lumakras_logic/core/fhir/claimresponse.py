"""An answer as a Da Vinci PAS-style FHIR R4 ClaimResponse (docs/fhir.md, "ClaimResponse").

What it follows, from the Da Vinci Prior Authorization Support IG (github.com/HL7/davinci-pas,
input/fsh/ClaimResponse.fsh and Examples.fsh):
- `use` preauthorization, `status` active, `outcome` complete: the review is done whatever its result
  (the IG's pended example, ReferralAuthorizationResponsePended, is `complete` with A4 too);
- the review's result on `item.adjudication` (category submitted, fixed by PASClaimResponseBase) as the
  extension `extension-reviewAction` with its `extension-reviewActionCode` sub-extension, a code of X12's
  Health Care Services Review Decision code list 306 (system https://codesystem.x12.org/005010/306):
  A1 Certified in total (approve), A3 Not Certified (deny), A4 Pended (pend, and refer: the request
  goes to another policy's review, named in the notes);
- `preAuthPeriod` on approve: the request date to the last day of approval_months months (Period.end is
  inclusive);
- `processNote` (number, text: PASClaimResponse makes both must-support) for what a provider reads, and
  `item.noteNumber` pointing at them.

The reasons: PAS's reviewAction `reasonCode` is bound (required) to X12's external code list 886, whose
codes are licensed and say nothing of this policy's criteria, so none is invented here. The criteria travel
instead as one processNote per criterion (deny: each not-met criterion of the nearest pathways; pend: each
thing to send; approve and refer: the derived pathway's criteria), each led by the criterion's id and
carrying its policy text, citation and why, with the criterion also as a Coding in the note's extension
(`urn:lumakras-logic:fhir:criterion`, system `urn:lumakras-logic:criterion:<payer>`) for a program. A payer
system shows `disposition` and the notes to the provider as they are; the generated `text` narrative says
the same for a FHIR viewer. The answer's JSON (decide --json) is not embedded: it is for programs, and the
last note names the policy revision and kb digest that reproduce it.
"""

from __future__ import annotations

import calendar
import datetime as dt
from html import escape
from typing import Any

from ..answer import Answer, Criterion
from ..escape import plain
from ..render import reason

Json = dict[str, Any]

REVIEW_ACTION = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-reviewAction"
REVIEW_ACTION_CODE = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-reviewActionCode"
X12_306 = "https://codesystem.x12.org/005010/306"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
REQUEST_SYSTEM = "urn:lumakras-logic:request"
CRITERION_EXTENSION = "urn:lumakras-logic:fhir:criterion"
CRITERION_SYSTEM = "urn:lumakras-logic:criterion:"  # + the payer

# decision -> (X12 306 code, its display)
REVIEW_ACTIONS = {"approve": ("A1", "Certified in total"), "deny": ("A3", "Not Certified"),
                  "pend": ("A4", "Pended"), "refer": ("A4", "Pended")}


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months later (the month's last day where it has no such day)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def last_day(start: dt.date, months: int) -> dt.date:
    """The last day an approval of `months` months from `start` covers: FHIR's Period.end is inclusive, so
    12 months from 2026-03-01 end on 2027-02-28."""
    return add_months(start, months) - dt.timedelta(days=1)


def _note(number: int, text: str, payer: str, criterion: str | None = None, words: str = "") -> Json:
    note: Json = {"number": number, "type": "display", "text": text}
    if criterion:
        note["extension"] = [{"url": CRITERION_EXTENSION, "valueCoding": {
            "system": CRITERION_SYSTEM + payer, "code": criterion, **({"display": words} if words else {})}}]
    return note


def _criterion_line(c: Criterion, pathway: str | None = None) -> str:
    status = c.status.replace("_", " ")
    where = f"pathway {pathway}, " if pathway else ""
    because = "; ".join(dict.fromkeys(_leaf_reasons(c))) or "; ".join(c.because)
    return f"{c.id} ({where}{status}): {c.text} [{c.cite}]" + (f": {because}" if because else "")


def _leaf_reasons(c: Criterion) -> list[str]:
    """The sentences about the request that a criterion's status rests on, along its deciding parts."""
    return [b for p in c.parts for b in _leaf_reasons(p)] if c.parts else list(c.because)


def _notes(a: Answer) -> list[tuple[str, str | None, str]]:
    """(text, criterion id, criterion words) of each note, in the order a reviewer reads them."""
    out: list[tuple[str, str | None, str]] = []
    if a.decision == "refer":
        by = next((c for c in a.criteria if c.id == a.refer_by), None)
        target = a.refer_to or "no policy for this line of business"
        grounds = "; ".join(dict.fromkeys(_leaf_reasons(by))) if by else ""
        out.append((f"Referred to {target} by {a.refer_by}" + (f": {by.text} [{by.cite}]" if by else "")
                    + (f": {grounds}" if grounds else ""), a.refer_by, by.text if by else ""))
    if a.decision in ("approve", "refer"):
        out += [(_criterion_line(c, a.pathway), c.id, c.text) for c in a.criteria if c.id != a.refer_by]
    if a.decision == "deny":
        out += [(f"{o.text} [{o.cite}]" + (f": {'; '.join(o.because)}" if o.because else ""), None, "")
                for o in a.otherwise or ()]
        pathways = [p for p in a.closest if not p.other_diagnosis] or list(a.closest[:1])
        for p in pathways:
            out += [(_criterion_line(c, p.pathway), c.id, c.text) for c in p.criteria if c.status == "not_met"]
    if a.decision == "pend":
        for t in a.to_document:
            ask = t.question or f"Send {t.field}."
            out.append((f"{ask} For {t.node} (pathway {t.pathway}, criterion {t.criterion}): {t.text}; now: "
                        f"{t.because}", t.node, t.text))
    out += [(f"Unclassified {u.field} entry '{u.name}': {u.because}", None, "") for u in a.unclassified]
    prov = a.provenance
    out.append((f"Decided by {a.policy} revision {prov.revision} ({prov.title}), kb sha256 {prov.kb_digest}, "
                f"{prov.engine}, as of {prov.request_date.isoformat()}", None, ""))
    return out


def claim_response(answer: Answer) -> Json:
    """One answer as a ClaimResponse (a plain dict, FHIR R4 JSON)."""
    a = plain(answer)  # what came from the request, one line and inert
    code, display = REVIEW_ACTIONS[a.decision]
    start = a.provenance.request_date
    notes = [_note(i, text, a.payer, cid, words) for i, (text, cid, words) in enumerate(_notes(a), 1)]
    said = reason(a)
    review: Json = {"url": REVIEW_ACTION, "extension": [{"url": REVIEW_ACTION_CODE, "valueCodeableConcept": {
        "coding": [{"system": X12_306, "code": code, "display": display}], "text": display}}]}
    adjudication: Json = {"extension": [review],
                          "category": {"coding": [{"system": ADJUDICATION, "code": "submitted"}]},
                          "reason": {"text": said}}
    out: Json = {
        "resourceType": "ClaimResponse",
        "text": {"status": "generated", "div": _narrative(said, notes)},
        "identifier": [{"system": REQUEST_SYSTEM, "value": f"{a.request}|{a.payer}"}],
        "status": "active",
        "type": {"coding": [{"system": CLAIM_TYPE, "code": "pharmacy"}]},
        "use": "preauthorization",
        "patient": {"display": f"The member of request {a.request}"},
        "created": start.isoformat(),
        "insurer": {"display": f"{a.payer} ({a.policy})"},
        "request": {"identifier": {"system": REQUEST_SYSTEM, "value": a.request}},
        "outcome": "complete",
        "disposition": said,
    }
    if a.decision == "approve" and a.approval_months is not None:
        out["preAuthPeriod"] = {"start": start.isoformat(), "end": last_day(start, a.approval_months).isoformat()}
    out["item"] = [{"itemSequence": 1, "noteNumber": [n["number"] for n in notes], "adjudication": [adjudication]}]
    out["processNote"] = notes
    return out


def _narrative(said: str, notes: list[Json]) -> str:
    items = "".join(f"<li>{escape(n['text'])}</li>" for n in notes)
    return f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{escape(said)}</p><ol>{items}</ol></div>'


def bundle_head() -> list[tuple[str, Any]]:
    """The keys of the Bundle (type collection) that holds a batch's ClaimResponses, before its entries."""
    return [("resourceType", "Bundle"), ("type", "collection")]
