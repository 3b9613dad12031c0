"""A finite abstraction of the request space, built from the knowledge base itself.

Which fields a leaf reads. Its kind's `test_signature` (kb/engine/tests.dl) names the Subject field (or the
request date, for the kinds whose Subject is a drug: they read market facts), and the field its Param names
when the Param is a field (at_most_field: a new dose against the current dose). The kind's rules may read more:
every field a rule reachable from the kind's leaf rules names (condition_is reads diagnosis.histology through
diagnoses.dl's diagnosis_is). Fields that some leaf reads together are one **joint field**, whose values are
tuples of the fields' values, and every leaf reading either field reads the joint field; so a leaf's status is
a function of one field's value.

The candidates. Each field gets candidate values from the kb: the boundaries of its comparisons (at_least 18
gives 17 and 18; fields compared with each other get two values either side of every boundary), the constants
and sets its tests name, the values the kb's synonyms stand for, every condition of the vocabulary where a test
names a condition, plus one value none of them names, and always "not given". A joint field's candidates are
the products of its fields'. A drug list's candidate **entries** are every drug, every regimen, every class
named as a class (an unnamed member; in a universal list, every member), every class as a `{name, kind}`
entry, every ambiguous name, a name the vocabulary does not know and a kind it does not know.

Asking the engine. Every candidate is decided by the kb's own leaf rules (Engine.leaf_statuses: a leaf query
per batch of requests, and the Kleene fold the engine uses; no second implementation of the criteria), and of the
candidates that give every leaf reading the field the same statuses one is kept, the one that gives the fewest
values (a field not given, a shorter list). Constants that no rule names and that stand in the same facts the
same way (ICD-10-CM categories no condition names) cannot be told apart by any Datalog rule: one of each such
set is asked about, the others share its statuses.

Lists. A list leaf's status is a combination of its entries' statuses (any_in_class is met when some entry
certainly is in the class, else not documented when some entry may be, else not met). From every pair of
distinct entries the abstraction learns that combination per leaf (and checks it is one: a function of the
two entries' statuses), then closes the entries' status vectors under it: every vector some list of any
length gives, each with a shortest list, every such list of three or more entries asked about again. So the
lists of a field are the empty list, one list per vector, and "not given".

So a leaf's status over its field's representatives is a table. Whether a node can take a status is then a
search over the fields under it, pruned by the set of statuses each node can still take; a witness found is
replayed through the engine before it is believed.

`lumakras check` asks which pathways no request can satisfy; `lumakras test --coverage` which statuses each
criterion can take at all; `lumakras diff` decides every profile of representatives under every payer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from itertools import combinations, product
from typing import Any

from ..core.api import Decider
from ..core.kb import KbError, KnowledgeBase, natural_key
from ..core.kbtext import Var
from ..core.policy import MET, NOT_DOCUMENTED, NOT_MET
from ..core.request import FIELD_TYPES, RequestError, name_key, token_key

STATUSES = (MET, NOT_MET, NOT_DOCUMENTED)
DATE = "request_date"  # the pseudo-field of the kinds whose Subject is a drug (market facts)
JOINT = "+"  # a joint field's name: its fields joined by '+'
UNKNOWN_DRUG = "x-unknown-drug"  # a name the vocabulary does not know (reading 16)
UNKNOWN_KIND = "x-unknown-kind"  # a kind the vocabulary does not know
OTHER_TEXT = "x_other"  # a text value no test names and the vocabulary does not know
# The request's own facts (kb/engine/request.dl) and the field each names, second: value(R, Field, V), ...
_REQUEST_FIELD_AT = {"value", "item", "item_part", "item_kind", "listed", "omitted", "documented", "item_value"}


class _Absent:
    """The field is not given: 'not documented'."""

    def __repr__(self) -> str:
        return "(not given)"


ABSENT = _Absent()


@dataclass(frozen=True, order=True)
class Kind:
    """A drug-list entry written `{name: ..., kind: CLASS}` (REQUESTS.md): certainly of the class, and no
    drug the vocabulary names."""

    name: str
    kind: str

    def __repr__(self) -> str:
        return f"{{name: {self.name}, kind: {self.kind}}}"


@dataclass
class Space:
    """The representative values of each field a leaf reads, and each leaf's status over them."""

    decider: Decider
    domains: dict[str, list[Any]]  # field (or joint field) -> its representatives
    leaf_field: dict[tuple[str, str], str]  # (payer, leaf) -> the field (or joint field) it reads
    table: dict[tuple[str, str], dict[Any, str]] = field(default_factory=dict)
    joints: dict[str, tuple[str, ...]] = field(default_factory=dict)  # joint field -> its fields
    alike: dict[str, dict[Any, list[Any]]] = field(default_factory=dict)  # field -> representative -> candidates
    entries: dict[str, dict[Any, list[Any]]] = field(default_factory=dict)  # list -> entry -> entries alike
    gaps: list[str] = field(default_factory=list)  # what the abstraction could not show (none in this kb)
    asked: int = 0  # requests decided to build it
    budget: int = 200_000  # node evaluations per search, after which it gives up (never seen in this kb)

    # fields -------------------------------------------------------------------------------------------
    def key_of(self, name: str) -> str | None:
        """The field or joint field that holds a request field, None when no leaf reads it."""
        if name in self.domains:
            return name
        return next((k for k, fields in self.joints.items() if name in fields), None)

    def representative(self, key: str, value: Any) -> Any:
        """The representative that stands for a candidate value of a field."""
        if value in self.domains.get(key, ()):
            return value
        for rep, values in self.alike.get(key, {}).items():
            if value in values:
                return rep
        raise KeyError(f"{key}: {value!r} is no candidate of the abstraction")

    def component(self, key: str, value: Any, name: str) -> Any:
        """One request field's value in a (joint) field's value."""
        fields = self.joints.get(key)
        return value[fields.index(name)] if fields else value

    # the search ---------------------------------------------------------------------------------------
    def fields_under(self, payer: str, node_id: str) -> list[str]:
        """The fields the leaves under a node read, those read by the most leaves first."""
        counts: dict[str, int] = {}
        for leaf in self._leaves(payer, node_id):
            f = self.leaf_field.get((payer, leaf))
            if f is not None:
                counts[f] = counts.get(f, 0) + 1
        return sorted(counts, key=lambda f: (-counts[f], f))

    def possible(self, payer: str, node_id: str, assignment: dict[str, Any] | None = None) -> set[str]:
        """The statuses the node can still take when the fields of `assignment` are fixed (exact once
        every field under it is fixed; a superset before)."""
        assignment = assignment or {}
        engine = self.decider.engine
        memo: dict[str, frozenset[str]] = {}

        def walk(n: str) -> frozenset[str]:
            if n in memo:
                return memo[n]
            node = self.decider.kb.node(payer, n)
            if node.test is not None:
                f = self.leaf_field.get((payer, n))
                rows = self.table.get((payer, n))
                if f is None or rows is None:
                    out = frozenset(STATUSES)  # a leaf the abstraction cannot read: anything
                elif f in assignment:
                    out = frozenset([rows[assignment[f]]])
                else:
                    out = frozenset(rows.values())
            else:
                out = frozenset(engine.model.combine_sets(node.how or "all", (walk(part) for part in node.parts)))
            memo[n] = out
            return out

        return set(walk(node_id))

    def witness(self, payer: str, node_id: str | list[str], status: str,
                accept: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any] | None:
        """Values of the fields under the node (or under each of several nodes) that give it `status`, or
        None when none do. `accept` may still refuse a full assignment (the engine replaying it), and the
        search goes on."""
        nodes = [node_id] if isinstance(node_id, str) else node_id
        fields = list(dict.fromkeys(f for n in nodes for f in self.fields_under(payer, n)))
        assignment: dict[str, Any] = {}
        spent = 0

        def dfs(k: int) -> bool:
            nonlocal spent
            spent += 1
            if spent > self.budget or any(status not in self.possible(payer, n, assignment) for n in nodes):
                return False
            if k == len(fields):
                return accept is None or accept(dict(assignment))
            f = fields[k]
            for value in self.domains[f]:
                assignment[f] = value
                if dfs(k + 1):
                    return True
            del assignment[f]
            return False

        return dict(assignment) if dfs(0) else None

    def reachable(self, payer: str, node_id: str) -> set[str]:
        """The statuses some request gives the node."""
        return {s for s in STATUSES if self.witness(payer, node_id, s) is not None}

    # requests ----------------------------------------------------------------------------------------
    def document(self, assignment: dict[str, Any], request_id: str = "witness",
                 payer: str | None = None, request_type: str | None = None) -> dict[str, Any]:
        """A request document (REQUESTS.md) with the assigned values; the fields a policy requires take
        their first representative when not assigned."""
        values = dict(assignment)
        for f in self.required:
            values.setdefault(f, self.domains[f][0])
        if request_type and request_type != "any":
            values["request_type"] = request_type
        return _document(values, self.joints, self.today, request_id, payer)

    @property
    def required(self) -> list[str]:
        kb = self.decider.kb
        return sorted({f for p in kb.policies.values() for f in p.requires if f in self.domains})

    @property
    def today(self) -> dt.date:
        return self.decider.today or dt.date.today()

    def replays(self, payer: str, node_id: str, status: str, assignment: dict[str, Any]) -> bool:
        """Whether the engine, deciding the witness request, gives the node that status."""
        try:
            request = self.decider.parse(self.document(assignment, payer=payer), "(witness)")
            return self.decider.engine.decide(request, payer).status.get(node_id) == status
        except RequestError:
            return False

    def _leaves(self, payer: str, node_id: str) -> Iterator[str]:
        seen: set[str] = set()
        stack = [node_id]
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            node = self.decider.kb.node(payer, n)
            if node.test is not None:
                yield n
            stack += node.parts


class Joined:
    """Names joined into groups wherever something reads them together (union-find): the fields of a joint
    field, the fields of a diff block."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, name: str) -> str:
        parent = self.parent
        while parent.setdefault(name, name) != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    def join(self, names: list[str] | tuple[str, ...]) -> None:
        """Put the names in one group (a single name: a group of its own, unless joined later)."""
        for name in names[1:]:
            self.parent[self.find(name)] = self.find(names[0])
        if names:
            self.find(names[0])

    def groups(self) -> dict[str, list[str]]:
        """Each group's root -> its names, sorted."""
        out: dict[str, list[str]] = defaultdict(list)
        for name in sorted(self.parent):
            out[self.find(name)].append(name)
        return dict(out)


def _document(values: dict[str, Any], joints: dict[str, tuple[str, ...]], today: dt.date,
              request_id: str = "witness", payer: str | None = None) -> dict[str, Any]:
    """A request document from field values: joint fields spread into their fields, list entries written as
    names or {name, kind}, "not given" left out."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if key in joints and value is not ABSENT:
            flat.update(zip(joints[key], value, strict=True))
        else:
            flat[key] = value
    doc: dict[str, Any] = {"id": request_id}
    if payer:
        doc["payer"] = payer
    day = flat.pop(DATE, ABSENT)
    doc["date"] = (day if isinstance(day, dt.date) else today).isoformat()
    for path, value in sorted(flat.items()):
        if value is ABSENT:
            continue
        if isinstance(value, tuple):
            value = [{"name": e.name, "kind": e.kind} if isinstance(e, Kind) else e for e in value]
        *sections, name = path.split(".")
        target = doc
        for section in sections:
            target = target.setdefault(section, {})
        target[name] = value
    return doc


# ---------------------------------------------------------------------------------------------------------
# Building the space
# ---------------------------------------------------------------------------------------------------------
# Tables of fields whose relevant kb statements are the same (the markets of `lumakras diff`, the several
# commands of one process) are built once: field key -> digest -> (domain, alike, entries, table, asked).
_MEMO: dict[tuple[str, str], tuple] = {}


def build_space(decider: Decider, quick: bool = False) -> Space:
    """Which fields each leaf reads, the candidates of each, and each leaf's table from the kb's rules.

    `quick`: only the candidates the tests name (their constants, sets, classes and drugs, a member of each
    class, a name the vocabulary does not know), not the whole vocabulary. Every request it finds is a real
    request (a witness it finds holds), but a status it finds no request for may still be reachable: it is a
    first pass for `lumakras check`, which builds the whole space only when the first pass finds nothing."""
    kb = decider.kb
    today = decider.today or dt.date.today()
    rules = _Rules(kb)
    signatures = {kind: (subject, param) for kind, subject, param in kb.ask("test_signature", "?K", "?S", "?P")}
    reads: dict[tuple[str, str], tuple[str, ...]] = {}
    tests_on: dict[str, list[tuple[str, Any, str]]] = defaultdict(list)  # field -> (kind, param, param_is)
    for (payer, node_id), node in kb.nodes.items():
        if node.test is None or node.test[0] not in signatures:
            continue
        kind, subject, param = node.test
        subject_is, param_is = signatures[kind]
        own = DATE if subject_is == "drug" else str(subject)
        fields = {own} | rules.fields_read(kind)
        if param_is == "field":
            fields.add(str(param))
        if any(f != DATE and f not in FIELD_TYPES for f in fields):
            continue  # a field the abstraction does not know: the leaf can take any status
        reads[(payer, node_id)] = tuple(sorted(fields))
        if own != DATE:
            tests_on[own].append((kind, param, param_is))
        if param_is == "field":
            tests_on[str(param)].append((kind, subject, "field"))
    # fields read together by a leaf are one joint field
    joined = Joined()
    for fields in reads.values():
        joined.join(fields)
    groups = joined.groups()
    key_of = {f: (JOINT.join(g) if len(g) > 1 else f) for g in groups.values() for f in g}
    joints = {JOINT.join(g): tuple(g) for g in groups.values() if len(g) > 1}
    leaf_field = {leaf: key_of[fields[0]] for leaf, fields in reads.items()}
    required = {f for p in kb.policies.values() for f in p.requires if f in FIELD_TYPES}
    builder = _Builder(decider, rules, today, joints, required, quick)
    candidates: dict[str, list[Any]] = {}
    for key in sorted(set(key_of.values())):
        fields = joints.get(key, (key,))
        compared = sum(1 for f in fields if f != DATE and FIELD_TYPES[f][0] in ("whole", "number")) > 1
        points = _breakpoints(fields, tests_on) if compared else None
        per_field = [builder.candidates(f, tests_on.get(f, []), points) for f in fields]
        if key in joints:
            candidates[key] = [tuple(v) for v in product(*per_field)]
        else:
            candidates[key] = per_field[0]
    space = Space(decider, {}, leaf_field, joints=joints)
    builder.fill(space, candidates)
    for f in sorted(required):  # fields a policy requires, that no leaf reads: durations, referrals
        if space.key_of(f) is None:
            space.domains[f] = builder.candidates(f, [], None)
    return space


def _breakpoints(fields: tuple[str, ...], tests_on: dict[str, list[tuple[str, Any, str]]]) -> list[float]:
    """The numbers the tests on several compared fields name, for all of them."""
    return sorted({p for f in fields for _k, p, _i in tests_on.get(f, [])
                   if isinstance(p, (int, float)) and not isinstance(p, bool)})


class _Rules:
    """What the kb's rules read: the fields a kind's leaf rules reach, and the constants they name."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.by_head: dict[str, list[Any]] = defaultdict(list)
        for s in kb.statements:
            if not s.is_fact:
                self.by_head[s.head].append(s)
        self.by_kind: dict[Any, list[Any]] = defaultdict(list)  # kind (None: every kind) -> its leaf rules
        for s in self.by_head.get("leaf", []):
            kinds = [None if isinstance(args[2], Var) else args[2]
                     for name, _neg, args in s.body_atoms if name == "test" and len(args) > 2]
            for kind in kinds or [None]:  # a leaf rule that names no test (through a rule) may serve any kind
                self.by_kind[kind].append(s)
        self._cache: dict[Any, tuple[set[str], set[str], list[Any]]] = {}

    def reach(self, kind: Any) -> tuple[set[str], set[str], list[Any]]:
        """The predicates, the fields and the rules a kind's leaf rules reach (kind None: every kind's)."""
        if kind not in self._cache:
            start = [s for k, rules in self.by_kind.items() if kind is None or k in (kind, None) for s in rules]
            preds: set[str] = {"leaf", "test"}
            fields: set[str] = set()
            seen: list[Any] = []
            stack = list(start)
            ids: set[int] = set()
            while stack:
                s = stack.pop()
                if id(s) in ids:
                    continue
                ids.add(id(s))
                seen.append(s)
                for name, _neg, args in s.body_atoms:
                    if name in _REQUEST_FIELD_AT and len(args) > 1 and not isinstance(args[1], Var):
                        fields.add(str(args[1]))  # a request field the rule names
                    if name == "request_date":
                        fields.add(DATE)
                    if name not in preds:
                        preds.add(name)
                        stack += self.by_head.get(name, [])
            self._cache[kind] = (preds, fields, seen)
        return self._cache[kind]

    def fields_read(self, kind: str) -> set[str]:
        return self.reach(kind)[1]

    def constants(self) -> set[Any]:
        """Every constant a rule the leaf rules reach names."""
        out: set[Any] = set()
        for s in self.reach(None)[2]:
            out |= {a for a in s.args if not isinstance(a, Var)}
            out |= {a for _n, _neg, args in s.body_atoms for a in args if not isinstance(a, Var)}
            out |= {m.group(2) for m in re.finditer(r"(['\"])(.*?)\1", s.text)}
        return out

    def digest(self, key: str, kinds: set[str], today: dt.date) -> str:
        """What a field's table depends on: the rules and facts its leaves' kinds reach, the synonyms and
        names the request loader resolves with, the day."""
        preds: set[str] = {"value_alias", "condition_code", "known_name", "test_signature", "kleene", "kleene_unit"}
        for kind in kinds:
            preds |= self.reach(kind)[0]
        h = hashlib.sha256(f"{key}|{today.isoformat()}|{sorted(kinds)}".encode())
        for s in self.kb.statements:
            if s.head in preds:
                h.update(s.text.encode())
                h.update(b"\n")
        return h.hexdigest()


class _Symmetry:
    """Constants no rule can tell apart. Datalog answers are generic: renaming constants changes nothing but
    the names in the answers. So two candidates that no rule the leaf rules reach names, and that stand in the
    kb's facts in the same way (the same facts but for themselves and for constants found nowhere else, a
    label), give every leaf the same status; only one of them needs to be asked about."""

    def __init__(self, kb: KnowledgeBase, rules: _Rules, protected: set[Any]) -> None:
        preds, _fields, _seen = rules.reach(None)
        self.facts_of: dict[Any, list[Any]] = defaultdict(list)
        count: Counter = Counter()
        for s in kb.statements:
            if s.is_fact and s.head in preds:
                count.update(s.args)
                for a in set(s.args):
                    self.facts_of[a].append(s)
        self.named = rules.constants()
        self.private = {a for a, n in count.items() if n == 1 and isinstance(a, str) and a not in self.named
                        and a not in protected}

    def signature(self, constant: Any) -> Hashable:
        if not isinstance(constant, str) or constant in self.named:
            return ("named", repr(constant))
        return tuple(sorted((s.head, tuple("@" if a == constant else "*" if a in self.private else repr(a)
                                           for a in s.args)) for s in self.facts_of.get(constant, [])))


class _Builder:
    """Candidates, and the statuses the kb's leaf rules give them."""

    def __init__(self, decider: Decider, rules: _Rules, today: dt.date, joints: dict[str, tuple[str, ...]],
                 required: set[str], quick: bool = False) -> None:
        self.decider, self.kb, self.rules, self.today = decider, decider.kb, rules, today
        self.joints, self.required, self.quick = joints, required, quick
        self._symmetry: _Symmetry | None = None
        self._vocabulary: dict[str, list[str]] = {}

    # candidates -------------------------------------------------------------------------------------
    def candidates(self, f: str, tests: list[tuple[str, Any, str]], points: list[float] | None) -> list[Any]:
        """The candidate values of one request field, "not given" last (not for a required field)."""
        if f == DATE:
            return _dates(self.kb, self.today)
        kind, choices = FIELD_TYPES[f]
        values: list[Any]
        if kind in ("whole", "number"):
            floor = 0 if kind == "whole" else 1
            if points is not None:  # compared with another field: two values either side of each boundary
                found = {q for p in points for q in (p - 1, p, p + 1, p + 2)}
            else:
                found = set()
                for test, param, _is in tests:
                    if isinstance(param, bool) or not isinstance(param, (int, float)):
                        continue
                    found |= {"at_least": {param - 1, param},
                              "at_most": {param, param + 1}}.get(test, {param, param + 1})
            values = sorted(p for p in found if p >= floor) or [floor + 1]
        elif kind == "bool":
            values = [True, False]
        elif kind == "choice":
            values = list(choices)
        elif kind == "text":
            named: list[str] = []
            vocabulary = False
            for _test, param, param_is in tests:
                if param_is == "set":
                    named += [str(v) for v in self.kb.sets.get(str(param), [])]
                elif isinstance(param, str) and param_is in ("value", "condition"):
                    named.append(param)
                vocabulary |= param_is == "condition"
            known = [] if self.quick else sorted({str(v) for v in self.kb.value_names.get(f, {}).values()})
            every = self.vocabulary("condition") if vocabulary and not self.quick else []
            values = list(dict.fromkeys([*sorted(set(named)), *known, *every, OTHER_TEXT]))
        else:  # a list: its candidate entries (lists are built from them in fill)
            return self.entries(f, tests)
        return values if f in self.required else [*values, ABSENT]

    def vocabulary(self, predicate: str) -> list[str]:
        """The ids of a vocabulary predicate (condition/2, drug/1, ...), placeholders left out."""
        if predicate not in self._vocabulary:
            arity = _arity(self.kb, predicate)
            found = self.kb.ask(predicate, *(f"?X{i}" for i in range(arity)))
            self._vocabulary[predicate] = sorted({str(row[0]) for row in found if row[0] != ""})
        return self._vocabulary[predicate]

    def entries(self, f: str, tests: list[tuple[str, Any, str]]) -> list[Any]:
        kind, choices = FIELD_TYPES[f]
        if kind == "choice_list":
            return list(choices)
        if self.quick:
            named = sorted({str(p) for _t, p, is_ in tests if is_ in ("class", "drug")})
            members = {c: sorted(d for (d,) in self.kb.ask("drug_in_class", "?D", c)) for c in named}
            some = [ms[0] for ms in members.values() if ms]
            other = [d for d in self.vocabulary("drug") if not any(d in ms for ms in members.values())][:1]
            return list(dict.fromkeys([*named, *some, *other, UNKNOWN_DRUG]))
        classes = self.vocabulary("is_class")
        ambiguous = sorted(n for n in self.kb.ambiguous if n)
        return [*self.vocabulary("drug"), *self.vocabulary("regimen"), *classes,
                *(Kind(f"x-unnamed-{c}", c) for c in classes), *ambiguous,
                UNKNOWN_DRUG, Kind("x-unnamed", UNKNOWN_KIND)]

    def symmetry(self, candidates: dict[str, list[Any]]) -> _Symmetry:
        if self._symmetry is None:
            protected: set[Any] = set()
            for values in candidates.values():
                for v in values:
                    protected |= set(_atoms(v))
            self._symmetry = _Symmetry(self.kb, self.rules, protected)
        return self._symmetry

    def _signature(self, key: str, value: Any, sym: _Symmetry) -> Hashable:
        """What a candidate is up to constants no rule can tell apart (a value the request loader rewrites,
        a synonym, stands for itself)."""
        fields = self.joints.get(key, (key,))
        parts = value if key in self.joints else (value,)
        out = []
        for f, v in zip(fields, parts, strict=True):
            if isinstance(v, Kind):
                out.append(("kind", sym.signature(v.kind)))
            elif isinstance(v, str) and f != DATE and (FIELD_TYPES[f][0] in ("text", "names")) and \
                    self.kb.value_aliases.get((f, token_key(v)), v) == v:
                out.append(("constant", sym.signature(v)))
            else:
                out.append(("value", repr(v)))
        return tuple(out)

    # statuses ---------------------------------------------------------------------------------------
    def fill(self, space: Space, candidates: dict[str, list[Any]]) -> None:
        """Decide the candidates (one request per candidate of each field, all fields at once), keep one per
        distinct status vector, build each list field's lists, and record every leaf's table."""
        leaves_of: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for leaf, key in sorted(space.leaf_field.items()):
            leaves_of[key].append(leaf)
        kinds = {key: {self.kb.node(*leaf).test[0] for leaf in leaves} for key, leaves in leaves_of.items()}
        lists = {key for key in candidates if key not in self.joints and key != DATE
                 and FIELD_TYPES[key][0] in ("names", "choice_list")}
        todo: dict[str, list[Any]] = {}
        digests: dict[str, str] = {}
        for key, values in candidates.items():
            digests[key] = self.rules.digest(key + ("|quick" if self.quick else ""), kinds[key], self.today)
            memo = _MEMO.get((key, digests[key]))
            if memo is not None:
                domain, alike, entries, table = memo
                space.domains[key], space.alike[key] = list(domain), dict(alike)
                if entries is not None:
                    space.entries[key] = dict(entries)
                for leaf, rows in table.items():
                    space.table[leaf] = dict(rows)
                continue
            if key in lists:
                values = [*([] if key in self.required else [ABSENT]), (), *((e,) for e in values)]
            todo[key] = values
        if not todo:
            return
        sym = self.symmetry(todo)
        # 1. every candidate up to symmetry: scalars, joint values, lists of one entry
        asked: dict[str, dict[Any, Any]] = {}  # key -> candidate -> the candidate asked for it
        rows: dict[str, list[Any]] = {}
        for key, values in todo.items():
            first: dict[Hashable, Any] = {}
            asked[key] = {}
            for v in values:
                if not self._valid(key, v):
                    continue
                sig = ("list", len(v), tuple(self._signature(key, e, sym) for e in v)) if key in lists and \
                    isinstance(v, tuple) else self._signature(key, v, sym)
                asked[key][v] = first.setdefault(sig, v)
            rows[key] = list(dict.fromkeys(asked[key].values()))
        vectors = self._ask(space, rows, leaves_of)
        profile: dict[str, dict[Any, tuple[str, ...]]] = {}
        for key in todo:
            profile[key] = {v: vectors[key][a] for v, a in asked[key].items()}
        # 2. lists: pairs of entries, the combination they show, and the lists it closes to (all list
        #    fields in the same requests)
        list_keys = sorted(lists & set(todo))
        singles: dict[str, dict[Any, tuple[str, ...]]] = {}
        chosen: dict[str, list[Any]] = {}
        for key in list_keys:
            singles[key] = {v[0]: vec for v, vec in profile[key].items() if isinstance(v, tuple) and len(v) == 1}
            reps: dict[tuple[str, ...], Any] = {}
            alike: dict[Any, list[Any]] = defaultdict(list)
            for e, vec in singles[key].items():
                alike[reps.setdefault(vec, e)].append(e)
            space.entries[key] = dict(alike)
            chosen[key] = list(reps.values())
        got = self._ask(space, {key: [tuple(p) for p in combinations(chosen[key], 2)] for key in list_keys},
                        leaves_of)
        longer: dict[str, dict[tuple[Any, ...], tuple[str, ...]]] = {}
        for key in list_keys:
            profile[key].update(got[key])
            longer[key] = _closure(space, key, singles[key], chosen[key], got[key], profile[key])
        got = self._ask(space, {key: list(lists_) for key, lists_ in longer.items() if lists_}, leaves_of)
        for key, found in got.items():
            for lst, vec in found.items():
                if vec != longer[key][lst]:
                    space.gaps.append(f"{key}: {lst!r} gives {vec}, not {longer[key][lst]} as its entries combine")
            profile[key].update(found)
        # 3. one representative per distinct vector
        for key in todo:
            order = {v: i for i, v in enumerate(profile[key])}
            by_vector: dict[tuple[str, ...], list[Any]] = defaultdict(list)
            for v in sorted(profile[key], key=lambda v, k=key: (_weight(v, k in lists, k in self.joints), order[v])):
                by_vector[profile[key][v]].append(v)
            reps_ = sorted((vs[0] for vs in by_vector.values()), key=lambda v, k=key: (
                v is ABSENT, len(v) if k in lists and v is not ABSENT else 0, order[v]))
            space.domains[key] = reps_
            space.alike[key] = {vs[0]: vs for vs in by_vector.values()}
            for j, leaf in enumerate(leaves_of[key]):
                space.table[leaf] = {v: profile[key][v][j] for v in reps_}
            table = {leaf: space.table[leaf] for leaf in leaves_of[key]}
            _MEMO[(key, digests[key])] = (list(reps_), dict(space.alike[key]), space.entries.get(key), table)

    def _valid(self, key: str, value: Any) -> bool:
        """Whether the request loader accepts the value (a candidate it refuses is no request)."""
        try:
            self.decider.parse(_document({key: value}, self.joints, self.today), "(candidate)")
            return True
        except RequestError:
            return False

    def _ask(self, space: Space, rows: dict[str, list[Any]],
             leaves_of: dict[str, list[tuple[str, str]]]) -> dict[str, dict[Any, tuple[str, ...]]]:
        """Each field's values, row i of every field in request i: the status vector of each value over the
        leaves that read its field, from the kb's leaf rules (the engine's own query and fold)."""
        n = max((len(v) for v in rows.values()), default=0)
        requests = []
        for i in range(n):
            values = {key: vs[i] for key, vs in rows.items() if i < len(vs)}
            doc = _document(values, self.joints, self.today, f"abstract-{i}")
            requests.append(self.decider.parse(doc, "(abstraction)"))
        statuses = self.decider.engine.leaf_statuses(requests)
        space.asked += len(requests)
        out: dict[str, dict[Any, tuple[str, ...]]] = {}
        for key, vs in rows.items():
            out[key] = {}
            for i, v in enumerate(vs):
                got = statuses[i]
                vector = []
                for leaf in leaves_of[key]:
                    if leaf not in got:
                        node = self.kb.node(*leaf)
                        raise KbError(f"{node.test_where or node.where}: leaf {leaf[0]} {leaf[1]} derived no row "
                                      f"for request {_document(dict([(key, v)]), self.joints, self.today)!r} "
                                      f"(test kind {node.test[0]!r})")
                    vector.append(got[leaf])
                out[key][v] = tuple(vector)
        return out


def _closure(space: Space, key: str, singles: dict[Any, tuple[str, ...]], chosen: list[Any],
             pairs: dict[tuple[Any, ...], tuple[str, ...]],
             profile: dict[Any, tuple[str, ...]]) -> dict[tuple[Any, ...], tuple[str, ...]]:
    """The combination of two entries' statuses per leaf, learnt from the pairs (it must be a function of
    them), and the lists of three or more entries that give a vector no shorter list gives, with the vector
    their entries combine to."""
    width = len(next(iter(singles.values()), ()))
    comb: list[dict[tuple[str, str], str]] = [{} for _ in range(width)]
    for (a, b), vec in pairs.items():
        for j in range(width):
            x, y = singles[a][j], singles[b][j]
            for pair in ((x, y), (y, x)):
                if comb[j].setdefault(pair, vec[j]) != vec[j]:
                    space.gaps.append(f"{key}: a leaf's status on two entries is not a function of their own "
                                      "statuses; lists of up to two entries only")
                    return {}
    mine = set(chosen)
    known = {vec: v for v, vec in profile.items() if isinstance(v, tuple) and v and mine.issuperset(v)}
    queue = list(known.items())
    longer: dict[tuple[Any, ...], tuple[str, ...]] = {}
    while queue:
        vec, lst = queue.pop(0)
        for e in chosen:
            if e in lst:
                continue
            new = tuple(comb[j].get((vec[j], singles[e][j])) for j in range(width))
            if None in new:
                space.gaps.append(f"{key}: {lst + (e,)!r}: a combination no pair of entries shows")
                continue
            if new not in known and new != profile.get(()):
                known[new] = lst + (e,)
                longer[lst + (e,)] = new
                queue.append((new, lst + (e,)))
    return longer


def _arity(kb: KnowledgeBase, predicate: str) -> int:
    for s in kb.statements:
        if s.head == predicate:
            return len(s.args)
    return 1


def _atoms(value: Any) -> list[Any]:
    if isinstance(value, tuple):
        return [a for v in value for a in _atoms(v)]
    if isinstance(value, Kind):
        return [name_key(value.name), value.kind]
    return [value]


def _weight(value: Any, is_list: bool, is_joint: bool) -> int:
    """How much a value gives: of candidates alike, the representative gives least (a field not given, a
    shorter list)."""
    if value is ABSENT:
        return 0
    if is_joint:
        return sum(v is not ABSENT for v in value)
    return 1 + len(value) if is_list else 1


def _dates(kb: KnowledgeBase, today: dt.date) -> list[Any]:
    """The request date: today, and either side of every date of the market facts and of the end of every
    window a test counts in months (recent_label_change)."""
    windows = {int(p) for n in kb.nodes.values() if n.test and isinstance(n.test[2], int)
               and n.test[0] == "recent_label_change" for p in [n.test[2]]}
    days = {today}
    for s in kb.statements:
        if not s.is_fact:
            continue
        for a in s.args:
            day = _as_date(a)
            if day is None:
                continue
            days |= {day - dt.timedelta(days=1), day}
            for m in windows:
                end = _add_months(day, m)
                days |= {end, end + dt.timedelta(days=1)}
    return sorted(days, key=lambda d: (d != today, d))


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 19000101 <= value <= 29991231:
        return None
    try:
        return dt.date(value // 10000, value // 100 % 100, value % 100)
    except ValueError:
        return None


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    raise ValueError(day)


def node_ids(space: Space, payer: str) -> list[str]:
    """The payer's nodes in the policy's order."""
    return sorted((n for p, n in space.decider.kb.nodes if p == payer), key=natural_key)
