"""Where two payers' policies decide differently, over every request the abstraction can tell apart.

The request space is the finite abstraction of lumakras_logic/abstraction.py: each field a criterion reads
gets representative values from the kb (the boundaries of its comparisons, its constants and sets, one drug
per class profile, "not given"). `diff` cuts that space by diagnosis and request type, and in each part:

1. fixes the nodes the diagnosis alone decides (Cigna 2 is not_met for an NSCLC request whatever else it
   says), so the fields only such nodes read do not multiply the part's profiles;
2. merges the values of each remaining field that give every criterion reading it the same status (its
   classes: ages 18 and 40 are one class);
3. enumerates, per payer, the classes of the fields it reads, keyed by the statuses of its criteria on the
   fields both payers read, and folds each status vector up its policy's tree once, with the kb's Kleene
   table and the engine's own decision rule (Engine.conclude);
4. joins the two payers on the shared fields: each joint point is the statuses of both payers' tagged
   criteria (kb/vocab/concepts.dl) with both decisions and its weight (abstract profiles);
5. covers the points where the decisions differ by regions: products of criterion statuses, grown
   greedily as wide as they can be without taking in a point of another outcome, each with its size and a
   witness request that is replayed through the engine before it is believed.

The line of business and the requested duration decide no criterion, only durations and referral
targets; they multiply the counts and are compared where both payers approve (durations).

Market facts (a generic on the market, a label change) are kb facts, not request fields: with the shipped
market they are constant. `--scenario DIR` adds a what-if kb overlay (scenarios/ ships two) and diffs it too,
reporting the regions it adds.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

from .abstraction import ABSENT, OTHER_TEXT, Space, build_space
from .api import Decider
from .concepts import Concepts
from .engine import MET, NOT_DOCUMENTED, NOT_MET
from .kb import KbError, natural_key
from .request import FIELD_TYPES, Request, RequestError

STATUSES = (MET, NOT_MET, NOT_DOCUMENTED)
ALL = frozenset(STATUSES)
CONDITION = "diagnosis.condition"
OUTCOME_FIELDS = ("line_of_business", "requested_months")


# ---------------------------------------------------------------------------------------------------------
# The plan of one part of the space: a market, a diagnosis, a request type
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Klass:
    """Values of one field that every relevant criterion reading it treats alike."""

    values: list[Any]
    status: dict[tuple[str, str], str]  # (payer, leaf) -> status


@dataclass
class PayerPlan:
    """How to decide one payer's requests in a part from its leaves' statuses."""

    payer: str
    candidates: list[str]
    const: dict[str, str]  # nodes the part fixes
    upper: list[tuple[str, str, tuple[str, ...]]]  # composites above the variables, children first
    variables: list[str]  # tagged criteria left free: the coordinates of the regions
    programs: dict[str, tuple[list[tuple[str, str, tuple[str, ...]]], list[tuple[str, str]]]]  # v -> steps, leaves
    fields: list[str]
    referring: dict[str, list[tuple[str, dict[str, str]]]]  # pathway -> [(part, {lob: target})]
    asks: dict[str, list[str]] = field(default_factory=dict)  # concept -> tagged criteria of live pathways
    required: dict[str, set[str]] = field(default_factory=dict)  # pathway -> variables met whenever it is


@dataclass
class Block:
    """Fields that tagged criteria read together (connected through the criteria, across payers), and the
    criteria that read them: a block's statuses can be enumerated on their own."""

    fields: list[str]
    variables: list[tuple[str, str]]  # (payer, criterion)


@dataclass
class Part:
    """One part of the space, ready to enumerate: pure data, so a worker process needs nothing else."""

    market: str
    condition: Any
    request_type: str
    classes: dict[str, list[Klass]]
    shared: list[str]
    plans: dict[str, PayerPlan]
    lobs: list[Any]
    kleene: dict[tuple[str, str, str], str]
    units: dict[str, str]
    outcome_rank: dict[str, int]
    outcomes: dict[str, dict[str, str]]
    domain_sizes: dict[str, int]
    blocks: list[Block] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{label(self.condition)}/{self.request_type}" + ("" if self.market == RECORDED else f"/{self.market}")


RECORDED = "recorded"


def label(value: Any) -> str:
    """A condition as a person reads it in a heading."""
    if value is ABSENT:
        return "not-documented"
    if value == OTHER_TEXT:
        return "other"
    return str(value)


def plan_part(decider: Decider, space: Space, market: str, condition: Any, request_type: str,
              payers: list[str]) -> Part:
    """Fix what the condition decides, keep the criteria it leaves free, and class their fields' values."""
    kb, engine = decider.kb, decider.engine
    concepts = Concepts(kb)
    assignment = {CONDITION: condition}
    plans: dict[str, PayerPlan] = {}
    free_leaves: list[tuple[str, str, str]] = []
    for payer in payers:
        plan = _plan_payer(decider, space, concepts, payer, engine.candidates(payer, request_type), assignment)
        plans[payer] = plan
        free_leaves += list(dict.fromkeys((payer, leaf, f) for v in plan.variables
                                          for leaf, f in plan.programs[v][1]))
    by_field: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for payer, leaf, f in free_leaves:
        by_field[f].append((payer, leaf))
    classes: dict[str, list[Klass]] = {}
    for f, leaves in sorted(by_field.items()):
        grouped: dict[tuple[str, ...], Klass] = {}
        for value in space.domains[f]:
            key = tuple(space.table[leaf][value] for leaf in leaves)
            k = grouped.setdefault(key, Klass([], dict(zip(leaves, key, strict=False))))
            k.values.append(value)
        classes[f] = list(grouped.values())
    readers = [set(plans[p].fields) for p in payers]
    shared = sorted(set.intersection(*readers)) if len(readers) > 1 else []
    blocks = _blocks(plans)
    lobs = list(space.domains.get("line_of_business") or [*FIELD_TYPES["line_of_business"][1], ABSENT])
    return Part(market=market, condition=condition, request_type=request_type, classes=classes, shared=shared,
                plans=plans, lobs=lobs, kleene=engine._kleene, units=engine._units,
                outcome_rank=engine._outcome_rank, outcomes=engine._outcomes,
                domain_sizes={f: len(space.domains[f]) for f in classes}, blocks=blocks)


def _blocks(plans: dict[str, PayerPlan]) -> list[Block]:
    """Union the fields each variable reads; each connected set of fields is a block."""
    parent: dict[str, str] = {}

    def find(f: str) -> str:
        while parent.setdefault(f, f) != f:
            parent[f] = parent[parent[f]]
            f = parent[f]
        return f

    reads: dict[tuple[str, str], list[str]] = {}
    for payer, plan in plans.items():
        for v in plan.variables:
            fields = sorted({f for _, f in plan.programs[v][1]})
            reads[(payer, v)] = fields
            for f in fields[1:]:
                parent[find(f)] = find(fields[0])
            if fields:
                find(fields[0])
    groups: dict[str, Block] = {}
    for (payer, v), fields in reads.items():
        if not fields:
            continue
        block = groups.setdefault(find(fields[0]), Block([], []))
        block.variables.append((payer, v))
    for f in parent:
        groups[find(f)].fields.append(f) if find(f) in groups else None
    return [Block(sorted(b.fields), b.variables) for _, b in sorted(groups.items())]


def _plan_payer(decider: Decider, space: Space, concepts: Concepts, payer: str, candidates: list[str],
                assignment: dict[str, Any]) -> PayerPlan:
    kb, engine = decider.kb, decider.engine
    # the candidates, and the parts of a referring one: a referral names its target by its met part
    roots = list(candidates) + [part for w in candidates if engine._outcomes[payer][w] == "refer"
                                for part in kb.node(payer, w).parts]
    const: dict[str, str] = {}
    seen: set[str] = set()

    def visit(n: str) -> None:
        """Fix the nodes the part's assignment decides; look no further below them."""
        if n in seen:
            return
        seen.add(n)
        possible = space.possible(payer, n, assignment)
        if len(possible) == 1:
            const[n] = next(iter(possible))
            return
        for part in kb.node(payer, n).parts:
            visit(part)

    for root in roots:
        visit(root)
    # The variables are where a walk down from the pathways first meets a tagged criterion (or a leaf no
    # tag covers) that the part leaves free; above them the upper program, below each its own program.
    upper: list[tuple[str, str, tuple[str, ...]]] = []
    variables: list[str] = []
    walked: set[str] = set()

    def down(n: str) -> None:
        if n in walked or n in const:
            return
        walked.add(n)
        node = kb.node(payer, n)
        if concepts.of(payer, n) is not None or node.test is not None:
            variables.append(n)
            return
        for part in node.parts:
            down(part)
        upper.append((n, node.how or "all", tuple(node.parts)))

    for root in roots:
        down(root)
    programs = {v: _program(kb, space, payer, v, const) for v in variables}
    referring: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for w in kb.pathways[payer]:
        if w.outcome == "refer":
            referring[w.id] = [(part, {lob: t for (p, pw, c, lob), t in engine._targets.items()
                                       if p == payer and pw == w.id and c == part})
                               for part in kb.node(payer, w.id).parts]
    fields = sorted({f for v in variables for _, f in programs[v][1]})
    asks: dict[str, list[str]] = defaultdict(list)
    for w in candidates:  # what the pathways this part can still meet ask about
        if const.get(w) != NOT_MET:
            for v in concepts.tagged_under(payer, w):
                tag = concepts.of(payer, v) or "untagged"
                if v in seen and const.get(v) != NOT_MET and v not in asks[tag]:
                    asks[tag].append(v)
    required: dict[str, set[str]] = {}
    for w in candidates:  # through "all of" only: the variables a met pathway has met
        found: set[str] = set()
        stack = [w]
        while stack:
            n = stack.pop()
            if n in variables:
                found.add(n)
            elif n not in const and kb.node(payer, n).how == "all":
                stack += kb.node(payer, n).parts
        required[w] = found
    return PayerPlan(payer, candidates, const, upper, sorted(variables, key=natural_key), programs, fields,
                     referring, dict(asks), required)


def _program(kb: Any, space: Space, payer: str, top: str, const: dict[str, str]) -> tuple[list, list]:
    """The composites under a variable (children first) and its free leaves with the fields they read."""
    steps: list[tuple[str, str, tuple[str, ...]]] = []
    leaves: list[tuple[str, str]] = []
    seen: set[str] = set()

    def walk(n: str) -> None:
        if n in seen or n in const:
            return
        seen.add(n)
        node = kb.node(payer, n)
        if node.test is not None:
            f = space.leaf_field.get((payer, n))
            if f is None:
                raise KbError(f"{node.test_where or node.where}: {payer} {n} reads no field the abstraction knows")
            leaves.append((n, f))
            return
        for part in node.parts:
            walk(part)
        steps.append((n, node.how or "all", tuple(node.parts)))

    walk(top)
    return steps, leaves


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
                idx = _bits(covered)
                best = max(idx, key=weights.__getitem__)
                cubes.append(Cube(outs, allowed, sum(weights[i] for i in idx), points.assignment(best),
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


# ---------------------------------------------------------------------------------------------------------
# Regions
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Region:
    """A set of profiles where the payers decide differently, described by criterion statuses."""

    part: Part
    outcomes: dict[str, dict[str, Any]]  # payer -> decision, pathway, approval_months, refer_to (by lob)
    constraints: list[tuple[str, str, frozenset[str]]]  # (payer, criterion, allowed statuses)
    size: int  # abstract profiles (line of business and requested duration included)
    group_size: int  # profiles of the whole outcome pair in this part
    witness: dict[str, Any] = field(default_factory=dict)
    witness_statuses: dict[str, dict[str, str]] = field(default_factory=dict)
    kind: str = "decision"  # 'decision' | 'duration'
    durations: list[dict[str, Any]] = field(default_factory=list)  # for 'duration' regions
    expected: dict[str, dict[str, Any]] = field(default_factory=dict)  # payer -> the witness's answer
    replayed: bool | None = None
    replay_note: str = ""


@dataclass
class PartResult:
    part: Part
    found: Found
    profiles: int
    regions: list[Region]


class Differ:
    """Runs a diff over one kb (one market) and its parts."""

    def __init__(self, decider: Decider, market: str = RECORDED, payers: list[str] | None = None) -> None:
        self.decider = decider
        self.market = market
        known = list(decider.kb.payers())
        self.payers = payers or known
        unknown = [p for p in self.payers if p not in known]
        if unknown or len(self.payers) < 2:
            raise ValueError(f"--payer: {', '.join(unknown) or 'at least two payers'}: "
                             f"the kb has {', '.join(known)}")
        self.space = build_space(decider)
        self.space.domains.setdefault(CONDITION, [ABSENT])
        self.concepts = Concepts(decider.kb)
        self.months_cache: dict[tuple, int | None] = {}
        self.rm_values = self._requested_months()

    def conditions(self) -> list[Any]:
        return list(self.space.domains[CONDITION])

    def request_types(self) -> list[str]:
        return list(FIELD_TYPES["request_type"][1])

    def parts(self, conditions: Iterable[Any] | None = None) -> list[Part]:
        chosen = list(conditions) if conditions is not None else self.conditions()
        return [plan_part(self.decider, self.space, self.market, c, t, self.payers)
                for c in chosen for t in self.request_types()]

    def _requested_months(self) -> list[Any]:
        """The requested durations that can change a capped duration: each duration and one month less."""
        kb = self.decider.kb
        values: set[int] = set()
        if kb.defined("duration_capped_by_request"):
            capped = {(p, w, lob) for p, w, lob in kb.ask("duration_capped_by_request", "?P", "?W", "?L")}
            for p, w, lob, m in kb.ask("duration", "?P", "?W", "?L", "?M"):
                if (p, w, lob) in capped and isinstance(m, int):
                    values |= {m - 1, m} if m > 1 else {m}
        return [*sorted(values), ABSENT]

    # outcomes ---------------------------------------------------------------------------------------
    def months(self, part: Part, payer: str, pathway: str, lob: Any, requested: Any) -> int | None:
        key = (payer, pathway, lob, requested, part.request_type)
        if key not in self.months_cache:
            request = Request(id="diff", source="(diff)", date=self.space.today, payer=payer)
            if lob is not ABSENT:
                request.scalars["line_of_business"] = lob
            if requested is not ABSENT:
                request.scalars["requested_months"] = requested
            request.scalars["request_type"] = part.request_type
            self.months_cache[key] = self.decider.engine.approval_months(request, payer, pathway)
        return self.months_cache[key]

    def described(self, part: Part, outs: tuple) -> dict[str, dict[str, Any]]:
        return {p: self.describe_outcome(part, p, o) for p, o in zip(part.plans, outs, strict=True)}

    def describe_outcome(self, part: Part, payer: str, outcome: Outcome) -> dict[str, Any]:
        decision, pathway, targets = outcome
        out: dict[str, Any] = {"decision": decision, "pathway": pathway}
        if decision == "approve" and pathway:
            by_lob = {}
            for lob in part.lobs:
                got = {self.months(part, payer, pathway, lob, rm) for rm in self.rm_values}
                by_lob[label_lob(lob)] = sorted(m for m in got if m is not None)
            out["approval_months"] = by_lob  # every duration some requested duration gets
        if decision == "refer":
            out["refer_to"] = {label_lob(lob): t for lob, t in zip(part.lobs, targets, strict=False)}
        return out

    # regions ----------------------------------------------------------------------------------------
    def regions(self, part: Part, found: Found) -> PartResult:
        """Regions from a part's cover: outcomes in words, sizes, witnesses."""
        payers = list(part.plans)
        factor = len(part.lobs) * len(self.rm_values)
        variables = [(p, v) for p in payers for v in part.plans[p].variables]
        regions: list[Region] = []
        for cube in found.cubes:
            constraints = [(variables[j][0], variables[j][1], cube.allowed[j]) for j in range(len(variables))
                           if cube.allowed[j] != ALL]
            region = Region(part=part, outcomes=self.described(part, cube.outs),
                            constraints=constraints, size=cube.weight * factor,
                            group_size=found.group_weights[cube.outs] * factor)
            self._witness(region, cube.best, cube.vector, variables, cube.outs)
            regions.append(region)
        regions += self._duration_regions(part, found, variables, factor)
        return PartResult(part, found, found.weight * factor, regions)

    def _duration_regions(self, part: Part, found: Found, variables: list, factor: int) -> list[Region]:
        """Where every payer approves, the durations by line of business and requested duration."""
        payers = list(part.plans)
        regions = []
        for pathways, (weight, best, vector, outs) in found.approvals.items():
            rows = []
            for lob in part.lobs:
                for rm in self.rm_values:
                    months = [self.months(part, p, w, lob, rm) for p, w in zip(payers, pathways, strict=False)]
                    if len(set(months)) > 1:
                        rows.append({"line_of_business": label_lob(lob), "requested_months": _show(rm),
                                     "months": dict(zip(payers, months, strict=False)), "_lob": lob, "_rm": rm})
            if not rows:
                continue
            region = Region(part=part, outcomes=self.described(part, outs),
                            constraints=[], size=weight * len(rows), group_size=weight * factor, kind="duration",
                            durations=[{k: v for k, v in r.items() if not k.startswith("_")} for r in rows])
            self._witness(region, best, vector, variables, outs, lob=rows[0]["_lob"], requested=rows[0]["_rm"])
            regions.append(region)
        return regions

    # witnesses --------------------------------------------------------------------------------------
    def _witness(self, region: Region, chosen: dict[str, int], vector: tuple, variables: list, outs: tuple,
                 lob: Any = None, requested: Any = ABSENT) -> None:
        part = region.part
        assignment: dict[str, Any] = {f: part.classes[f][i].values[0] for f, i in chosen.items()}
        assignment[CONDITION] = part.condition
        lob = part.lobs[0] if lob is None else lob
        assignment["line_of_business"] = lob
        if requested is not ABSENT:
            assignment["requested_months"] = requested
        doc = self.space.document(assignment, request_id="witness", request_type=part.request_type)
        region.witness = doc
        region.witness_statuses = defaultdict(dict)
        for (p, v), s in zip(variables, vector, strict=False):
            region.witness_statuses[p][v] = s
        region.witness_statuses = dict(region.witness_statuses)
        region.expected = {p: self._expected(part, p, o, lob, requested)
                           for p, o in zip(part.plans, outs, strict=True)}

    def _expected(self, part: Part, payer: str, outcome: Outcome, lob: Any, requested: Any) -> dict[str, Any]:
        decision, pathway, targets = outcome
        months = self.months(part, payer, pathway, lob, requested) if decision == "approve" and pathway else None
        refer_to = dict(zip(part.lobs, targets, strict=False)).get(lob) if decision == "refer" else None
        return {"decision": decision, "pathway": pathway, "approval_months": months, "refer_to": refer_to}

    def replay(self, region: Region) -> None:
        """Decide the witness with the engine (Datalog, not the plan) and check it shows the region."""
        try:
            request = self.decider.parse(region.witness, "(witness)")
            got = self.decider.engine.decide_many(request, list(region.part.plans))
        except RequestError as exc:
            region.replayed, region.replay_note = False, str(exc)
            return
        notes = []
        for payer, d in got.items():
            want = region.expected[payer]
            have = {"decision": d.decision, "pathway": d.pathway, "approval_months": d.months, "refer_to": d.refer_to}
            if have != want:
                notes.append(f"{payer}: {have} instead of {want}")
        for payer, node, allowed in region.constraints:
            status = got[payer].status.get(node)
            if status not in allowed:
                notes.append(f"{payer} {node} is {status}, not {'/'.join(sorted(allowed))}")
        region.replayed, region.replay_note = not notes, "; ".join(notes)


def label_lob(lob: Any) -> str:
    return "not given" if lob is ABSENT else str(lob)


def _show(value: Any) -> Any:
    return None if value is ABSENT else value


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


# ---------------------------------------------------------------------------------------------------------
# A whole diff
# ---------------------------------------------------------------------------------------------------------
@dataclass
class DiffResult:
    markets: list[str]
    parts: list[PartResult]
    seconds: float
    jobs: int
    scenario_dirs: dict[str, str]
    kb: Any = None  # the kb as recorded (KnowledgeBase), for the report's words
    payers: list[str] = field(default_factory=list)


def scenario_name(path: Path) -> str:
    return path.name.removesuffix(".dl")


def run_diff(kb_dirs: list[Path] | None, scenarios: list[Path], conditions: list[str] | None,
             today: dt.date | None, jobs: int, payers: list[str] | None = None) -> DiffResult:
    """Diff the kb as recorded and under each scenario; a scenario reports only the regions it adds."""
    import time

    start = time.perf_counter()
    markets: list[tuple[str, Differ]] = []
    base_dirs = list(kb_dirs) if kb_dirs else None
    markets.append((RECORDED, Differ(Decider(base_dirs, today), RECORDED, payers)))
    from .kb import default_kb_dir

    for scenario in scenarios:
        dirs = [*(base_dirs or [default_kb_dir()]), scenario]
        markets.append((scenario_name(scenario), Differ(Decider(dirs, today), scenario_name(scenario), payers)))
    all_parts: list[tuple[Differ, Part]] = []
    for _name, differ in markets:
        chosen = differ.conditions()
        if conditions:
            chosen = [c for c in chosen if label(c) in conditions]
        all_parts += [(differ, p) for p in differ.parts(chosen)]
    founds = enumerate_parts([p for _, p in all_parts], jobs)
    results: list[PartResult] = []
    seen: set[tuple] = set()
    for (differ, part), found in zip(all_parts, founds, strict=False):
        result = differ.regions(part, found)
        for region in result.regions:
            differ.replay(region)
        key_regions = []
        for region in result.regions:
            key = _region_key(region)
            if part.market != RECORDED and key in seen:
                continue
            if part.market == RECORDED:
                seen.add(key)
            key_regions.append(region)
        result.regions = key_regions
        results.append(result)
    return DiffResult(markets=[m for m, _ in markets], parts=results, seconds=time.perf_counter() - start,
                      jobs=jobs, scenario_dirs={scenario_name(s): str(s) for s in scenarios},
                      kb=markets[0][1].decider.kb, payers=markets[0][1].payers)


def _region_key(region: Region) -> tuple:
    """Where a region parts the payers: its outcomes and the criteria it needs not met or not documented (the
    met ones are its context). A scenario region with the same key says nothing new."""
    part = region.part
    said = [(p, n, tuple(sorted(a))) for p, n, a in region.constraints if MET not in a]
    return (label(part.condition), part.request_type, region.kind, repr(sorted(region.outcomes.items())),
            tuple(sorted(said)), repr(region.durations))
