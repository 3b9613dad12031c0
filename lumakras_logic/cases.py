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
        criteria: {I.A.7: not_met}     # the status of any node of the payer's tree
        to_document: [prior_therapies] # on pend: the fields to send (the set of them)
        error: line_of_business        # instead: the request is rejected naming this field
      cigna:
        decision: approve

A file may hold one case, or a list of them under `cases:`. Only the keys given are checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .api import Decider
from .request import RequestError, load_request

CHECKED = ("decision", "pathway", "approval_months", "refer_to", "criteria", "to_document", "error")
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
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CaseError(f"{path}: cannot read: {exc}") from None
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
        for node, status in (wanted.get("criteria") or {}).items():
            if status not in STATUSES:
                raise CaseError(f"{where}: expect.{payer}.criteria.{node}: {status!r} is not one of {STATUSES}")
    name = entry.get("name") or (path.stem if not index else f"{path.stem} #{index + 1}")
    return Case(str(name), path, request, expect)


def run_case(decider: Decider, case: Case) -> list[str]:
    """Decide the case under each payer it names; return the differences (empty when it passes)."""
    problems: list[str] = []
    for payer, wanted in case.expect.items():
        try:
            if isinstance(case.request, Path):
                request = load_request(case.request, decider.kb.payers(), decider.today)
            else:
                request = decider.parse(case.request, str(case.source))
            derivation = decider.engine.decide(request, payer)
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
        for key in ("decision", "pathway", "approval_months", "refer_to"):
            if key in wanted and answer[key] != wanted[key]:
                problems.append(f"{payer}: {key} is {answer[key]!r}, expected {wanted[key]!r}")
        for node, status in (wanted.get("criteria") or {}).items():
            got = derivation.status.get(node)
            if got is None:
                problems.append(f"{payer}: criteria.{node}: no such node in the {payer} policy")
            elif got != status:
                problems.append(f"{payer}: criteria.{node} is {got}, expected {status}")
        if "to_document" in wanted:
            got_fields = sorted({t["field"] for t in answer["to_document"]})
            if got_fields != sorted(wanted["to_document"] or []):
                wanted_fields = sorted(wanted["to_document"] or [])
                problems.append(f"{payer}: to_document fields are {got_fields}, expected {wanted_fields}")
    return problems
