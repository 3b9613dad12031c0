"""A finite abstraction of the request space, built from the knowledge base itself.

Every leaf criterion reads one request field: its kind's `test_signature` (kb/engine/tests.dl) names it,
the Subject field, or the request date for the kinds that read market facts. Each such field gets a finite
domain of representative values taken from the kb: the boundaries of its comparisons (at_least 18 gives
17 and 18), the constants and sets its tests name plus one value none of them names, one drug per distinct
class profile for a drug list (and a name the vocabulary does not know), the dates of the market facts,
and always "not given". Requests that agree on these representatives get the same status on every leaf.

So a leaf's status over its field's domain is a table, and the engine itself computes it (no second
implementation of the criteria): one request per domain index carries a value for every field at once.
Whether a node can take a status is then a search over the fields under it, pruned by the set of statuses
each node can still take; a witness found is replayed through the engine before it is believed.

`lumakras check` asks which pathways no request can satisfy; `lumakras test --coverage` which statuses each
criterion can take at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from .api import Decider
from .engine import MET, NOT_DOCUMENTED, NOT_MET
from .kb import natural_key
from .request import FIELD_TYPES, Request, RequestError

STATUSES = (MET, NOT_MET, NOT_DOCUMENTED)
DATE = "request_date"  # the pseudo-field of the kinds whose Subject is a drug (market facts)
UNKNOWN_DRUG = "x-unknown-drug"  # a name the vocabulary does not know (reading 16)
OTHER_TEXT = "x_other"  # a text value no test names


class _Absent:
    """The field is not given: 'not documented'."""

    def __repr__(self) -> str:
        return "(not given)"


ABSENT = _Absent()


@dataclass
class Space:
    """The representative values of each field a leaf reads, and each leaf's status over them."""

    decider: Decider
    domains: dict[str, list[Any]]
    leaf_field: dict[tuple[str, str], str]  # (payer, leaf) -> the field it reads
    table: dict[tuple[str, str], dict[Any, str]] = field(default_factory=dict)
    budget: int = 200_000  # node evaluations per search, after which it gives up (never seen in this kb)

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
                how = node.how or "all"
                acc = {engine._units[how]}
                for part in node.parts:
                    acc = {engine._kleene[(how, a, b)] for a in acc for b in walk(part)}
                out = frozenset(acc)
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
        doc: dict[str, Any] = {"id": request_id}
        if payer:
            doc["payer"] = payer
        if request_type and request_type != "any":
            values["request_type"] = request_type
        day = values.pop(DATE, ABSENT)
        doc["date"] = (day if isinstance(day, dt.date) else self.today).isoformat()
        for path, value in sorted(values.items()):
            if value is ABSENT:
                continue
            value = list(value) if isinstance(value, tuple) else value
            *sections, name = path.split(".")
            target = doc
            for section in sections:
                target = target.setdefault(section, {})
            target[name] = value
        return doc

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


def build_space(decider: Decider) -> Space:
    """Domains from the kb's tests, then each leaf's table from the engine."""
    kb = decider.kb
    signatures = {kind: (subject, param) for kind, subject, param in kb.ask("test_signature", "?K", "?S", "?P")}
    leaf_field: dict[tuple[str, str], str] = {}
    tests_on: dict[str, list[tuple[str, Any]]] = {}
    for (payer, node_id), node in kb.nodes.items():
        if node.test is None or node.test[0] not in signatures:
            continue
        kind, subject, param = node.test
        f = DATE if signatures[kind][0] == "drug" else str(subject)
        if f != DATE and f not in FIELD_TYPES:
            continue
        leaf_field[(payer, node_id)] = f
        tests_on.setdefault(f, []).append((kind, param))
    today = decider.today or dt.date.today()
    domains = {f: _domain(decider, f, tests, today) for f, tests in sorted(tests_on.items())}
    for p in kb.policies.values():
        for f in p.requires:
            if f in FIELD_TYPES:
                domains[f] = [v for v in domains.get(f) or _domain(decider, f, [], today) if v is not ABSENT]
    space = Space(decider, domains, leaf_field)
    _fill_tables(space)
    return space


def _fill_tables(space: Space) -> None:
    """One request per domain index, every field at once; each leaf records the status of its value."""
    decider = space.decider
    payers = list(decider.kb.payers())
    longest = max((len(d) for d in space.domains.values()), default=1)
    for i in range(longest):
        values = {f: d[i % len(d)] for f, d in space.domains.items()}
        day = values.pop(DATE, space.today)
        request = Request(id=f"abstract-{i}", source="(abstraction)",
                          date=day if isinstance(day, dt.date) else space.today, payer=None)
        for f, v in values.items():
            if v is ABSENT:
                continue
            if isinstance(v, tuple):
                request.lists[f] = list(v)
            else:
                request.scalars[f] = v
        request.scalars.setdefault("request_type", "initial")
        values[DATE] = day
        derivations = decider.engine.decide_many(request, payers)
        for (payer, leaf), f in space.leaf_field.items():
            status = derivations[payer].status.get(leaf)
            if status is not None:
                space.table.setdefault((payer, leaf), {})[values[f]] = status


def _domain(decider: Decider, f: str, tests: list[tuple[str, Any]], today: dt.date) -> list[Any]:
    """The representative values of one field, "not given" last."""
    kb = decider.kb
    if f == DATE:
        return _dates(decider, today)
    kind, choices = FIELD_TYPES[f]
    values: list[Any]
    if kind in ("whole", "number"):
        points: set[int | float] = set()
        for test, param in tests:
            if isinstance(param, bool) or not isinstance(param, (int, float)):
                continue
            points |= {"at_least": {param - 1, param}, "at_most": {param, param + 1}}.get(test, {param, param + 1})
        floor = 0 if kind == "whole" else 1
        values = sorted(p for p in points if p >= floor) or [floor + 1]
    elif kind == "bool":
        values = [True, False]
    elif kind == "choice":
        values = list(choices)
    elif kind == "text":
        named: set[str] = set()
        for test, param in tests:
            if test == "one_of":
                named |= set(kb.sets.get(str(param), []))
            elif isinstance(param, str):
                named.add(param)
        values = [*sorted(named), OTHER_TEXT]
    elif kind == "choice_list":
        values = _subsets(list(choices))
    else:  # names: a drug list
        values = _subsets(_drug_representatives(decider, tests))
    return [*values, ABSENT]


def _subsets(items: list[str], most: int = 2) -> list[tuple[str, ...]]:
    """The empty list, each item alone, and each pair: a list test asks whether some entry (or none) is of
    a kind, so two entries show every combination two criteria on one list can ask for."""
    out: list[tuple[str, ...]] = [()]
    for size in range(1, most + 1):
        out += [tuple(c) for c in combinations(items, size)]
    return out


def _drug_representatives(decider: Decider, tests: list[tuple[str, Any]]) -> list[str]:
    """One drug per distinct answer to the questions the tests on the list ask (in class C? is it D? is it
    the drug under review?), and a name the vocabulary does not know."""
    kb = decider.kb
    classes = sorted({str(p) for t, p in tests if t in ("any_in_class", "none_in_class")})
    drugs = sorted({str(p) for t, p in tests if t in ("has_drug", "lacks_drug")})
    member: dict[str, set[str]] = {}
    for d, c in kb.ask("drug_in_class", "?D", "?C"):
        member.setdefault(d, set()).add(c)
    requested = {d for (d,) in kb.ask("requested_drug", "?D")}
    chosen: dict[tuple, str] = {}
    for (d,) in sorted(kb.ask("drug", "?D")):
        profile = (tuple(c in member.get(d, ()) for c in classes), tuple(d == x for x in drugs), d in requested)
        chosen.setdefault(profile, d)
    return [*sorted(chosen.values()), UNKNOWN_DRUG]


def _dates(decider: Decider, today: dt.date) -> list[Any]:
    """The request date: today, and either side of every date of the market facts and of the end of every
    window a test counts in months (recent_label_change)."""
    kb = decider.kb
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
