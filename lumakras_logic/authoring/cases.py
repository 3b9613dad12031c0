"""Policy-level test cases as data (OpenFisca style): a request and its expected answer per payer.

A case file is YAML:

    name: Centene denies NSCLC after Krazati               # optional; the file name otherwise
    request: {id: ..., ...}                                # a request document (REQUESTS.md), or
    request_file: queries/centene-deny-prior-krazati.yaml  # a path relative to the case file or the repo
    expect:
      centene:
        decision: deny                 # approve | refer | pend | deny
        pathway: null                  # the derived pathway (approve, refer)
        approval_months: null
        refer_to: null
        refer_by: I.D.2                # on refer: the criterion that named the target
        nearest: I.A                   # on deny or pend: the nearest pathway (the first of `closest`)
        criteria: {I.A.7: not_met}     # the status of any node of the payer's tree
        because: {I.A.7: Krazati}      # words that a node's `because` sentences must contain: the reason
        to_document: [prior_therapies] # on pend: the fields to send (the set of them)
        unclassified: [Zorbamab]       # the names the vocabulary did not know (as written)
        error: line_of_business        # instead: the request is rejected naming this field
      cigna:
        decision: approve

A file may hold one case, or a list of them under `cases:`. Only the keys given are checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.answer import Criterion
from ..core.api import Decider
from ..core.engine import Derivation
from ..core.escape import shown
from ..core.inputs import InputError, read_document
from ..core.request import RequestError, load_request

CHECKED = ("decision", "pathway", "approval_months", "refer_to", "refer_by", "nearest", "criteria", "because",
           "to_document", "unclassified", "error")
STATUSES = ("met", "not_met", "not_documented")


class CaseError(Exception):
    """A malformed case file: names the file and the key."""


@dataclass
class Case:
    name: str
    source: Path
    request: Any  # the document, or a Path to a request file
    expect: dict[str, dict[str, Any]]


def load_cases(path: Path, root: Path | None = None) -> list[Case]:
    try:
        doc = read_document(path)
    except InputError as exc:
        raise CaseError(str(exc)) from None
    entries = doc.get("cases") if isinstance(doc, dict) and "cases" in doc else [doc]
    if not isinstance(entries, list):
        raise CaseError(f"{path}: cases: must be a list of cases")
    return [_case(path, i, e, root) for i, e in enumerate(entries)]


def _case(path: Path, index: int, entry: Any, root: Path | None) -> Case:
    where = f"{path}" + (f" case {index + 1}" if index else "")
    if not isinstance(entry, dict):
        raise CaseError(f"{where}: a case is a mapping with request and expect")
    unknown = set(entry) - {"name", "request", "request_file", "expect", "notes"}
    if unknown:
        raise CaseError(f"{where}: {sorted(unknown)[0]}: unknown key")
    if ("request" in entry) == ("request_file" in entry):
        raise CaseError(f"{where}: request: give exactly one of request or request_file")
    request: Any = entry.get("request")
    if "request_file" in entry:
        if not isinstance(entry["request_file"], str) or not entry["request_file"]:
            raise CaseError(f"{where}: request_file: must be the path of a request file, got "
                            f"{shown(entry['request_file'])}")
        candidates = [path.parent / entry["request_file"]]
        if root is not None:
            candidates.append(root / entry["request_file"])
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            raise CaseError(f"{where}: request_file: no such file {entry['request_file']!r}")
        request = found
    expect = entry.get("expect")
    if not isinstance(expect, dict) or not expect:
        raise CaseError(f"{where}: expect: must map each payer to its expected answer")
    for payer, wanted in expect.items():
        if not isinstance(wanted, dict):
            raise CaseError(f"{where}: expect.{payer}: must be a mapping")
        for key in wanted:
            if key not in CHECKED:
                raise CaseError(f"{where}: expect.{payer}.{key}: unknown key (one of {', '.join(CHECKED)})")
        for key in ("criteria", "because"):
            if key in wanted and not isinstance(wanted[key], dict):
                raise CaseError(f"{where}: expect.{payer}.{key}: must map criterion ids to "
                                + ("statuses" if key == "criteria" else "words"))
        for key in ("to_document", "unclassified"):
            if key in wanted and not isinstance(wanted[key], (list, type(None))):
                raise CaseError(f"{where}: expect.{payer}.{key}: must be a list")
        for node, status in (wanted.get("criteria") or {}).items():
            if status not in STATUSES:
                raise CaseError(f"{where}: expect.{payer}.criteria.{node}: {status!r} is not one of {STATUSES}")
    name = entry.get("name") or (path.stem if not index else f"{path.stem} #{index + 1}")
    return Case(str(name), path, request, expect)


def run_case(decider: Decider, case: Case) -> list[str]:
    """Decide the case under each payer it names; return the differences (empty when it passes)."""
    return run_case_full(decider, case)[0]


def run_case_full(decider: Decider, case: Case) -> tuple[list[str], dict[str, Derivation]]:
    """The differences, and the derivation under each payer the case names (for coverage)."""
    problems: list[str] = []
    derivations: dict[str, Derivation] = {}
    for payer, wanted in case.expect.items():
        try:
            if isinstance(case.request, Path):
                request = load_request(case.request, decider.kb.payers(), decider.today, decider.kb)
            else:
                request = decider.parse(case.request, str(case.source))
            derivation = decider.engine.decide(request, payer)
            derivations[payer] = derivation
        except RequestError as exc:
            if wanted.get("error") == exc.field:
                continue
            problems.append(f"{payer}: the request was rejected ({exc})" +
                            (f", expected error on {wanted['error']!r}" if "error" in wanted else ""))
            continue
        if "error" in wanted:
            problems.append(f"{payer}: expected an error on {wanted['error']!r}, got decision {derivation.decision}")
            continue
        answer = decider.explainer.answer(derivation)
        got_keys = {"decision": answer.decision, "pathway": answer.pathway, "approval_months": answer.approval_months,
                    "refer_to": answer.refer_to, "refer_by": answer.refer_by,
                    "nearest": answer.nearest.pathway if answer.nearest else None}
        for key in ("decision", "pathway", "approval_months", "refer_to", "refer_by", "nearest"):
            if key in wanted and got_keys[key] != wanted[key]:
                problems.append(f"{payer}: {key} is {got_keys[key]!r}, expected {wanted[key]!r}")
        for node, status in (wanted.get("criteria") or {}).items():
            got = derivation.status.get(node)
            if got is None:
                problems.append(f"{payer}: criteria.{node}: no such node in the {payer} policy")
            elif got != status:
                reason = "; ".join(_because(decider, derivation, node))
                problems.append(f"{payer}: criteria.{node} is {got}, expected {status}"
                                + (f" (because: {reason})" if reason else ""))
        for node, words in (wanted.get("because") or {}).items():
            if (payer, node) not in decider.kb.nodes:
                problems.append(f"{payer}: because.{node}: no such node in the {payer} policy")
                continue
            said = _because(decider, derivation, node)
            if not any(str(words).lower() in b.lower() for b in said):
                problems.append(f"{payer}: because.{node} does not say {words!r}; it says {said}")
        if "to_document" in wanted:
            got_fields = sorted({t.field for t in answer.to_document})
            if got_fields != sorted(wanted["to_document"] or []):
                wanted_fields = sorted(wanted["to_document"] or [])
                problems.append(f"{payer}: to_document fields are {got_fields}, expected {wanted_fields}")
        if "unclassified" in wanted:
            got_names = sorted(u.name for u in answer.unclassified)
            if got_names != sorted(wanted["unclassified"] or []):
                problems.append(f"{payer}: unclassified names are {got_names}, "
                                f"expected {sorted(wanted['unclassified'] or [])}")
    return problems, derivations


def _because(decider: Decider, derivation: Derivation, node: str) -> list[str]:
    """A node's reasons, as `lumakras why` gives them: its own sentences, or those of the parts that
    decided it."""
    entry = decider.explainer.criterion(derivation, node)
    out: list[str] = []

    def walk(e: Criterion) -> None:
        out.extend(e.because)
        for part in e.parts:
            walk(part)

    walk(entry)
    return out
