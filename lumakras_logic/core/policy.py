"""The policy model: how the statuses of criteria make a decision, in one public place.

Every tool that turns statuses into a decision uses this: the engine on a request's derivation, the
abstraction of the request space on sets of statuses, `lumakras diff` on the statuses of abstract
profiles, `compare` on the engine's answers. It is read from the kb once (kb/engine/kleene.dl for the
three-valued combination, kb/engine/decision.dl for outcomes and their ranks, the payers' refer_target
facts for referrals) and is plain data afterwards, so a forked worker process needs nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .kb import KnowledgeBase, query

MET, NOT_MET, NOT_DOCUMENTED = "met", "not_met", "not_documented"


@dataclass
class PolicyModel:
    """The kb's decision rule as data: Kleene's tables, outcomes, their ranks, and referral targets."""

    kleene: dict[tuple[str, str, str], str]  # (how, accumulated, status) -> accumulated
    units: dict[str, str]  # how -> the status a fold starts from
    outcome_rank: dict[str, int]  # outcome -> rank (the lowest wins among met pathways)
    outcomes: dict[str, dict[str, str]]  # payer -> pathway -> its outcome (approve, refer)
    pathways: dict[str, list[tuple[str, str]]]  # payer -> (pathway, request type) in the policy's order
    parts: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (payer, pathway) -> its parts
    targets: dict[tuple[str, str, str, str], str] = field(default_factory=dict)  # (payer, pathway, part, lob)

    @classmethod
    def from_kb(cls, kb: KnowledgeBase) -> PolicyModel:
        kb.activate()
        return cls(
            kleene={(how, a, b): out for how, a, b, out in query("kleene", "?H", "?A", "?B", "?O")},
            units=dict(query("kleene_unit", "?H", "?U")),
            outcome_rank=dict(query("outcome_rank", "?O", "?K")),
            outcomes={p: {w.id: w.outcome for w in ws} for p, ws in kb.pathways.items()},
            pathways={p: [(w.id, w.request_type) for w in ws] for p, ws in kb.pathways.items()},
            parts={(p, w.id): list(kb.node(p, w.id).parts) for p, ws in kb.pathways.items() for w in ws},
            targets={(p, w, c, lob): pol
                     for p, w, c, lob, pol in kb.ask("refer_target", "?P", "?W", "?C", "?L", "?Pol")},
        )

    # the three-valued combination -------------------------------------------------------------------
    def combine(self, how: str, statuses: Iterable[str]) -> str:
        """Fold statuses with the kb's Kleene table for `how` (all, any, not)."""
        result = self.units[how]
        kleene = self.kleene
        for status in statuses:
            result = kleene[(how, result, status)]
        return result

    def combine_sets(self, how: str, parts: Iterable[set[str]]) -> set[str]:
        """The statuses a fold can give when each part may have any status of its set (the abstraction
        of the request space reasons on sets of statuses)."""
        acc = {self.units[how]}
        for statuses in parts:
            acc = {self.kleene[(how, a, b)] for a in acc for b in statuses}
        return acc

    # the decision -----------------------------------------------------------------------------------
    def candidates(self, payer: str, request_type: str) -> list[str]:
        """The pathways a request of this type is reviewed under: those for its own type first, then those
        for any type, each in the policy's order. So where two pathways refer, the one for the request's own
        type names the referral (reading 12: a continuation new to the plan referred by II.B and I.D goes
        where II.B says)."""
        pathways = self.pathways[payer]
        return [w for w, t in pathways if t == request_type] + [w for w, t in pathways if t == "any"]

    def conclude(self, payer: str, candidates: list[str], status: dict[str, str]) -> tuple[str, str | None]:
        """The decision and its pathway from the statuses of the candidate pathways. DECISIONS.md: the
        decision is the "one of the following" of the candidates: met is the outcome of the best-ranked met
        pathway, not_documented is pend, not_met is deny."""
        overall = self.combine("any", [status[w] for w in candidates])
        if overall == MET:
            outcome = self.outcomes[payer]
            chosen = min((w for w in candidates if status[w] == MET),
                         key=lambda w: self.outcome_rank.get(outcome[w], 99))
            return outcome[chosen], chosen
        return ("pend" if overall == NOT_DOCUMENTED else "deny"), None

    def referral(self, lob: str, payer: str, pathway: str,
                 status: dict[str, str]) -> tuple[str | None, str | None]:
        """The policy a referring pathway sends the request to, and the criterion that names it."""
        for part in self.parts.get((payer, pathway), []):
            if status.get(part) == MET:
                target = self.targets.get((payer, pathway, part, lob)) or \
                    self.targets.get((payer, pathway, part, "any"))
                if target:
                    return target, part
        return None, None

    def referral_targets(self, payer: str, pathway: str, part: str) -> dict[str, str]:
        """Line of business -> target policy, for one part of a referring pathway."""
        return {lob: t for (p, w, c, lob), t in self.targets.items() if (p, w, c) == (payer, pathway, part)}
