"""A part's decisions and their cover, for `lumakras diff` (lumakras_logic/analysis/diff.py). Pure Python over a Part
(lumakras_logic/analysis/diff_plan.py), run in worker processes.

Each block of a part (fields read together) is enumerated into the distinct statuses of its criteria. A payer
reads only some blocks and only its own criteria in them: its **own space** is the product of its views of
those blocks (the distinct statuses of its criteria there), far smaller than the joint product of every
block (Centene's continuation criteria and Cigna's criteria multiply in the joint space, not in either own
space). In its own space every point is a status vector of the payer's criteria; their statuses are periodic
byte patterns, folded up the payer's tree with the kb's Kleene table a whole array at a time, and the
decision is read off by an automaton built from the policy model's decision rule (PolicyModel.conclude,
Engine.referral) over every status the candidate pathways take.

Each payer's outcomes are covered greedily by products of its criterion statuses (cubes) that take in no
point of another of its outcomes. Where the payers' decisions differ, the region of an outcome pair is the
intersection of one outcome of each payer, so the non-empty intersections of their cubes cover it exactly:
these are its alternatives, each a product over the blocks with an exact size. The size of every outcome pair
is summed over the blocks several payers read (each payer's outcomes weighted over its own blocks).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import product
from typing import Any

from ..authoring.abstraction import ABSENT
from ..core.exits import quiet_worker
from ..core.policy import MET, NOT_DOCUMENTED, NOT_MET
from .diff_plan import ALL, STATUSES, Block, Part

Outcome = tuple[str, str | None, tuple[str | None, ...]]  # decision, pathway, referral target per lob
SubStatus = tuple[tuple[str, ...], int, dict[str, int]]  # a block's statuses, their weight, a field-class witness


# ---------------------------------------------------------------------------------------------------------
# Blocks
# ---------------------------------------------------------------------------------------------------------
def block_statuses(part: Part, block: Block) -> tuple[list[SubStatus], int]:
    """The distinct statuses of a block's criteria over the classes of its fields, heaviest first, and the
    number of field-class combinations enumerated."""
    out: dict[tuple[str, ...], list[Any]] = {}
    combine = part.model.combine
    programs = []
    for payer, v in block.variables:
        plan = part.plans[payer]
        steps, leaves = plan.programs[v]
        needed = {p: plan.const[p] for _n, _h, parts in steps for p in parts if p in plan.const}
        programs.append((payer, v, steps, leaves, needed))
    count = 0
    for combo in product(*(range(len(part.classes[f])) for f in block.fields)):
        count += 1
        chosen = dict(zip(block.fields, combo, strict=True))
        vector = []
        for payer, v, steps, leaves, needed in programs:
            status = dict(needed)
            for leaf, f in leaves:
                status[leaf] = part.classes[f][chosen[f]].status[(payer, leaf)]
            for node, how, parts in steps:
                status[node] = combine(how, [status[p] for p in parts])
            vector.append(status[v])
        weight = 1
        for f, i in chosen.items():
            weight *= len(part.classes[f][i].values)
        slot = out.get(tuple(vector))
        if slot is None:
            out[tuple(vector)] = [weight, chosen]
        else:
            slot[0] += weight
    subs = [(vector, slot[0], slot[1]) for vector, slot in out.items()]
    subs.sort(key=lambda s: -s[1])
    return subs, count


# ---------------------------------------------------------------------------------------------------------
# One payer's own space
# ---------------------------------------------------------------------------------------------------------
@dataclass
class View:
    """One payer's view of one block: the distinct statuses of its own criteria there."""

    block: int
    keys: list[int]  # positions of the payer's criteria in the block's variables
    vectors: list[tuple[str, ...]]
    weights: list[int]
    of: list[int]  # the block's status index -> the view's index


@dataclass
class PayerSpace:
    """A payer's points: one view per block it reads (those other payers read too first), last fastest."""

    payer: str
    views: list[View]
    shared: int  # the first `shared` views are of blocks another payer reads
    coordinate: dict[str, tuple[int, int]]  # variable -> (view, position in the view's vectors)
    n: int = 1
    strides: list[int] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    codes: bytes = b""  # outcome index per point
    covers: dict[int, list[list[frozenset[str]]]] = field(default_factory=dict)  # outcome -> cubes over variables

    def digits(self, i: int) -> list[int]:
        return [i // s % len(v.vectors) for s, v in zip(self.strides, self.views, strict=True)]


def payer_space(part: Part, payer: str, subs: list[list[SubStatus]], readers: list[set[str]]) -> PayerSpace:
    blocks = [b for b, who in enumerate(readers) if payer in who]
    blocks.sort(key=lambda b: (len(readers[b]) < 2, b))
    views = []
    coordinate: dict[str, tuple[int, int]] = {}
    for b in blocks:
        keys = [k for k, (p, _v) in enumerate(part.blocks[b].variables) if p == payer]
        index: dict[tuple[str, ...], int] = {}
        weights: list[int] = []
        of = []
        for vector, weight, _chosen in subs[b]:
            key = tuple(vector[k] for k in keys)
            if key not in index:
                index[key] = len(index)
                weights.append(0)
            weights[index[key]] += weight
            of.append(index[key])
        order = sorted(range(len(index)), key=lambda i: -weights[i])  # heaviest first: seeds come early
        rank = {old: new for new, old in enumerate(order)}
        vectors = [k for k, _ in sorted(index.items(), key=lambda kv: rank[kv[1]])]
        view = View(b, keys, vectors, [weights[i] for i in order], [rank[i] for i in of])
        for j, k in enumerate(keys):
            coordinate[part.blocks[b].variables[k][1]] = (len(views), j)
        views.append(view)
    space = PayerSpace(payer, views, sum(1 for b in blocks if len(readers[b]) > 1), coordinate)
    stride = 1
    strides = []
    for view in reversed(views):
        strides.append(stride)
        stride *= len(view.vectors)
    space.strides, space.n = strides[::-1], stride
    return space


class _Arrays:
    """Statuses over a payer's points as byte arrays (one byte per point), folded a whole array at a time:
    two arrays are combined digit by digit as one big integer (a * base + b), then translated by a table."""

    def __init__(self, part: Part, space: PayerSpace) -> None:
        model = part.model
        names = sorted({s for k in model.kleene for s in k[1:]} | set(model.kleene.values())
                       | set(model.units.values()))
        self.part, self.space, self.names = part, space, names
        self.code = {s: i for i, s in enumerate(names)}
        self.base = 4
        while self.base < len(names):
            self.base *= 2
        self._tables: dict[tuple, bytes] = {}

    def variable(self, v: str) -> bytes:
        space = self.space
        at, j = space.coordinate[v]
        view, stride = space.views[at], space.strides[at]
        period = b"".join(bytes([self.code[vec[j]]]) * stride for vec in view.vectors)
        return period * (space.n // len(period))

    def table(self, key: tuple, mapping: Callable[[int], int]) -> bytes:
        if key not in self._tables:
            self._tables[key] = bytes(mapping(i) & 0xFF for i in range(256))
        return self._tables[key]

    def fold(self, how: str, a: int | bytes, b: int | bytes) -> int | bytes:
        """Kleene `how` of two status values (a code for a constant, or an array)."""
        k, names, code = self.part.model.kleene, self.names, self.code

        def f(x: int, y: int) -> int:
            if x >= len(names) or y >= len(names):
                return 0
            out = k.get((how, names[x], names[y]))  # a pair no tree holds maps anywhere
            return 0 if out is None else code[out]

        if isinstance(a, int) and isinstance(b, int):
            return f(a, b)
        if isinstance(a, int):
            return b.translate(self.table(("l", how, a), lambda y: f(a, y)))
        if isinstance(b, int):
            return a.translate(self.table(("r", how, b), lambda x: f(x, b)))
        return self.combine(a, b, ("k", how), lambda x, y: f(x, y))

    def combine(self, a: bytes, b: bytes, key: tuple, f: Callable[[int, int], int]) -> bytes:
        base, n = self.base, len(a)
        shift = base.bit_length() - 1  # base is a power of two: a digit of a, shifted, leaves room for b's
        joined = ((int.from_bytes(a, "big") << shift) | int.from_bytes(b, "big")).to_bytes(n, "big")
        return joined.translate(self.table(key, lambda i: f(i // base, i % base)))


# The decision automata: (payer, inputs, the statuses each can take, lobs) -> levels of transitions
_AUTOMATA: dict[tuple, tuple[list[dict[tuple[int, int], int]], list[Outcome]]] = {}


def decide_space(part: Part, space: PayerSpace) -> None:
    """Every point's outcome: the payer's tree folded over its arrays, then the decision read by an automaton
    over the candidate pathways' statuses (and the parts of referring ones), built from Engine.conclude and
    Engine.referral over every combination of the statuses they take."""
    plan = part.plans[space.payer]
    arrays = _Arrays(part, space)
    code = arrays.code
    value: dict[str, int | bytes] = {n: code[s] for n, s in plan.const.items()}
    for v in plan.variables:
        value[v] = arrays.variable(v)
    for node, how, parts in plan.upper:
        acc: int | bytes = code[part.model.units[how]]
        for p in parts:
            acc = arrays.fold(how, acc, value[p])
        value[node] = acc
    inputs = list(dict.fromkeys([*plan.candidates, *(p for w in plan.candidates
                                                      for p, _t in plan.referring.get(w, [])
                                                      if part.model.outcomes[plan.payer][w] == "refer")]))
    present = []
    for x in inputs:
        got = value.get(x, code[NOT_DOCUMENTED])
        present.append((got,) if isinstance(got, int) else tuple(c for c in range(len(arrays.names))
                                                                 if got.find(bytes([c])) >= 0))
    key = (space.payer, tuple(plan.candidates), tuple(inputs), tuple(present), tuple(map(repr, part.lobs)),
           id(part.model))
    if key not in _AUTOMATA:
        _AUTOMATA[key] = _automaton(part, space.payer, plan.candidates, inputs, present, arrays.names)
    levels, outcomes = _AUTOMATA[key]
    state: int | bytes = 0
    for i, x in enumerate(inputs):
        step = levels[i]
        got = value.get(x, code[NOT_DOCUMENTED])
        if isinstance(state, int) and isinstance(got, int):
            state = step[(state, got)]
        elif isinstance(state, int):
            s0 = state
            state = got.translate(arrays.table(("a", key, i, s0), lambda c, s0=s0, t=step: t.get((s0, c), 0)))
        elif isinstance(got, int):
            g0 = got
            state = state.translate(arrays.table(("b", key, i, g0), lambda s, g0=g0, t=step: t.get((s, g0), 0)))
        else:
            state = arrays.combine(state, got, ("c", key, i), lambda s, c, t=step: t.get((s, c), 0))
    space.outcomes = outcomes
    space.codes = bytes([state]) * space.n if isinstance(state, int) else state


def _automaton(part: Part, payer: str, candidates: list[str], inputs: list[str], present: list[tuple[int, ...]],
               names: list[str]) -> tuple[list[dict[tuple[int, int], int]], list[Outcome]]:
    """The minimal automaton reading the inputs' statuses in order; its last states are outcomes."""
    model = part.model
    base = 4
    while base < len(names):
        base *= 2
    limit = 256 // base  # a state and a status are combined in one byte
    outcomes: dict[Outcome, int] = {}
    levels: list[dict[tuple[int, int], int]] = [{} for _ in inputs]
    interned: list[dict[tuple, int]] = [{} for _ in inputs]

    def state(i: int, status: dict[str, str]) -> int:
        if i == len(inputs):
            decision, chosen = model.conclude(payer, candidates, status)
            targets: tuple[str | None, ...] = ()
            if decision == "refer" and chosen:
                targets = tuple(model.referral("any" if lob is ABSENT else lob, payer, chosen, status)[0]
                                for lob in part.lobs)
            return outcomes.setdefault((decision, chosen, targets), len(outcomes))
        children = tuple((c, state(i + 1, {**status, inputs[i]: names[c]})) for c in present[i])
        sid = interned[i].setdefault(children, len(interned[i]))
        if sid >= limit:
            raise ValueError(f"{payer}: too many decision states after {inputs[i]}")
        return sid

    root = state(0, {})
    assert root == 0
    for i in range(len(inputs)):
        for children, sid in interned[i].items():
            for c, nxt in children:
                levels[i][(sid, c)] = nxt
    return levels, list(outcomes)


# ---------------------------------------------------------------------------------------------------------
# Covers
# ---------------------------------------------------------------------------------------------------------
def cover_space(part: Part, space: PayerSpace) -> None:
    """Each outcome of the payer covered greedily by products of its criterion statuses."""
    plan = part.plans[space.payer]
    variables = plan.variables
    masks: list[dict[str, int]] = []
    for v in variables:
        at, j = space.coordinate[v]
        view, stride = space.views[at], space.strides[at]
        masks.append({s: _periodic([vec[j] == s for vec in view.vectors], stride, space.n)
                      for s in STATUSES if any(vec[j] == s for vec in view.vectors)})
    everything = (1 << space.n) - 1
    approving = {o for o, out in enumerate(space.outcomes) if out[0] == "approve"}

    def vector(i: int) -> tuple[str, ...]:
        digits = space.digits(i)
        out = []
        for v in variables:
            at, j = space.coordinate[v]
            out.append(space.views[at].vectors[digits[at]][j])
        return tuple(out)

    for o in range(len(space.outcomes)):
        group = _mask(space.codes, o)
        if group:
            space.covers[o] = _cover(masks, group, everything & ~group, o in approving, vector)


def _periodic(pattern: list[bool], stride: int, n: int) -> int:
    """The bits of a periodic pattern: element q of the pattern covers `stride` points, the whole pattern
    repeats up to n points (built by doubling, in C)."""
    run = (1 << stride) - 1
    period = 0
    for q, on in enumerate(pattern):
        if on:
            period |= run << (q * stride)
    width = len(pattern) * stride
    out, filled = period, width
    while filled < n:
        out |= out << filled
        filled *= 2
    return out & ((1 << n) - 1)


def _mask(arr: bytes, c: int) -> int:
    """The points where the array holds c, as the bits of an integer (point i is bit i)."""
    table = bytes(49 if i == c else 48 for i in range(256))
    return int(arr.translate(table)[::-1], 2) if arr else 0


def _cover(masks: list[dict[str, int]], group: int, outside: int, approving: bool,
           vector: Callable[[int], tuple[str, ...]]) -> list[list[frozenset[str]]]:
    """Greedy cover of a group of points by products of statuses that take in no point outside it.

    From the first uncovered point (views heaviest first), a cube drops each coordinate it can (met ones
    first when the outcome does not approve: what stays says why), then widens the rest, then narrows each to
    the statuses its points really have. Both passes go coordinate by coordinate against the running product
    of the coordinates before and the suffix product of those after."""
    k = len(masks)
    everything = group | outside
    uncovered = group
    cubes: list[tuple[list[frozenset[str]], int]] = []

    def union(j: int, allowed: frozenset[str]) -> int:
        if allowed == ALL:
            return everything
        m = 0
        for s in allowed:
            m |= masks[j].get(s, 0)
        return m

    while uncovered:
        seed = (uncovered & -uncovered).bit_length() - 1
        vec = vector(seed)
        allowed = [frozenset([s]) for s in vec]
        order = sorted(range(k), key=lambda j: (approving, vec[j] != MET, -j))
        for widen in (False, True):
            cur = [union(j, allowed[j]) for j in range(k)]
            suffix = [everything] * (k + 1)
            for i in range(k - 1, -1, -1):
                suffix[i] = suffix[i + 1] & cur[order[i]]
            prefix = everything
            for i, j in enumerate(order):
                rest = prefix & suffix[i + 1]
                if not widen:
                    if not rest & outside:
                        allowed[j] = ALL
                        cur[j] = everything
                else:
                    for s in STATUSES:
                        if allowed[j] != ALL and s not in allowed[j] and s in masks[j]:
                            wider = cur[j] | masks[j][s]
                            if not rest & wider & outside:
                                allowed[j] = ALL if allowed[j] | {s} >= frozenset(masks[j]) else allowed[j] | {s}
                                cur[j] = everything if allowed[j] == ALL else wider
                prefix &= cur[j]
        covered = everything
        for j in range(k):
            if allowed[j] != ALL:
                covered &= union(j, allowed[j])
        covered &= group
        for j, a in enumerate(allowed):
            if a != ALL:
                allowed[j] = frozenset(s for s in a if masks[j].get(s, 0) & covered)
        cubes.append((allowed, covered))
        uncovered &= ~covered
    return [a for a, _c in _prune(cubes)]


def _prune(cubes: list[tuple[list[frozenset[str]], int]]) -> list[tuple[list[frozenset[str]], int]]:
    """Drop a cube the others already cover, smallest first."""
    kept = list(cubes)
    for cube in sorted(cubes, key=lambda c: c[1].bit_count()):
        others = 0
        for other in kept:
            if other is not cube:
                others |= other[1]
        if cube[1] & ~others == 0 and len(kept) > 1:
            kept.remove(cube)
    return kept


# ---------------------------------------------------------------------------------------------------------
# The joint answer
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Cube:
    """One alternative of a region: the outcome pair, the statuses allowed per variable (the part's payers'
    variables in order), its weight and its witness point."""

    outs: tuple
    allowed: list[frozenset[str]]
    weight: int
    best: dict[str, int]  # the witness: field -> class index
    vector: tuple[str, ...]


@dataclass
class Found:
    """What a worker sends back for one part: counts, the regions' alternatives, and where every payer
    approves (durations)."""

    decided: int  # payer points: status vectors folded to a decision
    block_profiles: int
    points: int  # combinations of the blocks several payers read, summed over for the sizes
    weight: int
    group_weights: dict[tuple, int]
    cubes: list[Cube]
    approvals: dict[tuple, tuple[int, dict[str, int], tuple[str, ...], tuple]]


def analyse_part(part: Part) -> Found:
    """A part's payers decided and covered in their own spaces, then their outcome pairs: sizes, the
    alternatives of each pair where the decisions differ, a witness where they all approve."""
    subs, profiles = [], 0
    for block in part.blocks:
        sub, count = block_statuses(part, block)
        subs.append(sub)
        profiles += count
    payers = list(part.plans)
    readers = [{p for p, _v in block.variables} for block in part.blocks]
    spaces = {p: payer_space(part, p, subs, readers) for p in payers}
    for space in spaces.values():
        decide_space(part, space)
    weights, points = _outcome_weights(spaces, subs, readers)
    joint = [(p, v) for p in payers for v in part.plans[p].variables]
    where: dict[tuple[str, str], tuple[int, int]] = {}
    for b, block in enumerate(part.blocks):
        for k, variable in enumerate(block.variables):
            where[variable] = (b, k)
    cubes: list[Cube] = []
    approvals: dict[tuple, tuple[int, dict[str, int], tuple[str, ...], tuple]] = {}
    outcome_sets = [spaces[p].outcomes for p in payers]
    differing = [ids for ids in weights if _differ(tuple(o[i] for o, i in zip(outcome_sets, ids, strict=True)))]
    approving = [ids for ids in weights
                 if all(o[i][0] == "approve" for o, i in zip(outcome_sets, ids, strict=True))]
    if differing or approving:
        for space in spaces.values():
            cover_space(part, space)
    for ids in sorted(differing, key=lambda ids: -weights[ids]):
        outs = tuple(o[i] for o, i in zip(outcome_sets, ids, strict=True))
        for allowed, weight, best, vector in _alternatives(part, spaces, subs, where, joint, ids):
            cubes.append(Cube(outs, allowed, weight, best, vector))
    for ids in approving:
        outs = tuple(o[i] for o, i in zip(outcome_sets, ids, strict=True))
        found = _alternatives(part, spaces, subs, where, joint, ids, first=True)
        if found:
            _allowed, _w, best, vector = found[0]
            approvals[tuple(o[1] for o in outs)] = (weights[ids], best, vector, outs)
    group_weights = {tuple(o[i] for o, i in zip(outcome_sets, ids, strict=True)): w for ids, w in weights.items()}
    return Found(decided=sum(s.n for s in spaces.values()), block_profiles=profiles, points=points,
                 weight=sum(weights.values()), group_weights=group_weights, cubes=cubes, approvals=approvals)


def _outcome_weights(spaces: dict[str, PayerSpace], subs: list[list[SubStatus]],
                     readers: list[set[str]]) -> tuple[dict[tuple[int, ...], int], int]:
    """The profiles of every outcome combination: over each combination of the blocks several payers read,
    the product of the weights each payer's own blocks give each of its outcomes there."""
    payers = list(spaces)
    per: dict[str, list[dict[int, int]]] = {}
    for p, space in spaces.items():
        own = space.views[space.shared:]
        width = 1
        for view in own:
            width *= len(view.vectors)
        own_weights = [1]
        for view in own:
            own_weights = [w * x for w in own_weights for x in view.weights]
        memo: dict[bytes, dict[int, int]] = {}
        rows = []
        for start in range(0, space.n, width):
            row = space.codes[start:start + width]
            got = memo.get(row)
            if got is None:
                got = defaultdict(int)
                for o, c in enumerate(row):
                    got[c] += own_weights[o]
                got = memo[row] = dict(got)
            rows.append(got)
        per[p] = rows
    shared = [b for b, who in enumerate(readers) if len(who) > 1]
    strides: dict[str, dict[int, int]] = {}
    for p, space in spaces.items():
        strides[p] = {}
        stride = 1
        for view in reversed(space.views[:space.shared]):
            strides[p][view.block] = stride
            stride *= len(view.vectors)
    index_of = {p: {v.block: v for v in spaces[p].views[:spaces[p].shared]} for p in payers}
    cells: dict[tuple[int, ...], int] = defaultdict(int)
    points = 0
    for combo in product(*(range(len(subs[b])) for b in shared)):
        points += 1
        weight = 1
        keys = [0] * len(payers)
        for b, k in zip(shared, combo, strict=True):
            weight *= subs[b][k][1]
            for i, p in enumerate(payers):
                view = index_of[p].get(b)
                if view is not None:
                    keys[i] += view.of[k] * strides[p][b]
        cells[tuple(keys)] += weight
    out: dict[tuple[int, ...], int] = defaultdict(int)
    for keys, weight in cells.items():
        rows = [per[p][k].items() for p, k in zip(payers, keys, strict=True)]
        for choice in product(*rows):
            w = weight
            for _o, x in choice:
                w *= x
            out[tuple(o for o, _x in choice)] += w
    return dict(out), points


def _alternatives(part: Part, spaces: dict[str, PayerSpace], subs: list[list[SubStatus]],
                  where: dict[tuple[str, str], tuple[int, int]], joint: list[tuple[str, str]],
                  ids: tuple[int, ...], first: bool = False) -> list[tuple]:
    """The non-empty intersections of one cube of each payer's outcome, heaviest first: without a constraint
    the others imply (Cigna's age met makes Centene's age met; the payer that does not approve, and met
    constraints, are left out first, so what stays says where the payers part), without an intersection the
    others cover, each constraint narrowed to the statuses its points have."""
    payers = list(spaces)
    options = []
    approving = set()
    for p, o in zip(payers, ids, strict=True):
        variables = part.plans[p].variables
        options.append([{(p, v): a for v, a in zip(variables, allowed, strict=True) if a != ALL}
                        for allowed in spaces[p].covers.get(o, [])])
        if spaces[p].outcomes[o][0] == "approve":
            approving.add(p)
    order = {v: j for j, v in enumerate(joint)}

    def keep_of(b: int, constraints: dict[tuple[str, str], frozenset[str]]) -> list[int]:
        checks = [(k, constraints[v]) for k, v in enumerate(part.blocks[b].variables) if v in constraints]
        return [i for i, sub in enumerate(subs[b]) if all(sub[0][k] in a for k, a in checks)]

    found: list[tuple[dict, list[list[int]]]] = []
    for combo in product(*options):
        constraints: dict[tuple[str, str], frozenset[str]] = {}
        for c in combo:
            constraints.update(c)
        blocks: list[list[int]] = []
        for b in range(len(subs)):
            keep = keep_of(b, constraints)
            if not keep:
                break
            blocks.append(keep)
        else:
            for v in sorted(constraints, key=lambda v: (v[0] in approving, MET not in constraints[v], -order[v])):
                trial = {u: a for u, a in constraints.items() if u != v}
                if keep_of(where[v][0], trial) == blocks[where[v][0]]:
                    constraints = trial
            found.append((constraints, blocks))
            if first:
                break
    found = [a for a in found if not any(b is not a and _contains(b[1], a[1]) for b in found)]
    kept = {id(x) for x in _prune_alternatives([c for _c, c in found], subs)}
    found = [(c, blocks) for c, blocks in found if id(blocks) in kept]
    out = []
    for constraints, blocks in found:
        weight = 1
        for b, keep in enumerate(blocks):
            weight *= sum(subs[b][k][1] for k in keep)
        allowed = []
        for variable in joint:
            b, k = where[variable]
            present = frozenset(subs[b][i][0][k] for i in blocks[b])
            every = frozenset(s[0][k] for s in subs[b])
            allowed.append(present if variable in constraints and present != every else ALL)
        best: dict[str, int] = {}
        vector: dict[tuple[str, str], str] = {}
        wanted = [MET if MET in a else NOT_MET if NOT_MET in a else NOT_DOCUMENTED for a in allowed]
        for b, keep in enumerate(blocks):
            # the plainest point: each criterion met where the alternative allows it, in the policy's order
            want = [wanted[order[v]] for v in part.blocks[b].variables]
            i = min(keep, key=lambda i, b=b, want=want: (tuple(x != w for x, w in zip(subs[b][i][0], want,
                                                                                        strict=True)),
                                                         -subs[b][i][1]))
            best.update(subs[b][i][2])
            for k, v in enumerate(part.blocks[b].variables):
                vector[v] = subs[b][i][0][k]
        out.append((allowed, weight, best, tuple(vector[v] for v in joint)))
    out.sort(key=lambda a: -a[1])
    return out


def _contains(big: list[list[int]], small: list[list[int]]) -> bool:
    return all(set(s) <= set(b) for b, s in zip(big, small, strict=True)) and big != small


def _prune_alternatives(found: list[list[list[int]]], subs: list[list[SubStatus]]) -> list[list[list[int]]]:
    """Drop an alternative the union of the others covers, lightest first (cube subtraction, within a budget:
    when it runs out the alternative stays)."""
    def weight(blocks: list[list[int]]) -> int:
        w = 1
        for b, keep in enumerate(blocks):
            w *= sum(subs[b][k][1] for k in keep)
        return w

    kept = list(found)
    sets = {id(a): [set(keep) for keep in a] for a in found}
    for cube in sorted(found, key=weight):
        others = [sets[id(o)] for o in kept if o is not cube]
        if others and _covered(sets[id(cube)], others, [2000]):
            kept.remove(cube)
    return kept


def _covered(cube: list[set[int]], others: list[list[set[int]]], budget: list[int]) -> bool:
    """Whether the union of `others` covers `cube` (each a product of sets of block statuses)."""
    budget[0] -= 1
    if budget[0] < 0:
        return False
    for i, other in enumerate(others):
        if all(c & o for c, o in zip(cube, other, strict=True)):
            rest = others[:i] + others[i + 1:]
            inside = list(cube)
            for b, (c, o) in enumerate(zip(cube, other, strict=True)):
                outside = c - o
                if outside and not _covered([*inside[:b], outside, *cube[b + 1:]], rest, budget):
                    return False
                inside[b] = c & o
            return True
    return False


_PARTS: list[Part] = []


def _work(index: int) -> tuple[int, Found]:
    return index, analyse_part(_PARTS[index])


Track = Callable[[Iterable[Any], str, int], Iterable[Any]]  # (items, label, length) -> the items, shown going by


def untracked(items: Iterable[Any], _label: str, _length: int) -> Iterable[Any]:
    """No progress shown (the command line passes its progress bar instead)."""
    return items


def enumerate_parts(parts: list[Part], jobs: int, track: Track = untracked) -> list[Found]:
    """Analyse the parts on `jobs` processes (fork: the parts are inherited, not pickled), largest first;
    `track` sees each part as it is done."""
    global _PARTS
    _PARTS = parts
    order = sorted(range(len(parts)), key=lambda i: -_cost(parts[i]))
    out: list[Found | None] = [None] * len(parts)
    if jobs <= 1 or len(parts) <= 1:
        for i in track(order, "diffing parts", len(parts)):
            out[i] = _work(i)[1]
    else:
        with multiprocessing.get_context("fork").Pool(jobs, initializer=quiet_worker, initargs=(os.getpid(),)) as pool:
            for i, found in track(pool.imap_unordered(_work, order), "diffing parts", len(parts)):
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
