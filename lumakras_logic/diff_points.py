"""A part's points and their cover, for `lumakras diff` (lumakras_logic/diff.py). Pure Python over a Part
(lumakras_logic/diff_plan.py), run in worker processes.

The points are the product of the blocks' distinct statuses, in product order, so a criterion's status over
the points is a periodic bit pattern and no table of points is kept; each payer's status vector is folded to
a decision once. Where the payers' decisions differ, the points are covered greedily by products of
criterion statuses that take in no point of another outcome.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import product
from typing import Any

from .diff_plan import ALL, STATUSES, Block, Part, PayerPlan
from .engine import MET, NOT_DOCUMENTED, NOT_MET

# ---------------------------------------------------------------------------------------------------------
# Enumeration (runs in worker processes: pure Python over the plan)
# ---------------------------------------------------------------------------------------------------------
Outcome = tuple[str, str | None, tuple[str | None, ...]]  # decision, pathway, referral target per lob


@dataclass
class Tally:
    """A part's points, in the order of the product of its blocks' statuses (the last block varies fastest):
    point i is one choice of statuses per block, so a criterion's status over the points is a periodic
    pattern, and needs no table of points."""

    blocks: list[list[tuple[tuple[str, ...], int, dict[str, int]]]] = field(default_factory=list)
    weights: list[int] = field(default_factory=list)  # abstract profiles behind each point
    groups: list[tuple] = field(default_factory=list)  # distinct outcome pairs (one outcome per payer)
    codes: str = ""  # point i's outcome pair, as chr(_CODE + index into groups)
    decided: int = 0  # payer status vectors folded to a decision
    block_profiles: int = 0  # field-class combinations enumerated within blocks


_CODE = 0x100  # code points that no digit or letter uses


def enumerate_part(part: Part) -> Tally:
    """Every point of a part, weighted by the abstract profiles it stands for, with both payers' decisions.

    Each block's field classes are enumerated on their own into the distinct statuses of its criteria; the
    points are the products of those. Each payer's decision depends only on its own blocks, so it is folded
    once per distinct choice of them."""
    tally = Tally()
    subs = [_block_statuses(part, block, tally) for block in part.blocks]
    tally.blocks = subs
    payers = list(part.plans)
    where: dict[tuple[str, str], tuple[int, int]] = {}
    for b, block in enumerate(part.blocks):
        for k, variable in enumerate(block.variables):
            where[variable] = (b, k)
    positions = [[where[(p, v)] for v in part.plans[p].variables] for p in payers]
    reads = [sorted({b for b, _ in pos}) for pos in positions]
    memo: list[dict[tuple[int, ...], int]] = [{} for _ in payers]
    outcomes: list[list[Outcome]] = [[] for _ in payers]
    ids_of: list[dict[Outcome, int]] = [{} for _ in payers]
    by_vector: list[dict[tuple[str, ...], int]] = [{} for _ in payers]
    group_of: dict[tuple[int, ...], int] = {}
    weights: list[int] = []
    codes: list[str] = []
    block_weights = [[w for _, w, _ in sub] for sub in subs]
    for combo in product(*(range(len(sub)) for sub in subs)):
        weight = 1
        for bw, i in zip(block_weights, combo, strict=True):
            weight *= bw[i]
        ids = []
        for index in range(len(payers)):
            key = tuple(combo[b] for b in reads[index])
            oid = memo[index].get(key)
            if oid is None:  # blocks shared with another payer: several keys can give one status vector
                vector = tuple(subs[b][combo[b]][0][k] for b, k in positions[index])
                oid = by_vector[index].get(vector)
                if oid is None:
                    outcome = _decide(part, part.plans[payers[index]], vector)
                    tally.decided += 1
                    oid = ids_of[index].setdefault(outcome, len(ids_of[index]))
                    if oid == len(outcomes[index]):
                        outcomes[index].append(outcome)
                    by_vector[index][vector] = oid
                memo[index][key] = oid
            ids.append(oid)
        pair = tuple(ids)
        g = group_of.get(pair)
        if g is None:
            g = group_of[pair] = len(group_of)
        weights.append(weight)
        codes.append(chr(_CODE + g))
    tally.weights = weights
    tally.codes = "".join(codes)
    tally.groups = [tuple(outcomes[i][oid] for i, oid in enumerate(pair)) for pair in group_of]
    return tally


def _block_statuses(part: Part, block: Block, tally: Tally) -> list[tuple[tuple[str, ...], int, dict[str, int]]]:
    """The distinct statuses of a block's criteria over the classes of its fields, with their weights."""
    out: dict[tuple[str, ...], list[Any]] = {}
    kleene, units = part.kleene, part.units
    for combo in product(*(range(len(part.classes[f])) for f in block.fields)):
        tally.block_profiles += 1
        chosen = dict(zip(block.fields, combo, strict=True))
        vector = []
        for payer, v in block.variables:
            plan = part.plans[payer]
            steps, leaves = plan.programs[v]
            status = dict(plan.const)
            for leaf, f in leaves:
                status[leaf] = part.classes[f][chosen[f]].status[(payer, leaf)]
            for node, how, parts in steps:
                result = units[how]
                for p in parts:
                    result = kleene[(how, result, status[p])]
                status[node] = result
            vector.append(status[v])
        weight = 1
        for f, i in chosen.items():
            weight *= len(part.classes[f][i].values)
        slot = out.get(tuple(vector))
        if slot is None:
            out[tuple(vector)] = [weight, chosen]
        else:
            slot[0] += weight
    return [(vector, slot[0], slot[1]) for vector, slot in out.items()]


def _decide(part: Part, plan: PayerPlan, vector: tuple[str, ...]) -> Outcome:
    """Fold a payer's variable statuses up its upper program to a decision."""
    status = dict(plan.const)
    status.update(zip(plan.variables, vector, strict=True))
    kleene, units = part.kleene, part.units
    for node, how, parts in plan.upper:
        result = units[how]
        for p in parts:
            result = kleene[(how, result, status[p])]
        status[node] = result
    return _outcome(part, plan, status)


def _outcome(part: Part, plan: PayerPlan, status: dict[str, str]) -> Outcome:
    """Engine.conclude and Engine.referral over the plan's data."""
    overall = part.units["any"]
    for w in plan.candidates:
        overall = part.kleene[("any", overall, status[w])]
    if overall != MET:
        return ("pend" if overall == NOT_DOCUMENTED else "deny"), None, ()
    outcomes = part.outcomes[plan.payer]
    chosen = min((w for w in plan.candidates if status[w] == MET),
                 key=lambda w: part.outcome_rank.get(outcomes[w], 99))
    decision = outcomes[chosen]
    targets: tuple[str | None, ...] = ()
    if decision == "refer":
        found = []
        for lob in part.lobs:
            target = None
            for p, by_lob in plan.referring.get(chosen, []):
                if status.get(p) == MET:
                    target = by_lob.get(lob) or by_lob.get("any")
                    if target:
                        break
            found.append(target)
        targets = tuple(found)
    return decision, chosen, targets


@dataclass
class Cube:
    """One region as the cover found it: the outcome pair, the statuses allowed per variable, its weight
    and its heaviest point (the witness)."""

    outs: tuple
    allowed: list[frozenset[str]]
    weight: int
    best: dict[str, int]  # the witness: field -> class index
    vector: tuple[str, ...]


@dataclass
class Found:
    """What a worker sends back for one part: counts, the cover, and the points where all payers approve
    (durations), not the points themselves."""

    decided: int
    block_profiles: int
    points: int
    weight: int
    group_weights: dict[tuple, int]
    cubes: list[Cube]
    approvals: dict[tuple, tuple[int, dict[str, int], tuple[str, ...], tuple]]


class Points:
    """A part's points seen through its block structure: digits, status vectors and bit masks."""

    def __init__(self, part: Part, tally: Tally) -> None:
        self.part, self.tally = part, tally
        self.sizes = [len(sub) for sub in tally.blocks]
        self.n = len(tally.weights)
        self.strides = []
        stride = 1
        for size in reversed(self.sizes):
            self.strides.append(stride)
            stride *= size
        self.strides.reverse()
        where: dict[tuple[str, str], tuple[int, int]] = {}
        for b, block in enumerate(part.blocks):
            for k, variable in enumerate(block.variables):
                where[variable] = (b, k)
        self.columns = [where[(p, v)] for p in part.plans for v in part.plans[p].variables]

    def digits(self, i: int) -> list[int]:
        out = []
        for size in reversed(self.sizes):
            i, d = divmod(i, size)
            out.append(d)
        return out[::-1]

    def vector(self, i: int) -> tuple[str, ...]:
        digits = self.digits(i)
        return tuple(self.tally.blocks[b][digits[b]][0][k] for b, k in self.columns)

    def assignment(self, i: int) -> dict[str, int]:
        """The field classes of a point: the witnesses of its blocks' statuses, merged."""
        chosen: dict[str, int] = {}
        for sub, d in zip(self.tally.blocks, self.digits(i), strict=True):
            chosen.update(sub[d][2])
        return chosen

    def masks(self) -> list[dict[str, int]]:
        """For each variable and status, the bit set of the points that have it: a periodic pattern of the
        variable's block, built as text and read by int(..., 2), both in C."""
        out = []
        for b, k in self.columns:
            size, stride = self.sizes[b], self.strides[b]
            reps = self.n // (size * stride)
            masks = {}
            for status in STATUSES:
                period = "".join(("1" if sub[0][k] == status else "0") * stride for sub in self.tally.blocks[b])
                masks[status] = int((period * reps)[::-1] or "0", 2)
            out.append(masks)
        return out

    def group_masks(self) -> list[int]:
        text = self.tally.codes[::-1]
        out = []
        for g in range(len(self.tally.groups)):
            mine = chr(_CODE + g)
            table = {_CODE + h: ("1" if h == g else "0") for h in range(len(self.tally.groups))}
            out.append(int(text.translate(table) or "0", 2) if mine in text else 0)
        return out


def cover_part(part: Part, tally: Tally) -> Found:
    """Cover each outcome pair where the decisions differ by regions (pure: runs in the worker)."""
    payers = list(part.plans)
    points = Points(part, tally)
    weights = tally.weights
    width = len(points.columns)
    owner = [k for k, p in enumerate(payers) for _ in part.plans[p].variables]
    group_weights: dict[tuple, int] = defaultdict(int)
    heaviest: dict[int, int] = {}
    codes = tally.codes
    for i, w in enumerate(weights):
        g = ord(codes[i]) - _CODE
        group_weights[tally.groups[g]] += w
        if g not in heaviest or w > weights[heaviest[g]]:
            heaviest[g] = i
    cubes: list[Cube] = []
    differing = [g for g, outs in enumerate(tally.groups) if _differ(outs)]
    if differing:
        group_masks = points.group_masks()
        masks = points.masks()
        everything = (1 << points.n) - 1
        for g in sorted(differing, key=lambda g: -group_weights[tally.groups[g]]):
            outs = tally.groups[g]
            approving = {j for j in range(width) if outs[owner[j]][0] == "approve"}
            group_mask = group_masks[g]
            for allowed, covered in _cover(points, masks, group_mask, everything & ~group_mask, approving, owner):
                best = max(_bits(_plainest(masks, allowed, covered)), key=weights.__getitem__)
                cubes.append(Cube(outs, allowed, sum(weights[i] for i in _bits(covered)), points.assignment(best),
                                  points.vector(best)))
    approvals: dict[tuple, tuple[int, dict[str, int], tuple[str, ...], tuple]] = {}
    for g, outs in enumerate(tally.groups):
        if all(o[0] == "approve" for o in outs):
            best = heaviest[g]
            approvals[tuple(o[1] for o in outs)] = (group_weights[outs], points.assignment(best),
                                                    points.vector(best), outs)
    return Found(decided=tally.decided, block_profiles=tally.block_profiles, points=points.n,
                 weight=sum(group_weights.values()), group_weights=dict(group_weights), cubes=cubes,
                 approvals=approvals)


_PARTS: list[Part] = []


def _work(index: int) -> tuple[int, Found]:
    part = _PARTS[index]
    return index, cover_part(part, enumerate_part(part))


def enumerate_parts(parts: list[Part], jobs: int) -> list[Found]:
    """Enumerate the parts on `jobs` processes (fork: the parts are inherited, not pickled), largest first."""
    global _PARTS
    _PARTS = parts
    order = sorted(range(len(parts)), key=lambda i: -_cost(parts[i]))
    out: list[Found | None] = [None] * len(parts)
    if jobs <= 1 or len(parts) <= 1:
        for i in order:
            out[i] = _work(i)[1]
    else:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            for i, found in pool.imap_unordered(_work, order):
                out[i] = found
    _PARTS = []
    return [t for t in out if t is not None]


def _cost(part: Part) -> int:
    cost = 1
    for f in part.classes:
        cost *= len(part.classes[f])
    return cost


def default_jobs() -> int:
    return max(1, min(2, os.cpu_count() or 1))



def _differ(outs: tuple) -> bool:
    """Whether the payers' decisions differ (durations are compared on their own)."""
    first = outs[0]
    return any((o[0], o[2]) != (first[0], first[2]) for o in outs[1:])


def _bits(mask: int) -> list[int]:
    """The indices of the set bits, in order."""
    text = bin(mask)[2:][::-1]
    out, i = [], text.find("1")
    while i >= 0:
        out.append(i)
        i = text.find("1", i + 1)
    return out


def _plainest(masks: list[dict[str, int]], allowed: list[frozenset[str]], covered: int) -> int:
    """The points of a region that show only its difference: every criterion it leaves free met where a
    point of the region allows it, in the policy's order, so a witness fails nothing the region does not
    name (a region "I.A.8 not met" gets a monotherapy witness, not one that also fails I.A.5)."""
    plain = covered
    for j, a in enumerate(allowed):
        want = MET if MET in a else (NOT_MET if NOT_MET in a else NOT_DOCUMENTED)
        narrower = plain & masks[j][want]
        if narrower:
            plain = narrower
    return plain


def _cube(masks: list[dict[str, int]], allowed: list[frozenset[str]], everything: int) -> int:
    m = everything
    for j, a in enumerate(allowed):
        if a == ALL:
            continue
        sub = 0
        for s in a:
            sub |= masks[j][s]
        m &= sub
        if not m:
            break
    return m


def _cover(points: Points, masks: list, group: int, outside: int, approving: set[int],
           owner: list[int]) -> list[tuple[list[frozenset[str]], int]]:
    """Greedy cover of a group of points by products of statuses that take in no point outside it.

    From its heaviest uncovered point, a region drops each coordinate it can (those of a payer that does not
    approve first, met ones first: what stays says where the payers part), then widens the rest, then
    narrows each to the statuses its points really have (a status no point has is only a don't-care)."""
    everything = group | outside
    weights = points.tally.weights
    uncovered = group
    cubes: list[tuple[list[frozenset[str]], int]] = []
    for seed in sorted(_bits(group), key=weights.__getitem__, reverse=True):
        if not uncovered >> seed & 1:
            continue
        vector = points.vector(seed)
        allowed = [frozenset([s]) for s in vector]
        # within a payer the later criteria first, so that of several reading one field (Centene's three age
        # criteria for a request with no diagnosis) the first in the policy's order is the one that stays
        drop = sorted(range(len(vector)), key=lambda j: (j in approving, vector[j] != MET, owner[j], -j))
        for j in drop:
            before = allowed[j]
            allowed[j] = ALL
            if _cube(masks, allowed, everything) & outside:
                allowed[j] = before
        for j in drop:
            for s in STATUSES:
                if s in allowed[j]:
                    continue
                before = allowed[j]
                allowed[j] = before | {s}
                if _cube(masks, allowed, everything) & outside:
                    allowed[j] = before
        covered = _cube(masks, allowed, everything) & group
        if not covered >> seed & 1:  # statuses alone cannot part this point from another outcome
            allowed = [frozenset([s]) for s in vector]
            covered = 1 << seed
        for j, a in enumerate(allowed):
            if a != ALL:
                allowed[j] = frozenset(s for s in a if masks[j][s] & covered)
        cubes.append((allowed, covered))
        uncovered &= ~covered
        if not uncovered:
            break
    return _prune(cubes, group)


def _prune(cubes: list[tuple[list[frozenset[str]], int]], group: int) -> list[tuple[list[frozenset[str]], int]]:
    """Drop a region the others already cover, smallest first."""
    kept = list(cubes)
    for cube in sorted(cubes, key=lambda c: bin(c[1]).count("1")):
        others = 0
        for other in kept:
            if other is not cube:
                others |= other[1]
        if cube[1] & ~others == 0 and len(kept) > 1:
            kept.remove(cube)
    return kept


