"""The plan of one part of the request space for `lumakras diff` (lumakras_logic/analysis/diff.py): a market, a
diagnosis, a request type. A diagnosis is a representative of the abstraction's diagnosis field (with
diagnosis.histology when the kb's rules read it: the joint field, lumakras_logic/authoring/abstraction.py), so there is
one part per distinct status vector of the criteria on the diagnosis. What the diagnosis and the request type
alone decide is fixed; the criteria they leave free are the part's variables (the topmost tagged criteria,
kb/vocab/concepts.dl), each with the program that folds its leaves; the values of each field are grouped into
classes every free criterion treats alike; and fields read together by a criterion form blocks. A Part is data
and the policy model (its decision rule, plain data): a forked worker process needs nothing else."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..authoring.abstraction import ABSENT, OTHER_TEXT, Joined, Space
from ..core.api import Decider
from ..core.concepts import Concepts
from ..core.kb import KbError, natural_key
from ..core.policy import MET, NOT_DOCUMENTED, NOT_MET, PolicyModel
from ..core.request import FIELD_TYPES

STATUSES = (MET, NOT_MET, NOT_DOCUMENTED)
ALL = frozenset(STATUSES)
CONDITION = "diagnosis.condition"
REQUEST_TYPE = "request_type"


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
    condition: Any  # a representative of the diagnosis field `key`
    request_type: str
    classes: dict[str, list[Klass]]
    plans: dict[str, PayerPlan]
    lobs: list[Any]
    model: PolicyModel
    domain_sizes: dict[str, int]
    blocks: list[Block] = field(default_factory=list)
    key: str = CONDITION  # the diagnosis field (a joint field when the rules read the histology with it)
    diagnosis: Diagnosis | None = None

    @property
    def label(self) -> str:
        return self.diagnosis.label if self.diagnosis else label(self.condition)

    @property
    def name(self) -> str:
        return f"{self.label}/{self.request_type}" + ("" if self.market == RECORDED else f"/{self.market}")


RECORDED = "recorded"


@dataclass
class Diagnosis:
    """A representative of the diagnosis field, as a person reads it: a label for ids and `--condition`, a
    title for headings, and the diagnoses it stands for (every one the criteria treat alike)."""

    label: str
    title: str
    fields: dict[str, Any]  # request field -> value (None: not given)
    alike: list[str]  # the labels of the candidates it stands for


def label(value: Any) -> str:
    """One field's value as a person reads it in a heading."""
    if value is ABSENT:
        return "not-documented"
    if value == OTHER_TEXT:
        return "unrecognized"
    return str(value)


def diagnoses(decider: Decider, space: Space, key: str) -> dict[Any, Diagnosis]:
    """Each representative of the diagnosis field, named. 'other' is the one every criterion on the diagnosis
    finds not met (a diagnosis no policy names); otherwise the condition (its id: 'not-documented' when not
    given, 'unrecognized' for a text the vocabulary does not know) and each other field of a joint field that
    is given ('lung_cancer+squamous_cell')."""
    kb = decider.kb
    fields = space.joints.get(key, (key,))
    leaves = [leaf for leaf, f in space.leaf_field.items() if f == key]
    out: dict[Any, Diagnosis] = {}

    def name(value: Any) -> str:
        parts = [label(space.component(key, value, fields[0]))]
        parts += [str(space.component(key, value, f)) for f in fields[1:]
                  if space.component(key, value, f) is not ABSENT]
        return "+".join(parts)

    for value in space.domains.get(key, []):
        given = {f: space.component(key, value, f) for f in fields}
        other = bool(leaves) and all(space.table[leaf][value] == NOT_MET for leaf in leaves)
        text = name(value)
        condition = given[fields[0]]
        words = kb.condition_labels.get(condition) if isinstance(condition, str) else None
        title = "a diagnosis no policy names" if other else (
            "not documented" if condition is ABSENT else
            "not a condition the vocabulary knows" if condition == OTHER_TEXT else (words or str(condition)))
        extra = [f"{f.split('.')[-1]} {v}" for f, v in list(given.items())[1:] if v is not ABSENT]
        if extra and not other:
            title += " (" + ", ".join(extra) + ")"
        alike = [name(v) for v in space.alike.get(key, {}).get(value, [value])]
        if other:
            title += f", such as {alike[0]}"
        out[value] = Diagnosis("other" if other else text, title,
                               {f: (None if v is ABSENT else v) for f, v in given.items()}, alike)
    return out


def plan_part(decider: Decider, space: Space, market: str, condition: Any, request_type: str,
              payers: list[str], diagnosis: Diagnosis | None = None) -> Part:
    """Fix what the diagnosis and the request type decide, keep the criteria they leave free, and class
    their fields' values."""
    kb, engine = decider.kb, decider.engine
    concepts = Concepts(kb)
    diagnosis_key = space.key_of(CONDITION) or CONDITION
    assignment = {diagnosis_key: condition}
    typed = space.key_of(REQUEST_TYPE)
    if typed == REQUEST_TYPE:  # Section I reviews an initial request, or a continuation new to the plan
        assignment[typed] = space.representative(typed, request_type)
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
    blocks = _blocks(plans)
    lobs = list(space.domains.get("line_of_business") or [*FIELD_TYPES["line_of_business"][1], ABSENT])
    return Part(market=market, condition=condition, request_type=request_type, classes=classes,
                plans=plans, lobs=lobs, model=engine.model,
                domain_sizes={f: len(space.domains[f]) for f in classes}, blocks=blocks, key=diagnosis_key,
                diagnosis=diagnosis)


def _blocks(plans: dict[str, PayerPlan]) -> list[Block]:
    """Union the fields each variable reads; each connected set of fields is a block."""
    joined = Joined()
    reads: dict[tuple[str, str], list[str]] = {}
    for payer, plan in plans.items():
        for v in plan.variables:
            fields = sorted({f for _, f in plan.programs[v][1]})
            reads[(payer, v)] = fields
            joined.join(fields)
    groups: dict[str, Block] = {}
    for (payer, v), fields in reads.items():
        if not fields:
            continue
        block = groups.setdefault(joined.find(fields[0]), Block([], []))
        block.variables.append((payer, v))
    for root, fields in joined.groups().items():
        if root in groups:
            groups[root].fields.extend(fields)
    return [Block(sorted(b.fields), b.variables) for _, b in sorted(groups.items())]


def _plan_payer(decider: Decider, space: Space, concepts: Concepts, payer: str, candidates: list[str],
                assignment: dict[str, Any]) -> PayerPlan:
    kb, engine = decider.kb, decider.engine
    # the candidates, and the parts of a referring one: a referral names its target by its met part
    roots = list(candidates) + [part for w in candidates if engine.model.outcomes[payer][w] == "refer"
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
            referring[w.id] = [(part, engine.model.referral_targets(payer, w.id, part))
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


