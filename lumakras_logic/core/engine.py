"""Decide requests: assert a request's facts, ask the kb for its leaf rows, combine, retract.

Generic: the engine knows the predicates of the kb's engine layer (kb/engine/), never a criterion, a
drug or a payer. Per request it makes one Datalog query for the leaf rows of every payer asked about,
folds them up each payer's tree with the kb's Kleene table (kb/engine/kleene.dl), and makes one small
query for the approval duration when a pathway approves. One request at a time, facts asserted and
retracted (../shared/notes: faster and flatter than asserting a batch).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .kb import KbError, KnowledgeBase, assert_facts, query, retract_facts
from .policy import PolicyModel
from .request import Request, RequestError

# Every request is asserted under the same internal number and retracted before the next one: pyDatalog
# keeps every constant it has seen, so a fresh number per request would grow its tables without end.
_RID = 1

@dataclass
class Row:
    """One leaf row: the evidence a leaf test found (kb/engine/tests.dl)."""

    status: str
    note: str
    x: Any
    y: Any
    z: Any


@dataclass
class Derivation:
    """What the kb derived for one request under one payer."""

    request: Request
    payer: str
    decision: str
    pathway: str | None
    months: int | None
    refer_to: str | None
    refer_by: str | None
    status: dict[str, str] = field(default_factory=dict)  # node -> status
    rows: dict[str, list[Row]] = field(default_factory=dict)  # leaf node -> rows
    candidates: list[str] = field(default_factory=list)  # pathways this request type is reviewed under
    unknown: list[tuple[str, str]] = field(default_factory=list)  # (field, name) the vocabulary lacks


class Engine:
    """Decides requests against a loaded knowledge base."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.model = PolicyModel.from_kb(kb)  # the decision rule: every tool folds and concludes with it

    # public -----------------------------------------------------------------------------------------
    def decide(self, request: Request, payer: str) -> Derivation:
        return self.decide_many(request, [payer])[payer]

    def decide_many(self, request: Request, payers: list[str]) -> dict[str, Derivation]:
        """Decide one request under several payers with one assertion of its facts."""
        kb = self.kb
        kb.activate()
        for payer in payers:
            self.check(request, payer)
        rid = _RID
        facts = kb.request_facts(request, rid)
        assert_facts(facts)
        try:
            rows: dict[str, dict[str, list[Row]]] = {p: defaultdict(list) for p in payers}
            who = payers[0] if len(payers) == 1 else "?P"
            for answer in query("leaf", rid, who, "?N", "?S", "?T", "?X", "?Y", "?Z"):
                if who != "?P":
                    answer = (who, *answer)
                payer, node, status, note, x, y, z = answer
                if payer in rows:
                    rows[payer][node].append(Row(status, note, x, y, z))
            # reading 16: a name the vocabulary does not know is never silently dropped
            unknown = kb.unknown_items(facts)
            out = {p: self._derive(rid, request, p, rows[p]) for p in payers}
            for derivation in out.values():
                derivation.unknown = unknown
        finally:
            retract_facts(facts)
        return out

    def approval_months(self, request: Request, payer: str, pathway: str) -> int | None:
        """The duration a pathway approves this request for (reading 11), asked on its own: `lumakras diff`
        asks it once per line of business and requested duration rather than once per request."""
        self.kb.activate()
        facts = self.kb.request_facts(request, _RID)
        assert_facts(facts)
        try:
            found = self.kb.ask("approval_months", _RID, payer, pathway, "?M")
        finally:
            retract_facts(facts)
        return min(m for (m,) in found) if found else None

    # internals --------------------------------------------------------------------------------------
    def check(self, request: Request, payer: str) -> None:
        """Raise RequestError if the payer is unknown or its policy needs a field the request lacks."""
        kb = self.kb
        if payer not in kb.policies:
            raise RequestError(request.source, "payer",
                               f"unknown payer {payer!r}; the kb has {', '.join(kb.payers())}")
        for required in kb.policies[payer].requires:
            if required not in request.scalars and required not in request.lists:
                raise RequestError(request.source, required,
                                   f"required by the {payer} policy ({kb.policies[payer].id}) but not given")

    def combine(self, how: str, statuses: list[str]) -> str:
        """Fold statuses with the kb's Kleene table for `how` (the policy model's)."""
        return self.model.combine(how, statuses)

    def _derive(self, rid: int, request: Request, payer: str, rows: dict[str, list[Row]]) -> Derivation:
        kb = self.kb
        status: dict[str, str] = {}

        def walk(node_id: str) -> str:
            if node_id in status:
                return status[node_id]
            node = kb.node(payer, node_id)
            if node.test is not None:
                leaf_rows = rows.get(node_id)
                if not leaf_rows:
                    raise KbError(f"{node.test_where or node.where}: leaf {payer} {node_id} derived no "
                                  f"row for request {request.id!r} (test kind {node.test[0]!r})")
                leaf_rows.sort(key=lambda r: (r.status, r.note, str(r.x), str(r.y), str(r.z)))
                result = self.combine("any", [r.status for r in leaf_rows])
            else:
                result = self.combine(node.how or "all", [walk(part) for part in node.parts])
            status[node_id] = result
            return result

        rtype = request.scalars.get("request_type", "initial")
        candidates = self.candidates(payer, rtype)
        for w in kb.pathways[payer]:
            walk(w.id)
        for n in kb.policies[payer].otherwise_when:
            walk(n)
        decision, pathway = self.conclude(payer, candidates, status)
        months, refer_to, refer_by = None, None, None
        if decision == "approve" and pathway:
            found = self.kb.ask("approval_months", rid, payer, pathway, "?M")
            months = min(m for (m,) in found) if found else None
        elif decision == "refer" and pathway:
            refer_to, refer_by = self.referral(request.scalars.get("line_of_business", "any"), payer, pathway,
                                               status)
        return Derivation(request=request, payer=payer, decision=decision, pathway=pathway, months=months,
                          refer_to=refer_to, refer_by=refer_by, status=status, rows=dict(rows),
                          candidates=candidates)

    def candidates(self, payer: str, request_type: str) -> list[str]:
        return self.model.candidates(payer, request_type)

    def conclude(self, payer: str, candidates: list[str], status: dict[str, str]) -> tuple[str, str | None]:
        return self.model.conclude(payer, candidates, status)

    def referral(self, lob: str, payer: str, pathway: str,
                 status: dict[str, str]) -> tuple[str | None, str | None]:
        return self.model.referral(lob, payer, pathway, status)
