"""`lumakras check`: lint a knowledge base, every problem as 'file:line: message'.

What it holds a kb to:
- syntax: text outside the Datalog subset (kbtext), every such statement, not only the first;
- literate rules: every criterion has the policy's words and a citation of its policy; every statement of
  a policy's files stands under a comment that quotes or cites the policy; every rule elsewhere under a
  comment saying what it is for;
- structure: a criterion that a pathway names but nothing defines, one defined but in no pathway, a
  combination the Kleene table does not know, a test kind no leaf rule writes (KnowledgeBase._validate);
- a predicate used (also under negation) but never defined, with its arity;
- vocabulary: a drug, class, regimen, set, field or payer that a fact or a rule names but the kb lacks
  (refers_to and test_signature facts, kb/engine/check.dl and tests.dl);
- duplicates and contradictions: the same statement twice, two facts that share a unique_key but differ,
  and every problem/3 row the kb's own rules derive (a drug in disjoint classes, an ambiguous name);
- codes (kb/vocab/codes/): each code in its system's form, with its check digit (codes.py); each value
  code_means gives of the kind its field takes; each strength a positive number of mg;
- a pathway that no request can satisfy (the abstraction of the request space, replayed by the engine).
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.api import Decider
from ..core.kb import KbError, KnowledgeBase
from ..core.kbtext import Statement, Var
from ..core.policy import MET
from ..core.request import FIELD_TYPES, FIELDS
from . import codes as code_forms
from .abstraction import build_space


@dataclass(frozen=True)
class Problem:
    where: str  # file:line, or '' when the kb holds no single place for it
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


def check_kb(dirs: list[Path] | None = None) -> tuple[list[Problem], KnowledgeBase | None]:
    """Every problem of the kb in these folders, in file order; and the kb, when it could be loaded."""
    try:
        kb = KnowledgeBase(dirs, strict=False)
    except KbError as exc:
        return [Problem("", str(exc))], None
    problems = [_split(p) for p in kb.problems]
    if not hasattr(kb, "nodes"):  # pyDatalog could not load it: nothing more to read
        return _sorted(problems), kb
    checker = _Checker(kb)
    problems += checker.run()
    if not problems:
        problems += checker.unsatisfiable_pathways()
    return _sorted(problems), kb


def _split(text: str) -> Problem:
    head, sep, rest = text.partition(": ")
    if sep and ":" in head and head.rsplit(":", 1)[1].isdigit():
        return Problem(head, rest)
    return Problem("", text)


def _sorted(problems: list[Problem]) -> list[Problem]:
    def key(p: Problem) -> tuple:
        path, _, line = p.where.rpartition(":")
        return (path or p.where, int(line) if line.isdigit() else 0, p.message)
    return sorted(dict.fromkeys(problems), key=key)


class _Checker:
    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.problems: list[Problem] = []

    def add(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def run(self) -> list[Problem]:
        self.citations()
        self.orphans()
        self.undefined_predicates()
        self.request_bound()
        self.vocabulary()
        self.codes()
        self.duplicates()
        self.derived_problems()
        self.durations()
        return self.problems

    # literate rules ----------------------------------------------------------------------------------
    def citations(self) -> None:
        kb = self.kb
        for (payer, node_id), node in sorted(kb.nodes.items()):
            if not node.where:
                continue
            policy = kb.policies.get(payer)
            if not node.text.strip():
                self.add(node.where, f"criterion {payer} {node_id} has no policy text (the policy's words)")
            if not node.cite.strip():
                self.add(node.where, f"criterion {payer} {node_id} has no policy citation")
            elif policy and policy.id not in node.cite:
                self.add(node.where, f"criterion {payer} {node_id} cites {node.cite!r}, which does not name "
                                     f"its policy {policy.id!r}")
        policy_files = self._policy_files()
        cited = {(p, n) for (p, n), node in kb.nodes.items() if node.cite.strip()}
        reported: set[tuple[str, int]] = set()  # one problem per block of statements
        for s in kb.statements:
            if (s.path, s.block_line) in reported:
                continue
            if s.is_fact and s.head in _CITED_BY_NODE and len(s.args) >= 2 and (s.args[0], s.args[1]) in cited:
                continue  # a criterion's own facts: its node fact carries the citation
            if s.path in policy_files:
                ids = policy_files[s.path]
                if not _cites(s.block_comment, ids):
                    what = "rule" if not s.is_fact else f"fact {s.head}"
                    reported.add((s.path, s.block_line))
                    self.add(f"{s.path}:{s.line}", f"{what} stands under no comment that quotes the policy "
                                                   f"(\"...\") or cites it ({', '.join(sorted(ids))})")
            elif not s.is_fact and not s.block_comment:
                reported.add((s.path, s.block_line))
                self.add(f"{s.path}:{s.line}", f"rule for {s.head}/{len(s.args)} stands under no comment "
                                               "saying what it encodes")

    def _policy_files(self) -> dict[str, set[str]]:
        """The files that state a payer's facts, with the ids of those payers' policies."""
        out: dict[str, set[str]] = defaultdict(set)
        for s in self.kb.statements:
            if s.is_fact and s.args and isinstance(s.args[0], str) and s.args[0] in self.kb.policies:
                out[s.path].add(self.kb.policies[s.args[0]].id)
        return out

    # structure ---------------------------------------------------------------------------------------
    def orphans(self) -> None:
        kb = self.kb
        reached: set[tuple[str, str]] = set()
        for payer, pathways in kb.pathways.items():
            stack = [w.id for w in pathways]
            policy = kb.policies.get(payer)
            stack += policy.otherwise_when if policy else []
            while stack:
                n = stack.pop()
                if (payer, n) in reached:
                    continue
                reached.add((payer, n))
                stack += kb.nodes[(payer, n)].parts
        for (payer, node_id), node in sorted(kb.nodes.items()):
            if (payer, node_id) not in reached and node.where:
                self.add(node.where, f"criterion {payer} {node_id} is defined but in no pathway (no chain of "
                                     "part_of facts leads from a pathway to it)")

    def undefined_predicates(self) -> None:
        defined = {(s.head, len(s.args)) for s in self.kb.statements}
        names = defaultdict(set)
        for name, arity in defined:
            names[name].add(arity)
        for s in self.kb.statements:
            for name, negated, args in s.body_atoms:
                if (name, len(args)) in defined:
                    continue
                under = " (under negation)" if negated else ""
                if names.get(name):
                    hint = f"; it is defined with {' or '.join(str(a) for a in sorted(names[name]))} arguments"
                else:
                    close = difflib.get_close_matches(name, list(names), n=1)
                    hint = f"; did you mean {close[0]}?" if close else ""
                self.add(f"{s.path}:{s.line}", f"{name}/{len(args)} is used{under} but never defined{hint}")

    def request_bound(self) -> None:
        """A rule about a request must bind the request (a positive literal about it) before it negates a
        literal about it, and read no other request: otherwise requests cannot be asked about in batches
        (KnowledgeBase.unbatchable), and the engine asks one at a time, about 30% slower."""
        for s, literal in self.kb.unbatchable:
            self.add(f"{s.path}:{s.line}", f"{s.head}/{len(s.args)}: {literal} reads the request before a positive "
                     "literal binds it, or reads another request; put a positive literal about the rule's own "
                     "request first (the engine asks one request at a time until then)")

    # vocabulary --------------------------------------------------------------------------------------
    def vocabulary(self) -> None:
        kb = self.kb
        known = {
            "drug": {d for (d,) in kb.ask("drug", "?D")},
            "class": {c for (c,) in kb.ask("is_class", "?C")},
            "regimen": {g for (g,) in kb.ask("regimen", "?G")},
            "condition": set(kb.condition_labels),
            "set": set(kb.sets),
            "field": set(kb.field_labels),
            "payer": set(kb.policies),
            "concept": {c for c, *_ in kb.ask("concept", "?C", "?L", "?R")} if kb.defined("concept") else set(),
            "code_system": {s for s, *_ in kb.ask("code_system", "?S", "?U", "?L")},
            "code_field": set(kb.field_labels) | {f for f, _m in kb.ask("adapter_field", "?F", "?M")},
        }
        refers: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for predicate, position, kind in kb.ask("refers_to", "?P", "?N", "?K"):
            refers[predicate].append((int(position), kind))
        signatures = {k: (s, p) for k, s, p in kb.ask("test_signature", "?K", "?S", "?P")}

        def need(where: str, kind: str, value: Any, what: str) -> None:
            if value == "" or isinstance(value, Var):
                return
            if kind == "number":
                if isinstance(value, bool) or not isinstance(value, int):
                    self.add(where, f"{what} {value!r} should be a number")
                return
            if kind not in known or value in known[kind]:
                return
            close = difflib.get_close_matches(str(value), sorted(map(str, known[kind])), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.add(where, f"{what} {value!r} is not a {kind} the kb knows{hint}")

        for s in kb.statements:
            where = f"{s.path}:{s.line}"
            atoms = [(s.head, s.args)] + [(n, a) for n, _neg, a in s.body_atoms]
            for name, args in atoms:
                for position, kind in refers.get(name, []):
                    if position <= len(args):
                        need(where, kind, args[position - 1], f"{name} argument {position}:")
            if s.is_fact and s.head == "test" and len(s.args) == 5:
                _payer, node_id, kind, subject, param = s.args
                if kind not in signatures:
                    self.add(where, f"test kind {kind!r} of {node_id} has no test_signature fact "
                                    "(kb/engine/tests.dl): say what its subject and param name")
                    continue
                subject_is, param_is = signatures[kind]
                need(where, subject_is, subject, f"the subject of {node_id}'s {kind} test,")
                need(where, param_is, param, f"the param of {node_id}'s {kind} test,")

    # codes -------------------------------------------------------------------------------------------
    def codes(self) -> None:
        """The code facts of kb/vocab/codes/: each code in its system's form (codes.py), each code_means
        value of its field's kind, each strength a positive number; a code_strength code has a label (the
        kb's rules check code_means and observation_reads codes, kb/engine/check.dl)."""
        kb = self.kb
        drug_names = ({d for (d,) in kb.ask("drug", "?D")} | {c for (c,) in kb.ask("is_class", "?C")}
                      | {g for (g,) in kb.ask("regimen", "?G")})
        adapter_values: dict[str, set[str]] = defaultdict(set)
        for field_name, value in kb.ask("adapter_value", "?F", "?V"):
            adapter_values[field_name].add(value)
        labelled = {(s, c) for s, c, _d in kb.ask("code_label", "?S", "?C", "?D")}
        for s in kb.statements:
            if not s.is_fact or s.head not in _CODE_FACTS or len(s.args) != _CODE_FACTS[s.head]:
                continue
            where = f"{s.path}:{s.line}"
            system, code = s.args[0], s.args[1]
            wrong = code_forms.problem(system, code)
            if wrong:
                self.add(where, f"{s.head}: {wrong}")
            if s.head == "code_means":
                why = self._code_value(s.args[2], s.args[3], kb, drug_names, adapter_values)
                if why:
                    self.add(where, f"code_means({system!r}, {code!r}, {s.args[2]!r}, ...): {why}")
            elif s.head == "code_strength":
                mg = s.args[2]
                if isinstance(mg, bool) or not isinstance(mg, int) or mg <= 0:
                    self.add(where, f"code_strength({system!r}, {code!r}, ...): the strength {mg!r} should be "
                                    "a positive whole number of mg per tablet")
                if (system, code) not in labelled:
                    self.add(where, f"code '{code}' of {system} has no code_label: add code_label({system}, "
                                    f"'{code}', Display) with the display its source gives")

    @staticmethod
    def _code_value(field_name: Any, value: Any, kb: KnowledgeBase, drug_names: set[str],
                    adapter_values: dict[str, set[str]]) -> str:
        """Why a value is not of the kind its field takes ('' when it is)."""
        if not isinstance(value, str) or not value:
            return f"the value {value!r} should be text"
        spec = FIELDS.get(field_name) if isinstance(field_name, str) else None
        if field_name == "diagnosis.condition":
            if value in kb.condition_labels:
                return ""
            close = difflib.get_close_matches(value, sorted(kb.condition_labels), n=1)
            return f"{value!r} is not a condition the kb knows" + (f"; did you mean {close[0]!r}?" if close else "")
        if field_name == "drug" or (spec is not None and spec.kind == "names"):
            if value in drug_names or (value == "none" and field_name != "drug"):
                return ""
            close = difflib.get_close_matches(value, sorted(drug_names), n=1)
            return (f"{value!r} is not a drug, regimen or class the kb knows"
                    + (f"; did you mean {close[0]!r}?" if close else ""))
        if spec is not None and spec.kind == "bool":
            return "" if value in ("true", "false") else f"{value!r} should be 'true' or 'false'"
        if spec is not None and spec.kind in ("choice", "choice_list"):
            choices = spec.choices + (("none",) if spec.kind == "choice_list" else ())
            return "" if value in choices else f"{value!r} is not one of {', '.join(choices)}"
        if spec is not None and spec.kind in ("whole", "number"):
            return f"{field_name} is a number: a code cannot give it"
        if isinstance(field_name, str) and adapter_values.get(field_name):
            choices = tuple(sorted(adapter_values[field_name]))
            return "" if value in choices else f"{value!r} is not one of {', '.join(choices)} (adapter_value)"
        if value == value.lower() and " " not in value:
            return ""
        return f"{value!r} should be a token (lower case, '_' for spaces)"

    # duplicates and contradictions -------------------------------------------------------------------
    def duplicates(self) -> None:
        kb = self.kb
        first: dict[str, Statement] = {}
        for s in kb.statements:
            if s.text in first:
                other = first[s.text]
                self.add(f"{s.path}:{s.line}", f"duplicate of {other.path}:{other.line}")
            else:
                first[s.text] = s
        keys = {p: int(n) for p, n in kb.ask("unique_key", "?P", "?N")}
        seen: dict[tuple, Statement] = {}
        for s in kb.statements:
            if not s.is_fact or s.head not in keys:
                continue
            key = (s.head, s.args[: keys[s.head]])
            other = seen.get(key)
            if other is None:
                seen[key] = s
            elif other.args != s.args:
                shown = ", ".join(repr(a) for a in key[1])
                self.add(f"{s.path}:{s.line}", f"{s.head}({shown}, ...) contradicts {other.path}:{other.line}: "
                                               f"{_args(other.args)} vs {_args(s.args)}")

    def derived_problems(self) -> None:
        kb = self.kb
        messages = dict(kb.ask("problem_message", "?K", "?T"))
        at = dict(kb.ask("problem_at", "?K", "?P"))  # the predicate of the fact a kind of problem is about
        for kind, subject, other in sorted(kb.ask("problem", "?K", "?S", "?O"), key=str):
            template = messages.get(kind, f"{kind}: {{subject}} ({{other}})")
            # the last fact naming the subject (and the other, of the kind's own predicate where the kb says
            # which): usually the newest, the one that brought the contradiction
            where = next((f"{s.path}:{s.line}" for s in reversed(kb.statements) if s.is_fact and subject in s.args
                          and (kind not in at or (s.head == at[kind] and other in s.args))), "")
            self.add(where, template.replace("{subject}", str(subject)).replace("{other}", str(other)))

    def durations(self) -> None:
        """An approving pathway has a duration for every request it can approve (reading 11)."""
        kb = self.kb
        facts: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
        for s in kb.statements:
            if s.is_fact and s.head == "duration" and len(s.args) == 4:
                facts[(s.args[0], s.args[1])][s.args[2]] = f"{s.path}:{s.line}"
        lobs = FIELD_TYPES["line_of_business"][1]
        for payer, pathways in sorted(kb.pathways.items()):
            policy = kb.policies.get(payer)
            for w in pathways:
                if w.outcome != "approve":
                    continue
                node = kb.node(payer, w.id)
                given = facts.get((payer, w.id), {})
                if not given:
                    self.add(node.where, f"approving pathway {payer} {w.id} has no duration(...) fact: "
                                         "its approvals would have no length")
                elif "any" in given and len(given) > 1:
                    other = sorted(lob for lob in given if lob != "any")
                    self.add(given[other[0]], f"pathway {payer} {w.id} has a duration for 'any' line of "
                                              f"business ({given['any']}) and one for {', '.join(other)}: "
                                              "give one per line of business, or 'any' alone")
                elif "any" not in given:
                    first = given[sorted(given)[0]]
                    if policy and "line_of_business" not in policy.requires:
                        self.add(first, f"the durations of {payer} {w.id} depend on line_of_business, which "
                                        f"the {payer} policy does not require: add "
                                        f"requires_field('{payer}', 'line_of_business'), or a duration for 'any'")
                    missing = [lob for lob in lobs if lob not in given]
                    if missing:
                        self.add(first, f"pathway {payer} {w.id} has no duration for line of business "
                                        f"{', '.join(missing)}")

    # satisfiability ----------------------------------------------------------------------------------
    def unsatisfiable_pathways(self) -> list[Problem]:
        """Pathways no request can satisfy. Needs a kb without other problems (it decides requests)."""
        kb = self.kb
        decider = Decider(kb=kb)
        try:
            # a first pass on the candidates the tests name: a witness it finds is a request the engine
            # replays; only a pathway it finds none for needs the whole abstraction
            space = build_space(decider, quick=True)
            todo = [(payer, w) for payer, pathways in sorted(kb.pathways.items()) for w in pathways
                    if space.witness(payer, w.id, MET,
                                     accept=lambda a, p=payer, n=w.id, s=space: s.replays(p, n, MET, a)) is None]
            if todo:
                space = build_space(decider)
        except KbError as exc:
            return [_split(str(exc))]
        out: list[Problem] = []
        for payer, w in todo:
            found = space.witness(payer, w.id, MET,
                                  accept=lambda a, p=payer, n=w.id: space.replays(p, n, MET, a))
            if found is not None:
                continue
            node = kb.node(payer, w.id)
            why = ""
            if (node.how or "all") == "all":
                never = [p for p in node.parts if space.witness(payer, p, MET) is None]
                clash = [f"{a} and {b}" for i, a in enumerate(node.parts) for b in node.parts[i + 1:]
                         if a not in never and b not in never and space.witness(payer, [a, b], MET) is None]
                if never:
                    why = f"; never met: {', '.join(never)}"
                elif clash:
                    why = f"; no request meets both {'; '.join(clash)}"
            out.append(Problem(node.where, f"pathway {payer} {w.id} can never be met: no request satisfies "
                                           f"all it asks{why}"))
        return out


# The code facts (kb/vocab/codes/) and their arity: (System, Code, ...).
_CODE_FACTS = {"code_label": 3, "code_means": 4, "code_strength": 3, "observation_reads": 3}

# Facts about a criterion (Payer, Node, ...) that its node fact's citation covers.
_CITED_BY_NODE = {"node", "part_of", "combines", "test"}


def _cites(comment: str, policy_ids: set[str]) -> bool:
    """A comment quotes the policy ("...") or names the policy's id."""
    return '"' in comment or "“" in comment or any(pid in comment for pid in policy_ids)


def _args(args: tuple) -> str:
    return "(" + ", ".join(repr(a) for a in args) + ")"
