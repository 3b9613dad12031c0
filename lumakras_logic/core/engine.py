"""Decide requests: assert a request's facts, ask the kb for its leaf rows, combine, retract.

Generic: the engine knows the predicates of the kb's engine layer (kb/engine/), never a criterion, a
drug or a payer. For a batch of requests it makes one Datalog query for the leaf rows of every payer
asked about, folds each request's rows up each payer's tree with the kb's Kleene table
(kb/engine/kleene.dl), and makes one small query for the approval duration when a pathway approves. The
facts of a batch are asserted together and retracted after it, so memory stays flat.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .kb import KbError, KnowledgeBase, assert_facts, query, retract_facts
from .policy import PolicyModel
from .request import Request, RequestError

# Requests are asserted under the internal numbers _RID, _RID + 1, ... of their batch and retracted before
# the next batch: pyDatalog keeps every constant it has seen, so a fresh number per request would grow its
# tables without end.
_RID = 1
BATCH = 16  # requests asked about at once (bench: the time per request is flat from 8 to 100)

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
        return self.decide_batch([(request, payers)])[0]

    def decide_batch(self, items: list[tuple[Request, list[str]]]) -> list[dict[str, Derivation]]:
        """Decide several requests, each under its payers, in input order.

        Up to BATCH requests are asserted at once, each under its own number, and asked about in one leaf
        query with the request number free: the rows that depend on no request (the policy's tests, the
        vocabulary's tables) are then derived once for the batch rather than once per request (bench:
        about 30% less time per request). Each request gets the rows it would get alone, because every
        rule about a request binds it before negating (KnowledgeBase.unbatchable); a kb whose rules do
        not is asked one request at a time."""
        kb = self.kb
        kb.activate()
        for request, payers in items:
            for payer in payers:
                self.check(request, payer)
        size = 1 if kb.unbatchable else BATCH
        out: list[dict[str, Derivation]] = []
        for start in range(0, len(items), size):
            out += self._decide_together(items[start:start + size])
        return out

    def leaf_statuses(self, requests: list[Request]) -> list[dict[tuple[str, str], str]]:
        """Each request's leaf statuses under every payer, (payer, leaf) -> status: its rows folded with the
        kb's Kleene 'any', as decide folds them (the abstraction of `lumakras diff` asks these)."""
        self.kb.activate()
        size = 1 if self.kb.unbatchable else BATCH
        out: list[dict[tuple[str, str], str]] = []
        for start in range(0, len(requests), size):
            batch = requests[start:start + size]
            facts = self._assert(batch)
            try:
                rows = self._leaf_rows(len(batch), None)
            finally:
                self._retract(facts)
            out += [{(payer, node): self.combine("any", [r.status for r in got])
                     for payer, leaves in each.items() for node, got in leaves.items()} for each in rows]
        return out

    def _assert(self, requests: list[Request]) -> list[list[tuple[Any, ...]]]:
        """Assert the requests' facts under the numbers _RID, _RID + 1, ...; the facts, to retract."""
        facts = [self.kb.request_facts(request, rid) for rid, request in enumerate(requests, _RID)]
        for each in facts:
            assert_facts(each)
        return facts

    @staticmethod
    def _retract(facts: list[list[tuple[Any, ...]]]) -> None:
        for each in facts:
            retract_facts(each)

    @staticmethod
    def _leaf_rows(count: int, payers: list[str] | None) -> list[dict[str, dict[str, list[Row]]]]:
        """The leaf rows of the `count` requests asserted, payer -> leaf -> rows; one query (the request
        number bound when there is one request, and the payer when it is the only one asked about)."""
        rows: list[dict[str, dict[str, list[Row]]]] = [defaultdict(lambda: defaultdict(list)) for _ in range(count)]
        if count == 1:  # the request number bound: faster for one request
            who = payers[0] if payers and len(payers) == 1 else "?P"
            answers = [(_RID, *(a if who == "?P" else (who, *a)))
                       for a in query("leaf", _RID, who, "?N", "?S", "?T", "?X", "?Y", "?Z")]
        else:
            answers = query("leaf", "?R", "?P", "?N", "?S", "?T", "?X", "?Y", "?Z")
        for rid, payer, node, status, note, x, y, z in answers:
            if not isinstance(rid, int) or not _RID <= rid < _RID + count:
                continue  # request 0: the kb's placeholder (kb/engine/request.dl), never a request
            rows[rid - _RID][payer][node].append(Row(status, note, x, y, z))
        return rows

    def _decide_together(self, items: list[tuple[Request, list[str]]]) -> list[dict[str, Derivation]]:
        kb = self.kb
        facts = self._assert([request for request, _payers in items])
        try:
            payers_asked = sorted({p for _request, payers in items for p in payers})
            rows = self._leaf_rows(len(items), payers_asked)
            out = []
            for (request, payers), own, each in zip(items, rows, facts, strict=True):
                # reading 16: a name the vocabulary does not know is never silently dropped
                unknown = kb.unknown_items(each)
                derived = {p: self._derive(request, p, own.get(p, {})) for p in payers}
                for derivation in derived.values():
                    derivation.unknown = unknown
                out.append(derived)
            self._set_months(out)
        finally:
            self._retract(facts)
        return out

    def _set_months(self, derived: list[dict[str, Derivation]]) -> None:
        """The duration of each approval (reading 11), while the batch's facts stand: one query for a
        batch (the durations of every pathway of every request), or one per approval for a request alone."""
        approvals = [(rid, d) for rid, each in enumerate(derived, _RID) for d in each.values()
                     if d.decision == "approve" and d.pathway]
        if not approvals:
            return
        found: dict[tuple[int, str, str], int] = {}
        if len(derived) == 1:
            for rid, d in approvals:
                for (m,) in self.kb.ask("approval_months", rid, d.payer, d.pathway, "?M"):
                    found[(rid, d.payer, d.pathway)] = min(m, found.get((rid, d.payer, d.pathway), m))
        else:
            for rid, payer, pathway, m in self.kb.ask("approval_months", "?R", "?P", "?W", "?M"):
                key = (rid, payer, pathway)
                found[key] = min(m, found.get(key, m))
        for rid, d in approvals:
            d.months = found.get((rid, d.payer, d.pathway))

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

    def _derive(self, request: Request, payer: str, rows: dict[str, list[Row]]) -> Derivation:
        """Fold the leaf rows up the payer's tree and conclude; the duration of an approval is set after
        (_set_months)."""
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
        if decision == "refer" and pathway:
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
